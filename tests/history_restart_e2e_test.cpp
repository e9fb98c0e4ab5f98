// An agent restart keeps an orphan's original parent (issue 17, "Done
// when": end to end, root): a launcher starts a payload that double-forks
// a daemon (whose parent becomes the reaper) and exits; the agent is
// killed (-9) and restarted, stopped (SIGINT) and restarted; each time
// `callchain` of the daemon still names the launcher and the launcher's
// parent, and a process that ended while the agent was down carries an
// estimated end no later than its real one. And a lookup that misses a
// small cache is answered from the store.
#include <boost/test/unit_test.hpp>

#include "actors/common/time.hpp"
#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <set>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

BOOST_AUTO_TEST_SUITE(history_restart_e2e_test)

using nlohmann::json;
using namespace proctrack_test;
using namespace std::chrono_literals;

namespace {

// `proctrack run` with a history store, as a child process.
struct agent {
  pid_t pid = -1;
  std::string out_path, err_path, socket;

  agent(const temp_dir &dir, const std::string &store, const std::string &tag,
        std::vector<std::string> extra = {}) {
    out_path = (dir.path() / (tag + ".out")).string();
    err_path = (dir.path() / (tag + ".err")).string();
    socket = (dir.path() / (tag + ".sock")).string();
    pid = fork();
    if (pid == 0) {
      int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(o, 1);
      dup2(e, 2);
      std::vector<std::string> args{binary(),
                                    "run",
                                    "--query.socket=" + socket,
                                    "--history.path=" + store,
                                    "--history.flush-interval=100ms",
                                    "--tracker.sync-period=1s",
                                    "--stats.interval=1s"};
      args.insert(args.end(), extra.begin(), extra.end());
      exec_or_exit(args);
    }
  }

  std::string err() const {
    std::ifstream in{err_path};
    return {std::istreambuf_iterator<char>(in), {}};
  }

  bool wait_ready() {
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (err().find("ready: query socket ") != std::string::npos)
        return true;
      int st;
      if (waitpid(pid, &st, WNOHANG) == pid) {
        pid = -1;
        return false;
      }
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  json ask(const std::string &q) {
    auto r = proctrack_test::proctrack({"query", "--socket=" + socket, q});
    BOOST_REQUIRE_MESSAGE(r.status == 0, "query " << q << ": " << r.err);
    return results(r, {q}).at(0);
  }

  void kill9() {
    ::kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    pid = -1;
  }

  int stop() {
    ::kill(pid, SIGINT);
    int st = 0;
    waitpid(pid, &st, 0);
    pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }

  ~agent() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

std::string read_file(const std::filesystem::path &p) {
  std::ifstream in{p};
  std::string s;
  in >> s;
  return s;
}

std::string pid_of(const std::string &id) {
  return id.substr(0, id.rfind('-'));
}

std::vector<std::string> chain_pids(const json &chain) {
  std::vector<std::string> out;
  for (auto &e : chain)
    out.push_back(pid_of(e.at("Id").get<std::string>()));
  return out;
}

// A process started by the test itself (no shell), output to /dev/null.
pid_t spawn(std::vector<std::string> argv) {
  pid_t p = fork();
  if (p == 0) {
    int n = ::open("/dev/null", O_RDWR);
    dup2(n, 0);
    dup2(n, 1);
    dup2(n, 2);
    exec_or_exit(argv);
  }
  return p;
}

// The launcher (bash, a child of this test) runs the payload (bash),
// which double-forks: a subshell starts the daemon (sleep) in the
// background and exits, so the daemon's parent is the reaper. Each writes
// its pid to a file in `dir`; the launcher exits once the payload has.
struct orphan {
  std::string launcher, payload, subshell, daemon;
};

orphan launch_orphan(const temp_dir &dir) {
  auto d = dir.path().string();
  auto script = "echo $$ > " + d + "/L; /bin/bash -c 'echo $$ > " + d
                + "/P; ( echo $BASHPID > " + d
                + "/S; /bin/sleep 3171 </dev/null >/dev/null 2>&1 & echo $! > "
                + d + "/D ); exit 0'; exit 0";
  auto r = run("/bin/bash", {"-c", script}, {}, std::chrono::seconds(30));
  BOOST_REQUIRE_MESSAGE(r.status == 0, "launcher: " << r.err);
  orphan o{read_file(dir.path() / "L"), read_file(dir.path() / "P"),
           read_file(dir.path() / "S"), read_file(dir.path() / "D")};
  BOOST_REQUIRE(!o.daemon.empty());
  return o;
}

// What the daemon's chain must be after any restart: it ends launcher,
// payload, subshell, daemon, and the launcher's parent is this test.
void check_chain(const json &chain, const orphan &o, const char *when) {
  BOOST_TEST_CONTEXT(when << ": " << chain.dump().substr(0, 3000)) {
    auto pids = chain_pids(chain);
    BOOST_REQUIRE(pids.size() >= 5u);
    auto n = pids.size();
    BOOST_TEST(pids[n - 1] == o.daemon);
    BOOST_TEST(pids[n - 2] == o.subshell); // not the reaper
    BOOST_TEST(pids[n - 3] == o.payload);
    BOOST_TEST(pids[n - 4] == o.launcher);
    BOOST_TEST(pids[n - 5] == std::to_string(::getpid()));
    BOOST_TEST(pid_of(chain[n - 1].at("ParentId").get<std::string>())
               == o.subshell);
    BOOST_TEST(chain[n - 1]["EndTime"] == zero_time); // still running
  }
}

json wait_for_chain(agent &a, const orphan &o) {
  json chain;
  for (int i = 0; i < 100; ++i) {
    chain = a.ask("callchain:" + o.daemon + ":50");
    auto pids = chain_pids(chain);
    if (pids.size() >= 4 && pids[pids.size() - 4] == o.launcher)
      break;
    std::this_thread::sleep_for(50ms);
  }
  return chain;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_restart_keeps_an_orphans_launcher) {
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: the agent needs root");
    return;
  }
  temp_dir dir;
  auto store = (dir.path() / "history.db").string();
  agent a1{dir, store, "a1"};
  BOOST_REQUIRE_MESSAGE(a1.wait_ready(), a1.err());
  auto o = launch_orphan(dir);
  struct reaper {
    std::string pid;
    ~reaper() {
      if (!pid.empty())
        ::kill(std::stoi(pid), SIGKILL);
    }
  } kill_daemon{o.daemon};
  // A process that runs now and ends while the agent is down.
  pid_t x = spawn({"/bin/sleep", "3172"});
  check_chain(wait_for_chain(a1, o), o, "before any restart");
  json xe;
  for (int i = 0; i < 100 && !xe.is_object(); ++i) {
    xe = a1.ask("get:" + std::to_string(x));
    std::this_thread::sleep_for(50ms);
  }
  BOOST_REQUIRE(xe.is_object());
  auto x_id = xe.at("Id").get<std::string>();
  // More than a flush interval (100 ms): everything above is in the store.
  std::this_thread::sleep_for(600ms);

  // kill -9, then x ends while no agent runs.
  a1.kill9();
  auto killed_at = proctrack::wall_clock_now();
  ::kill(x, SIGKILL);
  waitpid(x, nullptr, 0);
  auto x_ended_by = proctrack::wall_clock_now();
  std::this_thread::sleep_for(1100ms);
  {
    agent a2{dir, store, "a2"};
    BOOST_REQUIRE_MESSAGE(a2.wait_ready(), a2.err());
    BOOST_TEST(a2.err().find("processes reloaded from") != std::string::npos);
    check_chain(a2.ask("callchain:" + o.daemon + ":50"), o,
                "after kill -9 and restart");
    // x: ended while the agent was down; its end is the killed agent's
    // last write, before x really ended (the first listing's time, the
    // estimate without a restart, would be after it), and marked.
    auto xa = a2.ask("get:" + x_id);
    BOOST_TEST_CONTEXT(xa.dump()) {
      BOOST_REQUIRE(xa.is_object());
      auto end = proctrack::parse_time(xa.at("EndTime").get<std::string>());
      BOOST_REQUIRE(end.has_value());
      BOOST_TEST(*end <= killed_at);
      BOOST_TEST(*end <= x_ended_by);
      BOOST_TEST(*end >= *proctrack::parse_time(
                     xa.at("StartTime").get<std::string>()));
      BOOST_TEST(xa["Data"]["EndTimeEstimated"] == true);
    }
    // The daemon is not marked: it runs.
    auto d = a2.ask("get:" + o.daemon);
    BOOST_TEST(!d["Data"].contains("EndTimeEstimated"));
    std::this_thread::sleep_for(600ms);
    BOOST_TEST(a2.stop() == 0);
  }
  // A clean stop and a third start: the same chain.
  agent a3{dir, store, "a3"};
  BOOST_REQUIRE_MESSAGE(a3.wait_ready(), a3.err());
  check_chain(a3.ask("callchain:" + o.daemon + ":50"), o,
              "after a clean stop and restart");
  // The store answers the same without an agent.
  BOOST_TEST(a3.stop() == 0);
  auto r = proctrack_test::proctrack(
      {"query", "--history=" + store, "callchain:" + o.daemon + ":50"});
  BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
  check_chain(results(r, {"callchain:" + o.daemon + ":50"}).at(0), o,
              "from the store");
}

BOOST_AUTO_TEST_CASE(a_lookup_the_small_cache_missed_comes_from_the_store) {
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: the agent needs root");
    return;
  }
  temp_dir dir;
  auto store = (dir.path() / "history.db").string();
  agent a{dir, store, "small", {"--tracker.max-size=30"}};
  BOOST_REQUIRE_MESSAGE(a.wait_ready(), a.err());
  // launcher -> payload, both exited; then 200 short processes push them
  // out of the cache of 30.
  auto d = dir.path().string();
  auto r =
      run("/bin/bash", {"-c", "echo $$ > " + d + "/L; /bin/bash -c 'echo $$ > "
                                  + d + "/P; exit 0'; exit 0"});
  BOOST_REQUIRE_EQUAL(r.status, 0);
  auto launcher = read_file(dir.path() / "L");
  auto payload = read_file(dir.path() / "P");
  std::this_thread::sleep_for(300ms);
  auto id_of = [&](const std::string &pid) {
    auto e = a.ask("get:" + pid);
    BOOST_REQUIRE_MESSAGE(e.is_object(), "get:" << pid << " " << e.dump());
    return e.at("Id").get<std::string>();
  };
  auto payload_id = id_of(payload);
  auto launcher_id = id_of(launcher);
  r = run("/bin/bash", {"-c", "for i in $(seq 200); do /bin/true; done"});
  BOOST_REQUIRE_EQUAL(r.status, 0);
  std::this_thread::sleep_for(500ms);
  // The cache has no room for them: the answers are the store's (an entry
  // from the store has FirstSeen).
  auto got = a.ask("get:" + launcher_id);
  BOOST_TEST_CONTEXT(got.dump()) {
    BOOST_REQUIRE(got.is_object());
    BOOST_TEST(got["Id"] == launcher_id);
    BOOST_TEST(got.contains("FirstSeen"));
  }
  auto chain = a.ask("callchain:" + payload_id + ":50");
  BOOST_TEST_CONTEXT(chain.dump().substr(0, 3000)) {
    // (Not this test's process above the launcher: in a cache of 30 on a
    // busy machine it may have been evicted before the launcher's fork,
    // which then links to "<pid>-?": parents resolve in the cache only.)
    auto pids = chain_pids(chain);
    BOOST_REQUIRE(pids.size() >= 2u);
    auto n = pids.size();
    BOOST_TEST(pids[n - 1] == payload);
    BOOST_TEST(pids[n - 2] == launcher);
    BOOST_TEST(chain[n - 2].contains("FirstSeen"));
  }
  auto kids = a.ask("children:" + launcher_id);
  BOOST_TEST_CONTEXT(kids.dump().substr(0, 2000)) {
    BOOST_REQUIRE_EQUAL(kids.size(), 1u);
    BOOST_TEST(kids[0]["Id"] == payload_id);
  }
  std::this_thread::sleep_for(1500ms); // stats are polled every 1 s
  auto stats = a.ask("stats");
  BOOST_TEST(counter_of(stats, "HistoryLookups") >= 3);
  BOOST_TEST(a.stop() == 0);
}

// As-of queries through the running agent's socket (docs/history.md
// "Queries"): `pslist@T`, `get:ID@T`, `callchain:PID@T`, `children:ID@T`
// are answered from the agent's store as it stood at T; an agent without
// a history answers them with an error naming history.path.
BOOST_AUTO_TEST_CASE(as_of_queries_through_the_agents_socket) {
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("skipped: the agent needs root");
    return;
  }
  temp_dir dir;
  auto store = (dir.path() / "history.db").string();
  std::string before_id, after_id, parent_id;
  proctrack::timestamp t = 0;
  {
    agent a{dir, store, "asof"};
    BOOST_REQUIRE_MESSAGE(a.wait_ready(), a.err());
    auto seen = [&](pid_t p) {
      json e;
      for (int i = 0; i < 100 && !e.is_object(); ++i) {
        e = a.ask("get:" + std::to_string(p));
        if (!e.is_object())
          std::this_thread::sleep_for(50ms);
      }
      BOOST_REQUIRE_MESSAGE(e.is_object(), "get:" << p << " " << e.dump());
      return e;
    };
    // `before` runs at T and ends after it; `after` starts after T.
    pid_t before = spawn({"/bin/sleep", "3173"});
    auto be = seen(before);
    before_id = be.at("Id").get<std::string>();
    parent_id = be.at("ParentId").get<std::string>();
    std::this_thread::sleep_for(1000ms);
    pid_t after = spawn({"/bin/sleep", "3174"});
    struct reaper {
      pid_t p;
      ~reaper() {
        ::kill(p, SIGKILL);
        waitpid(p, nullptr, 0);
      }
    } kill_after{after};
    auto ae = seen(after);
    after_id = ae.at("Id").get<std::string>();
    std::this_thread::sleep_for(1000ms);
    ::kill(before, SIGKILL);
    waitpid(before, nullptr, 0);
    // T between the two starts on the agent's own clock: a start comes
    // from /proc (ticks since a boot time of whole seconds), not from this
    // test's wall clock.
    auto bs = proctrack::parse_time(be.at("StartTime").get<std::string>());
    auto as = proctrack::parse_time(ae.at("StartTime").get<std::string>());
    BOOST_REQUIRE(bs && as && *as > *bs);
    t = *bs + (*as - *bs) / 2;
    // The end of `before` is in the cache (the live source saw it).
    for (int i = 0; i < 100; ++i) {
      if (a.ask("get:" + before_id)["EndTime"] != zero_time)
        break;
      std::this_thread::sleep_for(50ms);
    }
    auto at = "@" + proctrack::format_time(t);
    auto ids = [](const json &list) {
      std::set<std::string> out;
      for (auto &e : list)
        out.insert(e.at("Id").get<std::string>());
      return out;
    };
    // What was running at T: `before`, not `after`; what runs now is the
    // other way round (the cache's pslist keeps exited ones a while, but
    // `before` has an end now).
    auto then = a.ask("pslist" + at);
    BOOST_TEST_CONTEXT("pslist" << at) {
      BOOST_REQUIRE(then.is_array());
      BOOST_TEST(ids(then).count(before_id) == 1u);
      BOOST_TEST(ids(then).count(after_id) == 0u);
      for (auto &e : then)
        if (e["Id"] == before_id) {
          // As it is stored now: its end (after T) is known.
          BOOST_TEST(e["EndTime"] != zero_time);
          BOOST_TEST(e.contains("FirstSeen")); // the store's shape
        }
    }
    // The process of a pid as of T; one started after T did not exist.
    auto got = a.ask("get:" + std::to_string(before) + at);
    BOOST_TEST(got.value("Id", std::string{}) == before_id, got.dump());
    BOOST_TEST(a.ask("get:" + after_id + at).is_null());
    BOOST_TEST(a.ask("get:" + after_id)["Id"] == after_id); // now: the cache
    // The chain as it stood: `before` under this test's process.
    auto chain = a.ask("callchain:" + before_id + at);
    BOOST_TEST_CONTEXT(chain.dump().substr(0, 2000)) {
      auto pids = chain_pids(chain);
      BOOST_REQUIRE(pids.size() >= 2u);
      BOOST_TEST(pids.back() == std::to_string(before));
      BOOST_TEST(pids[pids.size() - 2] == std::to_string(::getpid()));
    }
    // This test's children as of T: `before`, not `after`.
    auto kids = ids(a.ask("children:" + parent_id + ":10000" + at));
    BOOST_TEST(kids.count(before_id) == 1u);
    BOOST_TEST(kids.count(after_id) == 0u);
    // A bad time is refused by the client, naming it.
    auto bad = proctrack_test::proctrack(
        {"query", "--socket=" + a.socket, "pslist@yesterday"});
    BOOST_TEST(bad.status == 2);
    BOOST_TEST(bad.err.find("bad time after @") != std::string::npos, bad.err);
    BOOST_TEST(a.stop() == 0);
  }
  // An agent without a history: a clear error, exit 2.
  agent none{dir, "", "nohist"};
  BOOST_REQUIRE_MESSAGE(none.wait_ready(), none.err());
  auto q = "pslist@" + proctrack::format_time(t);
  auto r = proctrack_test::proctrack({"query", "--socket=" + none.socket, q});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(r.out.empty(), r.out);
  BOOST_TEST(r.err.find("history.path") != std::string::npos, r.err);
  BOOST_TEST(none.stop() == 0);
}

BOOST_AUTO_TEST_SUITE_END()
