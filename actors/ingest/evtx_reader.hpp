// Reads the records of an EVTX file, in file order, and turns each into a
// sysmon_event (System envelope + EventData by Name). Two engines:
//  - binxml (the default): chunk by chunk, decoding each record's binary XML
//    with evtx::chunk_decoder (no XML rendering, ~64 KiB of memory);
//  - libevtx: libevtx renders each record's XML and pugixml reads it; the
//    oracle the binxml engine is tested against (tests/evtx_binxml_test).
// Damage (a truncated file, a chunk whose checksum does not match, a record
// that cannot be decoded) is counted and reported with the chunk and offset,
// never fatal: what can be read around it is returned. Plain C++, no CAF.
#pragma once

#include "actors/ingest/evtx_binxml.hpp"
#include "actors/ingest/sysmon_event.hpp"

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <string_view>
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

  enum class engine { binxml, libevtx };

  explicit evtx_reader(std::string path, engine e = engine::binxml);
  ~evtx_reader();
  evtx_reader(const evtx_reader &) = delete;
  evtx_reader &operator=(const evtx_reader &) = delete;

  /// Opens the file. False, with a message naming the file, when it cannot
  /// be read or is not EVTX. Damage found in the chunks is reported through
  /// take_errors(), not here.
  bool open(std::string &error);

  /// Returns only records with one of these EventIDs (empty: all, the
  /// default). The others are skipped and counted per EventID in
  /// stats().filtered_by_event_id.
  void only_event_ids(std::vector<std::int64_t> ids) {
    wanted_ = std::move(ids);
  }

  /// Decodes the EventData fields only of events with one of these EventIDs
  /// (binxml engine; empty: of all, the default). The others are returned
  /// with their envelope (provider, EventID, computer, time, record number)
  /// and no fields: for a caller that skips them, ~the cost of a skip.
  void fields_only_for(std::vector<std::int64_t> ids) {
    decoder_.fields_only_for(std::move(ids));
  }

  /// With `on` (binxml engine), raw_values() gives the substitution values
  /// behind the fields of the last record next() returned (tests build ETW
  /// payloads from them: tests/etw_decoder_test.cpp).
  void keep_raw_values(bool on) {
    decoder_.keep_raw_values(on);
  }

  /// One per field of the last record next() returned; valid until the next
  /// call of next().
  const std::vector<evtx::chunk_decoder::raw_value> &raw_values() const {
    return decoder_.raw_values();
  }

  /// The next record, in file order. Records that cannot be read or
  /// decoded are skipped and counted. False at the end.
  bool next(sysmon_event &ev);

  const counters &stats() const {
    return stats_;
  }

  /// Messages "FILE: record N (chunk K, offset O): why" or "FILE: chunk K
  /// (offset O): why" gathered since the last call (at most 10,000 held).
  std::vector<std::string> take_errors();

private:
  /// Checks the file header and every chunk's header (signature, header
  /// checksum, free space offset) and names the damage. With
  /// `records_crc`, also every chunk's records checksum (a second read of
  /// the whole file); without, load_chunk() checks it on the chunk it reads.
  void scan_chunks(bool records_crc);
  void error(std::string msg);
  // evtx_reader_libevtx.cpp (Linux), evtx_reader_windows.cpp (no libevtx)
  bool open_libevtx(std::string &error);
  void close_libevtx();
  void libevtx_verdict();
  bool next_libevtx(sysmon_event &ev);
  bool next_binxml(sysmon_event &ev);
  bool load_chunk();
  bool wanted(std::int64_t event_id);

  std::string path_;
  engine engine_;
  // binxml engine: the chunk being read and where in it.
  std::FILE *in_ = nullptr;
  std::vector<unsigned char> chunk_;
  evtx::chunk_decoder decoder_;
  std::uint64_t chunk_index_ = 0; ///< of the next chunk to load
  bool in_chunk_ = false;
  std::size_t rec_off_ = 0, rec_end_ = 0;
  bool chunk_checked_ = false; ///< its header checksum matched
  std::uint64_t chunk_first_ = 0, chunk_last_ = 0;      ///< its record ids
  std::uint64_t chunk_records_ = 0, chunk_last_id_ = 0; ///< read so far
  std::string chunk_where_;
  std::string why_;
  // libevtx engine
  void *file_ = nullptr; // libevtx_file_t*
  int count_ = 0;
  int index_ = 0;
  std::uint64_t last_id_ = 0;
  bool slack_ = false;        // unused, non-zero chunks after the last chunk
  std::vector<bool> damaged_; ///< per chunk index, from scan_chunks()
  counters stats_;
  std::vector<std::string> errors_;
  std::string xml_;
  std::vector<std::int64_t> wanted_;
};

/// Parses one record's XML (as libevtx renders it) into ev. False and
/// `why` when it is not an <Event> document. Character references are
/// decoded as JSON's \u escapes are: &#0; is kept as a NUL byte (the value
/// goes on after it), a pair of surrogate references is joined. Invalid
/// UTF-8 bytes, a lone surrogate reference and one beyond U+10FFFF each
/// become one U+FFFD; `invalid_text` gets how many were replaced.
bool parse_event_xml(const char *xml, std::size_t size, sysmon_event &ev,
                     std::string &why, std::uint64_t *invalid_text = nullptr);

/// The <Data Name=..> fields of the first <EventData> element of an XML
/// text (Log Analytics' Event table: `<DataItem ..><EventData ..>`), set
/// into ev (a field already there is replaced), decoded as parse_event_xml
/// does. False and `why` when it is not XML or has no <EventData>.
bool parse_event_data_xml(std::string_view xml, sysmon_event &ev,
                          std::string &why,
                          std::uint64_t *invalid_text = nullptr);

} // namespace proctrack
