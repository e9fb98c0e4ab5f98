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
#include "actors/ingest/xml_event_gatherer.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace proctrack {

class sysmon_json_reader {
public:
  struct counters {
    std::uint64_t lines = 0;        ///< lines read (blank ones included)
    std::uint64_t records = 0;      ///< events returned by next()
    std::uint64_t bad_lines = 0;    ///< torn, non-JSON, too long or no event
    std::uint64_t read_errors = 0;  ///< the input ended in a read error
    std::uint64_t filtered = 0;     ///< lines skipped by only_event_ids()
    std::uint64_t invalid_text = 0; ///< bad text replaced by U+FFFD
    std::map<std::int64_t, std::uint64_t> filtered_by_event_id;
  };

  explicit sysmon_json_reader(std::string path);

  /// Opens the file; false with a message naming it if it cannot.
  bool open(std::string &error);

  /// Returns only events with one of these EventIDs (empty: all, the
  /// default). Other lines are recognised by a scan for their "EventID" /
  /// "event_id" key without JSON parsing, skipped and counted per EventID
  /// in stats().filtered_by_event_id: ten times faster on the usual exports
  /// where Sysmon EID 1/5 are a few lines in a thousand. A line whose
  /// EventID the scan cannot read is parsed as usual.
  void only_event_ids(std::vector<std::int64_t> ids) {
    wanted_ = std::move(ids);
  }

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
  std::vector<std::int64_t> wanted_;
  /// Event XML (a line that starts with '<'), gathered across lines.
  xml_event_gatherer xml_{std::size_t{16} << 20};
  std::vector<std::string> xml_errors_;
  bool xml_seen_ = false;       ///< a line began with '<'
  bool in_long_line_ = false;   ///< the last read was a piece of a line
  bool skip_long_line_ = false; ///< ... of a JSON line, being skipped
};

/// The quick scan behind only_event_ids(): false when every "EventID" /
/// "event_id" key of the line has a number not in `wanted` (then `seen` is
/// the first of them); true when one is wanted, when there is none, or when
/// one cannot be read.
bool may_hold_event(std::string_view line,
                    const std::vector<std::int64_t> &wanted,
                    std::int64_t &seen);

/// Decodes one JSON line into ev. False and `why` when the line is not JSON
/// or holds no event. Text that is not valid Unicode (invalid UTF-8 bytes,
/// \u escapes of lone surrogates) becomes U+FFFD instead of losing the
/// event; when the event is kept, `invalid_text` gets how many were replaced.
bool parse_event_json(std::string_view line, sysmon_event &ev, std::string &why,
                      std::uint64_t *invalid_text = nullptr);

} // namespace proctrack
