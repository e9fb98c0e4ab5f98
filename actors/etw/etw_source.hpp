// The ETW source actor (Windows build): owns the real-time ETW session on
// Sysmon's provider (etw_session.hpp) and sends its update rows to the
// cache. ProcessTrace blocks, so it runs on a thread the actor owns; its
// callback only decodes and queues (bounded). The actor takes the queue to
// the cache every poll period and on atom::flush, so it speaks the live
// events protocol (live_events_actor): the pslist sync flushes it before
// each listing exactly as it does the Linux live source. Events lost by ETW
// (EventsLost, RealTimeBuffersLost, RT_LostEvent) or dropped because the
// queue was full are counted and trigger an immediate pslist sync, as on
// Linux. Only in the Windows build (the .cpp is empty elsewhere).
#pragma once

#include "actors/etw/etw_session.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace proctrack {

struct etw_source_config {
  std::chrono::milliseconds poll = std::chrono::milliseconds(100);
  std::size_t max_batch = 4096;  ///< updates per message to the cache
  std::size_t max_queue = 65536; ///< past it, rows are dropped and counted
  /// How often the session's lost counts are read (ControlTraceW QUERY):
  /// a loss found there triggers a pslist sync within this time.
  std::chrono::milliseconds lost_check = std::chrono::seconds(1);
  std::string host;     ///< tags the batches (fleet)
  std::string computer; ///< the rows' host; "" = this machine's

  std::string validate() const;
};

/// What the ETW thread hands the actor.
struct etw_queue {
  std::mutex mtx;
  std::vector<process_update> rows;
  std::uint64_t dropped = 0;
  bool lost = false;     ///< events were lost since the actor last looked
  std::string run_error; ///< ProcessTrace failed (the session has ended)
  bool ended = false;
};

struct etw_source_state {
  static inline const char *name = "proctrack.etw_source";

  std::shared_ptr<etw::session> session;
  std::shared_ptr<etw_queue> queue;
  std::thread worker; ///< ProcessTrace
  std::int64_t sent = 0, batches = 0, heal_syncs = 0, decode_errors = 0;
  std::uint64_t dropped_seen = 0;
  bool reported_end = false;
  /// The session's EventsLost/RealTimeBuffersLost were last read then.
  std::chrono::steady_clock::time_point lost_checked;

  ~etw_source_state();
};

live_events_actor::behavior_type
etw_source(live_events_actor::stateful_pointer<etw_source_state> self,
           etw_source_config cfg, std::shared_ptr<etw::session> session,
           std::shared_ptr<etw_queue> queue, cache_actor cache,
           pslist_sync_actor pslist);

/// Starts the ETW session (StartTraceW .. OpenTraceW) and, when it started,
/// spawns the actor that runs it; else returns an invalid handle and
/// `error` says which call failed and why (the agent exits 2 with it).
live_events_actor spawn_etw_source(caf::actor_system &sys,
                                   const etw_source_config &cfg,
                                   cache_actor cache, pslist_sync_actor pslist,
                                   std::string &error);

} // namespace proctrack
