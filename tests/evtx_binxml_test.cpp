// The EVTX binary XML decoder (evtx_reader's binxml engine) against libevtx
// (its libevtx engine: the XML libevtx renders, read by pugixml), record by
// record on every EVTX file of the corpus and of the cases; and its
// behaviour on damage libevtx does not survive.
#include "actors/ingest/evtx_binxml.hpp"
#include "actors/ingest/evtx_reader.hpp"

#include <boost/test/unit_test.hpp>

#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
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

// A missing corpus file fails the case with its name (not an index past
// the end of an empty string).
std::string read_bytes(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "cannot read " << p.string()
                                           << " (PROCTRACK_DATA names the "
                                              "shared data folder)");
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
// damage are read, the damaged record too when its other framing still
// holds, and the damage is named and counted.
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
    // Its signature and the copy of its size at its end (the bytes up to
    // the next record end with their own length) still frame it: read by
    // that size, and the damaged field named.
    BOOST_TEST(got.events.size() == full.events.size());
    BOOST_TEST(got.stats.corrupt_records == 0u);
    bool named = false;
    for (auto &e : got.errors)
      named =
          named
          || (e.find("offset " + std::to_string(second)) != std::string::npos
              && e.find("damaged size field") != std::string::npos);
    BOOST_TEST(named);
    BOOST_TEST_REQUIRE(got.events.size() == full.events.size());
    for (std::size_t i = 0; i < got.events.size(); ++i)
      BOOST_TEST(show(got.events[i]) == show(full.events[i]));
    // Its size and the copy at its end both changed: no longer a record;
    // the bytes up to the next one are skipped and named.
    std::size_t second_size = le32(b, second + 4) ^ 0x10;
    b[second + second_size - 4] =
        static_cast<char>(b[second + second_size - 4] ^ 0x10);
    auto p2 = tmp.path / "bad_record_sizes.evtx";
    write_bytes(p2, b);
    auto got2 = read_all(p2, evtx_reader::engine::binxml);
    BOOST_TEST(got2.events.size() == full.events.size() - 1);
    BOOST_TEST(got2.stats.corrupt_records == 1u);
    bool skipped = false;
    for (auto &e : got2.errors)
      skipped =
          skipped
          || (e.find("offset " + std::to_string(second)) != std::string::npos
              && e.find("bytes that are no record skipped")
                     != std::string::npos);
    BOOST_TEST(skipped);
    BOOST_TEST_REQUIRE(got2.events.size() >= 2u);
    BOOST_TEST(got2.events[1].record_number == full.events[2].record_number);
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

namespace {

// python-evtx's reading (tests/evtx_oracle.py): EventRecordID -> SHA-1 of
// the record's rendered XML, and how many records it rendered.
struct python_reading {
  std::map<std::uint64_t, std::string> sha1;
  std::map<std::uint64_t, int> seen;
  std::size_t records = 0;
};

python_reading read_with_python_evtx(const fs::path &p) {
  const char *source = std::getenv("PROCTRACK_SOURCE");
  if (source == nullptr)
    throw std::runtime_error("PROCTRACK_SOURCE is not set (run through ctest)");
  auto oracle = fs::path(source) / "tests" / "evtx_oracle.py";
  auto r =
      proctrack_test::run("/usr/bin/python3", {oracle.string(), p.string()}, {},
                          std::chrono::seconds(300));
  if (r.status != 0)
    throw std::runtime_error("evtx_oracle.py failed on " + p.string() + ":\n"
                             + r.err);
  python_reading out;
  for (auto &j : proctrack_test::json_lines(r.out)) {
    if (j.contains("records")) {
      out.records = j["records"].get<std::size_t>();
      continue;
    }
    auto id = j["record"].get<std::uint64_t>();
    out.sha1[id] = j["sha1"].get<std::string>();
    ++out.seen[id];
  }
  return out;
}

// show(), with the time rounded to the microsecond: python-evtx renders
// SystemTime as a datetime (microseconds, rounded), so a flip in the lowest
// digits of a FILETIME leaves its XML as it was; that record is not intact,
// and we read the damaged value exactly.
std::string show_to_the_microsecond(sysmon_event ev) {
  auto &t = ev.time_created;
  auto dot = t.find('.');
  if (dot != std::string::npos && t.size() >= dot + 2 && t.back() == 'Z') {
    std::string frac = t.substr(dot + 1, t.size() - dot - 2);
    frac.resize(9, '0');
    long long ns = std::atoll(frac.c_str());
    long long us = (ns + 500) / 1000;
    t = t.substr(0, dot) + "." + std::to_string(us) + "Z";
  }
  return show(ev);
}

} // namespace

// Issue 18 item 5, the mutation test: seeded copies of corpus logs with 4
// bits flipped in their chunks' records (what a bad sector or a careless
// copy does). A record python-evtx renders from the damaged copy exactly as
// from the original is intact: we must read every one of them, with the
// values we read from the original; the damage is named whenever a record
// is missing; nothing crashes (this suite also runs under ASan and UBSan).
// python-evtx also renders damaged records (as garbled values), which we
// may refuse, so its total is reported, not required.
BOOST_AUTO_TEST_CASE(
    mutated_copies_keep_every_record_python_evtx_reads_intact) {
  temp_dir tmp;
  std::mt19937 rng(18);
  struct plan {
    const char *file;
    int copies;
  };
  const plan plans[] = {{"sysmon_10_1_ppid_spoofing.evtx", 8},
                        {"Sysmon_UACME_22.evtx", 6},
                        {"sliver-sysmon.evtx", 6},
                        {"metasploit-sysmon.evtx", 2}};
  // PROCTRACK_EVTX_MUTATIONS=N: N times the copies and a seed of its own
  // (a longer sweep by hand; the same checks).
  int times = 1;
  if (const char *n = std::getenv("PROCTRACK_EVTX_MUTATIONS")) {
    times = std::max(1, std::atoi(n));
    rng.seed(18 + times);
  }
  std::size_t copies = 0, fewer_than_python = 0, intact_total = 0;
  for (auto &pl : plans) {
    auto src = shared_dir() / "data" / "sysmon" / "evtx" / pl.file;
    auto original = read_bytes(src);
    auto ours_full = read_all(src, evtx_reader::engine::binxml);
    std::map<std::uint64_t, std::string> ours_by_id;
    for (auto &ev : ours_full.events)
      ours_by_id[ev.record_number] = show_to_the_microsecond(ev);
    auto py_full = read_with_python_evtx(src);
    BOOST_TEST_REQUIRE(py_full.records == ours_full.events.size());
    // The records area of each chunk: after its 512-byte header, up to its
    // free space offset.
    std::vector<std::pair<std::size_t, std::size_t>> areas;
    for (std::size_t c = 4096; c + 65536 <= original.size(); c += 65536)
      if (original.compare(c, 8, std::string("ElfChnk\0", 8)) == 0) {
        std::size_t free_off = le32(original, c + 48);
        if (free_off > 512 && free_off <= 65536)
          areas.emplace_back(c + 512, c + free_off);
      }
    BOOST_TEST_REQUIRE(!areas.empty());
    for (int i = 0; i < pl.copies * times; ++i) {
      auto m = original;
      std::string flips;
      for (int k = 0; k < 4; ++k) {
        auto [a, e] = areas[rng() % areas.size()];
        std::size_t at = a + rng() % (e - a);
        int bit = static_cast<int>(rng() % 8);
        m[at] = static_cast<char>(m[at] ^ (1 << bit));
        flips += " " + std::to_string(at) + ":" + std::to_string(bit);
      }
      auto p = tmp.path / ("mutated-" + std::to_string(copies++) + ".evtx");
      write_bytes(p, m);
      BOOST_TEST_CONTEXT(pl.file << " copy " << i << ", bits flipped at"
                                 << flips) {
        auto got = read_all(p, evtx_reader::engine::binxml);
        auto py = read_with_python_evtx(p);
        BOOST_TEST(got.opened);
        std::map<std::uint64_t, std::string> got_by_id;
        for (auto &ev : got.events)
          got_by_id[ev.record_number] = show_to_the_microsecond(ev);
        std::size_t intact = 0;
        for (auto &[id, sha] : py.sha1) {
          auto before = py_full.sha1.find(id);
          if (py.seen[id] != 1 || before == py_full.sha1.end()
              || before->second != sha)
            continue;
          ++intact;
          BOOST_TEST_CONTEXT("record " << id) {
            auto it = got_by_id.find(id);
            BOOST_TEST((it != got_by_id.end()));
            if (it != got_by_id.end())
              BOOST_TEST(it->second == ours_by_id[id]);
          }
        }
        intact_total += intact;
        if (got.events.size() < ours_full.events.size())
          BOOST_TEST(!got.errors.empty());
        if (got.events.size() < py.records)
          ++fewer_than_python;
      }
    }
  }
  BOOST_TEST_MESSAGE(copies << " damaged copies, " << intact_total
                            << " intact records all read; " << fewer_than_python
                            << " copies where python-evtx rendered more "
                               "(damaged records it renders as values)");
  BOOST_TEST(intact_total > 0u);
}

// The damage kinds the mutation sweep (PROCTRACK_EVTX_MUTATIONS=10 and 25)
// found beyond the default copies, each as the copy that showed it: the
// record python-evtx read intact is read, with the original's values.
BOOST_AUTO_TEST_CASE(damage_kinds_the_mutation_sweep_found) {
  temp_dir tmp;
  struct kind {
    const char *what;
    const char *file;
    std::vector<std::pair<std::size_t, int>> flips;
    std::uint64_t record; // EventRecordID that must be read
  };
  const kind kinds[] = {
      {"header identifier changed far (out of range)",
       "sliver-sysmon.evtx",
       {{10246, 7}, {8002, 1}, {28765, 0}, {12021, 4}},
       23868},
      {"header identifier moved forward within range",
       "sliver-sysmon.evtx",
       {{30336, 3}, {8918, 7}, {26103, 7}, {18071, 2}},
       23882},
      {"size field changed, trailing copy intact",
       "Sysmon_UACME_22.evtx",
       {{20614, 3}, {10331, 2}, {18740, 0}, {24609, 5}},
       5445},
      {"a value's type byte changed to a narrower type",
       "Sysmon_UACME_22.evtx",
       {{20259, 6}, {29414, 6}, {17208, 1}, {19733, 6}},
       5444},
      {"a template definition's size changed past the chunk",
       "sysmon_10_1_ppid_spoofing.evtx",
       {{9491, 3}, {7384, 3}, {12765, 4}, {4668, 5}},
       244867},
  };
  int n = 0;
  for (auto &k : kinds) {
    BOOST_TEST_CONTEXT(k.what) {
      auto src = shared_dir() / "data" / "sysmon" / "evtx" / k.file;
      auto bytes = read_bytes(src);
      auto full = read_all(src, evtx_reader::engine::binxml);
      for (auto [at, bit] : k.flips)
        bytes[at] = static_cast<char>(bytes[at] ^ (1 << bit));
      auto p = tmp.path / ("kind-" + std::to_string(n++) + ".evtx");
      write_bytes(p, bytes);
      auto got = read_all(p, evtx_reader::engine::binxml);
      std::string before, after;
      for (auto &ev : full.events)
        if (ev.record_number == k.record)
          before = show(ev);
      for (auto &ev : got.events)
        if (ev.record_number == k.record)
          after = show(ev);
      BOOST_TEST_REQUIRE(!before.empty());
      BOOST_TEST(after == before);
      BOOST_TEST(!got.errors.empty()); // the damage is named
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
