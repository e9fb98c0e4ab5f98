// Issue 15, kind 3: proctrack reads its own stream. The output stream of a
// replay (no query: one sync row of the whole cache) and the forwarded
// stream (--tracker.also-forward-updates: every update as applied) replay
// into the same cache: the same pslist, the same chains, the same ends,
// per host (docs/semantics.md, "Output stream (replay)").
#include <boost/test/unit_test.hpp>

#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

using nlohmann::json;
using namespace proctrack_test;

BOOST_AUTO_TEST_SUITE(own_stream_test)

namespace {

// `proctrack replay FILE FLAGS...` (no query): the stream it writes.
std::string stream_of(const std::string &file,
                      const std::vector<std::string> &flags) {
  std::vector<std::string> args{"replay", file};
  args.insert(args.end(), flags.begin(), flags.end());
  auto r = proctrack(args);
  BOOST_TEST_INFO("replay " << file << ": " << r.err.substr(0, 2000));
  BOOST_REQUIRE(r.status == 0);
  return r.out;
}

// The pslist and the callchain of each of `ids`, as printed (one line each),
// and the run's stats.
struct answers {
  std::string text;
  json stats;
};

answers answers_of(const std::string &file, const std::vector<std::string> &ids,
                   const std::vector<std::string> &flags) {
  std::vector<std::string> queries{"pslist"};
  for (auto &id : ids)
    queries.push_back("callchain:" + id);
  queries.push_back("stats");
  auto r = replay(file, queries, flags);
  answers a;
  auto &out = r.run.out;
  auto last = out.rfind("{\"query\":\"stats\"");
  a.text = out.substr(0, last);
  a.stats = r.results.back();
  return a;
}

std::vector<std::string> ids_of(const std::string &file,
                                const std::vector<std::string> &flags) {
  auto r = replay(file, {"pslist"}, flags);
  return ids(r[0]);
}

// "" when equal, else the first line that differs in each (cut short).
std::string first_difference(const std::string &a, const std::string &b) {
  std::size_t line = 1, start = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] != b[i]) {
      auto end_a = a.find('\n', i), end_b = b.find('\n', i);
      auto from = std::max(start, i < 200 ? std::size_t{0} : i - 200);
      return "line " + std::to_string(line) + ":\n  "
             + a.substr(from, std::min<std::size_t>(end_a - from, 600))
             + "\nvs\n  "
             + b.substr(from, std::min<std::size_t>(end_b - from, 600));
    }
    if (a[i] == '\n')
      ++line, start = i + 1;
  }
  return a.size() == b.size() ? std::string{} : "one ends early";
}

std::vector<std::string> corpus_logs() {
  const char *data = std::getenv("PROCTRACK_DATA");
  BOOST_REQUIRE(data);
  std::vector<std::string> logs;
  for (auto dir : {"/sysmon/evtx", "/sysmon/jsonl"})
    for (auto &f : std::filesystem::directory_iterator(std::string{data} + dir))
      logs.push_back(f.path().string());
  std::sort(logs.begin(), logs.end());
  return logs;
}

// Replays `log`, its output stream, its forwarded stream and the forwarded
// stream of its output stream, and compares what a user sees of each.
void check_round_trips(const std::string &log,
                       const std::vector<std::string> &flags,
                       const temp_dir &dir) {
  BOOST_TEST_CONTEXT("log " << log) {
    auto ids = ids_of(log, flags);
    auto orig = answers_of(log, ids, flags);
    auto fwd_flags = flags;
    fwd_flags.push_back("--tracker.also-forward-updates=true");
    auto out = dir.write("out.jsonl", stream_of(log, flags));
    auto fwd = dir.write("fwd.jsonl", stream_of(log, fwd_flags));
    auto fwd_of_out = dir.write("fwd_out.jsonl", stream_of(out, fwd_flags));
    for (auto &file : {out, fwd, fwd_of_out}) {
      BOOST_TEST_CONTEXT("stream " << file) {
        auto again = answers_of(file, ids, flags);
        auto diff = first_difference(again.text, orig.text);
        BOOST_TEST(diff.empty(), "stream replayed vs original, " << diff);
        BOOST_TEST(counter_of(again.stats, "InputErrors") == 0);
        BOOST_TEST(counter_of(again.stats, "Length")
                   == counter_of(orig.stats, "Length"));
      }
    }
  }
}

} // namespace

// Every Sysmon log of the corpus (EVTX and JSON lines, one host or
// several): each of its streams replays into the same pslist and the same
// call chain of every process, byte for byte.
BOOST_AUTO_TEST_CASE(every_corpus_log_reads_its_own_streams) {
  temp_dir dir;
  auto logs = corpus_logs();
  BOOST_TEST(logs.size() >= 20u);
  for (auto &log : logs)
    check_round_trips(log, {}, dir);
}

// With expiry on, the forwarded stream's first row (an empty sync written
// before any event) must not carry the wall clock: it would be "now" for
// the stream's replay and expire what the original kept (217 -> 227).
BOOST_AUTO_TEST_CASE(forwarded_stream_keeps_the_event_clock) {
  const char *data = std::getenv("PROCTRACK_DATA");
  BOOST_REQUIRE(data);
  auto log = std::string{data} + "/sysmon/evtx/sysmon.evtx";
  temp_dir dir;
  auto text = stream_of(
      log, {"--tracker.also-forward-updates=true", "--tracker.max-expiry=48h"});
  auto first = json::parse(text.substr(0, text.find('\n')));
  BOOST_TEST(first.at("update_type") == "sync");
  BOOST_TEST(first.at("time") == zero_time);
  check_round_trips(log, {"--tracker.max-expiry=48h"}, dir);
  auto orig = replay(log, {"stats"}, {"--tracker.max-expiry=48h"});
  BOOST_TEST(counter_of(orig[0], "Expired") > 0); // expiry did something
}

// Two hosts in one log: every forwarded row names its host (the first
// host's too), and a start whose parent is known only by GUID, or not at
// all, is written so that it reads back.
BOOST_AUTO_TEST_CASE(forwarded_stream_of_two_hosts) {
  temp_dir dir;
  auto ev = [](const char *host, int id, const char *time, const char *guid,
               const char *pid, const char *parent_guid = nullptr,
               const char *ppid = nullptr) {
    std::string s = std::string{R"({"SourceName":"Microsoft-Windows-Sysmon",)"}
                    + R"("Hostname":")" + host + R"(","EventID":)"
                    + std::to_string(id) + R"(,"UtcTime":")" + time
                    + R"(","ProcessGuid":")" + guid + R"(","ProcessId":")" + pid
                    + R"(","Image":"C:\\w\\p)" + pid + R"(.exe")";
    if (parent_guid)
      s += std::string{R"(,"ParentProcessGuid":")"} + parent_guid + "\"";
    if (ppid)
      s += std::string{R"(,"ParentProcessId":")"} + ppid + "\"";
    return s + "}";
  };
  auto log = dir.write_lines(
      "twohost.jsonl", {ev("HOSTA", 1, "2021-01-01 10:00:00.000",
                           "{a0000000-0000-0000-0000-000000000100}", "100"),
                        ev("HOSTA", 1, "2021-01-01 10:00:01.000",
                           "{a0000000-0000-0000-0000-000000000200}", "200",
                           "{a0000000-0000-0000-0000-000000000100}"),
                        ev("HOSTB", 1, "2021-01-01 10:00:02.000",
                           "{b0000000-0000-0000-0000-000000000100}", "100"),
                        ev("HOSTA", 5, "2021-01-01 10:00:03.000",
                           "{a0000000-0000-0000-0000-000000000200}", "200"),
                        ev("HOSTB", 1, "2021-01-01 10:00:04.000",
                           "{b0000000-0000-0000-0000-000000000300}", "300",
                           "{b0000000-0000-0000-0000-000000000100}", "100")});
  auto fwd = stream_of(log, {"--tracker.also-forward-updates=true"});
  auto rows = json_lines(fwd);
  BOOST_REQUIRE(rows.size() == 7u); // sync, 5 updates, stats
  for (std::size_t i = 1; i < 6; ++i) {
    BOOST_TEST_INFO("row " << rows[i].dump());
    BOOST_TEST(rows[i].contains("host"));
    if (rows[i].contains("parent_id"))
      BOOST_TEST(rows[i].at("parent_id") != "");
  }
  // The parent known only by GUID is named by it.
  BOOST_TEST(rows[2].at("parent_id")
             == "{a0000000-0000-0000-0000-000000000100}");
  auto file = dir.write("fwd.jsonl", fwd);
  for (auto &f : {log, file}) {
    BOOST_TEST_CONTEXT("file " << f) {
      auto r = replay(f, {"pslist", "get:HOSTA/200", "callchain:HOSTA/200",
                          "get:HOSTB/300", "stats"});
      BOOST_TEST(r[0].size() == 4u);
      BOOST_TEST(r[1].at("EndTime") == "2021-01-01T10:00:03Z");
      BOOST_TEST(
          ids(r[2])
          == (std::vector<std::string>{"100-1609495200", "200-1609495201"}));
      BOOST_TEST(r[3].at("ParentId") == "100-1609495202");
      BOOST_TEST(counter_of(r[4], "InputErrors") == 0);
      BOOST_TEST(counter_of(r[4], "Hosts") == 2);
    }
  }
}

// A running process with an unknown start, after an exited holder of its
// pid: the stream states both ends, and replaying it must not end the
// running one (it came back ended at the old holder's end).
BOOST_AUTO_TEST_CASE(unknown_start_after_pid_reuse_stays_running) {
  temp_dir dir;
  auto log = dir.write_lines(
      "reuse.jsonl",
      {R"({"update_type":"start","id":5,"parent_id":1,)"
       R"("start_time":"2021-01-01T10:00:00Z","data":{"Name":"old5"}})",
       R"({"update_type":"exit","id":5,"end_time":"2021-01-01T10:01:00Z"})",
       R"({"update_type":"start","id":5,"parent_id":1,)"
       R"("data":{"Name":"new5"}})"});
  auto out = dir.write("out.jsonl", stream_of(log, {}));
  auto fwd = dir.write("fwd.jsonl",
                       stream_of(log, {"--tracker.also-forward-updates=true"}));
  for (auto &f : {log, out, fwd}) {
    BOOST_TEST_CONTEXT("file " << f) {
      auto r = replay(f, {"pslist", "get:5"});
      BOOST_TEST(ids(r[0])
                 == (std::vector<std::string>{"5-0", "5-1609495200"}));
      BOOST_TEST(entry(r[0], "5-0").at("EndTime") == zero_time);
      BOOST_TEST(entry(r[0], "5-1609495200").at("EndTime")
                 == "2021-01-01T10:01:00Z");
      BOOST_TEST(r[1].at("Id") == "5-0"); // the pid's holder
    }
  }
}

// A cache whose sync row is longer than 16 MiB (600 processes with 30 KB
// command lines: 36 MB, every Data written twice) reads back whole: replay
// reads lines as long as the configured cache can write
// (max_cache_sync_row_bytes), not a fixed 16 MiB.
BOOST_AUTO_TEST_CASE(sync_row_over_16_mib_reads_back) {
  temp_dir dir;
  std::string text;
  std::string cmd(30000, 'x');
  for (int i = 0; i < 600; ++i) {
    cmd[0] = static_cast<char>('a' + i % 26);
    text += R"({"update_type":"start","id":)" + std::to_string(1000 + i)
            + R"(,"parent_id":)" + std::to_string(i == 0 ? 4 : 1000 + i / 2)
            + R"(,"start_time":)" + std::to_string(1609495200 + i)
            + R"(,"data":{"Name":"p.exe","CommandLine":")" + cmd + "\"}}\n";
    if (i % 3 == 0)
      text += R"({"update_type":"exit","id":)" + std::to_string(1000 + i)
              + R"(,"end_time":)" + std::to_string(1609499000 + i) + "}\n";
  }
  auto log = dir.write("big.jsonl", text);
  auto out = stream_of(log, {});
  BOOST_TEST(out.find('\n') > std::size_t{16} << 20); // the sync row
  auto file = dir.write("out.jsonl", out);
  std::vector<std::string> ids{"1599", "1300", "1000"};
  auto a = answers_of(log, ids, {});
  auto b = answers_of(file, ids, {});
  BOOST_TEST(counter_of(b.stats, "Length") == 600);
  BOOST_TEST(counter_of(b.stats, "InputErrors") == 0);
  auto diff = first_difference(b.text, a.text);
  BOOST_TEST(diff.empty(), "stream replayed vs original, " << diff);
  // The sync row alone (no stats row after it to tell the format by) is
  // still read as update rows.
  auto alone = dir.write("sync_only.jsonl", out.substr(0, out.find('\n') + 1));
  auto c = answers_of(alone, ids, {});
  diff = first_difference(c.text, a.text);
  BOOST_TEST(diff.empty(), "sync row replayed vs original, " << diff);
}

BOOST_AUTO_TEST_SUITE_END() // own_stream_test
