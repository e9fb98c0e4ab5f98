// The EVTX binary XML decoder (evtx_reader's binxml engine) against libevtx
// (its libevtx engine: the XML libevtx renders, read by pugixml), record by
// record on every EVTX file of the corpus and of the cases; and its
// behaviour on damage libevtx does not survive.
#include "actors/ingest/evtx_binxml.hpp"
#include "actors/ingest/evtx_reader.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace proctrack;

namespace {

fs::path shared_dir() {
  if (const char *d = std::getenv("PROCTRACK_DATA"))
    return fs::path(d) / "..";
  if (const char *s = std::getenv("PROCTRACK_SOURCE"))
    return fs::path(s) / ".." / "shared";
  return "/work/shared";
}

std::vector<fs::path> corpus_files() {
  std::vector<fs::path> out;
  for (auto dir : {shared_dir() / "data", shared_dir() / "cases"}) {
    if (!fs::exists(dir))
      continue;
    for (auto &e : fs::recursive_directory_iterator(dir))
      if (e.is_regular_file() && e.path().extension() == ".evtx")
        out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct reading {
  bool opened = false;
  std::vector<sysmon_event> events;
  evtx_reader::counters stats;
  std::vector<std::string> errors;
};

reading read_all(const fs::path &p, evtx_reader::engine e) {
  reading out;
  evtx_reader r(p.string(), e);
  std::string err;
  out.opened = r.open(err);
  sysmon_event ev;
  while (out.opened && r.next(ev))
    out.events.push_back(ev);
  out.stats = r.stats();
  out.errors = r.take_errors();
  return out;
}

std::string show(const sysmon_event &ev) {
  std::ostringstream o;
  o << "record " << ev.record_number << " provider=" << ev.provider
    << " eid=" << ev.event_id << " computer=" << ev.computer
    << " time=" << ev.time_created;
  for (auto &[k, v] : ev.fields)
    o << " [" << k << "=" << v << "]";
  return o.str();
}

std::string read_bytes(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    char tmpl[] = "/tmp/evtx_binxml_test.XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_bytes(const fs::path &p, const std::string &b) {
  std::ofstream out(p, std::ios::binary);
  out.write(b.data(), static_cast<std::streamsize>(b.size()));
}

std::uint32_t le32(const std::string &b, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

} // namespace

BOOST_AUTO_TEST_SUITE(evtx_binxml_test)

// Every record of every EVTX file we hold: the same record ids, envelope
// and EventData (names, values, order) as libevtx's rendering.
BOOST_AUTO_TEST_CASE(every_corpus_record_as_libevtx_reads_it) {
  auto files = corpus_files();
  BOOST_TEST_REQUIRE(files.size() >= 17u);
  std::size_t total = 0;
  for (auto &f : files) {
    BOOST_TEST_CONTEXT(f) {
      auto fast = read_all(f, evtx_reader::engine::binxml);
      auto oracle = read_all(f, evtx_reader::engine::libevtx);
      BOOST_TEST(fast.opened == oracle.opened);
      BOOST_TEST(fast.stats.corrupt_records == oracle.stats.corrupt_records);
      BOOST_TEST(fast.stats.damaged_chunks == oracle.stats.damaged_chunks);
      BOOST_TEST(fast.stats.invalid_text == oracle.stats.invalid_text);
      BOOST_TEST_REQUIRE(fast.events.size() == oracle.events.size());
      for (std::size_t i = 0; i < fast.events.size(); ++i) {
        auto a = show(fast.events[i]), b = show(oracle.events[i]);
        BOOST_TEST(a == b);
        if (a != b)
          break; // one is enough to see what differs
      }
      total += fast.events.size();
    }
  }
  BOOST_TEST(total > 1500u);
}

// FILETIME as libevtx prints it, across the calendar.
BOOST_AUTO_TEST_CASE(filetime_and_utf16) {
  std::string s;
  const unsigned char lone[] = {'a', 0, 0x00, 0xd8, 'b', 0, 0, 0, 'c', 0};
  BOOST_TEST(evtx::utf16_to_utf8(lone, 5, s) == 1u);
  BOOST_TEST(s
             == "a\xEF\xBF\xBD"
                "b"); // stops at the NUL
  s.clear();
  const unsigned char pair[] = {0x3d, 0xd8, 0x00, 0xde}; // U+1F600
  BOOST_TEST(evtx::utf16_to_utf8(pair, 2, s) == 0u);
  BOOST_TEST(s == "\xF0\x9F\x98\x80");
}

// The case of issue 18: four bytes of one record's template value count
// flipped (libevtx allocates ~1.3 GB from it and crashes). Only that record
// is lost, named with its chunk and offset; every other record is read.
BOOST_AUTO_TEST_CASE(flipped_value_count_costs_one_record) {
  temp_dir tmp;
  auto src = shared_dir() / "data" / "sysmon" / "evtx"
             / "sysmon_10_1_ppid_spoofing.evtx";
  auto bytes = read_bytes(src);
  auto full = read_all(src, evtx_reader::engine::binxml);
  BOOST_TEST_REQUIRE(full.events.size() >= 3u);
  // The second record of chunk 0: its template is defined by the first, so
  // its value count follows the fragment header and the 10-byte instance.
  std::size_t chunk = 4096, first = chunk + 512;
  std::size_t second = first + le32(bytes, first + 4);
  BOOST_TEST_REQUIRE(bytes.compare(second, 4, std::string("**\0\0", 4)) == 0);
  std::size_t count_at = second + 24 + 4 + 10;
  BOOST_TEST_REQUIRE(le32(bytes, count_at) < 100u);
  for (int i = 0; i < 4; ++i)
    bytes[count_at + i] = static_cast<char>(bytes[count_at + i] ^ 0x5a);
  auto p = tmp.path / "flipped_count.evtx";
  write_bytes(p, bytes);
  auto got = read_all(p, evtx_reader::engine::binxml);
  BOOST_TEST(got.opened);
  BOOST_TEST(got.stats.corrupt_records == 1u);
  BOOST_TEST(got.events.size() == full.events.size() - 1);
  BOOST_TEST_REQUIRE(!got.errors.empty());
  // Named by the identifier in its record header (its EventRecordID is in
  // the part that cannot be read), its chunk and its file offset.
  std::uint64_t header_id = le32(bytes, second + 8);
  bool named = false;
  for (auto &e : got.errors) {
    BOOST_TEST_MESSAGE(e);
    named = named
            || (e.find(p.string()) == 0
                && e.find("record " + std::to_string(header_id)
                          + " (chunk 0, "
                            "offset "
                          + std::to_string(second) + "): bad binary XML")
                       != std::string::npos);
  }
  BOOST_TEST(named);
  // The others are the same records.
  auto lost = full.events[1].record_number;
  std::size_t j = 0;
  for (auto &ev : full.events)
    if (ev.record_number != lost)
      BOOST_TEST(show(got.events[j++]) == show(ev));
}

// A bad free space offset (libevtx refuses the whole file) and a record
// whose size changed (libevtx drops it silently): the records around the
// damage are read and the damage is named and counted.
BOOST_AUTO_TEST_CASE(chunk_header_and_record_size_damage) {
  temp_dir tmp;
  auto src = shared_dir() / "data" / "sysmon" / "evtx" / "Sysmon_UACME_22.evtx";
  auto bytes = read_bytes(src);
  auto full = read_all(src, evtx_reader::engine::binxml);
  BOOST_TEST_REQUIRE(full.events.size() >= 5u);
  const std::size_t c0 = 4096;
  {
    auto b = bytes;
    b[c0 + 48] = static_cast<char>(0xff);
    b[c0 + 49] = static_cast<char>(0xff);
    b[c0 + 50] = static_cast<char>(0xff);
    auto p = tmp.path / "bad_free_offset.evtx";
    write_bytes(p, b);
    auto got = read_all(p, evtx_reader::engine::binxml);
    BOOST_TEST(got.opened);
    BOOST_TEST(got.events.size() == full.events.size());
    BOOST_TEST(got.stats.damaged_chunks == 1u);
    BOOST_TEST_REQUIRE(!got.errors.empty());
    BOOST_TEST(got.errors.front().find("chunk 0 (offset 4096)")
               != std::string::npos);
  }
  {
    auto b = bytes;
    std::size_t first = c0 + 512;
    std::size_t second = first + le32(b, first + 4);
    std::size_t third = second + le32(b, second + 4);
    b[second + 4] = static_cast<char>(b[second + 4] ^ 0x10); // its size
    auto p = tmp.path / "bad_record_size.evtx";
    write_bytes(p, b);
    auto got = read_all(p, evtx_reader::engine::binxml);
    BOOST_TEST(got.events.size() == full.events.size() - 1);
    BOOST_TEST(got.stats.corrupt_records == 1u);
    bool named = false;
    for (auto &e : got.errors)
      named =
          named
          || e.find("offset " + std::to_string(second)) != std::string::npos;
    BOOST_TEST(named);
    BOOST_TEST_REQUIRE(got.events.size() >= 2u);
    BOOST_TEST(got.events[1].record_number == full.events[2].record_number);
    (void)third;
  }
}

// One changed character in a record's value: the chunk's records checksum
// no longer matches. Named once with its chunk and record range, counted as
// one damaged chunk, and every record still read (the checksum is checked
// on the chunk as it is read, not in a second pass over the file).
BOOST_AUTO_TEST_CASE(records_checksum_mismatch_is_named_and_nothing_lost) {
  temp_dir tmp;
  auto src = shared_dir() / "data" / "sysmon" / "evtx" / "Sysmon_UACME_22.evtx";
  auto bytes = read_bytes(src);
  auto full = read_all(src, evtx_reader::engine::binxml);
  BOOST_TEST_REQUIRE(full.events.size() >= 5u);
  BOOST_TEST(full.stats.damaged_chunks == 0u);
  // The last "C:\" in chunk 0's records (UTF-16LE), made "D:\".
  const std::size_t c0 = 4096;
  std::size_t free_off = le32(bytes, c0 + 48);
  auto at = bytes.rfind(std::string("C\0:\0\\\0", 6), c0 + free_off);
  BOOST_TEST_REQUIRE((at != std::string::npos && at > c0 + 512));
  bytes[at] = 'D';
  auto p = tmp.path / "changed_value.evtx";
  write_bytes(p, bytes);
  auto got = read_all(p, evtx_reader::engine::binxml);
  BOOST_TEST(got.opened);
  BOOST_TEST(got.stats.damaged_chunks == 1u);
  BOOST_TEST(got.stats.corrupt_records == 0u);
  BOOST_TEST(got.events.size() == full.events.size());
  std::size_t named = 0;
  for (auto &e : got.errors)
    if (e.find("chunk 0 (offset 4096) (records ") != std::string::npos
        && e.find("event records checksum mismatch") != std::string::npos)
      ++named;
  BOOST_TEST(named == 1u);
  std::size_t changed = 0;
  for (std::size_t i = 0; i < got.events.size(); ++i)
    changed += show(got.events[i]) != show(full.events[i]);
  BOOST_TEST(changed == 1u);
}

BOOST_AUTO_TEST_SUITE_END()
