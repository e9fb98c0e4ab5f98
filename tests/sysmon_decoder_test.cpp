// Sysmon decoders: EVTX and JSON-lines readers, the EID 1/5 translation,
// the format sniffer and the line reader, checked against the shared corpus
// (shared/data/sysmon, figures from its manifest.json) and damaged copies.
#include <boost/test/unit_test.hpp>

#include "actors/common/time.hpp"
#include "actors/ingest/evtx_reader.hpp"
#include "actors/ingest/format_sniffer.hpp"
#include "actors/ingest/line_reader.hpp"
#include "actors/ingest/sysmon_event.hpp"
#include "actors/ingest/sysmon_json_reader.hpp"
#include "actors/ingest/xml_event_gatherer.hpp"
#include "tests/support/event_xml_exports.hpp"
#include "tests/support/printers.hpp"
#include "tests/support/sentinel_row.hpp"

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

BOOST_AUTO_TEST_SUITE(sysmon_decoder_test)

using namespace proctrack;
namespace fs = std::filesystem;

namespace {

fs::path data_dir() {
  if (const char *d = std::getenv("PROCTRACK_DATA"))
    return d;
  if (const char *s = std::getenv("PROCTRACK_SOURCE"))
    return fs::path(s) / ".." / "shared" / "data";
  return "/work/shared/data";
}

fs::path sysmon_dir() {
  return data_dir() / "sysmon";
}

nlohmann::json manifest() {
  std::ifstream in(sysmon_dir() / "manifest.json");
  BOOST_REQUIRE_MESSAGE(in, "cannot read manifest.json under " << data_dir());
  return nlohmann::json::parse(in);
}

// A missing corpus file fails the case with its name (not an index past
// the end of an empty string).
std::string read_bytes(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "cannot read " << p.string()
                                           << " (PROCTRACK_DATA names the "
                                              "shared data folder)");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_bytes(const fs::path &p, const std::string &s) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(s.data(), static_cast<std::streamsize>(s.size()));
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    std::random_device rd;
    path = fs::temp_directory_path()
           / ("sysmon_decoder_test_" + std::to_string(rd()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Everything one file gives.
struct decoded {
  std::vector<sysmon_event> events;    // every event read
  std::vector<process_update> updates; // EID 1/5 turned into updates
  std::vector<std::string> errors;
  std::map<std::int64_t, int> skipped_by_eid;
  bool opened = false;
  std::string open_error;
  std::uint64_t corrupt = 0;
  std::uint64_t filtered = 0;
};

decoded decode(const fs::path &p, bool filter = false) {
  decoded out;
  std::string err;
  auto fmt = sniff_format(p.string(), err);
  auto feed = [&](sysmon_event &ev) {
    std::string why;
    if (auto u = to_update(ev, why))
      out.updates.push_back(std::move(*u));
    else
      ++out.skipped_by_eid[ev.event_id];
    out.events.push_back(ev);
  };
  sysmon_event ev;
  if (fmt == input_format::evtx) {
    evtx_reader r(p.string());
    if (filter)
      r.only_event_ids({1, 5});
    out.opened = r.open(out.open_error);
    if (out.opened) {
      while (r.next(ev))
        feed(ev);
      out.corrupt = r.stats().corrupt_records;
      out.filtered = r.stats().filtered;
    }
    out.errors = r.take_errors();
  } else if (fmt == input_format::sysmon_json) {
    sysmon_json_reader r(p.string());
    if (filter)
      r.only_event_ids({1, 5});
    out.opened = r.open(out.open_error);
    if (out.opened) {
      while (r.next(ev))
        feed(ev);
      out.corrupt = r.stats().bad_lines;
      out.filtered = r.stats().filtered;
    }
    out.errors = r.take_errors();
  } else {
    out.open_error = err;
  }
  return out;
}

std::vector<std::uint64_t> record_ids(const fs::path &p, decoded *d = nullptr,
                                      evtx_reader::counters *c = nullptr) {
  std::vector<std::uint64_t> ids;
  evtx_reader r(p.string());
  std::string err;
  if (!r.open(err)) {
    if (d != nullptr)
      d->open_error = err;
    return ids;
  }
  sysmon_event ev;
  while (r.next(ev))
    ids.push_back(ev.record_number);
  if (d != nullptr) {
    d->opened = true;
    d->errors = r.take_errors();
  }
  if (c != nullptr)
    *c = r.stats();
  return ids;
}

std::string field(const process_record &p, const std::string &key) {
  for (auto &f : p.data)
    if (f.key == key)
      return f.json;
  return "<absent>";
}

std::vector<std::string> keys(const process_record &p) {
  std::vector<std::string> out;
  for (auto &f : p.data)
    out.push_back(f.key);
  return out;
}

const fs::path evtx_dir() {
  return sysmon_dir() / "evtx";
}

} // namespace

// --- to_update on hand-made events -----------------------------------------

BOOST_AUTO_TEST_CASE(hashes_are_split) {
  BOOST_TEST(hashes_json("SHA1=AA,MD5=BB,SHA256=CC,IMPHASH=DD")
             == R"({"SHA256":"CC","MD5":"BB","IMPHASH":"DD","SHA1":"AA"})");
  BOOST_TEST(hashes_json("MD5=BB,IMPHASH=DD")
             == R"({"MD5":"BB","IMPHASH":"DD"})");
  BOOST_TEST(hashes_json("SHA1=AA") == R"({"SHA1":"AA"})");
  BOOST_TEST(hashes_json("garbage") == R"("garbage")");
}

BOOST_AUTO_TEST_CASE(base_name_takes_either_slash) {
  BOOST_TEST(base_name("C:\\Windows\\System32\\cmd.exe") == "cmd.exe");
  BOOST_TEST(base_name("/usr/bin/bash") == "bash");
  BOOST_TEST(base_name("System") == "System");
}

BOOST_AUTO_TEST_CASE(to_update_filters_and_translates) {
  sysmon_event ev;
  ev.provider = "Microsoft-Windows-Sysmon";
  ev.event_id = 1;
  ev.computer = "HOST";
  ev.set("UtcTime", "2021-01-01 10:30:00.250");
  ev.set("ProcessGuid", "{AB-CD}");
  ev.set("ProcessId", "5");
  ev.set("Image", "C:\\x\\a.exe");
  ev.set("ParentProcessGuid", "{00000000-0000-0000-0000-000000000000}");
  ev.set("ParentProcessId", "1");
  ev.set("TerminalSessionId", "1");
  std::string why;
  auto u = to_update(ev, why);
  BOOST_REQUIRE(u);
  BOOST_TEST(u->kind == update_kind::start);
  BOOST_TEST(u->process.pid == "5");
  BOOST_TEST(u->process.ppid == "1");
  BOOST_TEST(u->process.guid == "{ab-cd}");
  BOOST_TEST(u->process.parent_guid == ""); // all-zero GUID means none
  BOOST_TEST(u->process.start_time
             == 1609497000 * hns_per_second + hns_per_second / 4);
  BOOST_TEST(field(u->process, "Pid") == "5");
  BOOST_TEST(field(u->process, "Ppid") == "1");
  BOOST_TEST(field(u->process, "Name") == "\"a.exe\"");
  BOOST_TEST(field(u->process, "StartTime") == "\"2021-01-01T10:30:00.25Z\"");
  BOOST_TEST(field(u->process, "ParentProcessGuid")
             == "\"{00000000-0000-0000-0000-000000000000}\"");
  BOOST_TEST(field(u->process, "Computer") == "\"HOST\"");
  BOOST_TEST(field(u->process, "EndTime") == "<absent>");
  BOOST_TEST(field(u->process, "CommandLine") == "<absent>");

  ev.event_id = 5;
  u = to_update(ev, why);
  BOOST_REQUIRE(u);
  BOOST_TEST(u->kind == update_kind::exit);
  BOOST_TEST(u->target == "{ab-cd}");
  BOOST_TEST(u->process.pid == "5");
  BOOST_TEST(u->time == 1609497000 * hns_per_second + hns_per_second / 4);

  ev.set("ProcessGuid", "");
  u = to_update(ev, why);
  BOOST_REQUIRE(u);
  BOOST_TEST(u->target == "5");

  ev.set("UtcTime", "not a time");
  BOOST_TEST(!to_update(ev, why));

  ev.event_id = 3;
  BOOST_TEST(!to_update(ev, why));
  BOOST_TEST(why.find("EventID 3") != std::string::npos);

  ev.event_id = 1;
  ev.provider = "Microsoft-Windows-Security-Auditing";
  BOOST_TEST(!to_update(ev, why));

  // A non-numeric pid stays a JSON string.
  ev.provider.clear();
  ev.set("ProcessId", "0x10");
  u = to_update(ev, why);
  BOOST_REQUIRE(u);
  BOOST_TEST(field(u->process, "Pid") == "\"0x10\"");
}

// --- the corpus ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(corpus_counts_match_manifest) {
  auto m = manifest();
  int files = 0;
  for (auto &f : m.at("files")) {
    auto rel = f.at("file").get<std::string>();
    auto d = decode(sysmon_dir() / rel);
    BOOST_TEST_CONTEXT(rel) {
      BOOST_TEST_REQUIRE(d.opened, d.open_error);
      int eid1 = 0, eid5 = 0, null_parent = 0;
      for (auto &u : d.updates) {
        if (u.kind == update_kind::start) {
          ++eid1;
          null_parent += u.process.parent_guid.empty() ? 1 : 0;
          BOOST_TEST(!u.process.guid.empty());
          BOOST_TEST(u.process.start_time != unknown_time);
        } else {
          ++eid5;
          BOOST_TEST(!u.target.empty());
        }
      }
      BOOST_TEST(eid1 == f.at("eid1").get<int>());
      BOOST_TEST(eid5 == f.at("eid5").get<int>());
      BOOST_TEST(null_parent == f.value("null_parent_guid", 0));
      BOOST_TEST(d.events.size() == f.at("records").get<std::size_t>());
      BOOST_TEST(d.corrupt == 0u);
      BOOST_TEST(d.errors.empty(),
                 (d.errors.empty() ? std::string() : d.errors.front()));
      BOOST_TEST_MESSAGE(rel << ": EID1 " << eid1 << "/"
                             << f.at("eid1").get<int>() << " EID5 " << eid5
                             << "/" << f.at("eid5").get<int>());
    }
    // The same with the EventID filter: same updates, the rest filtered.
    BOOST_TEST_CONTEXT(rel << " (filtered)") {
      auto q = decode(sysmon_dir() / rel, true);
      BOOST_TEST_REQUIRE(q.opened, q.open_error);
      BOOST_TEST(q.updates.size() == d.updates.size());
      for (std::size_t i = 0; i < std::min(q.updates.size(), d.updates.size());
           ++i) {
        BOOST_TEST(q.updates[i].process.guid == d.updates[i].process.guid);
        BOOST_TEST(q.updates[i].process.data.size()
                   == d.updates[i].process.data.size());
      }
      BOOST_TEST(q.events.size() + q.filtered
                 == f.at("records").get<std::size_t>());
      BOOST_TEST(q.errors.empty());
    }
    ++files;
  }
  BOOST_TEST(files == 21);
}

BOOST_AUTO_TEST_CASE(roguewinrm_chain) {
  auto d = decode(evtx_dir() / "Microsoft-Windows-Sysmon%4Operational.evtx");
  BOOST_REQUIRE(d.opened);
  std::vector<process_update> starts;
  for (auto &u : d.updates)
    if (u.kind == update_kind::start)
      starts.push_back(u);
  BOOST_REQUIRE_EQUAL(starts.size(), 4u);
  auto &rogue = starts[0].process;
  BOOST_TEST(rogue.pid == "3960");
  BOOST_TEST(rogue.ppid == "8036");
  BOOST_TEST(rogue.guid == "{747f3d96-ca4b-5ec9-0000-0010b8cb3700}");
  BOOST_TEST(rogue.parent_guid == "{747f3d96-bea0-5ec9-0000-001096421600}");
  BOOST_TEST(rogue.start_time == *parse_time("2020-05-24T01:13:47.752Z"));
  std::vector<std::string> expected_keys = {"Pid",
                                            "Ppid",
                                            "Name",
                                            "StartTime",
                                            "Username",
                                            "Exe",
                                            "CommandLine",
                                            "CurrentDirectory",
                                            "FileVersion",
                                            "Description",
                                            "Company",
                                            "Product",
                                            "ParentImage",
                                            "ParentCommandLine",
                                            "TerminalSessionId",
                                            "IntegrityLevel",
                                            "Hashes",
                                            "ProcessGuid",
                                            "ParentProcessGuid",
                                            "OriginalFilename",
                                            "Computer"};
  BOOST_TEST(keys(rogue) == expected_keys, boost::test_tools::per_element());
  BOOST_TEST(field(rogue, "Pid") == "3960");
  BOOST_TEST(field(rogue, "Ppid") == "8036");
  BOOST_TEST(field(rogue, "Name") == "\"RogueWinRM.exe\"");
  BOOST_TEST(field(rogue, "Exe")
             == R"("C:\\Users\\IEUser\\Tools\\PrivEsc\\RogueWinRM.exe")");
  BOOST_TEST(field(rogue, "CommandLine")
             == R"("RogueWinRM.exe  -p c:\\Windows\\System32\\cmd.exe")");
  BOOST_TEST(field(rogue, "StartTime") == "\"2020-05-24T01:13:47.752Z\"");
  BOOST_TEST(field(rogue, "Username") == R"("NT AUTHORITY\\LOCAL SERVICE")");
  BOOST_TEST(field(rogue, "OriginalFilename") == "\"?\"");
  BOOST_TEST(field(rogue, "TerminalSessionId") == "1");
  BOOST_TEST(field(rogue, "ParentCommandLine") == R"("\"cmd.exe\" ")");
  BOOST_TEST(field(rogue, "ProcessGuid")
             == "\"{747F3D96-CA4B-5EC9-0000-0010B8CB3700}\"");
  BOOST_TEST(field(rogue, "Computer") == "\"MSEDGEWIN10\"");
  BOOST_TEST(
      field(rogue, "Hashes")
      == R"({"SHA256":"BAC5FC4FA68E57E2BEE2FC5670BA914EF1707B16F52D2EE773956275E00A5EBB","MD5":"74F57B3E897A4960DCDD5B7E8A54F9DF","IMPHASH":"B684AEBFA64CE862E264968DC97605F0","SHA1":"B3F79385346A863655D33F8EB1060A03FF116B50"})");
  // RogueWinRM -> cmd -> whoami, linked by GUID.
  const process_record *cmd = nullptr;
  const process_record *whoami = nullptr;
  for (auto &s : starts) {
    if (s.process.parent_guid == rogue.guid
        && field(s.process, "Name") == "\"cmd.exe\"")
      cmd = &s.process;
  }
  BOOST_REQUIRE(cmd != nullptr);
  for (auto &s : starts)
    if (s.process.parent_guid == cmd->guid)
      whoami = &s.process;
  BOOST_REQUIRE(whoami != nullptr);
  BOOST_TEST(field(*whoami, "Name") == "\"whoami.exe\"");
  BOOST_TEST(whoami->ppid == cmd->pid);
  for (auto &s : starts)
    for (auto &f : s.process.data) {
      auto j = nlohmann::json::parse(f.json, nullptr, false);
      BOOST_TEST(!j.is_discarded(), f.key << " = " << f.json);
    }
}

BOOST_AUTO_TEST_CASE(json_forms_decode) {
  // nxlog flat form without ProcessId: pids unknown, GUIDs kept.
  auto d =
      decode(sysmon_dir() / "jsonl"
             / "empire_dcom_shellwindows_stager_2020-09-18130751.jsonl.gz");
  BOOST_REQUIRE(d.opened);
  for (auto &u : d.updates) {
    BOOST_TEST(u.process.pid.empty());
    if (u.kind == update_kind::exit)
      BOOST_TEST(u.target == u.process.guid);
    else
      BOOST_TEST(!u.process.ppid.empty());
  }
  // winlogbeat 6: computer_name and event_data.*.
  d = decode(sysmon_dir() / "jsonl"
             / "empire_enable_rdp_2019-05-18203650.jsonl");
  BOOST_REQUIRE(d.opened);
  bool reg = false;
  for (auto &u : d.updates)
    if (u.kind == update_kind::start && u.process.pid == "7792") {
      reg = true;
      BOOST_TEST(field(u.process, "Name") == "\"reg.exe\"");
      BOOST_TEST(u.process.guid == "{03ba39f5-6cf6-5ce0-0000-0010348c0e02}");
      BOOST_TEST(field(u.process, "Computer").find("shire.com")
                 != std::string::npos);
      BOOST_TEST(field(u.process, "Hashes").find("\"SHA256\":\"19316D42")
                 != std::string::npos);
    }
  BOOST_TEST(reg);
  // winlogbeat 7 (not in the corpus): a hand-made line.
  sysmon_event ev;
  std::string why;
  BOOST_REQUIRE(parse_event_json(
      R"({"winlog":{"event_id":1,"provider_name":"Microsoft-Windows-Sysmon","computer_name":"H","record_id":7,"event_data":{"ProcessId":"9","ProcessGuid":"{A}","Image":"C:\\b.exe","UtcTime":"2021-01-01 00:00:00.000"}}})",
      ev, why));
  auto u = to_update(ev, why);
  BOOST_REQUIRE(u);
  BOOST_TEST(u->process.pid == "9");
  BOOST_TEST(u->process.guid == "{a}");
  BOOST_TEST(ev.record_number == 7u);
  BOOST_TEST(field(u->process, "Computer") == "\"H\"");
}

// --- damaged EVTX ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(truncated_evtx_keeps_what_is_readable) {
  temp_dir tmp;
  auto src = evtx_dir() / "PanacheSysmon_vs_AtomicRedTeam01.evtx";
  auto bytes = read_bytes(src);
  BOOST_REQUIRE(bytes.size() == 1118208u);
  auto full = record_ids(src);
  BOOST_REQUIRE_EQUAL(full.size(), 565u);
  const std::size_t chunk = 65536, header = 4096;
  std::vector<std::size_t> cuts = {100,
                                   header,
                                   header + 5000,
                                   header + chunk,
                                   header + chunk + 300,
                                   header + 3 * chunk + 777,
                                   600000,
                                   header + 14 * chunk + 40000,
                                   bytes.size() - 1};
  for (auto cut : cuts) {
    BOOST_TEST_CONTEXT("cut at " << cut) {
      auto p = tmp.path / ("cut_" + std::to_string(cut) + ".evtx");
      write_bytes(p, bytes.substr(0, cut));
      decoded d;
      auto ids = record_ids(p, &d);
      if (cut < header) {
        // libevtx refuses a file without a whole header: nothing to read.
        BOOST_TEST(!d.opened);
        BOOST_TEST(d.open_error.find(p.string()) != std::string::npos);
        continue;
      }
      BOOST_TEST(d.opened);
      // The records read are the records of the whole chunks before the cut.
      BOOST_TEST_REQUIRE(ids.size() <= full.size());
      for (std::size_t i = 0; i < ids.size(); ++i)
        BOOST_TEST(ids[i] == full[i]);
      std::size_t whole_chunks = (cut - header) / chunk;
      // Chunk k of this file holds records up to these ids (see chunk map).
      static const std::uint64_t last_in_chunk[] = {44,  87,  124, 162, 202,
                                                    241, 280, 319, 358, 397,
                                                    436, 475, 517, 557, 565};
      std::size_t expect =
          whole_chunks == 0
              ? 0
              : last_in_chunk[std::min<std::size_t>(whole_chunks - 1, 14)];
      BOOST_TEST(ids.size() == expect);
      if (cut < header + 15 * chunk) {
        // Damage is reported, naming the file.
        BOOST_TEST_REQUIRE(!d.errors.empty());
        BOOST_TEST(d.errors.front().find(p.string()) == 0u);
        BOOST_TEST_MESSAGE(d.errors.front());
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(corrupt_chunk_is_skipped_and_reported) {
  temp_dir tmp;
  auto src = evtx_dir() / "PanacheSysmon_vs_AtomicRedTeam01.evtx";
  auto bytes = read_bytes(src);
  auto full = record_ids(src);
  const std::size_t chunk = 65536, header = 4096;
  const std::size_t c2 = header + 2 * chunk; // the 88th to 124th records
  auto in_chunk2 = [&](std::uint64_t id) {
    auto pos = std::find(full.begin(), full.end(), id) - full.begin();
    return pos >= 87 && pos <= 123;
  };

  // 1. Bytes flipped inside the records of chunk 2.
  {
    auto b = bytes;
    for (std::size_t off : {c2 + 0x300, c2 + 0x1000, c2 + 0x4000})
      for (std::size_t i = 0; i < 64; ++i)
        b[off + i] = static_cast<char>(b[off + i] ^ 0xff);
    auto p = tmp.path / "flipped_records.evtx";
    write_bytes(p, b);
    decoded d;
    evtx_reader::counters c;
    auto ids = record_ids(p, &d, &c);
    BOOST_TEST(d.opened);
    BOOST_TEST(!d.errors.empty());
    BOOST_TEST(c.damaged_chunks >= 1u);
    for (auto &e : d.errors)
      BOOST_TEST_MESSAGE(e);
    // Every record outside the damaged chunk is still there.
    std::size_t kept = 0;
    for (auto id : full)
      if (!in_chunk2(id))
        kept += std::count(ids.begin(), ids.end(), id) == 1 ? 1 : 0;
    BOOST_TEST(kept == 565u - 37u);
    BOOST_TEST(std::is_sorted(ids.begin(), ids.end()));
  }
  // 2. The chunk signature destroyed: libevtx drops the chunk silently; the
  //    reader reports it.
  {
    auto b = bytes;
    for (std::size_t i = 0; i < 8; ++i)
      b[c2 + i] = static_cast<char>(b[c2 + i] ^ 0xff);
    auto p = tmp.path / "bad_signature.evtx";
    write_bytes(p, b);
    decoded d;
    auto ids = record_ids(p, &d);
    BOOST_TEST(d.opened);
    BOOST_TEST_REQUIRE(!d.errors.empty());
    BOOST_TEST(d.errors.front().find("chunk 2") != std::string::npos);
    std::vector<std::uint64_t> expect;
    for (auto id : full)
      if (!in_chunk2(id))
        expect.push_back(id);
    BOOST_TEST(ids == expect, boost::test_tools::per_element());
  }
  // 3. The file signature destroyed: not EVTX any more, a clear error.
  {
    auto b = bytes;
    b[0] = 'X';
    auto p = tmp.path / "bad_file_signature.evtx";
    write_bytes(p, b);
    evtx_reader r(p.string());
    std::string err;
    BOOST_TEST(!r.open(err));
    BOOST_TEST(err.find(p.string()) == 0u);
  }
}

BOOST_AUTO_TEST_CASE(random_damage_never_crashes) {
  temp_dir tmp;
  auto bytes = read_bytes(evtx_dir() / "Sysmon_UACME_22.evtx");
  std::mt19937 rng(12345);
  for (int round = 0; round < 40; ++round) {
    auto b = bytes;
    int flips = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < flips; ++i) {
      auto off = 4096 + rng() % (b.size() - 4096);
      b[off] = static_cast<char>(rng());
    }
    auto p = tmp.path / "random.evtx";
    write_bytes(p, b);
    decoded d;
    evtx_reader::counters c;
    auto ids = record_ids(p, &d, &c);
    BOOST_TEST(d.opened);
    BOOST_TEST(ids.size() <= 19u);
  }
}

// --- JSON lines with damage -------------------------------------------------

namespace {

std::vector<std::string> sample_lines(std::size_t n) {
  // The first n Sysmon EID 1 lines of a corpus file.
  std::vector<std::string> out;
  line_reader lr((sysmon_dir() / "jsonl"
                  / "aptsimulator_cobaltstrike_2021-06-11T21081492.jsonl")
                     .string());
  std::string err, line;
  BOOST_REQUIRE(lr.open(err));
  while (out.size() < n && lr.next(line) == line_reader::status::ok)
    if (line.find("\"EventID\":1,") != std::string::npos
        && line.find("Microsoft-Windows-Sysmon") != std::string::npos)
      out.push_back(line);
  return out;
}

void write_gz(const fs::path &p, const std::string &text) {
  gzFile f = gzopen(p.string().c_str(), "wb");
  BOOST_REQUIRE(f != nullptr);
  gzwrite(f, text.data(), static_cast<unsigned>(text.size()));
  gzclose(f);
}

} // namespace

BOOST_AUTO_TEST_CASE(torn_json_lines_are_skipped_and_counted) {
  temp_dir tmp;
  auto good = sample_lines(4);
  BOOST_REQUIRE_EQUAL(good.size(), 4u);
  std::string text;
  text += good[0] + "\n";                               // 1
  text += good[1].substr(0, good[1].size() / 2) + "\n"; // 2 torn
  text += good[1] + "\r\n";                             // 3 (CRLF)
  text += "\n";                                         // 4 blank
  text += "not json at all\n";                          // 5
  text += "[1,2,3]\n";                                  // 6 not an object
  text += "{\"foo\":1}\n";                              // 7 no event
  text += good[2] + "\n";                               // 8
  text += good[3].substr(good[3].size() / 3);           // 9 torn, no newline
  for (bool gz : {false, true}) {
    BOOST_TEST_CONTEXT((gz ? "gzip" : "plain")) {
      auto p = tmp.path / (gz ? "torn.jsonl.gz" : "torn.jsonl");
      if (gz)
        write_gz(p, text);
      else
        write_bytes(p, text);
      std::string err;
      BOOST_TEST(sniff_format(p.string(), err) == input_format::sysmon_json);
      sysmon_json_reader r(p.string());
      BOOST_REQUIRE(r.open(err));
      sysmon_event ev;
      std::vector<process_update> starts;
      while (r.next(ev)) {
        std::string why;
        if (auto u = to_update(ev, why))
          starts.push_back(*u);
      }
      BOOST_TEST(starts.size() == 3u);
      BOOST_TEST(r.stats().records == 3u);
      BOOST_TEST(r.stats().bad_lines == 5u);
      BOOST_TEST(r.stats().lines == 9u);
      auto errors = r.take_errors();
      BOOST_REQUIRE_EQUAL(errors.size(), 5u);
      std::vector<std::string> expect_prefix;
      for (int n : {2, 5, 6, 7, 9})
        expect_prefix.push_back(p.string() + ":" + std::to_string(n) + ": ");
      for (std::size_t i = 0; i < errors.size(); ++i)
        BOOST_TEST(errors[i].rfind(expect_prefix[i], 0) == 0u, errors[i]);
      BOOST_TEST(r.take_errors().empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(truncated_gzip_keeps_lines_before_the_cut) {
  temp_dir tmp;
  auto src = sysmon_dir() / "jsonl"
             / "metasploit_logonpasswords_lsass_memory_dump.jsonl.gz";
  auto bytes = read_bytes(src);
  auto p = tmp.path / "cut.jsonl.gz";
  write_bytes(p, bytes.substr(0, bytes.size() / 2));
  sysmon_json_reader r(p.string());
  std::string err;
  BOOST_REQUIRE(r.open(err));
  sysmon_event ev;
  std::size_t n = 0;
  while (r.next(ev))
    ++n;
  BOOST_TEST(n > 1000u);
  BOOST_TEST(r.stats().read_errors == 1u);
  auto errors = r.take_errors();
  BOOST_REQUIRE(!errors.empty());
  BOOST_TEST_MESSAGE(errors.back());
  BOOST_TEST(errors.back().find(p.string()) == 0u);
}

BOOST_AUTO_TEST_CASE(line_reader_bounds_lines) {
  temp_dir tmp;
  auto p = tmp.path / "long.txt";
  std::string text =
      "short\n" + std::string(1000, 'x') + "\nafter\n" + std::string(5000, 'y');
  write_bytes(p, "\xEF\xBB\xBF" + text);
  line_reader lr(p.string(), 100);
  std::string err, line;
  BOOST_REQUIRE(lr.open(err));
  BOOST_TEST((lr.next(line) == line_reader::status::ok));
  BOOST_TEST(line == "short");
  BOOST_TEST((lr.next(line) == line_reader::status::too_long));
  BOOST_TEST(lr.line_number() == 2u);
  BOOST_TEST((lr.next(line) == line_reader::status::ok));
  BOOST_TEST(line == "after");
  BOOST_TEST(lr.line_number() == 3u);
  BOOST_TEST((lr.next(line) == line_reader::status::too_long));
  BOOST_TEST(lr.line_number() == 4u);
  BOOST_TEST((lr.next(line) == line_reader::status::eof));
  BOOST_TEST(lr.last_error().empty());

  line_reader missing((tmp.path / "nope").string());
  BOOST_TEST(!missing.open(err));
  BOOST_TEST(err.find("nope") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(format_sniffing) {
  temp_dir tmp;
  std::string err;
  BOOST_TEST((sniff_format((evtx_dir() / "sysmon.evtx").string(), err)
              == input_format::evtx));
  for (auto &f : fs::directory_iterator(sysmon_dir() / "jsonl"))
    BOOST_TEST(
        (sniff_format(f.path().string(), err) == input_format::sysmon_json),
        f.path());
  auto upd = tmp.path / "updates.jsonl";
  write_bytes(upd, "{\"update_type\":\"start\",\"id\":2,\"parent_id\":1}\n");
  BOOST_TEST((sniff_format(upd.string(), err) == input_format::updates));
  auto updgz = tmp.path / "updates.jsonl.gz";
  write_gz(updgz, "\n{\"update_type\":\"exit\",\"id\":\"2\"}\n");
  BOOST_TEST((sniff_format(updgz.string(), err) == input_format::updates));
  // Bad text in the only line does not hide the format (issue 15).
  auto badtext = tmp.path / "badtext.jsonl";
  write_bytes(badtext, "{\"update_type\":\"exit\",\"id\":\"\\ud800\xe9\"}\n");
  BOOST_TEST((sniff_format(badtext.string(), err) == input_format::updates));
  write_bytes(badtext, "{\"EventID\":1,\"User\":\"Jos\xe9\"}\n");
  BOOST_TEST(
      (sniff_format(badtext.string(), err) == input_format::sysmon_json));
  auto junk = tmp.path / "junk.txt";
  write_bytes(junk, "hello\nworld\n");
  err.clear();
  BOOST_TEST((sniff_format(junk.string(), err) == input_format::unknown));
  BOOST_TEST(err.find(junk.string()) == 0u);
  err.clear();
  BOOST_TEST((sniff_format((tmp.path / "missing").string(), err)
              == input_format::unknown));
  BOOST_TEST(!err.empty());
}

BOOST_AUTO_TEST_CASE(event_id_prefilter_scan) {
  std::vector<std::int64_t> w = {1, 5};
  std::int64_t seen = -1;
  BOOST_TEST(may_hold_event(R"({"EventID":1,"x":2})", w, seen));
  BOOST_TEST(!may_hold_event(R"({"EventID" : 10,"x":2})", w, seen));
  BOOST_TEST(seen == 10);
  BOOST_TEST(!may_hold_event(R"({"event_id":"13","x":2})", w, seen));
  BOOST_TEST(seen == 13);
  BOOST_TEST(may_hold_event(R"({"winlog":{"event_id":5}})", w, seen));
  // A key inside a string value is escaped: not a key.
  BOOST_TEST(may_hold_event(R"({"m":"\"EventID\":3","EventID":5})", w, seen));
  BOOST_TEST(!may_hold_event(R"({"m":"\"EventID\":1","EventID":3})", w, seen));
  // No key, or an unreadable one: parse it.
  BOOST_TEST(may_hold_event(R"({"foo":1})", w, seen));
  BOOST_TEST(may_hold_event(R"({"EventID":null})", w, seen));
  BOOST_TEST(may_hold_event(R"({"EventID":11111111111111111111111})", w, seen));
}

// --- text that is not valid Unicode (issue 15) -----------------------------

fs::path cases_dir() {
  if (const char *s = std::getenv("PROCTRACK_SOURCE"))
    return fs::path(s) / ".." / "shared" / "cases";
  return "/work/shared/cases";
}

// The outsiders' case: a lone surrogate escape and a raw Latin-1 byte cost
// the text (U+FFFD, counted), never the event.
BOOST_AUTO_TEST_CASE(bad_unicode_keeps_the_event) {
  const std::string fffd = "\xEF\xBF\xBD";
  auto path = cases_dir() / "sources" / "bad_unicode_drops_event.jsonl";
  sysmon_json_reader r(path.string());
  std::string err;
  BOOST_REQUIRE_MESSAGE(r.open(err), err);
  std::vector<process_update> ups;
  sysmon_event ev;
  while (r.next(ev)) {
    std::string why;
    auto u = to_update(ev, why);
    BOOST_REQUIRE_MESSAGE(u, why);
    ups.push_back(std::move(*u));
  }
  BOOST_TEST(r.take_errors().empty());
  BOOST_TEST(r.stats().bad_lines == 0u);
  BOOST_TEST(r.stats().invalid_text == 2u);
  BOOST_REQUIRE(ups.size() == 3u);
  BOOST_TEST(ups[1].process.pid == "1002");
  BOOST_TEST(field(ups[1].process, "CommandLine")
             == "\"cmd.exe /c echo " + fffd + " lone surrogate\"");
  BOOST_TEST(ups[2].process.pid == "1003");
  BOOST_TEST(field(ups[2].process, "Username")
             == "\"HOSTA\\\\Jos" + fffd + "\"");
}

BOOST_AUTO_TEST_CASE(bad_text_in_every_json_form_and_in_evtx_xml) {
  const std::string fffd = "\xEF\xBF\xBD";
  sysmon_event ev;
  std::string why;
  std::uint64_t n = 0;
  // winlogbeat 7, with a raw bad byte and a lone low surrogate.
  BOOST_REQUIRE(parse_event_json(
      "{\"winlog\":{\"event_id\":1,\"provider_name\":\"Microsoft-Windows-"
      "Sysmon\",\"event_data\":{\"ProcessId\":\"9\",\"Image\":\"C:\\\\b\xff."
      "exe\",\"CommandLine\":\"x\\udc01\",\"UtcTime\":\"2021-01-01 "
      "00:00:00.000\"}}}",
      ev, why, &n));
  BOOST_TEST(n == 2u);
  BOOST_TEST(*ev.find("Image") == "C:\\b" + fffd + ".exe");
  BOOST_TEST(*ev.find("CommandLine") == "x" + fffd);
  // Azure Monitor's EventData as a JSON string holding a lone surrogate.
  n = 0;
  BOOST_REQUIRE(parse_event_json(
      R"({"EventID":1,"EventData":"{\"CommandLine\":\"a\\ud800\"}"})", ev, why,
      &n));
  BOOST_TEST(n == 1u);
  BOOST_TEST(*ev.find("CommandLine") == "a" + fffd);
  // A line that is not JSON at all is still an error, and counts nothing.
  n = 0;
  BOOST_TEST(!parse_event_json("{\"EventID\":1,\"x\":\"\xff", ev, why, &n));
  BOOST_TEST(n == 0u);
  // EVTX: libevtx renders UTF-8, but bytes pass through pugixml; a
  // character reference to a lone surrogate is one U+FFFD, as JSON's \ud800.
  std::string xml =
      "<Event><System><Provider Name=\"Microsoft-Windows-Sysmon\"/>"
      "<EventID>1</EventID><Computer>H\xc3</Computer></System><EventData>"
      "<Data Name=\"CommandLine\">a&#xD800;b</Data>"
      "<Data Name=\"User\">Jos\xe9</Data></EventData></Event>";
  n = 0;
  BOOST_REQUIRE(parse_event_xml(xml.data(), xml.size(), ev, why, &n));
  BOOST_TEST(n == 3u);
  BOOST_TEST(ev.computer == "H" + fffd);
  BOOST_TEST(*ev.find("CommandLine") == "a" + fffd + "b");
  BOOST_TEST(*ev.find("User") == "Jos" + fffd);
}

// Character references in the XML forms give what the same \u escapes give
// in JSON (an outsider's Splunk XmlWinEventLog lines, uni5): &#0; is a NUL
// kept inside the value, not the value's end, and not counted (JSON keeps
// \u0000 the same); a lone surrogate is one U+FFFD, counted; a pair is
// joined; entities are decoded and an unknown one stays text.
BOOST_AUTO_TEST_CASE(xml_character_references_read_as_json_escapes) {
  const std::string fffd = "\xEF\xBF\xBD";
  auto splunk = [](const std::string &cmd) {
    return "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/"
           "event'><System><Provider Name='Microsoft-Windows-Sysmon' "
           "Guid='{5770385F-C22A-43E0-BF4C-06F5698FFBD9}'/><EventID>1</"
           "EventID><TimeCreated SystemTime='2025-11-28T07:28:19.936123Z'/>"
           "<EventRecordID>1001</EventRecordID><Computer>HOSTA.example.test</"
           "Computer></System><EventData><Data Name='RuleName'>-</Data><Data "
           "Name='UtcTime'>2025-11-28 07:28:19.935</Data><Data "
           "Name='ProcessGuid'>{0197231e-4f13-6929-a510-000000000d00}</Data>"
           "<Data Name='ProcessId'>3003</Data><Data Name='CommandLine'>"
           + cmd + "</Data></EventData></Event>";
  };
  auto xml_value = [&](const std::string &cmd, std::uint64_t &n) {
    sysmon_event ev;
    std::string why;
    auto xml = splunk(cmd);
    BOOST_REQUIRE_MESSAGE(parse_event_xml(xml.data(), xml.size(), ev, why, &n),
                          why);
    return *ev.find("CommandLine");
  };
  auto json_value = [](const std::string &cmd, std::uint64_t &n) {
    sysmon_event ev;
    std::string why;
    BOOST_REQUIRE_MESSAGE(
        parse_event_json(R"({"EventID":1,"CommandLine":")" + cmd + "\"}", ev,
                         why, &n),
        why);
    return *ev.find("CommandLine");
  };
  std::uint64_t n = 0, nj = 0;
  auto nul = xml_value("cmd.exe &#0; nul", n);
  BOOST_TEST(nul == std::string("cmd.exe \0 nul", 13));
  BOOST_TEST(nul == json_value(R"(cmd.exe \u0000 nul)", nj));
  BOOST_TEST(n == 0u);
  BOOST_TEST(nj == 0u);
  BOOST_TEST(xml_value("a&#x0;b&#00;c", n) == std::string("a\0b\0c", 5));
  BOOST_TEST(xml_value("cmd.exe &#xD800; surrogate ref", n)
             == "cmd.exe " + fffd + " surrogate ref");
  BOOST_TEST(n == 1u);
  BOOST_TEST(json_value(R"(cmd.exe \ud800 surrogate ref)", nj)
             == "cmd.exe " + fffd + " surrogate ref");
  BOOST_TEST(nj == 1u);
  n = 0;
  BOOST_TEST(xml_value("&#xDC00;&#55296;&#x110000;&#99999999999;", n)
             == fffd + fffd + fffd + fffd);
  BOOST_TEST(n == 4u);
  n = 0;
  BOOST_TEST(xml_value("&#xD83D;&#xDE00;|&#x1F600;|&#233;", n)
             == "\xF0\x9F\x98\x80|\xF0\x9F\x98\x80|\xC3\xA9");
  BOOST_TEST(n == 0u);
  BOOST_TEST(xml_value("&lt;&gt;&amp;&quot;&apos; &bogus; &# &#x; &#1a; &", n)
             == "<>&\"' &bogus; &# &#x; &#1a; &");
  BOOST_TEST(xml_value("<![CDATA[&#0;]]>", n) == "&#0;");
  BOOST_TEST(n == 0u);
  // Attributes too (the Data names, the provider).
  sysmon_event ev;
  std::string why;
  std::string xml = "<Event><System><Provider Name='A&amp;B'/><EventID>5</"
                    "EventID></System><EventData><Data Name='Pro&#99;essId'>"
                    "7</Data></EventData></Event>";
  BOOST_REQUIRE(parse_event_xml(xml.data(), xml.size(), ev, why, &n));
  BOOST_TEST(ev.provider == "A&B");
  BOOST_TEST(ev.event_id == 5);
  BOOST_TEST(*ev.find("ProcessId") == "7");
}

// --- winlogbeat 7/8 ECS and the event-as-JSON/XML forms (issue 15 kind 7) --

namespace {

// Every update a Sysmon JSON-lines file gives, checking it reads cleanly.
std::vector<process_update> updates_of(const fs::path &path) {
  std::string err;
  BOOST_TEST((sniff_format(path.string(), err) == input_format::sysmon_json),
             path << ": " << err);
  sysmon_json_reader r(path.string());
  BOOST_REQUIRE_MESSAGE(r.open(err), err);
  std::vector<process_update> ups;
  sysmon_event ev;
  while (r.next(ev)) {
    std::string why;
    auto u = to_update(ev, why);
    BOOST_REQUIRE_MESSAGE(u, path << ": " << why);
    ups.push_back(std::move(*u));
  }
  auto errors = r.take_errors();
  BOOST_TEST(errors.empty(), path << ": " << (errors.empty() ? "" : errors[0]));
  BOOST_TEST(r.stats().bad_lines == 0u);
  return ups;
}

} // namespace

// --- Event XML whatever the line breaks (wevtutil, Event Viewer, pretty) ---

BOOST_AUTO_TEST_CASE(xml_gatherer_finds_events_whatever_the_line_breaks) {
  BOOST_TEST(find_event_start("<Events><EventData><EventID>")
             == std::string_view::npos);
  BOOST_TEST(find_event_start("<Events><Event xmlns='x'>") == 8u);
  BOOST_TEST(find_event_start("<Event>") == 0u);
  xml_event_gatherer g{1 << 20};
  std::vector<std::string> errors;
  xml_event_gatherer::event e;
  g.feed("<?xml version=\"1.0\" encoding=\"UTF-16\"?>", 1, errors);
  BOOST_TEST(!g.pop(e));
  g.feed("<Events><Event a='1'><EventID>1</EventID></Event><Event>", 2, errors);
  BOOST_REQUIRE(g.pop(e));
  BOOST_TEST(e.xml == "<Event a='1'><EventID>1</EventID></Event>");
  BOOST_TEST(e.line == 2u);
  BOOST_TEST(!g.pop(e));
  BOOST_TEST(g.inside());
  // Inside an event a line is its text, whatever it holds.
  g.feed("  <Data Name='CommandLine'>a", 3, errors);
  g.feed("not markup \"EventID\": 3</Data>", 4, errors);
  g.feed("</Event><!-- c --> </Events>", 5, errors);
  BOOST_REQUIRE(g.pop(e));
  BOOST_TEST(e.xml
             == "<Event>\n  <Data Name='CommandLine'>a\nnot markup "
                "\"EventID\": 3</Data>\n</Event>");
  BOOST_TEST(e.line == 2u);
  BOOST_TEST(!g.inside());
  BOOST_TEST(errors.empty());
  // Text between events is an error; the events around it are kept.
  g.feed("junk<Event>x</Event> more junk", 6, errors);
  BOOST_REQUIRE(g.pop(e));
  BOOST_TEST(e.xml == "<Event>x</Event>");
  BOOST_REQUIRE(errors.size() == 2u);
  BOOST_TEST(errors[0] == "text outside an <Event> element: \"junk\"");
  BOOST_TEST(errors[1] == "text outside an <Event> element: \"more junk\"");
  BOOST_TEST(g.finish().empty());
  // An event over the bound is skipped, its text not kept.
  xml_event_gatherer small{64};
  errors.clear();
  small.feed("<Event>" + std::string(100, 'x'), 1, errors);
  small.feed(std::string(1000, 'y'), 2, errors);
  small.feed("</Event><Event>ok</Event>", 3, errors);
  BOOST_REQUIRE(errors.size() == 1u);
  BOOST_TEST(errors[0]
             == "an <Event> longer than 64 bytes, from line 1, skipped");
  BOOST_REQUIRE(small.pop(e));
  BOOST_TEST(e.xml == "<Event>ok</Event>");
  BOOST_TEST(!small.pop(e));
  // The input ends inside an event.
  small.feed("<Event><System>", 7, errors);
  BOOST_TEST(small.finish()
             == "an <Event> started on line 7 never ends (no </Event> before "
                "the end of the input)");
}

// What an outsider's XML exports broke (helper-41): end tags with
// whitespace, <Event/>, a cut event before a whole one, prefixed names,
// and a line given in pieces with tags split across them.
BOOST_AUTO_TEST_CASE(xml_gatherer_edges) {
  std::vector<std::string> errors;
  xml_event_gatherer::event e;
  auto all = [](xml_event_gatherer &g) {
    std::vector<std::string> out;
    xml_event_gatherer::event x;
    while (g.pop(x))
      out.push_back(x.xml);
    return out;
  };
  {
    xml_event_gatherer g{1 << 20};
    g.feed("<Event><A/></Event ><Event>b</Event\t>", 1, errors);
    g.feed("<Event>c</Event", 2, errors);
    g.feed(">", 3, errors);
    BOOST_TEST(all(g)
               == (std::vector<std::string>{"<Event><A/></Event >",
                                            "<Event>b</Event\t>",
                                            "<Event>c</Event\n>"}));
    BOOST_TEST(errors.empty());
  }
  {
    xml_event_gatherer g{1 << 20};
    g.feed("<Event/><Event a='x/'>d</Event>", 1, errors);
    BOOST_TEST(
        all(g)
        == (std::vector<std::string>{"<Event/>", "<Event a='x/'>d</Event>"}));
  }
  {
    // A cut event, then a whole one on the next line: the whole one is
    // read, the cut one named.
    xml_event_gatherer g{1 << 20};
    g.feed("<Event><System><EventID>1</Even", 1, errors);
    g.feed("<Event>whole</Event>", 2, errors);
    BOOST_TEST(all(g) == (std::vector<std::string>{"<Event>whole</Event>"}));
    BOOST_REQUIRE(errors.size() == 1u);
    BOOST_TEST(errors[0]
               == "an <Event> started on line 1 has no </Event> before "
                  "another <Event> on line 2: skipped");
    errors.clear();
  }
  {
    // Namespace prefixes.
    xml_event_gatherer g{1 << 20};
    g.feed("<e:Events><e:Event xmlns:e='u'><e:System/></e:Event>"
           "</e:Events>",
           1, errors);
    auto got = all(g);
    BOOST_REQUIRE(got.size() == 1u);
    BOOST_TEST(got[0] == "<e:Event xmlns:e='u'><e:System/></e:Event>");
    BOOST_TEST(errors.empty());
    BOOST_TEST(strip_element_prefixes(got[0]));
    BOOST_TEST(got[0] == "<Event xmlns:e='u'><System/></Event>");
    std::string plain = "<Event><System/></Event>";
    BOOST_TEST(!strip_element_prefixes(plain));
  }
  {
    // One line in pieces, cut inside "<Event", "</Event>" and "<Events>":
    // the same events as whole.
    std::string text = "<Events><Event>1</Event><Event>2</Event>  "
                       "<Event>3</Event></Events>";
    for (std::size_t cut1 = 1; cut1 + 1 < text.size(); ++cut1) {
      for (std::size_t cut2 = cut1 + 1; cut2 < text.size(); cut2 += 3) {
        xml_event_gatherer g{1 << 20};
        std::vector<std::string> errs;
        g.feed(std::string_view{text}.substr(0, cut1), 1, errs, true);
        g.feed(std::string_view{text}.substr(cut1, cut2 - cut1), 1, errs, true);
        g.feed(std::string_view{text}.substr(cut2), 1, errs, false);
        BOOST_TEST_CONTEXT("cuts " << cut1 << ", " << cut2) {
          BOOST_TEST(all(g)
                     == (std::vector<std::string>{"<Event>1</Event>",
                                                  "<Event>2</Event>",
                                                  "<Event>3</Event>"}));
          BOOST_TEST(errs.empty());
          BOOST_TEST(g.finish().empty());
        }
      }
    }
  }
}

// A Hayabusa json-timeline line is a rule's summary (abbreviated keys under
// Details), not the event: said so, not only "without ProcessId".
BOOST_AUTO_TEST_CASE(a_detection_timeline_line_is_named) {
  sysmon_event ev;
  std::string why;
  BOOST_REQUIRE_MESSAGE(
      parse_event_json(
          R"({"Timestamp":"2019-02-16 10:03:48.058 +00:00","RuleTitle":"Proc Exec","Level":"info","Computer":"PC01","Channel":"Sysmon","EventID":1,"RecordID":1940906,"Details":{"PID":2504,"Proc":"C:\\Windows\\System32\\UI0Detect.exe"}})",
          ev, why),
      why);
  BOOST_TEST(!to_update(ev, why).has_value());
  BOOST_TEST(why
             == "EventID 1 without ProcessId or ProcessGuid: a detection "
                "timeline line (RuleTitle), not an event export; replay the "
                ".evtx files it was made from");
}

// wevtutil qe /f:xml (no line break between events), Event Viewer's XML
// (declaration, <Events>), a pretty-printed export whose CommandLine holds
// a line break: each gives the start and the exit, values as logged.
BOOST_AUTO_TEST_CASE(windows_xml_exports_are_read) {
  using namespace proctrack_test;
  temp_dir d;
  auto multi = std::string{"powershell -c \"a\nb\""};
  std::vector<std::pair<std::string, std::string>> files{
      {"wevtutil.xml", sysmon_start_xml("3001", "cmd.exe /c x")
                           + sysmon_exit_xml("3001") + "\r\n"},
      {"eventviewer.xml",
       event_viewer_export({sysmon_start_xml("3001", "cmd.exe /c x"),
                            sysmon_exit_xml("3001")})},
      {"pretty.xml", event_viewer_export({sysmon_start_xml("3001", multi, true),
                                          sysmon_exit_xml("3001")})},
      {"values_on_lines.xml", ""},
  };
  {
    // A formatter that also put each value on a line of its own, indented.
    auto text = event_viewer_export(
        {sysmon_start_xml("3001", multi, true), sysmon_exit_xml("3001")});
    std::string out;
    for (std::size_t i = 0; i < text.size();) {
      auto open = text.find("'>", i);
      auto close = open == std::string::npos ? open : text.find("</", open);
      if (close == std::string::npos) {
        out += text.substr(i);
        break;
      }
      auto value = text.substr(open + 2, close - open - 2);
      out += text.substr(i, open + 2 - i);
      if (!value.empty() && value.find('<') == std::string::npos
          && value.find('\n') == std::string::npos)
        out += "\r\n        " + value + "\r\n      ";
      else
        out += value;
      i = close;
    }
    BOOST_REQUIRE(out.find("\r\n        3001\r\n") != std::string::npos);
    files.back().second = out;
  }
  for (auto &[name, text] : files) {
    BOOST_TEST_CONTEXT(name) {
      write_bytes(d.path / name, text);
      auto ups = updates_of(d.path / name);
      BOOST_REQUIRE(ups.size() == 2u);
      BOOST_TEST((ups[0].kind == update_kind::start));
      BOOST_TEST(ups[0].process.pid == "3001");
      BOOST_TEST(ups[0].process.ppid == "144");
      BOOST_TEST(format_time(ups[0].process.start_time)
                 == "2025-11-28T07:28:19.935Z");
      BOOST_TEST(field(ups[0].process, "CommandLine")
                 == nlohmann::json(name == "pretty.xml"
                                           || name == "values_on_lines.xml"
                                       ? multi
                                       : "cmd.exe /c x")
                        .dump());
      BOOST_TEST(field(ups[0].process, "Exe")
                 == "\"C:\\\\Windows\\\\System32\\\\cmd.exe\"");
      BOOST_TEST((ups[1].kind == update_kind::exit));
      BOOST_TEST(format_time(ups[1].time) == "2025-11-28T07:30:00Z");
    }
  }
  // wevtutil writes a whole log as one line: 20 MB, over the 16 MiB line
  // bound, every event read. An event cut by a truncated export is named
  // and the whole one after it read; `</Event >` ends an event; a prefixed
  // event is read; <Event/> is an error, not a silent skip.
  {
    auto big = wevtutil_one_line_log("\r\n");
    BOOST_REQUIRE(big.size() > (std::size_t{16} << 20));
    write_bytes(d.path / "wevtutil_big.xml", big);
    big.clear();
    auto got = decode(d.path / "wevtutil_big.xml");
    BOOST_TEST(got.open_error == "");
    BOOST_TEST(got.errors.empty(), (got.errors.empty() ? "" : got.errors[0]));
    BOOST_REQUIRE(got.updates.size() == 9000u);
    BOOST_TEST(got.updates[0].process.pid == "1000");
    BOOST_TEST(got.updates[8999].process.pid == "9999");
    BOOST_TEST(field(got.updates[4321].process, "CommandLine")
               == "\"" + long_command_line() + "\"");
  }
  {
    auto start = sysmon_start_xml("3001", "a");
    auto cut = start.substr(0, 700) + "\n" + sysmon_start_xml("3002", "b")
               + "\n" + sysmon_exit_xml("3002");
    auto spaced = sysmon_start_xml("3003", "c");
    spaced.replace(spaced.rfind("</Event>"), 8, "</Event >");
    auto prefixed = sysmon_start_xml("3004", "d");
    for (auto tag :
         {"Event", "System", "Provider", "EventID", "Version", "TimeCreated",
          "EventRecordID", "Computer", "EventData", "Data"}) {
      for (std::string from :
           {std::string{"<"} + tag + ">", std::string{"<"} + tag + " ",
            std::string{"</"} + tag + ">"}) {
        auto to = from.substr(0, from[1] == '/' ? 2 : 1)
                  + "e:" + from.substr(from[1] == '/' ? 2 : 1);
        for (auto at = prefixed.find(from); at != std::string::npos;
             at = prefixed.find(from, at + to.size()))
          prefixed.replace(at, from.size(), to);
      }
    }
    prefixed.replace(prefixed.find("xmlns="), 6, "xmlns:e=");
    write_bytes(d.path / "odd.xml",
                cut + "\n" + spaced + "\n<Event/>\n" + prefixed + "\n");
    auto got = decode(d.path / "odd.xml");
    std::vector<std::string> pids;
    for (auto &u : got.updates)
      pids.push_back(u.kind == update_kind::exit ? "exit " + u.process.pid
                                                 : u.process.pid);
    BOOST_TEST(
        pids
        == (std::vector<std::string>{"3002", "exit 3002", "3003", "3004"}));
    BOOST_REQUIRE(got.errors.size() == 2u);
    BOOST_TEST(got.errors[0]
               == (d.path / "odd.xml").string()
                      + ":2: an <Event> started on line 1 has no </Event> "
                        "before another <Event> on line 2: skipped");
    BOOST_TEST(got.errors[1]
               == (d.path / "odd.xml").string()
                      + ":5: an <Event> without a numeric "
                        "<System><EventID>");
  }
  // Junk between two events, and an export cut inside its last event:
  // each named with its line, the events around them read.
  auto cut = event_viewer_export({sysmon_start_xml("3001", "a", true)});
  cut.insert(cut.find("\r\n<Event"), "\r\ngarbage");
  cut += sysmon_start_xml("3002", "b", true).substr(0, 200);
  write_bytes(d.path / "cut.xml", cut);
  auto got = decode(d.path / "cut.xml");
  BOOST_TEST(got.open_error == "");
  BOOST_REQUIRE(got.updates.size() == 1u);
  BOOST_TEST(got.updates[0].process.pid == "3001");
  BOOST_REQUIRE(got.errors.size() == 2u);
  BOOST_TEST(got.errors[0]
             == (d.path / "cut.xml").string()
                    + ":2: text outside an <Event> element: \"garbage\"");
  BOOST_TEST(got.errors[1].find("never ends") != std::string::npos,
             got.errors[1]);
  BOOST_TEST(got.corrupt == 2u);
}

// winlogbeat's Sysmon module moves the process out of winlog.event_data into
// ECS process.*, user.* and @timestamp: read back under the Sysmon names.
BOOST_AUTO_TEST_CASE(winlogbeat7_ecs_golden) {
  auto ups =
      updates_of(cases_dir() / "sources" / "wlb7_processcreate_golden.jsonl");
  BOOST_REQUIRE(ups.size() == 1u);
  auto &u = ups[0];
  BOOST_TEST((u.kind == update_kind::start));
  auto &p = u.process;
  BOOST_TEST(p.pid == "3616");
  BOOST_TEST(p.ppid == "4212");
  BOOST_TEST(p.guid == "{9f32b55f-7c4e-5f98-5803-000000000500}");
  BOOST_TEST(p.parent_guid == "{9f32b55f-6fdf-5f98-7000-000000000500}");
  BOOST_TEST(format_time(p.start_time) == "2020-10-27T20:00:14.32Z");
  BOOST_TEST(field(p, "Pid") == "3616");
  BOOST_TEST(field(p, "Ppid") == "4212");
  BOOST_TEST(field(p, "Name") == "\"notepad.exe\"");
  BOOST_TEST(field(p, "Exe") == R"("C:\\Windows\\System32\\notepad.exe")");
  BOOST_TEST(field(p, "CommandLine")
             == R"("\"C:\\Windows\\system32\\notepad.exe\" ")");
  BOOST_TEST(field(p, "CurrentDirectory") == R"("C:\\Users\\vagrant\\")");
  BOOST_TEST(field(p, "Username") == R"("VAGRANT\\vagrant")");
  BOOST_TEST(field(p, "ParentImage") == R"("C:\\Windows\\explorer.exe")");
  BOOST_TEST(field(p, "ParentCommandLine") == R"("C:\\Windows\\Explorer.EXE")");
  BOOST_TEST(field(p, "OriginalFilename") == "\"NOTEPAD.EXE\"");
  BOOST_TEST(field(p, "Company") == "\"Microsoft Corporation\"");
  BOOST_TEST(field(p, "IntegrityLevel") == "\"Medium\"");
  BOOST_TEST(field(p, "TerminalSessionId") == "1");
  BOOST_TEST(field(p, "Hashes")
             == R"({"SHA1":"b6d237154f2e528f0b503b58b025862d66b02b73"})");
  BOOST_TEST(field(p, "Computer") == "\"vagrant\"");
}

// The exit of winlogbeat 8 (event_id as a string, ECS process fields only)
// and a flattened ECS document (dotted keys at the top level).
BOOST_AUTO_TEST_CASE(winlogbeat8_ecs_exit_and_flattened) {
  sysmon_event ev;
  std::string why;
  BOOST_REQUIRE(parse_event_json(
      R"({"@timestamp":"2023-05-01T10:00:01.500Z","host":{"name":"h8"},)"
      R"("process":{"pid":4242,"entity_id":"{AB-1}","executable":"C:\\x.exe"},)"
      R"("winlog":{"event_id":"5","provider_name":"Microsoft-Windows-Sysmon",)"
      R"("event_data":{"RuleName":"-"}}})",
      ev, why));
  BOOST_TEST(ev.event_id == 5);
  BOOST_TEST(ev.computer == "h8");
  auto u = to_update(ev, why);
  BOOST_REQUIRE_MESSAGE(u, why);
  BOOST_TEST((u->kind == update_kind::exit));
  BOOST_TEST(u->target == "{ab-1}");
  BOOST_TEST(u->process.pid == "4242");
  BOOST_TEST(format_time(u->time) == "2023-05-01T10:00:01.5Z");

  BOOST_REQUIRE(parse_event_json(
      R"({"winlog.event_id":1,"winlog.provider_name":"Microsoft-Windows-Sysmon",)"
      R"("host.name":"flat","process.pid":7,"process.parent.pid":6,)"
      R"("@timestamp":"2023-05-01T10:00:00Z"})",
      ev, why));
  u = to_update(ev, why);
  BOOST_REQUIRE_MESSAGE(u, why);
  BOOST_TEST(u->process.pid == "7");
  BOOST_TEST(u->process.ppid == "6");
  BOOST_TEST(ev.computer == "flat");
}

// evtx_dump -o jsonl, Splunk's XmlWinEventLog and Velociraptor's parse_evtx:
// the same event, the same update.
BOOST_AUTO_TEST_CASE(evtx_as_json_and_xml_forms) {
  auto dir = cases_dir() / "sources" / "forms";
  for (auto name :
       {"evtx_dump_1event.jsonl", "splunk_xmlwineventlog_1event.log",
        "velociraptor_parse_evtx_1event.jsonl"}) {
    BOOST_TEST_CONTEXT(name) {
      auto ups = updates_of(dir / name);
      BOOST_REQUIRE(ups.size() == 1u);
      auto &p = ups[0].process;
      BOOST_TEST((ups[0].kind == update_kind::start));
      BOOST_TEST(p.pid == "14364");
      BOOST_TEST(p.ppid == "144");
      BOOST_TEST(p.guid == "{0197231e-4f13-6929-a510-000000000d00}");
      BOOST_TEST(p.parent_guid == "{0197231e-4ef4-6929-a410-000000000d00}");
      BOOST_TEST(format_time(p.start_time) == "2025-11-28T07:28:19.935Z");
      BOOST_TEST(field(p, "Exe") == R"("C:\\Windows\\System32\\cmd.exe")");
      BOOST_TEST(field(p, "CurrentDirectory") == R"("C:\\Tools\\")");
      BOOST_TEST(field(p, "Username") == R"("HOSTA\\user1")");
      BOOST_TEST(field(p, "Computer") == "\"HOSTA.example.test\"");
    }
  }
  // Another provider in the evtx_dump form is read, and then not Sysmon.
  sysmon_event ev;
  std::string why;
  BOOST_REQUIRE(parse_event_json(
      R"({"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-)"
      R"(Windows-Security-Auditing"}},"EventID":{"#attributes":{"Qualifiers":)"
      R"(0},"#text":4688},"Computer":"dc1"},"EventData":{"NewProcessId":)"
      R"("0x1f4"}}})",
      ev, why));
  BOOST_TEST(ev.event_id == 4688);
  BOOST_TEST(ev.provider == "Microsoft-Windows-Security-Auditing");
  BOOST_TEST(*ev.find("NewProcessId") == "0x1f4");
}

// A 4688 as OTRF's nxlog export wrote it (a real line of
// empire_persistence..., Message left out): EventTime is local time, put on
// UTC by @timestamp - EventReceivedTime; the Security fields map to Data as
// docs/sources.md's table says.
BOOST_AUTO_TEST_CASE(security_4688_nxlog_line_to_update) {
  sysmon_event ev;
  std::string why;
  BOOST_REQUIRE(parse_event_json(
      R"({"Version": 2, "TargetLogonId": "0x3e4", "SubjectLogonId": "0x3e7",)"
      R"( "ParentProcessName": "C:\\Windows\\System32\\svchost.exe",)"
      R"( "SourceName": "Microsoft-Windows-Security-Auditing",)"
      R"( "Hostname": "MORDORDC.theshire.local", "NewProcessId": "0x1180",)"
      R"( "NewProcessName": "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe",)"
      R"( "EventType": "AUDIT_SUCCESS", "RecordNumber": 186620,)"
      R"( "CommandLine": "C:\\windows\\system32\\wbem\\wmiprvse.exe -Embedding",)"
      R"( "MandatoryLabel": "S-1-16-16384", "EventID": 4688,)"
      R"( "SubjectUserName": "MORDORDC$", "ProcessId": "0x3b8",)"
      R"( "TargetDomainName": "THESHIRE", "TargetUserSid": "S-1-0-0",)"
      R"( "TokenElevationType": "%%1936", "EventReceivedTime": "2020-09-04 03:06:26",)"
      R"( "EventTime": "2020-09-04 03:06:24", "Channel": "Security",)"
      R"( "TargetUserName": "MORDORDC$", "@timestamp": "2020-09-04T07:06:26.860Z",)"
      R"( "SubjectDomainName": "THESHIRE"})",
      ev, why));
  BOOST_TEST(ev.time_created == "2020-09-04T07:06:24Z");
  BOOST_TEST(ev.computer == "MORDORDC.theshire.local");
  auto u = to_update(ev, why, true);
  BOOST_REQUIRE(u);
  auto &p = u->process;
  BOOST_TEST(u->host == "MORDORDC.theshire.local");
  BOOST_TEST(p.pid == "4480");
  BOOST_TEST(p.ppid == "952");
  BOOST_TEST(p.guid.empty());
  BOOST_TEST(format_time(p.start_time) == "2020-09-04T07:06:24Z");
  BOOST_TEST(field(p, "Name") == "\"WmiPrvSE.exe\"");
  BOOST_TEST(field(p, "Exe")
             == R"("C:\\Windows\\System32\\wbem\\WmiPrvSE.exe")");
  BOOST_TEST(field(p, "CommandLine")
             == R"("C:\\windows\\system32\\wbem\\wmiprvse.exe -Embedding")");
  BOOST_TEST(field(p, "ParentImage")
             == R"("C:\\Windows\\System32\\svchost.exe")");
  // The new process's account is the Target one, when logged.
  BOOST_TEST(field(p, "Username") == R"("THESHIRE\\MORDORDC$")");
  BOOST_TEST(field(p, "SubjectUserName") == "\"MORDORDC$\"");
  BOOST_TEST(field(p, "TargetDomainName") == "\"THESHIRE\"");
  BOOST_TEST(field(p, "MandatoryLabel") == "\"S-1-16-16384\"");
  BOOST_TEST(field(p, "IntegrityLevel") == "\"System\"");
  BOOST_TEST(field(p, "TokenElevationType") == "\"%%1936\"");
  BOOST_TEST(field(p, "Elevation") == "\"Default\"");

  // Target "-": the creator's (Subject) account; an elevated token.
  ev.set("TargetUserName", "-");
  ev.set("TargetDomainName", "-");
  ev.set("TokenElevationType", "%%1937");
  ev.set("MandatoryLabel", "S-1-16-12288");
  u = to_update(ev, why, true);
  BOOST_REQUIRE(u);
  BOOST_TEST(field(u->process, "Username") == R"("THESHIRE\\MORDORDC$")");
  BOOST_TEST(field(u->process, "Elevation") == "\"Full\"");
  BOOST_TEST(field(u->process, "IntegrityLevel") == "\"High\"");

  // 4689: the exit of the hex ProcessId.
  ev.clear();
  ev.provider = "Microsoft-Windows-Security-Auditing";
  ev.event_id = 4689;
  ev.time_created = "2020-09-04T07:07:09Z";
  ev.set("ProcessId", "0x16a0");
  ev.set("ProcessName", "C:\\Windows\\TiWorker.exe");
  u = to_update(ev, why, true);
  BOOST_REQUIRE(u);
  BOOST_TEST((u->kind == update_kind::exit));
  BOOST_TEST(u->target == "5792");
  // Without security, Security events are not read.
  BOOST_TEST(!to_update(ev, why));
}

// ECS without winlog.event_id (winlog kept only channel and record_id): the
// EventID is event.code, a string or a number, nested or flattened (an
// outsider's src3 and src4 lines).
BOOST_AUTO_TEST_CASE(ecs_event_code_stands_for_a_missing_event_id) {
  const std::string nested =
      R"({"@timestamp":"2023-05-10T12:00:00.123Z","event":{"code":"1",)"
      R"("provider":"Microsoft-Windows-Sysmon","module":"windows","dataset":)"
      R"("windows.sysmon_operational"},"host":{"name":"ws10"},"process":)"
      R"({"pid":7000,"entity_id":"{4b1c2d3e-0000-0000-0000-00000000c001}",)"
      R"("executable":"C:\\Windows\\System32\\cmd.exe","command_line":"cmd",)"
      R"("parent":{"pid":4212}},"winlog":{"channel":"Microsoft-Windows-)"
      R"(Sysmon/Operational","computer_name":"ws10","record_id":5,"process":)"
      R"({"pid":2044}}})";
  for (auto code : {std::string{R"("code":"1")"}, std::string{R"("code":1)"}}) {
    BOOST_TEST_CONTEXT(code) {
      auto line = nested;
      line.replace(line.find(R"("code":"1")"), 10, code);
      sysmon_event ev;
      std::string why;
      BOOST_REQUIRE_MESSAGE(parse_event_json(line, ev, why), why);
      BOOST_TEST(ev.event_id == 1);
      BOOST_TEST(ev.record_number == 5u);
      auto u = to_update(ev, why);
      BOOST_REQUIRE_MESSAGE(u, why);
      BOOST_TEST(u->process.pid == "7000");
      BOOST_TEST(u->process.ppid == "4212");
      BOOST_TEST(format_time(u->process.start_time)
                 == "2023-05-10T12:00:00.123Z");
      BOOST_TEST(field(u->process, "Exe")
                 == R"("C:\\Windows\\System32\\cmd.exe")");
    }
  }
  // Flattened (Elastic Agent) with only "event.code": sniffed and read.
  temp_dir tmp;
  auto flat = tmp.path / "src4_flattened_event_code_only.jsonl";
  write_bytes(
      flat,
      R"({"@timestamp": "2023-05-10T12:00:00.123Z", "data_stream.dataset": )"
      R"("windows.sysmon_operational", "event.code": "1", "event.provider": )"
      R"("Microsoft-Windows-Sysmon", "host.name": "ws9", "process.pid": 6000, )"
      R"("process.entity_id": "{4b1c2d3e-0000-0000-0000-00000000b001}", )"
      R"("process.executable": "C:\\Windows\\System32\\cmd.exe", )"
      R"("process.command_line": "cmd /c whoami", "process.parent.pid": 4212, )"
      R"("process.parent.entity_id": "{4b1c2d3e-0000-0000-0000-00000000b000}", )"
      R"("process.parent.executable": "C:\\Windows\\explorer.exe", )"
      R"("user.name": "alice", "user.domain": "CORP", "winlog.provider_name": )"
      R"("Microsoft-Windows-Sysmon", "winlog.computer_name": "ws9", )"
      R"("winlog.record_id": "12", "winlog.process.pid": 2044})"
      "\n");
  auto ups = updates_of(flat);
  BOOST_REQUIRE(ups.size() == 1u);
  BOOST_TEST(ups[0].process.pid == "6000");
  BOOST_TEST(ups[0].process.parent_guid
             == "{4b1c2d3e-0000-0000-0000-00000000b000}");
  BOOST_TEST(field(ups[0].process, "Username") == R"("CORP\\alice")");
  BOOST_TEST(ups[0].host == "ws9");
}

// Log Analytics / Microsoft Sentinel's Event table: EventData is an XML
// string (an outsider's form1 row), read by the XML code of Splunk's form.
BOOST_AUTO_TEST_CASE(sentinel_event_table_eventdata_xml_string) {
  const std::string row = proctrack_test::sentinel_event_row;
  sysmon_event ev;
  std::string why;
  BOOST_REQUIRE_MESSAGE(parse_event_json(row, ev, why), why);
  BOOST_TEST(ev.provider == "Microsoft-Windows-Sysmon");
  BOOST_TEST(ev.computer == "HOSTA.example.test");
  auto u = to_update(ev, why);
  BOOST_REQUIRE_MESSAGE(u, why);
  auto &p = u->process;
  BOOST_TEST(p.pid == "14364");
  BOOST_TEST(p.ppid == "144");
  BOOST_TEST(p.guid == "{0197231e-4f13-6929-a510-000000000d00}");
  BOOST_TEST(p.parent_guid == "{0197231e-4ef4-6929-a410-000000000d00}");
  BOOST_TEST(format_time(p.start_time) == "2025-11-28T07:28:19.935Z");
  BOOST_TEST(field(p, "Exe") == R"("C:\\Windows\\System32\\cmd.exe")");
  BOOST_TEST(field(p, "Username") == R"("HOSTA\\user1")");
  BOOST_TEST(field(p, "ParentImage") == R"("C:\\Windows\\explorer.exe")");
  // A torn XML string says so, not "without ProcessId".
  auto torn = row;
  torn.replace(torn.find("</EventData>"), 12, "<Data Name=");
  BOOST_TEST(!parse_event_json(torn, ev, why));
  BOOST_TEST(why.find("EventData is an XML string that cannot be read") == 0u,
             why);
}

// UTF-16 text (PowerShell 5.1's Out-File; an outsider's uni3 file) is refused
// when opened, naming the encoding and the conversion, in every text reader
// and in the sniffer.
BOOST_AUTO_TEST_CASE(utf16_text_is_refused_with_how_to_convert_it) {
  temp_dir tmp;
  const std::string line =
      R"({"System": {"Provider": {"Name": "Microsoft-Windows-Sysmon"}, )"
      R"("EventID": {"Value": 1}}, "EventData": {"ProcessId": 14364}})";
  auto utf16 = [&](bool le, bool bom) {
    std::string out = bom ? (le ? "\xFF\xFE" : "\xFE\xFF") : "";
    for (char c : line + "\r\n") {
      out += le ? c : '\0';
      out += le ? '\0' : c;
    }
    return out;
  };
  struct kind {
    bool le, bom;
    const char *what, *iconv;
  };
  for (auto k :
       {kind{true, true, "UTF-16LE (with a byte order mark)",
             "iconv -f UTF-16 -t UTF-8 "},
        kind{false, true, "UTF-16BE (with a byte order mark)",
             "iconv -f UTF-16 -t UTF-8 "},
        kind{true, false, "UTF-16LE", "iconv -f UTF-16LE -t UTF-8 "},
        kind{false, false, "UTF-16BE", "iconv -f UTF-16BE -t UTF-8 "}}) {
    BOOST_TEST_CONTEXT(k.what) {
      auto path = (tmp.path / "uni3_utf16.jsonl").string();
      write_bytes(path, utf16(k.le, k.bom));
      std::string err;
      BOOST_TEST((sniff_format(path, err) == input_format::unknown));
      BOOST_TEST(err
                     == path + ": is " + k.what
                            + " text, not UTF-8: convert it first, e.g. "
                            + k.iconv + path + " > " + path + ".utf8",
                 err);
      sysmon_json_reader r(path);
      err.clear();
      BOOST_TEST(!r.open(err));
      BOOST_TEST(err.find(k.what) != std::string::npos, err);
      write_gz(path, utf16(k.le, k.bom));
      BOOST_TEST((sniff_format(path, err) == input_format::unknown));
      BOOST_TEST(err.find(k.iconv) != std::string::npos, err);
    }
  }
  // UTF-8 with its BOM is still read.
  auto utf8 = (tmp.path / "utf8.jsonl").string();
  write_bytes(utf8, "\xEF\xBB\xBF" + line + "\n");
  std::string err;
  BOOST_TEST((sniff_format(utf8, err) == input_format::sysmon_json), err);
}

BOOST_AUTO_TEST_SUITE_END() // sysmon_decoder_test
