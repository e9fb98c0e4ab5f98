// Reads Sysmon events from JSON lines (plain or gzip'd), one event a line,
// in any of the forms the exports use; the form is detected per line:
//  - flat (OTRF / nxlog / Velociraptor-style): top-level EventID, SourceName,
//    Hostname, and the EventData fields at the top level;
//  - winlogbeat 7+ / ECS: winlog.event_id, winlog.provider_name,
//    winlog.computer_name, winlog.record_id, winlog.event_data.*;
//  - winlogbeat 6: event_id, source_name, computer_name, record_number,
//    event_data.*.
// A torn or non-JSON line, or one that is no event, is skipped, counted and
// reported as "FILE:LINE: why"; it is never fatal. Plain C++, no CAF.
#pragma once

#include "actors/ingest/line_reader.hpp"
#include "actors/ingest/sysmon_event.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace proctrack {

class sysmon_json_reader {
public:
  struct counters {
    std::uint64_t lines = 0;       ///< lines read (blank ones included)
    std::uint64_t records = 0;     ///< events returned by next()
    std::uint64_t bad_lines = 0;   ///< torn, non-JSON, too long or no event
    std::uint64_t read_errors = 0; ///< the input ended in a read error
  };

  explicit sysmon_json_reader(std::string path);

  /// Opens the file; false with a message naming it if it cannot.
  bool open(std::string &error);

  /// The next event, in line order. False at the end.
  bool next(sysmon_event &ev);

  const counters &stats() const {
    return stats_;
  }

  /// Messages "FILE:LINE: why" gathered since the last call.
  std::vector<std::string> take_errors();

private:
  void error(std::uint64_t line, std::string msg);

  line_reader lines_;
  counters stats_;
  std::vector<std::string> errors_;
  std::string line_;
};

/// Decodes one JSON line into ev. False and `why` when the line is not JSON
/// or holds no event.
bool parse_event_json(std::string_view line, sysmon_event &ev,
                      std::string &why);

} // namespace proctrack
