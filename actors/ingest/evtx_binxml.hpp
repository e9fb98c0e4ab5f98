// Decodes the records of one EVTX chunk straight from their binary XML into
// a sysmon_event (System envelope + EventData by Name), without rendering
// XML: the fast path of evtx_reader (issue 18). Plain C++, no CAF.
//
// Format (the "Windows XML Event Log (EVTX)" notes of libevtx, and
// [MS-EVEN6] BinXml): a chunk is 64 KiB; a record starts with "**\0\0",
// its size (u32, repeated in its last 4 bytes), its identifier (u64), its
// written time (FILETIME) and then binary XML. Element and attribute names
// are strings at chunk offsets; a template instance refers to a template
// definition at a chunk offset (inline at its first use) and carries the
// substitution values. Every offset and size read from the file is checked
// against the chunk: damage gives an error, never a read outside it, and the
// work per record is bounded by the chunk size and fixed nesting limits.
//
// The values are rendered as libevtx renders them in its XML (the oracle:
// tests/evtx_binxml_test.cpp compares every record of the corpus), e.g.
// FILETIME "2020-03-21T21:45:04.908857700Z", GUID "{747F3D96-...}",
// HexInt64 "0x0000000001caf291", SID "S-1-5-18".
#pragma once

#include "actors/ingest/sysmon_event.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace proctrack::evtx {

constexpr std::size_t file_header_size = 4096;
constexpr std::size_t chunk_size = 65536;
constexpr std::size_t chunk_header_size = 512; ///< records start here
constexpr std::size_t record_header_size = 24;

/// Reads the records of one chunk. The chunk's bytes must stay valid and
/// unchanged between reset() and the last decode().
class chunk_decoder {
public:
  chunk_decoder();
  ~chunk_decoder();
  chunk_decoder(const chunk_decoder &) = delete;
  chunk_decoder &operator=(const chunk_decoder &) = delete;

  /// Starts on a chunk of `size` bytes (at most chunk_size).
  void reset(const unsigned char *chunk, std::size_t size);

  /// True when a plausible record header is at `off`: signature, a size of
  /// at least 28 bytes that stays inside the chunk, and the same size in
  /// its last 4 bytes. `size` gets the record's size.
  bool record_at(std::size_t off, std::uint32_t &size) const;

  /// For the place where the next record must be (right after the last
  /// one): true when two of three framing checks agree that a record of the
  /// size its header gives is there — its signature, the same size in its
  /// last 4 bytes, and what follows it (the next record's signature, four
  /// zero bytes, or `records_end`). `size` gets the header's size; `damage`
  /// names the check that failed ("" when none did). python-evtx reads such
  /// a record (it checks none of them); libevtx drops it.
  bool damaged_record_at(std::size_t off, std::size_t records_end,
                         std::uint32_t &size, std::string &damage) const;

  /// The record's identifier (the u64 after its size), for a record that
  /// record_at() accepted.
  std::uint64_t record_id(std::size_t off) const;

  /// Decodes the record of `size` bytes at `off` into ev (its strings'
  /// buffers are reused): the size record_at() or damaged_record_at() gave,
  /// or another when the record's size field is damaged (at least 28,
  /// inside the chunk). False, with `why`, when its binary XML is damaged or
  /// not an <Event>. Invalid UTF-16 (a lone surrogate) becomes U+FFFD,
  /// counted in *invalid_text.
  bool decode(std::size_t off, std::uint32_t size, sysmon_event &ev,
              std::string &why, std::uint64_t *invalid_text = nullptr);

  /// Keeps the EventData fields only of events with one of these EventIDs
  /// (empty: of all, the default); the others come with their envelope
  /// only, their values not even converted. Their EventData is still
  /// walked, so damage in it still fails the record's structure checks.
  void fields_only_for(std::vector<std::int64_t> ids) {
    fields_for_ = std::move(ids);
  }

  /// One <Data> element's substitution value as the record stores it: the
  /// BinXml value type (0x01 UTF-16 string, 0x08 UInt32, 0x0f GUID, 0x15
  /// HexInt64...: the same numbers as TDH's in-types, [MS-EVEN6] 2.2.18),
  /// the type the template declares for it (what a null value would have
  /// been), and its bytes inside the chunk. type 0 and size 0 when the
  /// element held no substitution or a null one.
  struct raw_value {
    std::uint8_t type = 0;
    std::uint8_t declared = 0;
    const unsigned char *p = nullptr;
    std::size_t size = 0;
  };

  /// With `on`, decode() also keeps raw_values(): one per ev.fields entry,
  /// in the same order. Off by default (the readers need only the text).
  void keep_raw_values(bool on) {
    keep_raw_ = on;
  }

  /// The raw values of the last decode() (valid while the chunk is).
  const std::vector<raw_value> &raw_values() const;

  struct scratch; ///< buffers kept from record to record

private:
  const unsigned char *c_ = nullptr;
  std::size_t size_ = 0;
  std::unique_ptr<scratch> s_;
  std::vector<std::int64_t> fields_for_;
  bool keep_raw_ = false;
};

/// Appends the UTF-8 of `n` UTF-16LE code units at p (stopping at a NUL) to
/// out; a lone surrogate becomes U+FFFD. Returns how many were replaced.
std::size_t utf16_to_utf8(const unsigned char *p, std::size_t n,
                          std::string &out);

} // namespace proctrack::evtx
