// The live agent against a workload that records its own truth (issue 14):
// tests/workload/live_workload.c makes >= 2,000 processes (forks, execs,
// thread execs, double forks, renames, zombies, same-second pid reuse via
// ns_last_pid, keepers still running) and writes, per process, its pid,
// start ticks, creator (pid + ticks), final image and end state. The agent
// runs meanwhile; its pslist is then compared with the truth, process by
// process (pid + exact start), and the counts are printed. Root only (proc
// connector, ns_last_pid): skipped with a message otherwise.
#include <boost/test/unit_test.hpp>

#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <iostream>
#include <map>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

BOOST_AUTO_TEST_SUITE(live_differential_test)

using nlohmann::json;
using namespace proctrack_test;
using namespace std::chrono_literals;

namespace {

std::string slurp(const std::string &path) {
  std::ifstream in{path};
  return {std::istreambuf_iterator<char>(in), {}};
}

long long boot_time() {
  std::istringstream in{slurp("/proc/stat")};
  std::string key;
  long long v = 0;
  while (in >> key)
    if (key == "btime" && (in >> v))
      return v;
  return 0;
}

// The fraction of an RFC 3339 time in ns ("...:16.05Z" -> 50000000).
long long fraction_ns(const std::string &t) {
  auto dot = t.find('.');
  if (dot == std::string::npos)
    return 0;
  std::string digits;
  for (auto i = dot + 1; i < t.size() && std::isdigit((unsigned char)t[i]); ++i)
    digits += t[i];
  digits.resize(9, '0');
  return std::stoll(digits);
}

struct counts {
  int truth = 0, missing = 0, duplicate = 0, wrong_parent = 0, wrong_end = 0,
      wrong_image = 0, unknown_image = 0, estimated_start = 0,
      next_holder_image = 0;
};

// Runs the workload under an agent reading its kernel events from `source`
// (live.source) and checks the agent's pslist against the truth.
void check_against_truth(const std::string &source) {
  if (::geteuid() != 0) {
    std::cout << "live_differential_test: not root (the agent needs the proc "
                 "connector, the workload ns_last_pid): skipped\n";
    return;
  }
  if (::access("/proc/sys/kernel/ns_last_pid", W_OK) != 0) {
    std::cout << "live_differential_test: no writable ns_last_pid: skipped\n";
    return;
  }
  const char *wl = std::getenv("PROCTRACK_WORKLOAD");
  BOOST_REQUIRE_MESSAGE(wl != nullptr, "PROCTRACK_WORKLOAD is not set");
  temp_dir dir;
  auto out_path = (dir.path() / "out.jsonl").string();
  auto err_path = (dir.path() / "err.log").string();
  auto truth_path = (dir.path() / "truth.jsonl").string();
  pid_t agent = ::fork();
  if (agent == 0) {
    int o = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(o, 1);
    ::dup2(e, 2);
    exec_or_exit({binary(), "run", "--query.port=0", "--allow-insecure=true",
                  "--query.socket=", "--stats.interval=1s",
                  "--tracker.sync-period=2s", "--live.source=" + source});
  }
  int port = 0;
  for (int i = 0; i < 200 && port == 0; ++i) {
    auto e = slurp(err_path);
    auto at = e.find("ready: query endpoint ");
    if (at != std::string::npos) {
      auto line = e.substr(at, e.find('\n', at) - at);
      port = std::stoi(line.substr(line.rfind(':') + 1));
    } else {
      std::this_thread::sleep_for(50ms);
    }
  }
  if (port == 0) {
    ::kill(agent, SIGKILL);
    ::waitpid(agent, nullptr, 0);
    auto e = slurp(err_path);
    if (source == "proc-connector"
        && e.find("proc connector") != std::string::npos) {
      std::cout << "live_differential_test: no proc connector: skipped\n" << e;
      return;
    }
    // Not built (no libbpf/bpftool/BTF at build time) or not loadable here
    // (no BTF, no bpf() for us): the proc connector case still runs.
    if (source == "ebpf"
        && (e.find("not built in") != std::string::npos
            || e.find("cannot load the eBPF source") != std::string::npos)) {
      std::cout << "live_differential_test: eBPF source unavailable: "
                   "skipped\n"
                << e;
      return;
    }
    BOOST_FAIL("the agent did not become ready:\n" << e);
  }
  auto t0 = std::chrono::steady_clock::now();
  auto wr = run(wl, {truth_path, "2100"});
  BOOST_TEST_MESSAGE(wr.err);
  BOOST_REQUIRE_EQUAL(wr.status, 0);
  auto workload_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  // The agent holds an undecided leader exit up to 1 s and polls every
  // 100 ms: let it catch up.
  std::this_thread::sleep_for(2500ms);
  auto q = proctrack(
      {"query", "--connect=127.0.0.1:" + std::to_string(port), "pslist"});
  auto stats = proctrack(
      {"query", "--connect=127.0.0.1:" + std::to_string(port), "stats"});
  // Truth: one line per process, in the order they were made. Two
  // processes may share pid AND start ticks (a pid reused within one clock
  // tick): the agent must show both, the first as "<pid>-<s>", the next as
  // "<pid>-<s>.1", ... (docs/semantics.md).
  std::map<std::pair<long long, long long>, std::vector<json>> truth;
  std::vector<int> keepers;
  {
    std::istringstream in{slurp(truth_path)};
    std::string line;
    while (std::getline(in, line))
      if (!line.empty()) {
        auto j = json::parse(line);
        truth[{j["pid"].get<long long>(), j["ticks"].get<long long>()}]
            .push_back(j);
        if (j["end"] == "running")
          keepers.push_back(j["pid"].get<int>());
      }
  }
  for (int k : keepers)
    ::kill(k, SIGKILL);
  ::kill(agent, SIGINT);
  ::waitpid(agent, nullptr, 0);
  BOOST_REQUIRE_EQUAL(q.status, 0);
  auto list = results(q, {"pslist"}).at(0);
  const long long btime = boot_time();
  const long long hz = ::sysconf(_SC_CLK_TCK);
  // Entries by pid + exact start.
  std::map<std::pair<long long, long long>, std::vector<const json *>> by_key;
  for (auto &e : list) {
    auto id = e.value("Id", std::string{});
    auto dash = id.rfind('-');
    if (dash == std::string::npos)
      continue;
    long long pid = std::atoll(id.substr(0, dash).c_str());
    long long sec = std::atoll(id.substr(dash + 1).c_str());
    long long ns = (sec - btime) * 1'000'000'000LL
                   + fraction_ns(e.value("StartTime", std::string{}));
    // back to ticks: exact for times computed from ticks
    long long ticks = (ns * hz + 500'000'000LL) / 1'000'000'000LL;
    by_key[{pid, ticks}].push_back(&e);
  }
  // Same pid and start: in id order ("<pid>-<s>" first, then ".1", ...).
  auto suffix = [](const json *e) {
    auto id = e->value("Id", std::string{});
    auto dot = id.rfind('.');
    return dot == std::string::npos ? 0 : std::atoi(id.c_str() + dot + 1);
  };
  for (auto &[k, v] : by_key)
    std::sort(v.begin(), v.end(), [&](const json *a, const json *b) {
      return suffix(a) < suffix(b);
    });
  // The id of the n-th process with this pid and start.
  auto id_of = [&](long long pid, long long ticks,
                   std::size_t n = 0) -> std::string {
    auto it = by_key.find({pid, ticks});
    if (it == by_key.end() || it->second.size() <= n)
      return {};
    return (*it->second[n])["Id"];
  };
  counts c;
  std::ostringstream details;
  int shown = 0;
  auto note = [&](const std::string &what, const json &t, const json *e) {
    if (shown++ < 15)
      details << what << ": truth " << t.dump() << "\n  entry "
              << (e ? e->dump() : std::string{"none"}) << "\n";
  };
  for (auto &[key, ts] : truth) {
    auto it = by_key.find(key);
    std::size_t have = it == by_key.end() ? 0 : it->second.size();
    if (have > ts.size()) {
      c.duplicate += static_cast<int>(have - ts.size());
      note("duplicate", ts[0], it->second[0]);
    }
    for (std::size_t n = 0; n < ts.size(); ++n) {
      auto &t = ts[n];
      ++c.truth;
      const json *ep = n < have ? it->second[n] : nullptr;
      if (ep == nullptr) {
        // Gone before /proc was read: its start is the fork event's time on
        // the tick grid, marked StartEstimated, at most one tick late.
        auto late = by_key.find({key.first, key.second + 1});
        if (late != by_key.end() && !truth.count(late->first))
          for (auto *e : late->second)
            if (e->at("Data").value("StartEstimated", false)) {
              ep = e;
              ++c.estimated_start;
              break;
            }
      }
      if (ep == nullptr) {
        ++c.missing;
        note("missing", t, nullptr);
        continue;
      }
      auto &e = *ep;
      // A creator that shares its pid and start with another process is
      // taken as the first of them (the workload's creators are unique).
      auto parent =
          id_of(t["ppid"].get<long long>(), t["pticks"].get<long long>());
      // ParentId is the creator's entry and Data.Ppid the creator's pid,
      // also after the creator died and a reaper took the child.
      if (parent.empty() || e.value("ParentId", std::string{}) != parent
          || e["Data"].value("Ppid", -1LL) != t["ppid"].get<long long>()) {
        ++c.wrong_parent;
        note("wrong parent (want " + parent + ")", t, &e);
      }
      bool running =
          e.value("EndTime", std::string{}) == "0001-01-01T00:00:00Z";
      if (running != (t["end"] == "running")) {
        ++c.wrong_end;
        note("wrong end", t, &e);
      }
      auto &d = e["Data"];
      bool wrong = false, unknown = false;
      for (auto [tk, dk] :
           {std::pair<const char *, const char *>{"name", "Name"},
            {"exe", "Exe"},
            {"cmdline", "CommandLine"}}) {
        if (!d.contains(dk) || d[dk].is_null())
          unknown = true;
        else if (d[dk] != t[tk])
          wrong = true;
      }
      // docs/agent.md, limits: the pid's next holder, started within the
      // next clock tick (the workload's ns_last_pid rounds), can have its
      // /proc image read for this one when this one's exit event comes in
      // a later batch than that read. The proc connector only: eBPF events
      // carry their image.
      auto next_holder_image = [&] {
        for (long long dt : {0LL, 1LL}) {
          auto u = truth.find({key.first, key.second + dt});
          if (u == truth.end())
            continue;
          for (auto &o : u->second)
            if (&o != &t && d.value("Name", json{}) == o["name"]
                && d.value("Exe", json{}) == o["exe"]
                && d.value("CommandLine", json{}) == o["cmdline"])
              return true;
        }
        return false;
      };
      if (wrong && source != "ebpf" && next_holder_image()) {
        ++c.next_holder_image;
        note("the pid's next holder's image (same-tick reuse, docs/agent.md)",
             t, &e);
      } else if (wrong) {
        ++c.wrong_image;
        note("wrong image", t, &e);
      } else if (unknown) {
        ++c.unknown_image;
        note("unknown image", t, &e);
      }
    }
  }
  std::cout << "live_differential_test (" << source << "): " << c.truth
            << " processes (workload " << workload_s << " s): " << c.missing
            << " missing, " << c.duplicate << " duplicate, " << c.wrong_parent
            << " wrong parent, " << c.wrong_end << " wrong end state, "
            << c.wrong_image << " wrong image, " << c.next_holder_image
            << " with the pid's next holder's image, " << c.unknown_image
            << " unknown image (" << c.estimated_start
            << " gone before /proc was read: matched one tick late, "
               "StartEstimated)\n"
            << details.str();
  if (stats.status == 0)
    std::cout << "agent stats: " << stats.out.substr(0, 3000) << "\n";
  BOOST_TEST(c.truth >= 2000);
  BOOST_TEST(c.missing == 0);
  BOOST_TEST(c.duplicate == 0);
  BOOST_TEST(c.wrong_parent == 0);
  BOOST_TEST(c.wrong_end == 0);
  BOOST_TEST(c.wrong_image == 0);
  // The documented same-tick limit, a few of the workload's reuse rounds
  // at most.
  BOOST_TEST(c.next_holder_image <= 5);
  if (source == "ebpf") {
    // The image comes with each event: never unknown.
    BOOST_TEST(c.unknown_image == 0);
  } else {
    // An image is unknown (null, never wrong) only when the agent read /proc
    // after the process had gone: under CPU starvation it falls behind the
    // workload (its children live 100-400 ms). The agent must have said so.
    long long unread = -1;
    if (stats.status == 0) {
      auto st = results(stats, {"stats"}).at(0);
      unread =
          st.value("UnreadExecImages", 0LL) + st.value("ForeignProcReads", 0LL);
    }
    BOOST_TEST(c.unknown_image <= unread);
  }
  if (stats.status == 0) {
    // The source the agent says it used is the one asked for.
    auto want = std::string{"\"EbpfSource\":"} + (source == "ebpf" ? "1" : "0");
    BOOST_TEST(stats.out.find(want) != std::string::npos, want);
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(agent_matches_the_workloads_truth) {
  check_against_truth("proc-connector");
}

// The same workload and assertions with the eBPF source: the image, user and
// exact start come with each event instead of from /proc.
BOOST_AUTO_TEST_CASE(ebpf_agent_matches_the_workloads_truth) {
  check_against_truth("ebpf");
}

BOOST_AUTO_TEST_SUITE_END()
