// Fleet with TLS (issue 7, docs/fleet.md "TLS"), in separate processes on
// loopback: a `proctrack collector` with tls.* and forwarding `proctrack
// replay`s. Certificates are made at test time with the openssl CLI
// (support/pki.hpp). A peer with the CA's certificate delivers its own host
// (the one its certificate names) and is mirrored exactly, and no other
// host; a stranger's certificate and a plain (non-TLS) forwarder are
// refused: nothing of them arrives, their replays report the stream as not
// delivered, and the collector counts and logs each refusal (TlsRefused).
#include <boost/test/unit_test.hpp>

#include "support/pki.hpp"
#include "support/run_binary.hpp"

#include <chrono>
#include <regex>
#include <thread>

BOOST_AUTO_TEST_SUITE(fleet_tls_test)

using namespace proctrack_test;
using nlohmann::json;

namespace {

std::string slurp(const std::string &path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A background `proctrack collector`, killed when it goes out of scope;
// stdout is read for the "listening" line, stderr goes to a file (its log).
class collector_process {
public:
  collector_process(const std::vector<std::string> &flags,
                    const std::string &log_path)
      : log_(log_path) {
    int out[2];
    if (pipe(out) != 0)
      throw std::runtime_error("pipe");
    std::vector<std::string> args{binary(), "collector", "--listen.port=0",
                                  "--log.level=warn"};
    args.insert(args.end(), flags.begin(), flags.end());
    pid_ = fork();
    if (pid_ < 0)
      throw std::runtime_error("fork");
    if (pid_ == 0) {
      dup2(out[1], 1);
      int err = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(err, 2);
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      close(out[0]);
      close(out[1]);
      exec_or_exit(args);
    }
    close(out[1]);
    out_ = out[0];
    auto line = first_line(std::chrono::seconds(30));
    if (line.empty())
      throw std::runtime_error("the collector did not start:\n" + log());
    listening_ = json::parse(line);
    auto addr = listening_.at("listening").get<std::string>();
    port_ =
        static_cast<std::uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
  }
  ~collector_process() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      int st;
      waitpid(pid_, &st, 0);
    }
    close(out_);
  }
  collector_process(const collector_process &) = delete;
  collector_process &operator=(const collector_process &) = delete;

  std::uint16_t port() const {
    return port_;
  }
  std::string connect() const {
    return "127.0.0.1:" + std::to_string(port_);
  }
  const json &listening() const {
    return listening_;
  }
  /// What it logged so far.
  std::string log() const {
    return slurp(log_);
  }

private:
  std::string first_line(std::chrono::seconds timeout) {
    return read_line(out_, timeout);
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::string log_;
  json listening_;
  std::uint16_t port_ = 0;
};

std::string scenario() {
  return std::string{std::getenv("PROCTRACK_SOURCE")}
         + "/examples/updates/velociraptor_scenario.jsonl";
}

std::vector<std::string> concat(std::vector<std::string> a,
                                const std::vector<std::string> &b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// `proctrack replay FILE` forwarding to `c` as host `name` with `extra`
// flags (the tls.* ones, or none).
run_result forward(const collector_process &c, const std::string &name,
                   const std::string &timeout,
                   const std::vector<std::string> &extra,
                   const std::vector<std::string> &queries = {"pslist"}) {
  std::vector<std::string> args{
      "replay", scenario(), "--forward.connect=" + c.connect(),
      "--agent.host-name=" + name, "--forward.timeout=" + timeout};
  args = concat(args, extra);
  for (auto &q : queries)
    args.push_back("--query=" + q);
  return run(binary(), args, {}, std::chrono::seconds(120));
}

// `proctrack query --connect=C FLAGS... Q...` and its results.
std::vector<json> ask(const collector_process &c,
                      const std::vector<std::string> &flags,
                      const std::vector<std::string> &queries) {
  auto r =
      run(binary(),
          concat(concat({"query", "--connect=" + c.connect()}, flags), queries),
          {}, std::chrono::seconds(60));
  if (r.status != 0)
    throw std::runtime_error("proctrack query exited "
                             + std::to_string(r.status) + ": " + r.err);
  std::vector<std::string> names;
  for (auto &q : queries)
    if (q.rfind("--", 0) != 0)
      names.push_back(q);
  return results(r, names);
}

// The collector's own counters, asked with the agent's credentials.
json collector_stats(const collector_process &c, const pki &keys) {
  return ask(c, pki::flags(keys.agent(), keys.ca()), {"collector-stats"}).at(0);
}

// Waits (bounded) until the collector has counted more than `than`
// refusals; returns the last count seen.
long long wait_refused_above(const collector_process &c, const pki &keys,
                             long long than) {
  long long now = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    now = counter_of(collector_stats(c, keys), "TlsRefused");
    if (now > than)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return now;
}

// A replay that could not deliver: exit 1, the stream reported as not
// delivered, with its failed connection attempts.
void expect_undelivered(const run_result &r, const std::string &who) {
  BOOST_TEST(!r.timed_out, who);
  BOOST_TEST(r.status == 1, who << " exited " << r.status << "\n" << r.err);
  BOOST_TEST(r.err.find("not delivered") != std::string::npos, who << r.err);
  std::smatch m;
  BOOST_REQUIRE_MESSAGE(
      std::regex_search(r.err, m,
                        std::regex{"(\\d+) failed connection attempts"}),
      who << ": no failed connection attempts in\n"
          << r.err);
  BOOST_TEST(std::stoll(m[1]) > 0, who << r.err);
}

} // namespace

BOOST_AUTO_TEST_CASE(peers_with_the_ca_deliver_and_are_mirrored) {
  temp_dir d;
  pki keys{d};
  collector_process coll{pki::flags(keys.collector(), keys.ca()),
                         (d.path() / "collector.log").string()};
  BOOST_TEST(coll.listening().at("tls") == true);
  // The host's certificate names it (CN=tls-host); queries are asked with
  // another certificate of the CA (the agent's).
  auto host = pki::flags(keys.make_leaf("tls-host"), keys.ca());
  auto agent = pki::flags(keys.agent(), keys.ca());
  auto own = forward(coll, "tls-host", "30s", host,
                     {"pslist", "callchain:3", "tree:4"});
  BOOST_REQUIRE_MESSAGE(own.status == 0, own.err);
  auto own_results = results(own, {"pslist", "callchain:3", "tree:4"});
  BOOST_REQUIRE(!own_results[0].empty());
  // The collector's answers about the host equal the replay's own, asked
  // through TLS with `proctrack query`.
  auto theirs = ask(coll, concat(agent, {"--host=tls-host"}),
                    {"pslist", "callchain:3", "tree:4"});
  for (std::size_t i = 0; i < theirs.size(); ++i)
    BOOST_TEST(theirs[i] == own_results[i], i);
  auto hosts = ask(coll, agent, {"hosts"}).at(0);
  BOOST_REQUIRE_EQUAL(hosts.size(), 1u);
  BOOST_TEST(hosts[0].at("Host") == "tls-host");
  auto stats = collector_stats(coll, keys);
  BOOST_TEST(counter_of(stats, "TlsAccepted") >= 3); // replay, 2 queries
  BOOST_TEST(counter_of(stats, "TlsRefused") == 0, stats.dump());
}

// A fleet member writes only the host its certificate names (docs/security.md):
// the agent's certificate (CN=agent) sending host web1's stream is refused,
// nothing of web1 arrives, and the refusal is counted (NotOwnHost) and
// logged; the same certificate sending its own host "agent" is mirrored.
BOOST_AUTO_TEST_CASE(a_peer_writes_only_the_host_its_certificate_names) {
  temp_dir d;
  pki keys{d};
  collector_process coll{pki::flags(keys.collector(), keys.ca()),
                         (d.path() / "collector.log").string()};
  auto agent = pki::flags(keys.agent(), keys.ca());
  auto r = forward(coll, "web1", "3s", agent);
  expect_undelivered(r, "the agent's certificate as web1");
  auto stats = collector_stats(coll, keys);
  BOOST_TEST(counter_of(stats, "NotOwnHost") > 0, stats.dump());
  BOOST_TEST(counter_of(stats, "Batches") == 0, stats.dump());
  BOOST_TEST(ask(coll, agent, {"hosts"}).at(0).empty());
  BOOST_TEST(coll.log().find("names host agent, not this one")
                 != std::string::npos,
             coll.log());

  auto own = forward(coll, "agent", "30s", agent);
  BOOST_REQUIRE_MESSAGE(own.status == 0, own.err);
  auto hosts = ask(coll, agent, {"hosts"}).at(0);
  BOOST_REQUIRE_EQUAL(hosts.size(), 1u);
  BOOST_TEST(hosts[0].at("Host") == "agent");
  BOOST_TEST(ask(coll, concat(agent, {"--host=agent"}), {"pslist"}).at(0)
             == results(own, {"pslist"}).at(0));
}

BOOST_AUTO_TEST_CASE(strangers_and_plain_peers_are_refused_and_counted) {
  temp_dir d;
  pki keys{d};
  collector_process coll{pki::flags(keys.collector(), keys.ca()),
                         (d.path() / "collector.log").string()};
  auto refused = counter_of(collector_stats(coll, keys), "TlsRefused");
  BOOST_TEST(refused == 0);

  // A certificate the collector's CA did not sign (the stranger trusts the
  // collector's CA, so it is the collector that refuses).
  auto r =
      forward(coll, "stranger1", "3s", pki::flags(keys.stranger(), keys.ca()));
  expect_undelivered(r, "stranger with the CA");
  auto now = wait_refused_above(coll, keys, refused);
  BOOST_TEST(now > refused, "stranger with the CA not counted\n" << coll.log());
  refused = now;
  BOOST_TEST(coll.log().find("certificate /CN=stranger") != std::string::npos,
             coll.log());

  // A stranger through and through: its own CA, trusting only that.
  r = forward(coll, "stranger2", "3s",
              pki::flags(keys.stranger(), keys.stranger_ca()));
  expect_undelivered(r, "stranger with its own CA");
  now = wait_refused_above(coll, keys, refused);
  BOOST_TEST(now > refused, "stranger with its own CA not counted\n"
                                << coll.log());
  refused = now;

  // No TLS at all.
  r = forward(coll, "plain1", "3s", {});
  expect_undelivered(r, "plain forwarder");
  now = wait_refused_above(coll, keys, refused);
  BOOST_TEST(now > refused, "plain forwarder not counted\n" << coll.log());
  // A plain query is refused too (and counted).
  auto q = run(binary(), {"query", "--connect=" + coll.connect(), "hosts"}, {},
               std::chrono::seconds(60));
  BOOST_TEST(q.status != 0, q.out);

  // Nothing of them arrived; the refusals are logged with the peer.
  auto hosts = ask(coll, pki::flags(keys.agent(), keys.ca()), {"hosts"}).at(0);
  BOOST_TEST(hosts.empty(), hosts.dump());
  auto stats = collector_stats(coll, keys);
  BOOST_TEST(counter_of(stats, "Batches") == 0, stats.dump());
  BOOST_TEST(coll.log().find("tls: refused 127.0.0.1:") != std::string::npos,
             coll.log());
}

// The live agent's query endpoint with tls.* set speaks TLS only: a query
// with a certificate from the CA is answered, a plain one and a stranger's
// are not. Root only (the agent needs the kernel's process events).
BOOST_AUTO_TEST_CASE(agent_query_endpoint_speaks_tls) {
  if (geteuid() != 0) {
    BOOST_TEST_MESSAGE("not root: the agent needs the proc connector; skipped");
    return;
  }
  temp_dir d;
  pki keys{d};
  auto err_path = (d.path() / "agent.err").string();
  auto agent_flags = pki::flags(keys.agent(), keys.ca());
  pid_t agent = fork();
  if (agent == 0) {
    int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int n = ::open("/dev/null", O_WRONLY);
    dup2(e, 2);
    dup2(n, 1);
    std::vector<std::string> args{binary(), "run", "--query.port=0",
                                  "--query.socket="};
    args.insert(args.end(), agent_flags.begin(), agent_flags.end());
    exec_or_exit(args);
  }
  struct reaper {
    pid_t p;
    ~reaper() {
      if (p > 0) {
        kill(p, SIGKILL);
        waitpid(p, nullptr, 0);
      }
    }
  } reap{agent};
  std::string endpoint;
  for (int i = 0; i < 600 && endpoint.empty(); ++i) {
    auto log = slurp(err_path);
    auto at = log.find("ready: query endpoint ");
    if (at != std::string::npos) {
      auto line = log.substr(at, log.find('\n', at) - at);
      endpoint = line.substr(line.rfind(' ') + 1);
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  BOOST_REQUIRE_MESSAGE(!endpoint.empty(), "agent not ready:\n"
                                               << slurp(err_path));
  auto query = [&](std::vector<std::string> flags) {
    std::vector<std::string> args{"query", "--connect=" + endpoint};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("stats");
    return run(binary(), args, {}, std::chrono::seconds(30));
  };
  auto ok = query(pki::flags(keys.collector(), keys.ca()));
  BOOST_REQUIRE_MESSAGE(ok.status == 0, ok.err);
  BOOST_TEST(counter_of(results(ok, {"stats"}).at(0), "Length") > 0);
  auto plain = query({});
  BOOST_TEST(plain.status != 0, plain.out);
  BOOST_TEST(plain.out.empty(), plain.out);
  auto stranger = query(pki::flags(keys.stranger(), keys.ca()));
  BOOST_TEST(stranger.status != 0, stranger.out);
  BOOST_TEST(stranger.out.empty(), stranger.out);
  kill(agent, SIGINT);
  int st = 0;
  waitpid(agent, &st, 0);
  reap.p = -1;
  BOOST_TEST((WIFEXITED(st) && WEXITSTATUS(st) == 0), slurp(err_path));
}

BOOST_AUTO_TEST_SUITE_END() // fleet_tls_test
