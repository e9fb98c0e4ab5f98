#include "actors/ingest/evtx_reader.hpp"

#include "actors/common/byte_order.hpp"
#include "actors/common/json_text.hpp"

// The libevtx engine and its verdict on dirty headers are in
// evtx_reader_libevtx.cpp (Linux; the Windows build has no libevtx:
// evtx_reader_windows.cpp).

#include <pugixml.hpp>
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace proctrack {

namespace {

using evtx::chunk_size;
using evtx::file_header_size;
constexpr std::size_t chunk_header_size_ = evtx::chunk_header_size;

std::uint32_t crc(const unsigned char *p, std::size_t n,
                  std::uint32_t seed = 0) {
  return static_cast<std::uint32_t>(
      crc32(seed, reinterpret_cast<const Bytef *>(p), static_cast<uInt>(n)));
}

bool all_zero(const unsigned char *p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (p[i] != 0)
      return false;
  return true;
}

} // namespace

evtx_reader::evtx_reader(std::string path, engine e)
    : path_(std::move(path)), engine_(e) {}

evtx_reader::~evtx_reader() {
  if (in_ != nullptr)
    std::fclose(in_);
  close_libevtx();
}

void evtx_reader::error(std::string msg) {
  // Bounded: a hostile file cannot grow the backlog without limit.
  if (errors_.size() < 10000)
    errors_.push_back(path_ + ": " + std::move(msg));
}

std::vector<std::string> evtx_reader::take_errors() {
  std::vector<std::string> out;
  out.swap(errors_);
  return out;
}

bool evtx_reader::open(std::string &err_msg) {
  {
    std::ifstream in(path_, std::ios::binary);
    if (!in) {
      err_msg = path_ + ": cannot open: " + std::strerror(errno);
      return false;
    }
    char magic[8] = {0};
    in.read(magic, 8);
    if (in.gcount() != 8 || std::memcmp(magic, "ElfFile", 8) != 0) {
      err_msg = path_ + ": not an EVTX file (no ElfFile signature)";
      return false;
    }
  }
  if (engine_ == engine::libevtx)
    return open_libevtx(err_msg);
  in_ = std::fopen(path_.c_str(), "rb");
  if (in_ == nullptr) {
    err_msg = path_ + ": cannot open: " + std::strerror(errno);
    return false;
  }
  chunk_.resize(chunk_size);
  if (std::fread(chunk_.data(), 1, file_header_size, in_) != file_header_size) {
    err_msg = path_ + ": not a readable EVTX file: file header cut off ("
              + "under " + std::to_string(file_header_size) + " bytes)";
    return false;
  }
  scan_chunks(false);
  // A header flagged dirty (the log was copied while open) may under-count
  // its chunks, so a cut on a chunk boundary leaves no trace the scan can
  // see; libevtx's own verdict still does (issue 15, F10). Clean headers
  // count their chunks and skip this second open.
  constexpr std::size_t flags_offset = 120; // file header: 0x1 = dirty
  if (static_cast<unsigned char>(chunk_[flags_offset]) & 0x1)
    libevtx_verdict();
  chunk_index_ = 0;
  in_chunk_ = false;
  return true;
}

// libevtx skips a chunk with a bad signature and ignores a chunk cut off by
// truncation without a word; the file header and chunk checksums are checked
// here so that the damage is reported.
void evtx_reader::scan_chunks(bool records_crc) {
  std::ifstream in(path_, std::ios::binary);
  if (!in)
    return;
  std::error_code size_error;
  auto file_size = std::filesystem::file_size(path_, size_error);
  if (size_error)
    records_crc = true; // read every byte: the size is unknown
  std::vector<unsigned char> buf(chunk_size);
  in.read(reinterpret_cast<char *>(buf.data()), file_header_size);
  if (static_cast<std::size_t>(in.gcount()) < 128)
    return;
  std::uint16_t declared = le16(buf.data() + 42);
  if (le32(buf.data() + 124) != crc(buf.data(), 120))
    error("file header checksum mismatch");
  std::size_t k = 0;
  std::vector<std::size_t> unsigned_chunks;
  damaged_.clear();
  auto report_unsigned = [&] {
    for (auto u : unsigned_chunks) {
      ++stats_.damaged_chunks;
      error("chunk " + std::to_string(u) + " (offset "
            + std::to_string(file_header_size + u * chunk_size)
            + "): bad chunk signature; its records are lost");
    }
    unsigned_chunks.clear();
  };
  for (;; ++k) {
    std::uint64_t at = file_header_size + std::uint64_t{k} * chunk_size;
    // A whole chunk without the records checksum: its header is enough.
    bool header_only = !records_crc && file_size >= at + chunk_size;
    if (header_only) {
      in.seekg(static_cast<std::streamoff>(at));
      in.read(reinterpret_cast<char *>(buf.data()), chunk_header_size_);
    } else {
      in.seekg(static_cast<std::streamoff>(at));
      in.read(reinterpret_cast<char *>(buf.data()), chunk_size);
    }
    auto got = static_cast<std::size_t>(in.gcount());
    if (header_only && got == chunk_header_size_)
      got = chunk_size;
    if (got == 0)
      break;
    std::string where = "chunk " + std::to_string(k) + " (offset "
                        + std::to_string(file_header_size + k * chunk_size)
                        + ")";
    if (got < chunk_size) {
      bool is_chunk = got >= 8 && std::memcmp(buf.data(), "ElfChnk", 8) == 0;
      if (!all_zero(buf.data(), got) && (is_chunk || k < declared)) {
        report_unsigned();
        ++stats_.damaged_chunks;
        error(where + ": truncated (" + std::to_string(got) + " of "
              + std::to_string(chunk_size) + " bytes); its records are lost");
      }
      ++k;
      break;
    }
    if (std::memcmp(buf.data(), "ElfChnk", 8) != 0) {
      // Unused space at the end of a preallocated file may hold anything
      // (sysmon.evtx has 8 such chunks of slack): a chunk without signature
      // is damage only if a valid chunk follows it or the header counts it.
      if (!all_zero(buf.data(), 512))
        unsigned_chunks.push_back(k);
      continue;
    }
    report_unsigned();
    std::uint32_t header_crc = crc(buf.data(), 120);
    header_crc = crc(buf.data() + 128, 384, header_crc);
    std::uint32_t free_off = le32(buf.data() + 48);
    bool bad = false;
    std::string why;
    if (header_crc != le32(buf.data() + 124)) {
      bad = true;
      why = "chunk header checksum mismatch";
    } else if (free_off < 512 || free_off > chunk_size) {
      bad = true;
      why = "bad free space offset";
    } else if (!header_only
               && crc(buf.data() + 512, free_off - 512)
                      != le32(buf.data() + 52)) {
      bad = true;
      why = "event records checksum mismatch";
    }
    if (damaged_.size() <= k)
      damaged_.resize(k + 1, false);
    damaged_[k] = bad;
    if (bad) {
      ++stats_.damaged_chunks;
      error(where + " (records " + std::to_string(le64(buf.data() + 24)) + "-"
            + std::to_string(le64(buf.data() + 32)) + "): " + why
            + "; records in it may be lost or skipped");
    }
  }
  while (!unsigned_chunks.empty() && unsigned_chunks.back() >= declared) {
    unsigned_chunks.pop_back();
    slack_ = true;
  }
  report_unsigned();
  if (declared > k && k < 0xffff) {
    // Only complain about missing chunks if the file is shorter than the
    // header says (a "dirty" header may under-count, never over-count).
    ++stats_.damaged_chunks;
    error("file truncated: header declares " + std::to_string(declared)
          + " chunks, " + std::to_string(k) + " present");
  }
}

bool evtx_reader::wanted(std::int64_t event_id) {
  if (wanted_.empty())
    return true;
  for (auto w : wanted_)
    if (w == event_id)
      return true;
  ++stats_.filtered;
  ++stats_.filtered_by_event_id[event_id];
  return false;
}

bool evtx_reader::next(sysmon_event &ev) {
  return engine_ == engine::binxml ? next_binxml(ev) : next_libevtx(ev);
}

// The next chunk with a signature, whole; false at the end of the file.
bool evtx_reader::load_chunk() {
  for (;;) {
    std::uint64_t k = chunk_index_++;
    if (std::fseek(in_, static_cast<long>(file_header_size + k * chunk_size),
                   SEEK_SET)
        != 0)
      return false;
    if (std::fread(chunk_.data(), 1, chunk_size, in_) != chunk_size)
      return false; // cut off: scan_chunks() said so
    const unsigned char *c = chunk_.data();
    if (std::memcmp(c, "ElfChnk", 8) != 0)
      continue; // slack, or damage scan_chunks() reported
    bool damaged = k < damaged_.size() && damaged_[k];
    chunk_checked_ = !damaged;
    std::uint32_t header_crc = crc(c, 120);
    header_crc = crc(c + 128, 384, header_crc);
    bool header_ok = header_crc == le32(c + 124);
    std::uint32_t free_off = le32(c + 48);
    rec_end_ =
        header_ok && free_off >= chunk_header_size_ && free_off <= chunk_size
            ? free_off
            : chunk_size;
    chunk_first_ = header_ok ? le64(c + 24) : 0;
    chunk_last_ = header_ok ? le64(c + 32) : ~std::uint64_t{0};
    // scan_chunks(false) left the records checksum to be checked here, on
    // the chunk in memory (one read of the file instead of two).
    if (chunk_checked_ && rec_end_ == free_off
        && crc(c + chunk_header_size_, free_off - chunk_header_size_)
               != le32(c + 52)) {
      chunk_checked_ = false;
      ++stats_.damaged_chunks;
      error("chunk " + std::to_string(k) + " (offset "
            + std::to_string(file_header_size + k * chunk_size) + ") (records "
            + std::to_string(chunk_first_) + "-" + std::to_string(chunk_last_)
            + "): event records checksum mismatch; records in it may be "
              "lost or skipped");
    }
    chunk_where_ = "chunk " + std::to_string(k) + ", offset ";
    decoder_.reset(c, chunk_size);
    rec_off_ = chunk_header_size_;
    chunk_records_ = 0;
    chunk_last_id_ = 0;
    in_chunk_ = true;
    return true;
  }
}

bool evtx_reader::next_binxml(sysmon_event &ev) {
  if (in_ == nullptr)
    return false;
  auto file_offset = [&](std::size_t off) {
    return std::to_string(file_header_size + (chunk_index_ - 1) * chunk_size
                          + off);
  };
  for (;;) {
    if (!in_chunk_ && !load_chunk())
      return false;
    while (rec_off_ + evtx::record_header_size + 4 <= rec_end_) {
      std::size_t off = rec_off_;
      std::uint32_t size = 0;
      std::string framing_damage;
      bool framed = decoder_.record_at(off, size);
      if (!framed
          && decoder_.damaged_record_at(off, rec_end_, size, framing_damage))
        framing_damage += "; read by its header's size";
      else if (!framed) {
        // Damage, or the end of the records of a chunk whose free space
        // offset is not trusted: resume at the next record header, if any.
        std::size_t next = off + 8;
        std::uint32_t next_size = 0;
        while (next + evtx::record_header_size + 4 <= rec_end_
               && !decoder_.record_at(next, next_size))
          next += 8;
        bool found = next + evtx::record_header_size + 4 <= rec_end_;
        // A record whose size field alone is damaged: it has its signature
        // and the bytes up to the next record end with their own length
        // (the record's copy of its size). It is read by that length.
        std::size_t gap = next - off;
        const unsigned char *c = chunk_.data();
        if (found && gap >= evtx::record_header_size + 4
            && std::memcmp(c + off, "**\0\0", 4) == 0
            && le32(c + off + gap - 4) == gap) {
          framing_damage = "damaged size field ("
                           + std::to_string(le32(c + off + 4))
                           + "; the record is " + std::to_string(gap)
                           + " bytes to the next one, as its copy at the "
                             "end says); read by that size";
          size = static_cast<std::uint32_t>(gap);
        } else {
          if (found || (chunk_checked_ && !all_zero(c + off, 4))) {
            ++stats_.corrupt_records;
            error("(" + chunk_where_ + file_offset(off) + "): "
                  + (found ? std::to_string(next - off)
                                 + " bytes that are no record skipped"
                           : std::string("no record header where one was "
                                         "expected; the rest of the chunk "
                                         "is lost")));
          }
          if (!found)
            break;
          rec_off_ = next;
          continue;
        }
      }
      rec_off_ = off + size;
      std::uint64_t id = decoder_.record_id(off);
      auto where = [&] {
        return "record " + std::to_string(id) + " (" + chunk_where_
               + file_offset(off) + ")";
      };
      auto out_of_order = [&](std::uint64_t n) {
        return (chunk_records_ > 0 && n <= chunk_last_id_) || n < chunk_first_
               || n > chunk_last_;
      };
      bool decoded = decoder_.decode(off, size, ev, why_, &stats_.invalid_text);
      std::uint64_t expected =
          chunk_records_ > 0 ? chunk_last_id_ + 1 : chunk_first_;
      bool id_damaged = !chunk_checked_ && out_of_order(id);
      if (!chunk_checked_ && !id_damaged && id != expected) {
        // A jump forward: records lost before this one, or this header's
        // identifier damaged; the next record's identifier tells which.
        std::uint32_t next_size = 0;
        id_damaged = decoder_.record_at(off + size, next_size)
                     && decoder_.record_id(off + size) == expected + 1;
      }
      if (id_damaged) {
        // In a damaged chunk an identifier out of order (within the chunk:
        // a wrapped log's chunks are not in record order), outside the
        // chunk header's range, or ahead where the next record follows on
        // from the last is damage too: of the header alone when the record
        // is framed and decodes and the chunk still owes a record (it is
        // read as the chunk's next identifier), else of the record
        // (skipped: no garbage gets through).
        if (!decoded || out_of_order(expected)) {
          ++stats_.corrupt_records;
          error(where()
                + ": identifier out of order in a damaged chunk; "
                  "skipped");
          continue;
        }
        error(where()
              + ": identifier in the record header damaged (the "
                "chunk's next is "
              + std::to_string(expected) + "); read as that");
        id = expected;
      }
      ++chunk_records_;
      chunk_last_id_ = id;
      if (!framing_damage.empty())
        error(where() + ": " + framing_damage);
      if (!decoded) {
        ++stats_.corrupt_records;
        error(where() + ": " + why_);
        last_id_ = id;
        continue;
      }
      last_id_ = id;
      if (!wanted(ev.event_id))
        continue;
      if (ev.record_number == 0)
        ev.record_number = id;
      ++stats_.records;
      return true;
    }
    in_chunk_ = false;
  }
}

namespace {

// pugixml stops parsing character references itself (parse_escapes off):
// it would write &#0; as a NUL, which ends its C string and cuts the value
// there, and &#xD800; as three bytes of a surrogate, three U+FFFD later.
// Decoded here instead, the way the JSON path decodes \u escapes: a NUL is
// kept, a surrogate pair of two references is joined, and a lone surrogate
// or a code point beyond U+10FFFF is one U+FFFD, counted in `replaced`. An
// unknown entity (&bogus;) is kept as text, as pugixml keeps it.
std::uint32_t char_ref(std::string_view s, std::size_t &i) {
  // s[i] is '&'; on success i is past the ';'. Returns 0xFFFFFFFF when this
  // is not a numeric character reference.
  constexpr std::uint32_t none = 0xFFFFFFFF;
  std::size_t j = i + 1;
  if (j >= s.size() || s[j] != '#')
    return none;
  ++j;
  bool hex = j < s.size() && s[j] == 'x';
  if (hex)
    ++j;
  std::uint32_t v = 0;
  std::size_t digits = 0;
  for (; j < s.size() && s[j] != ';'; ++j, ++digits) {
    char c = s[j];
    int d = c >= '0' && c <= '9'          ? c - '0'
            : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
            : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                          : -1;
    if (d < 0)
      return none;
    v = v > 0x10FFFF ? 0x110000 : v * (hex ? 16 : 10) + d;
  }
  if (digits == 0 || j >= s.size())
    return none;
  i = j + 1;
  return v;
}

std::string decode_xml_text(std::string_view s, std::size_t &replaced) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    auto amp = s.find('&', i);
    if (amp == std::string_view::npos)
      amp = s.size();
    out.append(s.data() + i, amp - i);
    i = amp;
    if (i == s.size())
      break;
    static constexpr std::pair<std::string_view, char> named[] = {
        {"&lt;", '<'},
        {"&gt;", '>'},
        {"&amp;", '&'},
        {"&quot;", '"'},
        {"&apos;", '\''}};
    bool done = false;
    for (auto &[name, c] : named)
      if (s.compare(i, name.size(), name) == 0) {
        out += c;
        i += name.size();
        done = true;
        break;
      }
    if (done)
      continue;
    std::size_t next = i;
    std::uint32_t cp = char_ref(s, next);
    if (cp == 0xFFFFFFFF) {
      out += '&';
      ++i;
      continue;
    }
    i = next;
    if (cp >= 0xD800 && cp <= 0xDBFF && i < s.size() && s[i] == '&') {
      std::size_t after = i;
      std::uint32_t lo = char_ref(s, after);
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        i = after;
      }
    }
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      out += "\xEF\xBF\xBD";
      ++replaced;
    } else {
      append_utf8(out, cp);
    }
  }
  return out;
}

// The options every event XML is read with: references left to
// decode_xml_text.
constexpr unsigned xml_options =
    (pugi::parse_default | pugi::parse_ws_pcdata_single) & ~pugi::parse_escapes;

// What child_value() gives, decoded: the first text child (a CDATA section
// as it is).
std::string text_of(pugi::xml_node n, std::size_t &replaced) {
  for (auto c : n.children()) {
    if (c.type() == pugi::node_pcdata)
      return decode_xml_text(c.value(), replaced);
    if (c.type() == pugi::node_cdata)
      return c.value();
  }
  return {};
}

std::string text_of(pugi::xml_attribute a, std::size_t &replaced) {
  return decode_xml_text(a.value(), replaced);
}

// The <Data Name=..> elements of an <EventData>, in order (unnamed ones as
// Data0, Data1, ...).
// A pretty-printer that moved a value onto a line of its own
// (`<Data Name='UtcTime'>\n      2019-..\n    </Data>`) added the line
// breaks and the indentation around it: a value that begins with a line
// break and ends with one followed by blanks loses them. No value an event
// logs has that shape (a command line does not begin with a line break).
std::string formatter_trimmed(std::string v) {
  if (v.size() < 2 || (v.front() != '\n' && v.rfind("\r\n", 0) != 0))
    return v;
  auto last = v.find_last_not_of(" \t\r\n");
  if (last == std::string::npos)
    return {};
  if (v.find('\n', last) == std::string::npos)
    return v; // no line break after the value: as logged
  auto first = v.find_first_not_of(" \t\r\n");
  return v.substr(first, last + 1 - first);
}

void take_data(pugi::xml_node event_data, sysmon_event &ev,
               std::size_t &replaced) {
  int unnamed = 0;
  for (auto d : event_data.children("Data")) {
    auto n = d.attribute("Name");
    std::string key =
        n ? text_of(n, replaced) : "Data" + std::to_string(unnamed++);
    ev.fields.emplace_back(std::move(key),
                           formatter_trimmed(text_of(d, replaced)));
  }
}

// pugixml passes bytes through: invalid UTF-8 is checked here, where it is
// counted, not later where it is not.
std::size_t replace_invalid_text(sysmon_event &ev) {
  std::size_t replaced =
      replace_invalid_utf8(ev.provider) + replace_invalid_utf8(ev.computer);
  for (auto &f : ev.fields)
    replaced += replace_invalid_utf8(f.first) + replace_invalid_utf8(f.second);
  return replaced;
}

bool load_xml(pugi::xml_document &doc, const char *xml, std::size_t size,
              std::string &why) {
  auto res = doc.load_buffer(xml, size, xml_options, pugi::encoding_utf8);
  if (!res)
    why = std::string("bad XML: ") + res.description() + " at offset "
          + std::to_string(res.offset);
  return static_cast<bool>(res);
}

} // namespace

bool parse_event_xml(const char *xml, std::size_t size, sysmon_event &ev,
                     std::string &why, std::uint64_t *invalid_text) {
  ev.clear();
  pugi::xml_document doc;
  if (!load_xml(doc, xml, size, why))
    return false;
  auto event = doc.child("Event");
  if (!event) {
    why = "no <Event> element";
    return false;
  }
  std::size_t replaced = 0;
  auto sys = event.child("System");
  ev.provider = text_of(sys.child("Provider").attribute("Name"), replaced);
  {
    auto t = formatter_trimmed(text_of(sys.child("EventID"), replaced));
    char *end = nullptr;
    long long v = std::strtoll(t.c_str(), &end, 10);
    ev.event_id = (end != t.c_str() && *end == '\0') ? v : -1;
  }
  ev.computer = formatter_trimmed(text_of(sys.child("Computer"), replaced));
  ev.time_created =
      text_of(sys.child("TimeCreated").attribute("SystemTime"), replaced);
  ev.record_number = std::strtoull(
      formatter_trimmed(text_of(sys.child("EventRecordID"), replaced)).c_str(),
      nullptr, 10);
  take_data(event.child("EventData"), ev, replaced);
  replaced += replace_invalid_text(ev);
  if (invalid_text != nullptr)
    *invalid_text += replaced;
  return true;
}

bool parse_event_data_xml(std::string_view xml, sysmon_event &ev,
                          std::string &why, std::uint64_t *invalid_text) {
  pugi::xml_document doc;
  if (!load_xml(doc, xml.data(), xml.size(), why))
    return false;
  // Log Analytics wraps it: <DataItem ..><EventData xmlns=..>..
  auto data = doc.find_node(
      [](pugi::xml_node n) { return std::strcmp(n.name(), "EventData") == 0; });
  if (!data) {
    why = "no <EventData> element";
    return false;
  }
  std::size_t replaced = 0;
  sysmon_event got;
  take_data(data, got, replaced);
  replaced += replace_invalid_text(got);
  for (auto &f : got.fields)
    ev.set(std::move(f.first), std::move(f.second));
  if (invalid_text != nullptr)
    *invalid_text += replaced;
  return true;
}

} // namespace proctrack
