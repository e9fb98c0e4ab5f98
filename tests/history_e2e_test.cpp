// The process history through the real binary (issue 17): `proctrack
// replay --history=FILE` on the corpus's Sysmon logs, then `proctrack query
// --history=FILE` without an agent, compared with what a plain replay
// answers; as-of queries; a damaged store.
#include <boost/test/unit_test.hpp>

#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <set>
#include <thread>
#include <tuple>

BOOST_AUTO_TEST_SUITE(history_e2e_test)

using nlohmann::json;
using namespace proctrack_test;

namespace {

std::string data_dir() {
  if (auto d = std::getenv("PROCTRACK_DATA"))
    return d;
  return std::string{std::getenv("PROCTRACK_SOURCE")} + "/../shared/data";
}

std::string sysmon_dir() {
  return data_dir() + "/sysmon";
}

// What a user compares of one process: everything but Children (the
// table keeps at most tracker.max-children, the store all of them) and
// the store's own fields (Host, FirstSeen, LastSeen).
using fields = std::tuple<std::string, std::string, std::string, std::string,
                          std::string, std::string>;
fields fields_of(const json &e) {
  return {e.at("Id").get<std::string>(),
          e.at("ParentId").get<std::string>(),
          e.at("StartTime").get<std::string>(),
          e.at("EndTime").get<std::string>(),
          e.at("LastSyncTime").get<std::string>(),
          e.at("Data").dump()};
}

std::multiset<fields> field_set(const json &list) {
  std::multiset<fields> out;
  for (auto &e : list)
    out.insert(fields_of(e));
  return out;
}

std::vector<json> query_store(const std::string &store,
                              const std::vector<std::string> &queries,
                              run_result *raw = nullptr) {
  std::vector<std::string> args{"query", "--history=" + store};
  args.insert(args.end(), queries.begin(), queries.end());
  auto r = proctrack(args);
  BOOST_TEST_INFO("stderr: " << r.err.substr(0, 2000));
  BOOST_REQUIRE_EQUAL(r.status, 0);
  if (raw)
    *raw = r;
  return results(r, queries);
}

// One replay of the whole Sysmon corpus with the history written, shared
// by the cases below (it takes a few seconds).
struct corpus_history {
  temp_dir dir;
  std::string store = (dir.path() / "history.db").string();
  run_result written;
  json plain_pslist; // a plain replay's answer, without history
  corpus_history() {
    written = proctrack({"replay", sysmon_dir(), "--sort=time",
                         "--history=" + store, "--query=stats"});
    auto plain = replay(sysmon_dir(), {"pslist"}, {"--sort=time"});
    plain_pslist = plain[0];
  }
};

corpus_history &corpus() {
  static corpus_history c;
  return c;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_replayed_history_answers_as_the_replay_did) {
  auto &c = corpus();
  BOOST_TEST_INFO("stderr: " << c.written.err.substr(0, 2000));
  BOOST_REQUIRE_EQUAL(c.written.status, 0);
  auto stats = results(c.written, {"stats"}).at(0);
  // Every process of the corpus is in the table (1,752 EID 1 in all, the
  // table's default 10,000 holds them) and was written at least once.
  BOOST_REQUIRE(c.plain_pslist.size() > 1000u);
  BOOST_TEST(counter_of(stats, "HistoryRowsWritten")
             >= static_cast<long long>(c.plain_pslist.size()));
  BOOST_TEST(counter_of(stats, "HistoryRowsDropped") == 0);
  // The store's pslist is the replay's: same processes, same values.
  auto from_store = query_store(c.store, {"pslist"}).at(0);
  BOOST_TEST(from_store.size() == c.plain_pslist.size());
  BOOST_TEST((field_set(from_store) == field_set(c.plain_pslist)));
}

BOOST_AUTO_TEST_CASE(get_callchain_children_match_the_replay) {
  auto &c = corpus();
  // The deepest chains of the corpus (by ParentId within the replay's
  // pslist), and a few processes with children.
  std::map<std::string, json> by_id;
  for (auto &e : c.plain_pslist)
    by_id[e["Id"].get<std::string>()] = e;
  auto depth = [&](const std::string &id) {
    int d = 0;
    auto cur = id;
    std::set<std::string> seen;
    while (by_id.count(cur) && seen.insert(cur).second) {
      ++d;
      cur = by_id[cur]["ParentId"].get<std::string>();
    }
    return d;
  };
  std::vector<std::pair<int, std::string>> deep;
  for (auto &[id, e] : by_id)
    deep.emplace_back(depth(id), id);
  std::sort(deep.rbegin(), deep.rend());
  BOOST_REQUIRE(deep.size() > 5u);
  BOOST_TEST(deep[0].first >= 4);
  std::vector<std::string> queries;
  for (std::size_t i = 0; i < 5; ++i) {
    queries.push_back("callchain:" + deep[i].second);
    queries.push_back("get:" + deep[i].second);
    // The chain's root has children (at least the next in the chain).
    queries.push_back("children:"
                      + by_id[deep[i].second]["ParentId"].get<std::string>());
  }
  auto plain = replay(sysmon_dir(), queries, {"--sort=time"});
  auto stored = query_store(c.store, queries);
  for (std::size_t i = 0; i < queries.size(); ++i) {
    BOOST_TEST_CONTEXT(queries[i]) {
      if (queries[i].rfind("get:", 0) == 0) {
        BOOST_TEST((fields_of(stored[i]) == fields_of(plain[i])));
      } else {
        BOOST_TEST(!stored[i].empty());
        BOOST_TEST(ids(stored[i]) == ids(plain[i]));
        BOOST_TEST((field_set(stored[i]) == field_set(plain[i])));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(pslist_as_of_a_time_is_what_ran_then) {
  auto &c = corpus();
  // Times at which processes exited in the replay: just before such an end
  // the process is listed, at it no more.
  std::vector<json> ended;
  for (auto &e : c.plain_pslist)
    if (e["EndTime"] != zero_time && e["StartTime"] != zero_time
        && e["StartTime"] < e["EndTime"])
      ended.push_back(e);
  BOOST_REQUIRE(ended.size() >= 3u);
  for (std::size_t k : {std::size_t{0}, ended.size() / 2, ended.size() - 1}) {
    auto &victim = ended[k];
    auto end = victim["EndTime"].get<std::string>();
    auto start = victim["StartTime"].get<std::string>();
    // The replay's answer gives the expected set: started at or before T,
    // not ended at or before T (RFC 3339 UTC strings of one format compare
    // as times when they have the same length).
    auto expected_at = [&](const std::string &t) {
      std::set<std::string> ids;
      for (auto &e : c.plain_pslist) {
        auto s = e["StartTime"].get<std::string>();
        auto x = e["EndTime"].get<std::string>();
        if (s == zero_time)
          continue;
        bool started = s <= t;
        bool over = x != zero_time && x <= t;
        if (started && !over)
          ids.insert(e["Id"].get<std::string>());
      }
      return ids;
    };
    if (end.size() != start.size() || end.size() != 20)
      continue; // fractions: the string comparison above would not hold
    auto r = query_store(c.store, {"pslist@" + start, "pslist@" + end});
    auto at_start = r[0];
    auto at_end = r[1];
    std::set<std::string> got_start, got_end;
    for (auto &e : at_start)
      got_start.insert(e["Id"].get<std::string>());
    for (auto &e : at_end)
      got_end.insert(e["Id"].get<std::string>());
    auto id = victim["Id"].get<std::string>();
    BOOST_TEST_CONTEXT(id << " " << start << " .. " << end) {
      BOOST_TEST(got_start.count(id) == 1u);
      BOOST_TEST(got_end.count(id) == 0u);
      BOOST_TEST((got_start == expected_at(start)));
      BOOST_TEST((got_end == expected_at(end)));
      BOOST_TEST(got_start.size() < c.plain_pslist.size());
    }
  }
}

BOOST_AUTO_TEST_CASE(a_chain_as_of_a_time_has_no_later_processes) {
  auto &c = corpus();
  // A process with a parent in the store: as of its parent's start it is
  // not there yet (no chain); as of its own start the chain is whole.
  json child;
  auto second = [](const json &e) {
    return e["StartTime"].get<std::string>().substr(0, 19); // to the second
  };
  for (auto &e : c.plain_pslist) {
    auto pid = e["ParentId"].get<std::string>();
    for (auto &p : c.plain_pslist)
      if (p["Id"] == pid && p["StartTime"] != zero_time
          && second(p) < second(e)) {
        child = e;
        break;
      }
    if (!child.is_null())
      break;
  }
  BOOST_REQUIRE(!child.is_null());
  auto id = child["Id"].get<std::string>();
  auto parent = child["ParentId"].get<std::string>();
  std::string parent_start;
  for (auto &p : c.plain_pslist)
    if (p["Id"] == parent)
      parent_start = p["StartTime"].get<std::string>();
  auto r = query_store(
      c.store, {"callchain:" + id, "callchain:" + id + "@" + parent_start,
                "callchain:" + id + "@" + child["StartTime"].get<std::string>(),
                "callchain:" + parent + "@" + parent_start});
  BOOST_TEST(r[0].size() >= 2u);
  BOOST_TEST(r[1].empty());
  BOOST_TEST(ids(r[2]) == ids(r[0]));
  // The parent's chain as of its start ends with it.
  BOOST_REQUIRE(!r[3].empty());
  BOOST_TEST(r[3].back()["Id"] == parent);
}

// A replay with --history answers as the agent does (issue 17): with a
// cache of 20 processes, an early process is long evicted when the replay
// ends; its get and callchain come from the store and equal what a replay
// with the default cache (which holds the whole corpus) answers, and a
// query as of a time is the store's answer. Without --history the same
// replay answers null, and `@T` is refused.
BOOST_AUTO_TEST_CASE(a_replays_queries_fall_back_to_its_history) {
  auto &c = corpus();
  // A process whose parent started just before it (few processes between
  // them: the small cache still holds the parent when the child starts, so
  // the link is the same as with the default cache), among the first half
  // of the corpus (long evicted when the replay ends).
  json child;
  std::size_t best = ~std::size_t{0};
  auto start = [](const json &e) { return e["StartTime"].get<std::string>(); };
  for (std::size_t i = 0; i < c.plain_pslist.size() / 2; ++i) {
    auto &e = c.plain_pslist[i];
    auto p = entry(c.plain_pslist, e["ParentId"].get<std::string>());
    if (p.is_null() || start(p) == zero_time || start(p) > start(e))
      continue;
    std::size_t between = 0;
    for (auto &o : c.plain_pslist)
      between += start(o) >= start(p) && start(o) <= start(e) ? 1 : 0;
    if (between < best) {
      best = between;
      child = e;
    }
  }
  BOOST_REQUIRE(!child.is_null());
  auto id = child["Id"].get<std::string>();
  auto when = child["StartTime"].get<std::string>();
  auto full =
      replay(sysmon_dir(), {"get:" + id, "callchain:" + id}, {"--sort=time"});
  BOOST_REQUIRE(full[1].size() >= 2u);
  std::vector<std::string> small{"--sort=time", "--tracker.max-size=20"};
  auto alone = replay(sysmon_dir(), {"get:" + id}, small);
  BOOST_TEST(alone[0].is_null()); // evicted: the cache alone has no answer
  temp_dir d;
  auto store = (d.path() / "small.db").string();
  auto args = small;
  args.push_back("--history=" + store);
  std::vector<std::string> qs{"get:" + id, "callchain:" + id,
                              "callchain:" + id + "@" + when, "pslist@" + when};
  auto with = replay(sysmon_dir(), qs, args);
  BOOST_REQUIRE(with[0].is_object());
  // What it was when evicted (a later exit may have missed it: EndTime is
  // not compared).
  for (auto *k : {"Id", "ParentId", "StartTime", "Data"})
    BOOST_TEST(with[0][k] == full[0][k], k);
  // The chain from the store: the child and the parent linked as in the
  // full replay (older ancestors may have been evicted before their
  // children started: linked to "<ppid>-?", issue 17's known limit).
  auto stored = query_store(store, {"callchain:" + id}).at(0);
  BOOST_TEST(ids(with[1]) == ids(stored));
  BOOST_REQUIRE(with[1].size() >= 2u);
  auto tail = [](const json &chain) {
    auto v = ids(chain);
    return std::vector<std::string>(v.end() - 2, v.end());
  };
  BOOST_TEST(tail(with[1]) == tail(full[1]));
  BOOST_TEST(ids(with[2]) == ids(with[1])); // as of its start: the same
  auto asof = query_store(store, {"pslist@" + when}).at(0);
  BOOST_TEST(ids(with[3]) == ids(asof));
  BOOST_TEST(!entry(with[3], id).is_null());
  // @T without a store: refused, naming the query.
  auto refused = proctrack({"replay", sysmon_dir(), "--query=pslist@" + when});
  BOOST_TEST(refused.status != 0);
  BOOST_TEST(refused.err.find("--history=FILE") != std::string::npos,
             refused.err);
}

BOOST_AUTO_TEST_CASE(bad_queries_and_missing_or_damaged_stores_are_errors) {
  temp_dir d;
  auto missing = (d.path() / "none.db").string();
  auto r = proctrack({"query", "--history=" + missing, "pslist"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(r.err.find(missing) != std::string::npos);
  BOOST_TEST(r.err.find("no such file") != std::string::npos);
  BOOST_TEST(!std::filesystem::exists(missing));
  // Garbage: a query reports it and leaves it alone.
  auto junk = d.write("junk.db", std::string(10000, 'z'));
  r = proctrack({"query", "--history=" + junk, "pslist"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(r.err.find("not a database") != std::string::npos);
  BOOST_TEST(std::filesystem::file_size(junk) == 10000u);
  // A replay onto the garbage keeps it aside and writes a new store.
  auto log = d.write(
      "u.jsonl",
      R"({"update_type":"start","id":5,"parent_id":1,"start_time":"2021-01-01T10:00:00Z","data":{"Name":"a"}})"
      "\n");
  r = proctrack({"replay", log, "--history=" + junk, "--query=get:5"});
  BOOST_TEST_INFO(r.err);
  BOOST_TEST(r.status == 0);
  BOOST_TEST(r.err.find("moved to") != std::string::npos);
  int aside = 0;
  for (auto &e : std::filesystem::directory_iterator(d.path()))
    aside += e.path().filename().string().rfind("junk.db.damaged-", 0) == 0;
  BOOST_TEST(aside == 1);
  auto got = query_store(junk, {"get:5"});
  BOOST_TEST(got[0]["Data"]["Name"] == "a");
  BOOST_TEST(got[0]["Id"] == "5-1609495200");
  // What the history does not answer, and a time it cannot read, say so.
  r = proctrack({"query", "--history=" + junk, "stats", "pslist@yesterday",
                 "get:5@2021-01-01T09:00:00Z"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(r.err.find("stats") != std::string::npos);
  BOOST_TEST(r.err.find("pslist@yesterday: bad time") != std::string::npos);
  // The one good query is answered: nothing had started at 09:00.
  auto rows = json_lines(r.out);
  BOOST_REQUIRE(rows.size() == 1u);
  BOOST_TEST(rows[0]["result"].is_null());
}

// The backpressure limits are config keys (history.max-unacked-rows,
// history.max-unacked-bytes): printed by --dump-config, refused by name
// when out of range (command line, config file, in replay and run alike),
// and honoured: a replay with a limit of 1 row holds the cache's answers
// (HistoryWaits) where the default of 10,000 never does on 2,000 processes.
BOOST_AUTO_TEST_CASE(the_backpressure_limits_are_checked_config_keys) {
  temp_dir d;
  auto dump = proctrack({"replay", "--dump-config"});
  BOOST_TEST(dump.out.find("max-unacked-rows=10000\nmax-unacked-bytes="
                           "16777216")
                 != std::string::npos,
             dump.out);
  std::string text;
  for (int i = 0; i < 2000; ++i) {
    text += R"({"update_type":"start","id":)" + std::to_string(1000 + i)
            + R"(,"parent_id":4,"start_time":"2021-01-01T00:00:)"
            + (i % 60 < 10 ? "0" : "") + std::to_string(i % 60)
            + R"(Z","data":{"Name":"p)" + std::to_string(i) + "\"}}\n";
    text += R"({"update_type":"exit","id":)" + std::to_string(1000 + i)
            + R"(,"end_time":"2021-01-01T00:01:00Z"})" + "\n";
  }
  auto log = d.write("u.jsonl", text);
  struct bad {
    std::string arg, key;
  };
  for (auto &b : std::vector<bad>{
           {"--history.max-unacked-rows=0", "history.max-unacked-rows"},
           {"--history.max-unacked-rows=-5", "history.max-unacked-rows"},
           {"--history.max-unacked-rows=10000001", "history.max-unacked-rows"},
           {"--history.max-unacked-bytes=1000", "history.max-unacked-bytes"},
           {"--history.max-unacked-bytes=0", "history.max-unacked-bytes"},
           {"--history.max-unacked-bytes=99999999999999",
            "history.max-unacked-bytes"}}) {
    auto r =
        proctrack({"replay", log, "--history=" + (d.path() / "x.db").string(),
                   b.arg, "--query=stats"});
    BOOST_TEST(r.status == 2, b.arg);
    BOOST_TEST(r.out.empty(), b.arg);
    BOOST_TEST(r.err.find(b.key + " must be") != std::string::npos,
               b.arg << ": " << r.err);
  }
  BOOST_TEST(!std::filesystem::exists(d.path() / "x.db"));
  auto conf = d.write("bad.ini", "[history]\nmax-unacked-rows=0\n");
  auto r = proctrack({"replay", log, "--config=" + conf, "--query=stats"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(r.err.find("history.max-unacked-rows must be")
                 != std::string::npos,
             r.err);
  r = proctrack({"run", "--history.max-unacked-bytes=1", "--query.socket="});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(r.err.find("history.max-unacked-bytes must be")
                 != std::string::npos,
             r.err);
  auto waits = [&](std::vector<std::string> extra) {
    auto store =
        (d.path() / ("w" + std::to_string(extra.size()) + ".db")).string();
    std::vector<std::string> args{"replay", log, "--history=" + store,
                                  "--ingest.batch-size=10", "--query=stats"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto run = proctrack(args);
    BOOST_REQUIRE_MESSAGE(run.status == 0, run.err);
    auto stats = results(run, {"stats"}).at(0);
    BOOST_TEST(counter_of(stats, "HistoryRowsSent") >= 2000);
    return counter_of(stats, "HistoryWaits");
  };
  BOOST_TEST(waits({}) == 0);
  BOOST_TEST(waits({"--history.max-unacked-rows=1"}) > 0);
}

BOOST_AUTO_TEST_CASE(a_kill_9_mid_replay_keeps_every_flushed_row) {
  temp_dir d;
  // 300,000 processes, each the child of the one before, half of them
  // ended. The killed replay reads the first half from a pipe that stays
  // open: it is in the middle of its input when it is killed, however
  // fast the machine (a timed kill let a quiet machine finish first).
  std::string text;
  std::size_t half = 0;
  const long t0 = 1609459200;
  auto when = [](long s) {
    char buf[32];
    std::time_t tt = s;
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
    return std::string{buf};
  };
  for (long i = 0; i < 300000; ++i) {
    if (i == 150000)
      half = text.size();
    text += R"({"update_type":"start","id":)" + std::to_string(1000 + i)
            + R"(,"parent_id":)" + std::to_string(i ? 999 + i : 4)
            + R"(,"start_time":")" + when(t0 + i / 4) + R"(","data":{"Name":"p)"
            + std::to_string(i) + R"(","CommandLine":"x.exe /run )"
            + std::to_string(i * 7919) + "\"}}\n";
    if (i % 2 == 1)
      text += R"({"update_type":"exit","id":)" + std::to_string(999 + i)
              + R"(,"end_time":")" + when(t0 + i / 4 + 1) + "\"}\n";
  }
  auto log = d.write("big.jsonl", text);
  auto killed = (d.path() / "killed.db").string();
  {
    auto child = start_with_input({binary(), "replay", "-", "--format=updates",
                                   "--history=" + killed,
                                   "--history.flush-interval=100ms"});
    pid_t pid = child.pid;
    std::size_t written = 0;
    while (written < half) {
      auto w = write(child.input, text.data() + written, half - written);
      BOOST_REQUIRE(w > 0);
      written += static_cast<std::size_t>(w);
    }
    // Killed once most of its first half is in the store, with the input
    // still open (zlib's reader waits for a whole buffer: the half's last
    // lines may still be unread).
    auto last = std::to_string(1000 + 140000);
    bool flushed = false;
    for (int k = 0; k < 1200 && !flushed; ++k) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (!std::filesystem::exists(killed))
        continue;
      auto r = proctrack({"query", "--history=" + killed, "get:" + last});
      flushed = r.status == 0
                && r.out.find("\"Id\":\"" + last + "-") != std::string::npos;
    }
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    close(child.input);
    BOOST_REQUIRE_MESSAGE(flushed, "the first half never reached the store");
    BOOST_TEST(WIFSIGNALED(st));
  }
  text.clear();
  auto full = (d.path() / "full.db").string();
  auto r = run(binary(), {"replay", log, "--history=" + full, "--query=stats"},
               {}, std::chrono::seconds(600));
  BOOST_REQUIRE_EQUAL(r.status, 0);
  // The killed store opens as it is (no damage, nothing moved aside), and
  // every process it holds is the uninterrupted run's, as it stood then:
  // same parent, start and Data; the same end, or not ended yet.
  run_result raw;
  auto after_kill = query_store(killed, {"pslist"}, &raw).at(0);
  BOOST_TEST(raw.err.find("damaged") == std::string::npos);
  auto whole = query_store(full, {"pslist"}).at(0);
  BOOST_TEST(whole.size() == 300000u);
  BOOST_TEST_MESSAGE("kill -9 mid-replay: " << after_kill.size()
                                            << " processes flushed");
  // Everything up to the one awaited, none beyond the half it was given.
  BOOST_TEST(after_kill.size() > 140000u);
  BOOST_TEST(after_kill.size() <= 150000u);
  std::map<std::string, json> by_id;
  for (auto &e : whole)
    by_id[e["Id"].get<std::string>()] = e;
  std::size_t ended_later = 0, mismatches = 0;
  for (auto &e : after_kill) {
    auto it = by_id.find(e["Id"].get<std::string>());
    if (it == by_id.end()) {
      ++mismatches;
      continue;
    }
    auto &w = it->second;
    bool same = e["ParentId"] == w["ParentId"]
                && e["StartTime"] == w["StartTime"] && e["Data"] == w["Data"];
    if (e["EndTime"] != w["EndTime"]) {
      same = same && e["EndTime"] == zero_time;
      ++ended_later;
    }
    mismatches += same ? 0 : 1;
  }
  BOOST_TEST(mismatches == 0u);
  // Only the last flush's processes can lack their exit.
  BOOST_TEST(ended_later < 50000u);
  for (auto &e : std::filesystem::directory_iterator(d.path()))
    BOOST_TEST(e.path().filename().string().find("damaged")
               == std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()
