// The agent's periodic actors under CAF's deterministic test coordinator:
// the pslist sync actor against a fake /proc tree (first sync on request,
// the timer, a process that disappears between two listings, its stats) and
// the stats publisher (polling, merging, an actor that never answers, the
// rows it writes, its snapshot). Timers are driven with advance_time; no
// test touches a mailbox.
#include <boost/test/unit_test.hpp>

#include "tests/support/run_binary.hpp"

#if !defined(__linux__)
BOOST_AUTO_TEST_CASE(not_linux) {
  BOOST_TEST_MESSAGE("Linux sources: nothing to test on this platform");
}
#else

#include "actors/cache/cache.hpp"
#include "actors/live/pslist_sync.hpp"
#include "actors/stats/stats_publisher.hpp"
#include "messages/actors.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "tests/support/actor_fixture.hpp"
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

BOOST_AUTO_TEST_SUITE(live_actors_test)

using namespace proctrack;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

using fixture = proctrack_test::actor_fixture;

/// A fake /proc tree in a temporary directory, removed at the end.
struct fake_proc {
  static constexpr std::int64_t btime = 1600000000;
  proctrack_test::temp_dir tree; // removed with everything in it
  std::string root = tree.path().string();

  fake_proc() {
    write("stat", "cpu  1 2 3 4\nbtime " + std::to_string(btime) + "\n");
  }
  void write(const std::string &rel, const std::string &content) {
    tree.write(rel, content);
  }
  // A process started `secs` seconds after boot (ticks at the host's rate,
  // as the reader in the actor uses sysconf(_SC_CLK_TCK)).
  void process(int pid, const std::string &comm, int ppid, long secs) {
    auto d = std::to_string(pid);
    ::mkdir((root + "/" + d).c_str(), 0755);
    auto ticks = static_cast<unsigned long>(secs * ::sysconf(_SC_CLK_TCK));
    std::string stat = d + " (" + comm + ") S " + std::to_string(ppid);
    for (int f = 5; f <= 21; ++f)
      stat += " " + std::to_string(f);
    stat += " " + std::to_string(ticks) + " 23 24 25\n";
    write(d + "/stat", stat);
    write(d + "/status", "Name:\t" + comm + "\nTgid:\t" + d + "\nPid:\t" + d
                             + "\nPPid:\t" + std::to_string(ppid)
                             + "\nUid:\t0\t0\t0\t0\n");
    write(d + "/cmdline", std::string("/bin/") + comm + '\0');
  }
  void remove(int pid) {
    std::error_code ec;
    std::filesystem::remove_all(tree.path() / std::to_string(pid), ec);
  }
  static std::string real_id(int pid, long secs) {
    return std::to_string(pid) + "-" + std::to_string(btime + secs);
  }
};

std::int64_t counter_of(const stats_report &r, const std::string &name) {
  for (auto &c : r.counters)
    if (c.name == name)
      return c.value;
  BOOST_FAIL("no counter " << name << " in " << r.source);
  return -1;
}

// A stats_api actor with fixed counters.
stats_api::behavior_type fixed_stats(stats_api::pointer,
                                     std::vector<counter> counters) {
  return {
      [counters](atom::stats) -> stats_report {
        return {"fake", counters};
      },
  };
}

// A stats_api actor that never answers (its promises are kept, undelivered).
stats_api::behavior_type
silent_stats(stats_api::pointer self,
             std::shared_ptr<std::vector<caf::response_promise>> kept) {
  return {
      [self, kept](atom::stats) -> caf::result<stats_report> {
        auto rp = self->make_response_promise<stats_report>();
        kept->push_back(rp);
        return rp;
      },
  };
}

// The output stream's sink: keeps every message.
update_sink_actor::behavior_type
collecting_sink(update_sink_actor::pointer,
                std::shared_ptr<std::vector<std::string>> rows) {
  return {
      [rows](const std::string &s) { rows->push_back(s); },
  };
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(live_actors, fixture)

BOOST_AUTO_TEST_CASE(pslist_sync_lists_proc_on_request_and_on_its_timer) {
  fake_proc fp;
  fp.process(1, "systemd", 0, 1);
  fp.process(50, "bash", 1, 100);
  fp.process(60, "sh", 50, 200);
  auto cache = track(spawn_cache(sys, cache_config{}));
  pslist_sync_config pc;
  pc.period = 2s;
  pc.proc_root = fp.root;
  // Not detached: the test scheduler runs it deterministically.
  auto pslist = track(sys.spawn(pslist_sync, pc, cache));
  // The first sync on request, answered once applied.
  BOOST_TEST(ask<std::uint64_t>(pslist, atom::sync_v) == 3u);
  auto chain =
      json::parse(ask<std::string>(cache, query{"callchain", "60", 0}));
  BOOST_REQUIRE_EQUAL(chain.size(), 3u);
  BOOST_TEST(chain[0]["Id"] == fake_proc::real_id(1, 1));
  BOOST_TEST(chain[1]["Id"] == fake_proc::real_id(50, 100));
  BOOST_TEST(chain[2]["Id"] == fake_proc::real_id(60, 200));
  BOOST_TEST(chain[2]["Data"]["Name"] == "sh");
  BOOST_TEST(chain[2]["EndTime"] == "0001-01-01T00:00:00Z");
  auto st = ask<stats_report>(pslist, atom::stats_v);
  BOOST_TEST(st.source == "proctrack.pslist_sync");
  BOOST_TEST(counter_of(st, "PslistSyncs") == 1);
  BOOST_TEST(counter_of(st, "LastPslistSize") == 3);
  BOOST_TEST(counter_of(st, "LastSyncDurationUs") >= 0);
  BOOST_TEST(counter_of(st, "MailboxPslistSync") == 0);
  // sh exits and a new process appears; nothing changes before the period.
  fp.remove(60);
  fp.process(70, "sleep", 50, 300);
  sched.advance_time(1s);
  sched.run();
  BOOST_TEST(ask<std::string>(cache, query{"get", "70", 0}) == "null");
  // The timer: the second listing sees both changes.
  sched.advance_time(1s);
  sched.run();
  st = ask<stats_report>(pslist, atom::stats_v);
  BOOST_TEST(counter_of(st, "PslistSyncs") == 2);
  auto sleep = json::parse(ask<std::string>(cache, query{"get", "70", 0}));
  BOOST_TEST(sleep["Id"] == fake_proc::real_id(70, 300));
  BOOST_TEST(sleep["ParentId"] == fake_proc::real_id(50, 100));
  auto sh = json::parse(ask<std::string>(cache, query{"get", "60", 0}));
  BOOST_TEST(sh["EndTime"] != "0001-01-01T00:00:00Z");
  // The timer re-arms: a third listing after one more period; the same
  // processes keep their real ids (no duplicates).
  sched.advance_time(2s);
  sched.run();
  st = ask<stats_report>(pslist, atom::stats_v);
  BOOST_TEST(counter_of(st, "PslistSyncs") == 3);
  auto all = json::parse(ask<std::string>(cache, query{"pslist", "", 0}));
  BOOST_TEST(all.size() == 4u); // 1, 50, 60 (exited), 70
}

// Issue 14 kind 6 on the live path: the agent's listing reaches the same
// table, so a 1 MB command line read from /proc is kept at 32 KiB, marked in
// Data.Truncated, and counted against tracker.max-bytes.
BOOST_AUTO_TEST_CASE(a_huge_live_command_line_is_capped_by_the_table) {
  fake_proc fp;
  fp.process(1, "systemd", 0, 1);
  fp.process(80, "big", 1, 100);
  fp.write("80/cmdline",
           std::string("/bin/big") + '\0' + std::string(1 << 20, 'x') + '\0');
  auto cache = track(spawn_cache(sys, cache_config{}));
  pslist_sync_config pc;
  pc.period = 60s;
  pc.proc_root = fp.root;
  auto pslist = track(sys.spawn(pslist_sync, pc, cache));
  BOOST_TEST(ask<std::uint64_t>(pslist, atom::sync_v) == 2u);
  auto big = json::parse(ask<std::string>(cache, query{"get", "80", 0}));
  auto cmd = big["Data"]["CommandLine"].get<std::string>();
  BOOST_TEST(cmd.size() == (32u << 10) - 2);
  BOOST_TEST(cmd.rfind("/bin/big x", 0) == 0);
  BOOST_TEST(big["Data"]["Truncated"] == json::array({"CommandLine"}));
  auto stats = json::parse(ask<std::string>(cache, query{"stats", "", 0}));
  BOOST_TEST(stats["TruncatedFields"] == 1);
  BOOST_TEST(stats["DataBytes"].get<std::int64_t>() < (40 << 10));
  BOOST_TEST(stats["MaxBytes"] == std::int64_t{64} << 20);
}

BOOST_AUTO_TEST_CASE(a_failed_listing_is_not_applied) {
  fake_proc fp;
  fp.process(1, "systemd", 0, 1);
  fp.process(50, "bash", 1, 100);
  auto cache = track(spawn_cache(sys, cache_config{}));
  pslist_sync_config pc;
  pc.period = 2s;
  pc.proc_root = fp.root;
  auto pslist = track(sys.spawn(pslist_sync, pc, cache));
  BOOST_TEST(ask<std::uint64_t>(pslist, atom::sync_v) == 2u);
  // /proc cannot be listed (here: gone; on a host: no descriptors left).
  auto away = fp.root + ".away";
  std::filesystem::rename(fp.root, away);
  sched.advance_time(2s);
  sched.run();
  // A sync asked for is answered with the error.
  auto failed = std::make_shared<std::string>();
  sys.spawn([=](caf::event_based_actor *a) {
    a->request(pslist, caf::infinite, atom::sync_v)
        .then([=](std::uint64_t) { *failed = "applied"; },
              [=](caf::error &e) { *failed = caf::to_string(e); });
  });
  sched.run();
  BOOST_TEST(failed->find("/proc listing failed: " + fp.root
                          + ": No such file or directory")
             != std::string::npos);
  std::filesystem::rename(away, fp.root);
  auto st = ask<stats_report>(pslist, atom::stats_v);
  BOOST_TEST(counter_of(st, "PslistSyncs") == 1);
  BOOST_TEST(counter_of(st, "SyncFailures") == 2);
  // Nothing was marked exited.
  for (auto id : {"1", "50"}) {
    auto p = json::parse(ask<std::string>(cache, query{"get", id, 0}));
    BOOST_TEST(p["EndTime"] == "0001-01-01T00:00:00Z");
  }
}

BOOST_AUTO_TEST_CASE(stats_publisher_merges_counters_and_writes_rows) {
  auto cache = track(spawn_cache(sys, cache_config{}));
  auto a = track(sys.spawn(
      fixed_stats, std::vector<counter>{{"LostEvents", 2}, {"Shared", 1}}));
  auto b = track(sys.spawn(
      fixed_stats, std::vector<counter>{{"PslistSyncs", 5}, {"Shared", 10}}));
  auto rows = std::make_shared<std::vector<std::string>>();
  auto sink = track(sys.spawn(collecting_sink, rows));
  stats_publisher_config sc;
  sc.interval = 10s;
  auto pub = track(spawn_stats_publisher(sys, sc, cache, {a, b}, sink));
  sched.run();
  BOOST_TEST(rows->empty()); // nothing before the first interval
  sched.advance_time(10s);
  sched.run();
  BOOST_REQUIRE_EQUAL(rows->size(), 1u);
  BOOST_TEST(rows->back().back() == '\n');
  auto row = json::parse(rows->back());
  BOOST_TEST(row["update_type"] == "stats");
  auto &d = row["data"];
  BOOST_TEST(d["LostEvents"] == 2);
  BOOST_TEST(d["PslistSyncs"] == 5);
  BOOST_TEST(d["Shared"] == 11); // summed across actors
  BOOST_TEST(d["Capacity"] == 10000);
  BOOST_TEST(d["Length"] == 0);
  BOOST_TEST(d.contains("MailboxCache"));
  BOOST_TEST(d["StatsRows"] == 1);
  BOOST_TEST(d["UnansweredStats"] == 0);
  // The others' counters reach the cache's `stats` query too.
  auto q = json::parse(ask<std::string>(cache, query{"stats", "", 0}));
  BOOST_TEST(q["LostEvents"] == 2);
  BOOST_TEST(q["Shared"] == 11);
  // The snapshot is the last row's data.
  auto snap = json::parse(ask<std::string>(pub, atom::snapshot_v));
  BOOST_TEST(snap["PslistSyncs"] == 5);
  BOOST_TEST(snap["StatsRows"] == 1);
  // A second round: counters replace the previous ones, not add to them.
  sched.advance_time(10s);
  sched.run();
  BOOST_REQUIRE_EQUAL(rows->size(), 2u);
  row = json::parse(rows->back());
  BOOST_TEST(row["data"]["Shared"] == 11);
  BOOST_TEST(row["data"]["StatsRows"] == 2);
  q = json::parse(ask<std::string>(cache, query{"stats", "", 0}));
  BOOST_TEST(q["LostEvents"] == 2);
  BOOST_TEST(counter_of(ask<stats_report>(pub, atom::stats_v), "StatsRows")
             == 2);
}

BOOST_AUTO_TEST_CASE(stats_publisher_counts_an_actor_that_never_answers) {
  auto cache = track(spawn_cache(sys, cache_config{}));
  auto a =
      track(sys.spawn(fixed_stats, std::vector<counter>{{"LostEvents", 3}}));
  auto kept = std::make_shared<std::vector<caf::response_promise>>();
  auto silent = track(sys.spawn(silent_stats, kept));
  auto rows = std::make_shared<std::vector<std::string>>();
  auto sink = track(sys.spawn(collecting_sink, rows));
  stats_publisher_config sc;
  sc.interval = 20s;
  auto pub = track(spawn_stats_publisher(sys, sc, cache, {a, silent}, sink));
  sched.run(); // the publisher starts its timer
  sched.advance_time(20s);
  sched.run();
  BOOST_TEST(rows->empty()); // waiting for the silent one
  BOOST_TEST(kept->size() == 1u);
  // Its request times out after 5 s; the row goes out without it.
  sched.advance_time(5s);
  sched.run();
  BOOST_REQUIRE_EQUAL(rows->size(), 1u);
  auto row = json::parse(rows->back());
  BOOST_TEST(row["data"]["LostEvents"] == 3);
  BOOST_TEST(row["data"]["UnansweredStats"] == 1);
}

BOOST_AUTO_TEST_CASE(merge_counters_sums_by_name_and_keeps_order) {
  std::vector<counter> into{{"A", 1}, {"B", 2}};
  merge_counters(into, {{"B", 3}, {"C", 4}});
  BOOST_REQUIRE_EQUAL(into.size(), 3u);
  BOOST_TEST(into[0].name == "A");
  BOOST_TEST(into[1].value == 5);
  BOOST_TEST(into[2].name == "C");
  BOOST_TEST(into[2].value == 4);
}

BOOST_AUTO_TEST_SUITE_END()

#endif

BOOST_AUTO_TEST_SUITE_END() // live_actors_test
