// A real-time ETW session on Sysmon's provider (Windows only; plain C++, no
// CAF, no Windows header here). The live source of the Windows agent: Sysmon
// EID 1 (process creation) and EID 5 (process terminated) decoded by
// sysmon_etw_decoder into the update rows every other Sysmon path gives.
//
// Life cycle (the ETW controller/consumer API, Microsoft Learn "Configuring
// and Starting an Event Tracing Session", "Consuming Events"):
//  - start(): StartTraceW on a real-time session named session_name. A
//    session of that name left by a crashed run (ERROR_ALREADY_EXISTS) is
//    stopped (ControlTraceW EVENT_TRACE_CONTROL_STOP) and started anew;
//    EnableTraceEx2 enables the provider at verbose level, all keywords;
//    OpenTraceW opens it for real-time consumption with EVENT_RECORD
//    callbacks. Any failure stops what was started and says which call
//    failed, with its Win32 error and what it usually means.
//  - run(): ProcessTrace, blocking until stop() (from another thread) or
//    the session's end. Returns false with the error when ProcessTrace fails
//    (wine: ERROR_CALL_NOT_IMPLEMENTED at once, never a hang).
//  - stop(): ControlTraceW STOP and CloseTrace; idempotent; the destructor
//    calls it.
// The callback decodes as little as it can: provider and event id first,
// the property layout from TDH (TdhGetEventInformation) cached per (event
// id, version), then the payload. Lost events (the session's EventsLost and
// RealTimeBuffersLost, queried with EVENT_TRACE_CONTROL_QUERY, and the
// RT_LostEvent events ETW injects) are counted; on_lost is called when they
// grow, so the owner can run a healing pslist sync as on Linux.
#pragma once

#include "messages/types.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace proctrack::etw {

/// Sysmon's ETW provider, Microsoft-Windows-Sysmon.
inline constexpr const char *sysmon_provider_guid =
    "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}";

/// The fixed name of proctrack's session (one per host).
inline constexpr const wchar_t *session_name = L"proctrack-sysmon";

struct session_stats {
  std::uint64_t events = 0;        ///< Sysmon events delivered
  std::uint64_t updates = 0;       ///< EID 1/5 decoded into rows
  std::uint64_t decode_errors = 0; ///< damaged payloads or layouts
  std::uint64_t layout_errors = 0; ///< TDH could not describe the event
  std::uint64_t events_lost = 0;   ///< the session's EventsLost
  std::uint64_t buffers_lost = 0;  ///< RealTimeBuffersLost
  std::uint64_t lost_notices = 0;  ///< RT_LostEvent events received
  std::uint64_t layouts = 0;       ///< (event id, version) layouts cached
};

class session {
public:
  /// A decoded row; called on ProcessTrace's thread.
  using update_fn = std::function<void(process_update)>;
  /// A payload that could not be decoded (event id, why).
  using error_fn = std::function<void(std::uint16_t, const std::string &)>;
  /// Events were lost (new totals in the stats).
  using lost_fn = std::function<void()>;

  /// `computer` fills the rows' host (ETW events do not carry it).
  session(std::string computer, update_fn on_update, error_fn on_error,
          lost_fn on_lost);
  ~session();
  session(const session &) = delete;
  session &operator=(const session &) = delete;

  bool start(std::string &error);
  bool run(std::string &error);
  void stop();

  /// Counters; also queries the session's lost counts.
  session_stats stats();

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

/// The local host's name as the Sysmon's events' Computer says it (the DNS
/// fully qualified name), "" when unknown.
std::string local_computer_name();

} // namespace proctrack::etw
