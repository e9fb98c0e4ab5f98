// Sysmon logs through the real binary (issue 3): per-file counts against
// the corpus MANIFEST, the deepest chain of each log, damaged copies that
// replay what is intact and exit 0, a whole directory in time order.
#include <boost/test/unit_test.hpp>

#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

BOOST_AUTO_TEST_SUITE(sysmon_replay_test)

using nlohmann::json;
using namespace proctrack_test;

namespace {

std::string data_dir() {
  if (auto d = std::getenv("PROCTRACK_DATA"))
    return d;
  return std::string{std::getenv("PROCTRACK_SOURCE")} + "/../shared/data";
}

json manifest() {
  std::ifstream in{data_dir() + "/sysmon/manifest.json"};
  return json::parse(in);
}

std::string sysmon(const std::string &rel) {
  return data_dir() + "/sysmon/" + rel;
}

json replay_one(const std::vector<std::string> &args, const std::string &q,
                run_result *raw = nullptr) {
  auto a = args;
  a.insert(a.begin(), "replay");
  a.push_back("--query=" + q);
  auto r = proctrack(a);
  BOOST_TEST_INFO("stderr: " << r.err.substr(0, 2000));
  BOOST_REQUIRE_EQUAL(r.status, 0);
  if (raw)
    *raw = r;
  return results(r, {q}).at(0);
}

std::set<std::string> id_set(const json &pslist) {
  std::set<std::string> out;
  for (auto &e : pslist)
    out.insert(e["Id"].get<std::string>());
  return out;
}

std::string read_file(const std::string &p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>(in), {}};
}

} // namespace

BOOST_AUTO_TEST_CASE(every_log_gives_the_manifests_starts_and_exits) {
  std::size_t files = 0;
  auto m = manifest();
  for (auto &f : m["files"]) {
    auto file = f["file"].get<std::string>();
    BOOST_TEST_CONTEXT(file) {
      // sysmon.evtx spans ten weeks: keep exited processes for the test.
      auto stats =
          replay_one({sysmon(file), "--tracker.max-expiry=100000h"}, "stats");
      // The manifest counts Sysmon's events; the JSON exports also hold
      // Security 4688/4689, read as well (security_log_test checks those).
      auto sec = [&](const char *name) {
        return stats.contains(name) ? stats[name].get<std::int64_t>() : 0;
      };
      BOOST_TEST(stats["StartUpdates"].get<std::int64_t>()
                     - sec("SecurityStarts")
                 == f["eid1"].get<std::int64_t>());
      BOOST_TEST(stats["ExitUpdates"].get<std::int64_t>() - sec("SecurityExits")
                 == f["eid5"].get<std::int64_t>());
      // A 4688 that is not Sysmon's twin but takes the pid of a running
      // Sysmon process within 1 s is merged into it (one in
      // empire_persistence: pid 1812, MemCompression / upfc.exe).
      BOOST_TEST(stats["Length"].get<std::int64_t>() + sec("StartMerges")
                 == f["eid1"].get<std::int64_t>() + sec("SecurityStarts"));
      if (sec("SecurityStarts") == 0)
        BOOST_TEST(sec("StartMerges") == 0);
      BOOST_TEST(stats["InputErrors"] == 0);
      ++files;
    }
  }
  BOOST_TEST(files == 21u);
}

BOOST_AUTO_TEST_CASE(the_deepest_chain_of_each_evtx_log_is_resolved) {
  std::size_t checked = 0;
  auto m = manifest();
  for (auto &f : m["files"]) {
    auto file = f["file"].get<std::string>();
    if (f["form"] != "evtx")
      continue;
    BOOST_TEST_CONTEXT(file) {
      auto chain = f["deepest_chain"]; // child first; "?IMAGE" = not created
      std::vector<std::string> images;
      std::string unknown_parent;
      for (auto &c : chain) {
        auto s = c.get<std::string>();
        if (!s.empty() && s[0] == '?')
          unknown_parent = s.substr(1);
        else
          images.push_back(s);
      }
      std::reverse(images.begin(), images.end()); // oldest first
      auto ps = replay_one({sysmon(file)}, "pslist");
      // Ask for the callchain of every process with the leaf's image; one
      // of them must be exactly the deepest chain.
      std::vector<std::string> args{"replay", sysmon(file)};
      std::vector<std::string> qs;
      for (auto &e : ps)
        if (e["Data"].value("Exe", "") == images.back())
          qs.push_back("callchain:"
                       + e["Data"]["ProcessGuid"].get<std::string>() + ":50");
      BOOST_REQUIRE(!qs.empty());
      for (auto &q : qs)
        args.push_back("--query=" + q);
      auto r = proctrack(args);
      BOOST_REQUIRE_EQUAL(r.status, 0);
      bool found = false;
      for (auto &res : results(r, qs)) {
        std::vector<std::string> got;
        for (auto &e : res)
          got.push_back(e["Data"].value("Exe", ""));
        if (got == images) {
          found = true;
          // The parent that started before the log is unknown but named.
          BOOST_TEST(res[0]["ParentId"].get<std::string>().back() == '?');
          if (!unknown_parent.empty())
            BOOST_TEST(res[0]["Data"].value("ParentImage", "")
                       == unknown_parent);
        }
      }
      BOOST_TEST(found, "no process has the manifest's deepest chain");
      ++checked;
    }
  }
  BOOST_TEST(checked == 16u);
}

BOOST_AUTO_TEST_CASE(a_truncated_log_replays_what_is_intact) {
  temp_dir dir;
  auto full_path = sysmon("evtx/PanacheSysmon_vs_AtomicRedTeam01.evtx");
  auto whole = read_file(full_path);
  auto all = id_set(replay_one({full_path}, "pslist"));
  for (std::size_t cut : {4096u + 100000u, 500000u, 900001u}) {
    BOOST_TEST_CONTEXT("cut at " << cut) {
      auto p = dir.write("cut" + std::to_string(cut) + ".evtx",
                         whole.substr(0, cut));
      run_result raw;
      auto got = id_set(replay_one({p}, "pslist", &raw));
      BOOST_TEST(!got.empty());
      BOOST_TEST(got.size() < all.size());
      for (auto &id : got)
        BOOST_TEST(all.count(id) == 1u, id << " is not in the full log");
      BOOST_TEST(raw.err.find("truncated") != std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(flipped_bytes_in_one_chunk_lose_only_that_chunk) {
  temp_dir dir;
  auto full_path = sysmon("evtx/PanacheSysmon_vs_AtomicRedTeam01.evtx");
  auto bytes = read_file(full_path);
  auto all = id_set(replay_one({full_path}, "pslist"));
  // Chunk 3 starts at 4096 + 3 * 65536; damage its records area.
  std::size_t chunk = 4096 + 3 * 65536;
  for (std::size_t i = chunk + 600; i < chunk + 60000; i += 97)
    bytes[i] = static_cast<char>(bytes[i] ^ 0x5A);
  auto p = dir.write("flipped.evtx", bytes);
  run_result raw;
  auto got = id_set(replay_one({p}, "pslist", &raw));
  BOOST_TEST(got.size() < all.size());
  BOOST_TEST(got.size() > all.size() / 2);
  for (auto &id : got)
    BOOST_TEST(all.count(id) == 1u, id << " is not in the intact log");
  BOOST_TEST(raw.err.find("chunk 3") != std::string::npos,
             "stderr: " << raw.err.substr(0, 1000));
}

BOOST_AUTO_TEST_CASE(a_directory_replays_every_log_in_time_order) {
  auto m = manifest();
  std::int64_t eid1 = 0, eid5 = 0;
  for (auto &f : m["files"]) {
    eid1 += f["eid1"].get<std::int64_t>();
    eid5 += f["eid5"].get<std::int64_t>();
  }
  auto stats = replay_one({data_dir() + "/sysmon", "--sort=time"}, "stats");
  BOOST_TEST(stats["StartUpdates"].get<std::int64_t>()
                 - stats["SecurityStarts"].get<std::int64_t>()
             == eid1);
  BOOST_TEST(stats["ExitUpdates"].get<std::int64_t>()
                 - stats["SecurityExits"].get<std::int64_t>()
             == eid5);
  BOOST_TEST(stats["InputFiles"] == 21);
}

// Several files decoded on several cores (ingest.read-threads) answer as a
// serial run: the same list, trees and counters, byte for byte. The files
// include a damaged copy, whose damage is named and counted the same way.
BOOST_AUTO_TEST_CASE(files_read_in_parallel_answer_as_a_serial_run) {
  temp_dir dir;
  auto src = sysmon("evtx/PanacheSysmon_vs_AtomicRedTeam01.evtx");
  auto bytes = read_file(src);
  std::size_t chunk = 4096 + 5 * 65536;
  for (std::size_t i = chunk + 700; i < chunk + 50000; i += 301)
    bytes[i] = static_cast<char>(bytes[i] ^ 0x5A);
  std::vector<std::string> files;
  for (auto &e : std::filesystem::directory_iterator(sysmon("evtx")))
    files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  files.insert(files.begin() + 3, dir.write("damaged.evtx", bytes));
  std::vector<std::string> queries = {"pslist", "stats"};
  auto ask = [&](const std::string &threads) {
    auto a = files;
    a.insert(a.begin(), "replay");
    a.push_back("--ingest.read-threads=" + threads);
    for (auto &q : queries)
      a.push_back("--query=" + q);
    auto r = proctrack(a);
    BOOST_REQUIRE_EQUAL(r.status, 0);
    return r;
  };
  auto serial = ask("1");
  auto list = results(serial, queries).at(0);
  BOOST_TEST_REQUIRE(list.size() > 500u);
  for (auto &p : list)
    if (p["ParentId"].get<std::string>().find('?') != std::string::npos)
      queries.push_back("tree:" + p["Id"].get<std::string>() + ":1000");
  serial = ask("1");
  auto parallel = ask("4");
  auto a = results(serial, queries), b = results(parallel, queries);
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  a[1].erase("BatchesInFlightPeak"); // timing, not an answer
  b[1].erase("BatchesInFlightPeak");
  for (std::size_t i = 0; i < a.size(); ++i)
    BOOST_TEST(a[i].dump() == b[i].dump(), queries[i]);
  BOOST_TEST(a[1]["InputFiles"] == files.size());
  BOOST_TEST(a[1]["InputErrors"].get<std::int64_t>() > 0);
  // The damage is named with the file and its chunk, in both runs.
  for (auto *r : {&serial, &parallel})
    BOOST_TEST(r->err.find("damaged.evtx: chunk 5 (offset "
                           + std::to_string(chunk) + ")")
                   != std::string::npos,
               r->err.substr(0, 2000));
}

BOOST_AUTO_TEST_SUITE_END() // sysmon_replay_test
