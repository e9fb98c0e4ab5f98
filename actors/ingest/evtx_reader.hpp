// Reads the allocated records of an EVTX file with libevtx, in record order,
// and turns each into a sysmon_event (System envelope + EventData by Name).
// Damage (a truncated file, a chunk whose checksum does not match, a record
// libevtx cannot render) is counted and reported, never fatal: what can be
// read around it is returned. Plain C++, no CAF.
#pragma once

#include "actors/ingest/sysmon_event.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace proctrack {

class evtx_reader {
public:
  struct counters {
    std::uint64_t records = 0;         ///< records returned by next()
    std::uint64_t corrupt_records = 0; ///< records skipped as unreadable
    std::uint64_t damaged_chunks = 0;  ///< chunks found damaged or cut off
    std::uint64_t filtered = 0;        ///< records skipped by only_event_ids()
    std::uint64_t invalid_text = 0;    ///< bad UTF-8 replaced by U+FFFD
    std::map<std::int64_t, std::uint64_t> filtered_by_event_id;
  };

  explicit evtx_reader(std::string path);
  ~evtx_reader();
  evtx_reader(const evtx_reader &) = delete;
  evtx_reader &operator=(const evtx_reader &) = delete;

  /// Opens the file. False, with a message naming the file, when it cannot
  /// be read or is not EVTX. Damage found in the chunks is reported through
  /// take_errors(), not here.
  bool open(std::string &error);

  /// Returns only records with one of these EventIDs (empty: all, the
  /// default). The others are recognised from libevtx's event identifier
  /// without rendering their XML, skipped and counted per EventID in
  /// stats().filtered_by_event_id.
  void only_event_ids(std::vector<std::int64_t> ids) {
    wanted_ = std::move(ids);
  }

  /// The next allocated record, in record order. Records libevtx cannot
  /// read or render, or whose XML does not parse, are skipped and counted.
  /// False at the end.
  bool next(sysmon_event &ev);

  const counters &stats() const {
    return stats_;
  }

  /// Messages "FILE: record N: why" (or "FILE: chunk N: why") gathered
  /// since the last call.
  std::vector<std::string> take_errors();

  /// Number of allocated records libevtx indexed at open.
  int record_count() const {
    return count_;
  }

private:
  void scan_chunks();
  void error(std::string msg);

  std::string path_;
  void *file_ = nullptr; // libevtx_file_t*
  int count_ = 0;
  int index_ = 0;
  std::uint64_t last_id_ = 0;
  bool slack_ = false; // unused, non-zero chunks after the last chunk
  counters stats_;
  std::vector<std::string> errors_;
  std::string xml_;
  std::vector<std::int64_t> wanted_;
};

/// Parses one record's XML (as libevtx renders it) into ev. False and
/// `why` when it is not an <Event> document. Invalid UTF-8 in the strings
/// (raw, or from a character reference to a surrogate) becomes U+FFFD;
/// `invalid_text` gets how many were replaced.
bool parse_event_xml(const char *xml, std::size_t size, sysmon_event &ev,
                     std::string &why, std::uint64_t *invalid_text = nullptr);

} // namespace proctrack
