// One Windows event as the Sysmon readers see it (EVTX or JSON lines), and
// its translation into a proctrack update (SPEC §5). Plain C++, no CAF.
#pragma once

#include "messages/types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace proctrack {

/// The provider name of Sysmon's events.
inline constexpr std::string_view sysmon_provider = "Microsoft-Windows-Sysmon";

/// The provider name of Sysmon for Linux's events (GUID
/// {ff032593-a8d3-4f13-b0d6-01fc615a0f97}): EID 1 and 5 carry the Windows
/// field names and are read the same way.
inline constexpr std::string_view linux_sysmon_provider = "Linux-Sysmon";

/// The provider of the Windows Security log (4688 process creation, 4689
/// process exit).
inline constexpr std::string_view security_provider =
    "Microsoft-Windows-Security-Auditing";

/// One event: the envelope (provider, EventID, computer, record number) and
/// the EventData fields by Name, in the order the source gave them.
struct sysmon_event {
  std::string provider;            ///< empty when the source does not say
  std::int64_t event_id = -1;      ///< -1 when absent or not a number
  std::string computer;            ///< host name; empty when absent
  std::uint64_t record_number = 0; ///< EventRecordID / line number; 0 = none
  std::string time_created; ///< System/TimeCreated SystemTime; empty if none
  std::vector<std::pair<std::string, std::string>> fields;

  void clear();

  /// Sets (or replaces) a field.
  void set(std::string name, std::string value);

  /// The value of a field, or nullptr when absent. Of duplicate fields
  /// (a <Data Name> given twice) the last one wins, as in every form.
  const std::string *find(std::string_view name) const;
};

/// Turns Sysmon EID 1 into a `start` update and EID 5 into an `exit`
/// update (Windows Sysmon's provider, Sysmon for Linux's, or none); with
/// `security`, also the Security log's 4688 (process creation) into a `start`
/// and 4689 (process exit) into an `exit` (docs/sources.md). Anything else
/// (another EventID, another provider, an event that names no process, an exit
/// without a valid time) gives nullopt and `why_not`. A start whose UtcTime is
/// there but impossible (2021-02-31) is returned with an unknown start time AND
/// a `why_not` naming the field: an input error to count, with the process
/// kept. The update's host is the event's computer.
std::optional<process_update>
to_update(const sysmon_event &ev, std::string &why_not, bool security = false);

/// True for no provider (a form that does not say), Windows Sysmon's and
/// Sysmon for Linux's, in any case.
bool is_sysmon_provider(std::string_view provider);

/// True for the events to_update() reads: Sysmon 1/5 (Windows or Linux),
/// Security 4688/4689.
bool is_process_event(const sysmon_event &ev);

/// Lower-cases a GUID's text ({9A1B...} -> {9a1b...}).
std::string lower_guid(std::string_view guid);

/// True for "{00000000-0000-0000-0000-000000000000}" (braces optional).
bool is_null_guid(std::string_view guid);

/// The last path component of a Windows or POSIX path.
std::string_view base_name(std::string_view path);

/// Sysmon's "SHA1=..,MD5=..,SHA256=..,IMPHASH=.." as a JSON object with
/// SHA256, MD5, IMPHASH first (those present), then any other algorithm.
/// Returns the value as a JSON string when it holds no ALG=HEX pair.
std::string hashes_json(std::string_view hashes);

} // namespace proctrack
