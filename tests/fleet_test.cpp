// Fleet end to end (issue 7), in separate processes on loopback: a
// `proctrack collector` and forwarding `proctrack replay`s of different
// update files. The collector's answer about each host must equal what the
// host's own replay answers, also after the collector was killed and
// restarted mid-stream; with TLS, a forwarder with a stranger's certificate
// is refused.
#include <boost/test/unit_test.hpp>

#include "actors/cache/query_parser.hpp"
#include "actors/collector/collector.hpp"
#include "messages/actors.hpp"
#include "support/run_binary.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <future>
#include <map>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <thread>

BOOST_AUTO_TEST_SUITE(fleet_test)

using namespace proctrack_test;
using nlohmann::json;

namespace {

// A background `proctrack` process, killed when it goes out of scope.
class child {
public:
  explicit child(const std::vector<std::string> &args) {
    int out[2];
    if (pipe(out) != 0)
      throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      int devnull = open("/dev/null", O_RDWR);
      dup2(devnull, 0);
      close(out[0]);
      close(out[1]);
      std::vector<std::string> argv{binary()};
      argv.insert(argv.end(), args.begin(), args.end());
      exec_or_exit(argv);
    }
    close(out[1]);
    out_ = out[0];
  }
  ~child() {
    kill9();
    close(out_);
  }
  void kill9() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int st;
      waitpid(pid_, &st, 0);
      pid_ = -1;
    }
  }
  /// The first stdout line, within `timeout` (empty when none).
  std::string first_line(std::chrono::seconds timeout) {
    return read_line(out_, timeout);
  }

private:
  pid_t pid_ = -1;
  int out_ = -1;
};

// A background `proctrack replay -` whose standard input the test writes
// piece by piece, so it can act at a known point of the stream (the replay
// cannot finish before its input is closed). Its stdout and stderr go to
// files, so a chatty replay never blocks on a full pipe.
class fed_replay {
public:
  fed_replay(const temp_dir &d, const std::string &name,
             const std::vector<std::string> &flags)
      : out_path_{(d.path() / (name + ".out")).string()},
        err_path_{(d.path() / (name + ".err")).string()} {
    // Close-on-exec: a replay started later must not hold this one's
    // stdin open, or it would never see the end of its input.
    int in[2];
    if (pipe2(in, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(in[0], 0);
      close(in[0]);
      close(in[1]);
      int out = open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int err = open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(out, 1);
      dup2(err, 2);
      std::vector<std::string> argv{binary(), "replay", "--format=updates",
                                    "-"};
      argv.insert(argv.end(), flags.begin(), flags.end());
      exec_or_exit(argv);
    }
    close(in[0]);
    in_ = in[1];
    signal(SIGPIPE, SIG_IGN);
    fcntl(in_, F_SETFL, fcntl(in_, F_GETFL) | O_NONBLOCK);
  }
  ~fed_replay() {
    close_input();
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int st;
      waitpid(pid_, &st, 0);
    }
  }
  /// Writes `text` to the replay's stdin; false when it took it not all
  /// within `timeout` (the replay stalled or died).
  bool feed(const std::string &text, std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::size_t done = 0;
    while (done < text.size()) {
      if (std::chrono::steady_clock::now() > deadline)
        return false;
      pollfd p{in_, POLLOUT, 0};
      if (poll(&p, 1, 100) <= 0)
        continue;
      auto w = write(in_, text.data() + done, text.size() - done);
      if (w > 0)
        done += static_cast<std::size_t>(w);
      else if (errno != EAGAIN && errno != EINTR)
        return false;
    }
    return true;
  }
  void close_input() {
    if (in_ >= 0)
      close(in_);
    in_ = -1;
  }
  /// The exit code once it exited within `timeout`, else -1.
  int wait(std::chrono::seconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0 && std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }
  std::string err() const {
    std::ifstream f{err_path_};
    return {std::istreambuf_iterator<char>{f}, {}};
  }

private:
  std::string out_path_, err_path_;
  pid_t pid_ = -1;
  int in_ = -1;
};

// The delivery summary a forwarding replay logs on success ("forward: N
// updates acked by HOST:PORT, S full syncs sent, D updates dropped ...").
struct forward_summary {
  long long full_syncs = 0, dropped = 0;
};
std::optional<forward_summary> read_forward_summary(const std::string &err) {
  std::smatch m;
  if (!std::regex_search(err, m,
                         std::regex{"(\\d+) full syncs sent, (\\d+) updates "
                                    "dropped while it was away or behind"}))
    return std::nullopt;
  return forward_summary{std::stoll(m[1]), std::stoll(m[2])};
}

// Starts a collector; returns its port (0 on failure).
std::uint16_t start_collector(std::unique_ptr<child> &c,
                              std::vector<std::string> flags = {}) {
  // No TLS: allow-insecure on loopback (tests, demos; fleet_tls_test has
  // the real set-up).
  std::vector<std::string> args{"collector", "--log.level=warn",
                                "--allow-insecure=true"};
  args.insert(args.end(), flags.begin(), flags.end());
  c = std::make_unique<child>(args);
  auto line = c->first_line(std::chrono::seconds(20));
  if (line.empty())
    return 0;
  auto j = json::parse(line);
  auto addr = j.at("listening").get<std::string>();
  return static_cast<std::uint16_t>(
      std::stoi(addr.substr(addr.rfind(':') + 1)));
}

// Seeded update rows: starts (with pid reuse and random parents) and exits.
std::string make_updates(unsigned seed, int n) {
  std::mt19937 rng{seed};
  std::vector<int> running{4};
  std::string out;
  long long t = 1609459200;
  for (int i = 0; i < n; ++i) {
    t += 1 + static_cast<long long>(rng() % 3);
    if (running.size() > 3 && rng() % 3 == 0) {
      auto k = rng() % running.size();
      out += "{\"update_type\":\"exit\",\"id\":" + std::to_string(running[k])
             + ",\"end_time\":" + std::to_string(t) + "}\n";
      running.erase(running.begin() + static_cast<long>(k));
      continue;
    }
    int pid = 100 + static_cast<int>(rng() % 400);
    int parent = running[rng() % running.size()];
    out += "{\"update_type\":\"start\",\"id\":" + std::to_string(pid)
           + ",\"parent_id\":" + std::to_string(parent)
           + ",\"start_time\":" + std::to_string(t) + ",\"data\":{\"Name\":\"p"
           + std::to_string(seed) + "_" + std::to_string(i)
           + ".exe\",\"CommandLine\":\"x " + std::to_string(rng() % 1000)
           + "\"}}\n";
    running.push_back(pid);
  }
  return out;
}

// Our side of the wire: a CAF client of the collector.
struct client {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  proctrack::collector_actor collector;

  explicit client(std::uint16_t port) {
    proctrack::add_message_types(cfg);
    cfg.load<caf::io::middleman>();
    sys = std::make_unique<caf::actor_system>(cfg);
    auto h = sys->middleman().remote_actor<proctrack::collector_actor>(
        "127.0.0.1", port);
    if (!h)
      throw std::runtime_error("cannot reach the collector: "
                               + sys->render(h.error()));
    collector = *h;
  }
  json ask(const std::string &host, const std::string &q) {
    std::string err;
    auto parsed = proctrack::parse_query(q, err);
    if (!parsed)
      throw std::runtime_error(err);
    caf::scoped_actor self{*sys};
    json out;
    self->request(collector, std::chrono::seconds(20), host, *parsed)
        .receive([&](std::string &r) { out = json::parse(r); },
                 [&](caf::error &e) {
                   throw std::runtime_error(host + " " + q + ": "
                                            + sys->render(e));
                 });
    return out;
  }
  json hosts() {
    caf::scoped_actor self{*sys};
    json out;
    self->request(collector, std::chrono::seconds(20), proctrack::atom::hosts_v)
        .receive(
            [&](std::string &r) { out = json::parse(r); },
            [&](caf::error &e) { throw std::runtime_error(sys->render(e)); });
    return out;
  }
};

// Every query worth asking of a replay: pslist, and get, callchain,
// children and tree of every process.
std::vector<std::string> queries_for(const std::string &file,
                                     const std::vector<std::string> &flags) {
  auto r = replay(file, {"pslist"}, flags);
  std::vector<std::string> qs{"pslist"};
  for (auto &id : ids(r[0]))
    for (auto v : {"get:", "callchain:", "children:", "tree:"})
      qs.push_back(v + id);
  return qs;
}

void expect_mirror(client &c, const std::string &host, const std::string &file,
                   const std::vector<std::string> &flags = {}) {
  auto qs = queries_for(file, flags);
  auto own = replay(file, qs, flags);
  BOOST_TEST_MESSAGE(host << ": comparing " << qs.size() << " answers");
  for (std::size_t i = 0; i < qs.size(); ++i) {
    auto theirs = c.ask(host, qs[i]);
    BOOST_CHECK_MESSAGE(theirs == own[i],
                        host << " " << qs[i]
                             << "\ncollector: " << theirs.dump().substr(0, 400)
                             << "\nown: " << own[i].dump().substr(0, 400));
    if (theirs != own[i])
      break;
  }
}

} // namespace

BOOST_AUTO_TEST_CASE(three_hosts_mirror_their_replays) {
  temp_dir d;
  std::unique_ptr<child> coll;
  auto port = start_collector(coll, {"--listen.port=0"});
  BOOST_REQUIRE(port != 0);
  std::vector<std::string> files{
      std::string{std::getenv("PROCTRACK_SOURCE")}
          + "/examples/updates/velociraptor_scenario.jsonl",
      d.write("b.jsonl", make_updates(2, 3000)),
      d.write("c.jsonl", make_updates(3, 800))};
  std::vector<std::future<run_result>> runs;
  for (std::size_t i = 0; i < files.size(); ++i)
    runs.push_back(std::async(std::launch::async, [&, i] {
      return run(binary(),
                 {"replay", files[i], "--query=stats",
                  "--forward.connect=127.0.0.1:" + std::to_string(port),
                  "--agent.host-name=host" + std::to_string(i),
                  "--forward.timeout=30s", "--tracker.max-size=500"},
                 {}, std::chrono::seconds(60));
    }));
  for (auto &f : runs) {
    auto r = f.get();
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
  }
  client c{port};
  auto hosts = c.hosts();
  BOOST_REQUIRE_EQUAL(hosts.size(), 3u);
  for (std::size_t i = 0; i < files.size(); ++i) {
    auto host = "host" + std::to_string(i);
    BOOST_TEST(hosts[i].at("Host") == host);
    BOOST_TEST(hosts[i].at("Stats").is_object());
  }
  // Answers equal each replay's own (same flags: max-size 500).
  for (std::size_t i = 0; i < files.size(); ++i)
    expect_mirror(c, "host" + std::to_string(i), files[i],
                  {"--tracker.max-size=500"});
  // A host the collector does not know is an error, not an empty answer.
  BOOST_CHECK_THROW(c.ask("nosuchhost", "pslist"), std::runtime_error);
  // The command line: `proctrack query --host=NAME Q` and `hosts`.
  auto connect = "--connect=127.0.0.1:" + std::to_string(port);
  auto cli = run(binary(), {"query", connect, "--host=host0", "callchain:3"});
  BOOST_REQUIRE_MESSAGE(cli.status == 0, cli.err);
  BOOST_TEST(
      results(cli, {"callchain:3"}).at(0)
      == replay(files[0], {"callchain:3"}, {"--tracker.max-size=500"})[0]);
  auto hl = run(binary(), {"query", connect, "hosts"});
  BOOST_REQUIRE_MESSAGE(hl.status == 0, hl.err);
  BOOST_TEST(results(hl, {"hosts"}).at(0).size() == 3u);
  auto unknown =
      run(binary(), {"query", connect, "--host=nosuchhost", "get:1"});
  BOOST_TEST(unknown.status == 2);
}

// Answers of a history store without what differs between two stores of
// the same processes: when each wrote a row, and the host's name.
json without_store_fields(json j) {
  if (j.is_array())
    for (auto &e : j)
      e = without_store_fields(std::move(e));
  else if (j.is_object())
    for (auto k : {"FirstSeen", "LastSeen", "Host"})
      j.erase(k);
  return j;
}

// Issue 17 item 4: a collector with a history keeps every process of each
// host in one store, under the host's name: the same processes, links,
// times and Data as each host's own history (each replay writes one too),
// though each mirror holds 200 processes. The collector answers as of a
// time and completes from the store what a mirror evicted. Killed and
// started again (the replays have ended: no mirrors), it still answers a
// host's exited, evicted processes; a host that forwards again gets a new
// mirror, and its old processes are still answered.
BOOST_AUTO_TEST_CASE(collector_keeps_each_hosts_history) {
  temp_dir d;
  auto store = (d.path() / "fleet.db").string();
  std::vector<std::string> with_history{"--history.path=" + store,
                                        "--history.flush-interval=100ms",
                                        "--listen.port=0"};
  std::unique_ptr<child> coll;
  auto port = start_collector(coll, with_history);
  BOOST_REQUIRE(port != 0);
  struct host {
    std::string name, file, own;
  };
  std::vector<host> hosts{
      {"alpha", d.write("alpha.jsonl", make_updates(31, 3000)),
       (d.path() / "alpha.db").string()},
      {"beta", d.write("beta.jsonl", make_updates(32, 2000)),
       (d.path() / "beta.db").string()}};
  std::vector<std::future<run_result>> runs;
  for (auto &h : hosts)
    runs.push_back(std::async(std::launch::async, [h, port] {
      return run(binary(),
                 {"replay", h.file, "--history=" + h.own,
                  "--tracker.max-size=200",
                  "--forward.connect=127.0.0.1:" + std::to_string(port),
                  "--agent.host-name=" + h.name, "--forward.timeout=60s"},
                 {}, std::chrono::seconds(120));
    }));
  for (auto &f : runs) {
    auto r = f.get();
    BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
  }
  auto from_file = [](const std::string &file, const std::string &q) {
    auto r = run(binary(), {"query", "--history=" + file, q});
    if (r.status != 0)
      throw std::runtime_error(q + " of " + file + ": " + r.err);
    return without_store_fields(results(r, {q}).at(0));
  };
  auto from_collector = [&port](const std::string &host, const std::string &q) {
    auto r =
        run(binary(), {"query", "--connect=127.0.0.1:" + std::to_string(port),
                       "--host=" + host, q});
    if (r.status != 0)
      throw std::runtime_error(q + " of " + host + ": " + r.err);
    return without_store_fields(results(r, {q}).at(0));
  };
  auto same = [](const json &a, const json &b, const std::string &what) {
    BOOST_CHECK_MESSAGE(a == b,
                        what << "\ncollector: " << a.dump().substr(0, 600)
                             << "\nhost's own: " << b.dump().substr(0, 600));
  };
  const std::vector<std::string> times{"2021-01-01T00:30:00Z",
                                       "2021-01-01T01:00:00Z"};
  // An as-of query makes the history write what is pending first.
  from_collector("alpha", "pslist@" + times[0]);
  // Per host: an exited process the mirror evicted, and the newest one.
  std::map<std::string, std::pair<std::string, std::string>> picked;
  std::size_t stored = 0;
  for (auto &h : hosts) {
    auto all = from_file(store, "pslist:" + h.name);
    stored += all.size();
    auto own = from_file(h.own, "pslist");
    BOOST_TEST_MESSAGE(h.name << ": " << all.size() << " processes stored");
    BOOST_TEST(all.size() > 1000u); // more than the mirror's 200
    same(all, own, h.name + ": the store's processes");
    auto mirror = from_collector(h.name, "pslist");
    BOOST_TEST(mirror.size() <= 200u);
    std::set<std::string> mirrored;
    for (auto &e : mirror)
      mirrored.insert(e.at("Id").get<std::string>());
    std::string evicted;
    for (auto &e : own)
      if (e.at("EndTime") != zero_time
          && mirrored.count(e.at("Id").get<std::string>()) == 0) {
        evicted = e.at("Id").get<std::string>();
        break;
      }
    BOOST_REQUIRE(!evicted.empty());
    picked[h.name] = {evicted, own.back().at("Id").get<std::string>()};
    // As of a time, through the collector: the host's own store's answer.
    for (auto &t : times) {
      same(from_collector(h.name, "pslist@" + t),
           from_file(h.own, "pslist@" + t), h.name + " pslist@" + t);
      same(from_collector(h.name, "callchain:" + evicted + "@" + t),
           from_file(h.own, "callchain:" + evicted + "@" + t),
           h.name + " callchain:" + evicted + "@" + t);
    }
    // About now: what the mirror evicted comes from the store.
    same(from_collector(h.name, "get:" + evicted),
         from_file(h.own, "get:" + evicted), h.name + " get:" + evicted);
    auto newest = picked[h.name].second;
    BOOST_TEST(ids(from_collector(h.name, "callchain:" + newest))
                   == ids(from_file(h.own, "callchain:" + newest)),
               h.name << " callchain:" << newest);
    // The store file, without a collector: HOST/ID.
    same(from_file(store, "get:" + h.name + "/" + evicted),
         from_file(h.own, "get:" + evicted), "--history get:HOST/ID");
  }
  auto stats =
      run(binary(), {"query", "--connect=127.0.0.1:" + std::to_string(port),
                     "collector-stats"});
  BOOST_REQUIRE_MESSAGE(stats.status == 0, stats.err);
  // Every process stored was written (at least once).
  BOOST_TEST(counter_of(results(stats, {"collector-stats"}).at(0),
                        "HistoryRowsWritten")
             >= static_cast<long long>(stored));

  // The collector is killed and started again on the same store.
  coll->kill9();
  port = start_collector(coll, with_history);
  BOOST_REQUIRE(port != 0);
  {
    client c{port};
    BOOST_TEST(c.hosts().empty());
  }
  for (auto &h : hosts) {
    auto evicted = picked[h.name].first;
    same(from_collector(h.name, "get:" + evicted),
         from_file(h.own, "get:" + evicted),
         h.name + " get:" + evicted + " after the restart");
    same(from_collector(h.name, "pslist@" + times[1]),
         from_file(h.own, "pslist@" + times[1]),
         h.name + " pslist@ after the restart");
  }
  // What only a mirror answers (pslist now) says the host is not mirrored.
  auto now =
      run(binary(), {"query", "--connect=127.0.0.1:" + std::to_string(port),
                     "--host=beta", "pslist"});
  BOOST_TEST(now.status == 2);
  BOOST_TEST(now.err.find("not mirrored") != std::string::npos, now.err);
  // alpha forwards again (a new session, a snapshot): a new mirror.
  std::string again;
  for (int i = 0; i < 5; ++i)
    again +=
        "{\"update_type\":\"start\",\"id\":" + std::to_string(1000 + i)
        + ",\"parent_id\":1,\"start_time\":" + std::to_string(1700000000 + i)
        + ",\"data\":{\"Name\":\"again.exe\"}}\n";
  auto r = run(binary(),
               {"replay", d.write("again.jsonl", again),
                "--forward.connect=127.0.0.1:" + std::to_string(port),
                "--agent.host-name=alpha", "--forward.timeout=60s"},
               {}, std::chrono::seconds(60));
  BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
  BOOST_TEST(from_collector("alpha", "pslist").size() == 5u);
  auto evicted = picked["alpha"].first;
  same(from_collector("alpha", "get:" + evicted),
       from_file(hosts[0].own, "get:" + evicted),
       "alpha get:" + evicted + " with a new mirror");
}

// Three hosts forward to a collector that dies mid-stream (each host has
// evicted processes by then: 20,000 updates into a 2,000-process table)
// and comes back on the same port while the hosts keep working. Each
// replay reads its stream from stdin in three parts: the collector is
// killed after the first part has reached it, the second part is applied
// while it is down (more than forward.buffer holds, so updates are
// dropped), and it is restarted before the last. Every forwarder
// reconnects and sends its table's exact state, so the new mirrors answer
// every query as the hosts do, including the parents and children the
// hosts have evicted since.
BOOST_AUTO_TEST_CASE(collector_restart_mid_stream_resyncs) {
  temp_dir d;
  std::unique_ptr<child> coll;
  auto port = start_collector(coll, {"--listen.port=0"});
  BOOST_REQUIRE(port != 0);
  const std::vector<std::string> table{"--tracker.max-size=2000"};
  struct host {
    std::string name, file;
    std::vector<std::string> parts;
    std::unique_ptr<fed_replay> replay;
  };
  std::vector<host> hosts(3);
  for (std::size_t i = 0; i < hosts.size(); ++i) {
    auto &h = hosts[i];
    h.name = "restarted" + std::to_string(i);
    auto text = make_updates(7 + static_cast<unsigned>(i), 20000);
    h.file = d.write(h.name + ".jsonl", text);
    // Three parts, cut at line ends.
    std::size_t a = text.find('\n', text.size() / 3) + 1;
    std::size_t b = text.find('\n', 2 * text.size() / 3) + 1;
    h.parts = {text.substr(0, a), text.substr(a, b - a), text.substr(b)};
    auto flags = table;
    for (auto f :
         {"--query=stats", "--ingest.batch-size=16", "--ingest.max-in-flight=1",
          "--forward.timeout=60s", "--forward.buffer=500", "--log.level=info"})
      flags.push_back(f);
    flags.push_back("--forward.connect=127.0.0.1:" + std::to_string(port));
    flags.push_back("--agent.host-name=" + h.name);
    h.replay = std::make_unique<fed_replay>(d, h.name, flags);
  }
  for (auto &h : hosts)
    BOOST_REQUIRE_MESSAGE(h.replay->feed(h.parts[0], std::chrono::seconds(60)),
                          h.name << " stalled: " << h.replay->err());
  // Kill the collector once every host's first part has reached it.
  {
    client c{port};
    bool seen = false;
    for (int i = 0; i < 3000 && !seen; ++i) {
      auto hl = c.hosts();
      seen = hl.size() == hosts.size();
      // Half the first part's rows: the rest may still be in flight.
      for (std::size_t k = 0; seen && k < hl.size(); ++k)
        seen = hl[k].at("Updates").get<long long>()
               >= std::count(hosts[k].parts[0].begin(), hosts[k].parts[0].end(),
                             '\n')
                      / 2;
      if (!seen)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    BOOST_REQUIRE_MESSAGE(seen, "the collector never saw the streams");
  }
  coll->kill9();
  // The hosts keep working while nobody listens.
  for (auto &h : hosts)
    BOOST_REQUIRE_MESSAGE(h.replay->feed(h.parts[1], std::chrono::seconds(60)),
                          h.name << " stalled without its collector: "
                                 << h.replay->err());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::unique_ptr<child> coll2;
  std::uint16_t port2 = 0;
  for (int i = 0; i < 50 && port2 == 0; ++i) {
    port2 = start_collector(coll2, {"--listen.port=" + std::to_string(port)});
    if (port2 == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  BOOST_REQUIRE_EQUAL(port2, port);
  for (auto &h : hosts) {
    BOOST_REQUIRE_MESSAGE(h.replay->feed(h.parts[2], std::chrono::seconds(60)),
                          h.name << " stalled: " << h.replay->err());
    h.replay->close_input();
  }
  for (auto &h : hosts) {
    auto status = h.replay->wait(std::chrono::seconds(120));
    auto err = h.replay->err();
    BOOST_REQUIRE_MESSAGE(status == 0, h.name << ": " << status << "\n" << err);
    // The replay says what reconnecting cost: a second full sync, and the
    // updates the bounded buffer could not keep.
    auto sum = read_forward_summary(err);
    BOOST_REQUIRE_MESSAGE(sum, h.name << ": no forward summary in\n" << err);
    BOOST_TEST_MESSAGE(h.name << ": " << sum->full_syncs << " full syncs, "
                              << sum->dropped << " dropped");
    BOOST_TEST(sum->full_syncs >= 2, h.name << " never resynced");
    BOOST_TEST(sum->dropped > 0, h.name << " lost nothing: the buffer "
                                           "was not tested");
  }
  client c{port};
  auto hl = c.hosts();
  BOOST_REQUIRE_EQUAL(hl.size(), hosts.size());
  for (auto &e : hl)
    BOOST_TEST(e.at("Snapshots").get<long long>() >= 1);
  // Each restarted collector's mirror equals its host's own table.
  for (auto &h : hosts)
    expect_mirror(c, h.name, h.file, table);
}

// A replay has no deadline, so it waits for a collector that is slower
// than it rather than dropping: with a buffer a quarter of the stream
// (and larger than the 4 x 1024 updates the replay may have in flight),
// every update arrives, after one full sync only.
BOOST_AUTO_TEST_CASE(forwarding_replay_waits_for_a_slow_collector) {
  temp_dir d;
  std::unique_ptr<child> coll;
  auto port = start_collector(coll, {"--listen.port=0"});
  BOOST_REQUIRE(port != 0);
  auto file = d.write("paced.jsonl", make_updates(11, 20000));
  auto r = run(binary(),
               {"replay", file, "--query=stats", "--log.level=info",
                "--forward.buffer=5000", "--forward.timeout=60s",
                "--forward.connect=127.0.0.1:" + std::to_string(port),
                "--agent.host-name=paced"},
               {}, std::chrono::seconds(120));
  BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
  auto sum = read_forward_summary(r.err);
  BOOST_REQUIRE_MESSAGE(sum, "no forward summary in\n" << r.err);
  BOOST_TEST_MESSAGE(sum->full_syncs << " full syncs, " << sum->dropped
                                     << " dropped");
  BOOST_TEST(sum->full_syncs == 1);
  BOOST_TEST(sum->dropped == 0);
  auto stats = results(r, {"stats"}).at(0);
  BOOST_TEST_MESSAGE(
      "batches that waited: " << stats.value("BatchesPacedByForwarder", 0));
  client c{port};
  auto hosts = c.hosts();
  BOOST_REQUIRE_EQUAL(hosts.size(), 1u);
  BOOST_TEST(hosts[0].at("Updates").get<long long>() == 20000);
  expect_mirror(c, "paced", file);
}

// Enrichment reaches the collector too: the version information the host's
// enricher merged (from a result it remembered, or when the enricher
// answered later) travels in the stream, so an enriched host's mirror
// answers with the same VersionInformation.
BOOST_AUTO_TEST_CASE(enrichments_reach_the_mirror) {
  temp_dir d;
  std::unique_ptr<child> coll;
  auto port = start_collector(coll, {"--listen.port=0"});
  BOOST_REQUIRE(port != 0);
  const char *files[] = {"basic64.exe",   "unicode.exe",   "basic32.exe",
                         "multilang.exe", "fixture64.dll", "basic64.exe",
                         "nostrings.exe", "longvals.exe",  "unicode.exe"};
  std::string events;
  int pid = 200;
  for (auto f : files) {
    char guid[64];
    std::snprintf(guid, sizeof guid, "{e2c04bb9-0000-0000-0000-%012d}", pid);
    json e{{"SourceName", "Microsoft-Windows-Sysmon"},
           {"EventID", 1},
           {"UtcTime",
            "2021-06-12 01:07:" + std::to_string(10 + pid - 200) + ".000"},
           {"ProcessGuid", guid},
           {"ProcessId", std::to_string(pid)},
           {"Image", std::string{"C:\\Fixtures\\"} + f},
           {"OriginalFileName", "-"},
           {"CommandLine", f},
           {"ParentProcessGuid", "{e2c04bb9-0000-0000-0000-000000000004}"},
           {"ParentProcessId", "4"}};
    events += e.dump() + "\n";
    ++pid;
  }
  auto file = d.write("sysmon.jsonl", events);
  std::vector<std::string> flags{
      "--tracker.add-enrichments=true",
      "--enrich.path-map=[\"C:/Fixtures/="
          + std::string{std::getenv("PROCTRACK_DATA")} + "/pe/bin/\"]"};
  auto own_ps = replay(file, {"pslist"}, flags);
  std::vector<std::string> qs{"pslist"};
  for (auto &id : ids(own_ps[0]))
    qs.push_back("get:" + id);
  auto own = replay(file, qs, flags);
  auto args = flags;
  args.insert(args.begin(), {"replay", file});
  args.push_back("--forward.connect=127.0.0.1:" + std::to_string(port));
  args.push_back("--agent.host-name=enriched");
  args.push_back("--forward.timeout=30s");
  auto r = run(binary(), args, {}, std::chrono::seconds(60));
  BOOST_REQUIRE_MESSAGE(r.status == 0, r.err);
  client c{port};
  int enriched = 0;
  for (std::size_t i = 0; i < qs.size(); ++i) {
    auto theirs = c.ask("enriched", qs[i]);
    BOOST_TEST(theirs == own[i],
               qs[i] << "\ncollector: " << theirs.dump().substr(0, 300)
                     << "\nown: " << own[i].dump().substr(0, 300));
    if (i > 0 && theirs.at("Data").contains("VersionInformation"))
      ++enriched;
  }
  BOOST_TEST(enriched >= 7, "processes with VersionInformation: " << enriched);
}

// No collector at all: the replay still answers its own queries, waits
// forward.timeout, says what was not delivered and exits 1.
BOOST_AUTO_TEST_CASE(unreachable_collector_reports_undelivered) {
  // A port nothing listens on: bind one, note it, close it.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
  auto port = ntohs(a.sin_port);
  close(fd);
  auto file = std::string{std::getenv("PROCTRACK_SOURCE")}
              + "/examples/updates/velociraptor_scenario.jsonl";
  auto own = replay(file, {"callchain:3"});
  auto started = std::chrono::steady_clock::now();
  auto r = run(binary(),
               {"replay", file, "--query=callchain:3",
                "--forward.connect=127.0.0.1:" + std::to_string(port),
                "--agent.host-name=lonely", "--forward.timeout=2s"},
               {}, std::chrono::seconds(30));
  auto took = std::chrono::steady_clock::now() - started;
  BOOST_TEST(r.status == 1, r.err);
  BOOST_TEST(r.err.find("not delivered") != std::string::npos, r.err);
  BOOST_TEST(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
             >= 2000);
  BOOST_TEST(results(r, {"callchain:3"}).at(0) == own[0]);
}

// collector.max-hosts bounds the mirrors: one more host is refused and
// counted, the hosts already mirrored stay.
BOOST_AUTO_TEST_CASE(max_hosts_refuses_one_more_host) {
  std::unique_ptr<child> coll;
  auto port =
      start_collector(coll, {"--listen.port=0", "--collector.max-hosts=2"});
  BOOST_REQUIRE(port != 0);
  auto file = std::string{std::getenv("PROCTRACK_SOURCE")}
              + "/examples/updates/velociraptor_scenario.jsonl";
  auto forward = [&](const std::string &host) {
    return run(binary(),
               {"replay", file,
                "--forward.connect=127.0.0.1:" + std::to_string(port),
                "--agent.host-name=" + host, "--forward.timeout=3s"},
               {}, std::chrono::seconds(30));
  };
  BOOST_TEST(forward("first").status == 0);
  BOOST_TEST(forward("second").status == 0);
  auto third = forward("third");
  BOOST_TEST(third.status == 1, third.err);
  client c{port};
  auto hosts = c.hosts();
  BOOST_REQUIRE_EQUAL(hosts.size(), 2u);
  BOOST_TEST(hosts[0].at("Host") == "first");
  BOOST_TEST(hosts[1].at("Host") == "second");
  caf::scoped_actor self{*c.sys};
  long long refused = -1;
  self->request(c.collector, std::chrono::seconds(10), proctrack::atom::stats_v)
      .receive(
          [&](proctrack::stats_report &r) {
            for (auto &k : r.counters)
              if (k.name == "HostsRefused")
                refused = k.value;
          },
          [&](caf::error &) {});
  BOOST_TEST(refused >= 1);
  // Without a history (history.path), a query as of a time is an error
  // that says so.
  auto asof =
      run(binary(), {"query", "--connect=127.0.0.1:" + std::to_string(port),
                     "--host=first", "pslist@2021-01-01T00:00:00Z"});
  BOOST_TEST(asof.status == 2);
  BOOST_TEST(asof.err.find("history.path") != std::string::npos, asof.err);
}

BOOST_AUTO_TEST_CASE(bad_messages_are_refused) {
  proctrack::fleet_batch b;
  b.host = "ok-host";
  b.session = 1;
  b.seq = 1;
  BOOST_TEST(proctrack::check_fleet_batch(b).empty());
  auto bad = b;
  bad.host = "bad host/../";
  BOOST_TEST(!proctrack::check_fleet_batch(bad).empty());
  bad = b;
  bad.updates.resize(1);
  bad.updates[0].kind = static_cast<proctrack::update_kind>(9);
  BOOST_TEST(!proctrack::check_fleet_batch(bad).empty());
  bad = b;
  bad.updates.resize(1);
  bad.updates[0].process.data.push_back({"Name", "{not json"});
  BOOST_TEST(!proctrack::check_fleet_batch(bad).empty());
  bad = b;
  bad.updates.resize(100001);
  BOOST_TEST(!proctrack::check_fleet_batch(bad).empty());
  // Snapshot state and enrichments are checked before they touch a table.
  proctrack::process_state p;
  p.id = "5-1609459200";
  p.data = "{\"Name\":\"x\"}";
  auto good = b;
  good.state.processes.push_back(p);
  BOOST_TEST(proctrack::check_fleet_batch(good).empty());
  bad = good;
  bad.state.processes[0].data = "[1,2]";
  BOOST_TEST(proctrack::check_fleet_batch(bad).find("not a JSON object")
             != std::string::npos);
  bad = good;
  bad.state.processes[0].id.clear();
  BOOST_TEST(!proctrack::check_fleet_batch(bad).empty());
  bad = good;
  bad.state.processes[0].children.assign(70000, "1-1");
  BOOST_TEST(!proctrack::check_fleet_batch(bad).empty());
  bad = b;
  bad.enrichments.push_back(
      {"5-1609459200", {"C:\\x.exe", true, "{oops", "", ""}});
  BOOST_TEST(!proctrack::check_fleet_batch(bad).empty());
}

BOOST_AUTO_TEST_CASE(listening_beyond_loopback_needs_tls_or_allow_insecure) {
  auto r = proctrack_test::proctrack(
      {"collector", "--listen.host=0.0.0.0", "--listen.port=0"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(r.err.find("allow-insecure") != std::string::npos, r.err);
  auto bad = proctrack_test::proctrack(
      {"replay", "x", "--forward.connect=nohostport"});
  BOOST_TEST(bad.status == 2);
  BOOST_TEST(bad.err.find("forward.connect") != std::string::npos, bad.err);
}

BOOST_AUTO_TEST_SUITE_END() // fleet_test
