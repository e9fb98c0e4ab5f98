// No client of any listening endpoint can change what proctrack knows
// (issue 13, docs/security.md), against the real binary. A CAF client
// connects to each endpoint: the agent's TCP query endpoint (allow-insecure
// on loopback, and mutual TLS) and the collector's (mutual TLS, with a
// certificate of the CA that names another host). It sends every message
// of every typed interface in messages/actors.hpp, with contents that
// would visibly change the table (rename, invent and end processes, an
// empty sync, a far-future expiry, enrichment, fake counters, sinks that
// would receive the stream, a wiping snapshot of another host), to the
// published actor and to whatever actor answered its query, then asks
// again: the answers are unchanged byte for byte. The list of messages is
// checked against the interfaces' signatures and the type-id block, so a
// new message type fails here until it is added.
#include <boost/test/unit_test.hpp>

#include "support/pki.hpp"
#include "support/run_binary.hpp"

#include "actors/common/time.hpp"
#include "actors/query_endpoint/query_socket.hpp"
#include "messages/actors.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <typeindex>

BOOST_AUTO_TEST_SUITE(endpoint_readonly_e2e_test)

using namespace proctrack_test;
using nlohmann::json;
namespace pt = proctrack;

namespace {
// What the probes try to plant; none may show in an answer. (Not a bare
// "pt-": other processes on the machine may have it in their names.)
constexpr const char *planted_markers[] = {"pt-attacker", "pt-renamed",
                                           "pt-invented", "\"pt.exe\""};

/// Kills and reaps a child the test started, however the test ends.
struct reap_on_exit {
  pid_t p;
  ~reap_on_exit() {
    kill(p, SIGKILL);
    waitpid(p, nullptr, 0);
  }
};

std::string slurp(const std::string &path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// ---- every message type, and the check that none is missing ----

// The input types of one signature of a typed interface.
template <class... Is, class Out>
std::type_index input_of(caf::typed_mpi<caf::detail::type_list<Is...>, Out> *) {
  return typeid(caf::detail::type_list<Is...>);
}

template <class... Sigs>
std::vector<std::type_index> inputs(caf::detail::type_list<Sigs...>) {
  return {input_of(static_cast<Sigs *>(nullptr))...};
}

template <class Handle>
std::vector<std::type_index> inputs_of() {
  return inputs(typename Handle::signatures{});
}

// Every typed interface messages/actors.hpp declares (and the socket's).
std::vector<std::pair<std::string, std::vector<std::type_index>>>
every_interface() {
  return {
      {"stats_api", inputs_of<pt::stats_api>()},
      {"update_sink_actor", inputs_of<pt::update_sink_actor>()},
      {"update_batch_sink_actor", inputs_of<pt::update_batch_sink_actor>()},
      {"enricher_actor", inputs_of<pt::enricher_actor>()},
      {"query_api", inputs_of<pt::query_api>()},
      {"cache_actor", inputs_of<pt::cache_actor>()},
      {"ingest_actor", inputs_of<pt::ingest_actor>()},
      {"pslist_sync_actor", inputs_of<pt::pslist_sync_actor>()},
      {"live_events_actor", inputs_of<pt::live_events_actor>()},
      {"stats_publisher_actor", inputs_of<pt::stats_publisher_actor>()},
      {"forwarder_actor", inputs_of<pt::forwarder_actor>()},
      {"history_sink_actor", inputs_of<pt::history_sink_actor>()},
      {"history_actor", inputs_of<pt::history_actor>()},
      {"history_reader_actor", inputs_of<pt::history_reader_actor>()},
      {"fleet_ingest_api", inputs_of<pt::fleet_ingest_api>()},
      {"collector_query_api", inputs_of<pt::collector_query_api>()},
      {"collector_actor", inputs_of<pt::collector_actor>()},
      {"query_socket_actor", inputs_of<pt::query_socket_actor>()},
  };
}

// The types of proctrack's type-id block; one more in
// messages/type_ids.hpp fails the coverage test.
constexpr std::size_t known_type_ids = 15; // atoms take no type id

struct attempt {
  std::string what;
  caf::message msg;
  std::type_index types;
  bool reads; ///< a query: answered, changes nothing
};

template <class... Ts>
attempt make_attempt(std::string what, bool reads, Ts... xs) {
  return {std::move(what), caf::make_message(std::move(xs)...),
          typeid(caf::detail::type_list<Ts...>), reads};
}

// What the attempts aim at: a running process (pid and exact start) with
// its executable, and the host whose mirror a collector keeps.
struct target {
  std::string pid;
  pt::timestamp start = 0;
  std::string exe;
  std::string host;
};

pt::process_record record(const std::string &pid, const std::string &ppid,
                          pt::timestamp start, const std::string &name) {
  pt::process_record p;
  p.pid = pid;
  p.ppid = ppid;
  p.start_time = start;
  p.identity = pt::record_identity::exact;
  p.data.push_back({"Name", "\"" + name + "\""});
  p.data.push_back({"CommandLine", "\"" + name + " --token=pt-attacker\""});
  return p;
}

// Updates that would rename and end the target, invent a process, list
// nothing (every running process ended) and expire everything.
std::vector<pt::process_update> evil_updates(const target &t) {
  auto now = *pt::parse_time("2030-01-01T00:00:00Z");
  std::vector<pt::process_update> us;
  pt::process_update rename;
  rename.kind = pt::update_kind::start;
  rename.process = record(t.pid, "1", t.start, "pt-renamed");
  rename.host = t.host;
  us.push_back(rename);
  pt::process_update invent;
  invent.kind = pt::update_kind::start;
  invent.process = record("99999999", "1", now, "pt-invented");
  invent.host = t.host;
  us.push_back(invent);
  pt::process_update end;
  end.kind = pt::update_kind::exit;
  end.target = t.pid;
  end.process.pid = t.pid;
  end.process.start_time = t.start;
  end.time = now;
  end.host = t.host;
  us.push_back(end);
  pt::process_update wipe;
  wipe.kind = pt::update_kind::sync;
  wipe.time = now;
  wipe.host = t.host;
  us.push_back(wipe);
  return us;
}

std::vector<pt::process_enrichment> evil_enrichments(const target &t) {
  return {
      {"", {t.exe, true, "{\"CompanyName\":\"pt-attacker\"}", "pt.exe", ""}}};
}

constexpr const char *far_future = "2099-01-01T00:00:00Z";

// Every message of every interface, aimed at `t`; `sink` and `batch_sink`
// are the client's own actors, which would receive the stream.
std::vector<attempt> every_message(const target &t,
                                   const pt::update_sink_actor &sink,
                                   const pt::update_batch_sink_actor &bsink) {
  auto future = *pt::parse_time(far_future);
  pt::update_batch batch;
  batch.host = t.host;
  batch.updates = evil_updates(t);
  batch.enrichments = evil_enrichments(t);
  batch.expire_at = future;
  // A snapshot that starts the host's mirror over with nothing but an
  // invented process, and a continuation of a guessed session.
  pt::fleet_batch wipe;
  wipe.host = t.host;
  wipe.session = 1;
  wipe.seq = 1;
  wipe.snapshot = true;
  wipe.updates = evil_updates(t);
  wipe.enrichments = evil_enrichments(t);
  wipe.expire_at = future;
  wipe.stats = {{"PtAttacker", 1}};
  auto next = wipe;
  next.snapshot = false;
  next.seq = 2;
  auto other_host = wipe;
  other_host.host = "pt-invented-host";
  pt::stats_report fake{"pt-attacker", {{"Length", 0}, {"PtAttacker", 1}}};
  // A restart's state with an invented running process (the cache's
  // atom::restore).
  pt::table_state planted;
  pt::process_state inv;
  inv.id = "4242-1609495200";
  inv.parent_id = "1-?";
  inv.start_time = *pt::parse_time("2021-01-01T10:00:00Z");
  inv.data = "{\"Name\":\"pt-planted\"}";
  planted.processes.push_back(inv);
  // The history's message: an invented row to write, and the client's
  // own actor registered as the history (it would get every change).
  auto hsink = caf::actor_cast<pt::history_sink_actor>(bsink);
  pt::process_changes changes;
  pt::history_row row;
  row.id = inv.id;
  row.parent_id = inv.parent_id;
  row.start_time = inv.start_time;
  row.data = inv.data;
  changes.rows.push_back(row);
  return {
      make_attempt("restore a planted state", false, pt::atom::restore_v,
                   planted, future, bsink),
      make_attempt("restore a planted state, the client as the history", false,
                   pt::atom::restore_v, planted, future, hsink),
      make_attempt("subscribe as the history", false, pt::atom::subscribe_v,
                   hsink),
      make_attempt("changes for the history", false, changes),
      make_attempt("an as-of query (a read: the agent's history answers)", true,
                   pt::query{"pslist", "", 0}, future),
      make_attempt("update_batch", false, batch),
      make_attempt("fleet_batch wiping snapshot", false, wipe),
      make_attempt("fleet_batch next seq", false, next),
      make_attempt("fleet_batch another host", false, other_host),
      make_attempt("tick with a far-future time", false, pt::atom::tick_v,
                   future),
      make_attempt("tick", false, pt::atom::tick_v),
      make_attempt("flush", false, pt::atom::flush_v),
      make_attempt("subscribe an output sink", false, pt::atom::subscribe_v,
                   sink),
      make_attempt("subscribe an output sink (untyped)", false,
                   pt::atom::subscribe_v, caf::actor_cast<caf::actor>(sink)),
      make_attempt("subscribe a batch sink", false, pt::atom::subscribe_v,
                   bsink),
      make_attempt("subscribe a live source", false, pt::atom::subscribe_v,
                   caf::actor_cast<pt::live_events_actor>(sink)),
      make_attempt("snapshot to a batch sink", false, pt::atom::snapshot_v,
                   bsink),
      make_attempt("snapshot to a batch sink (untyped)", false,
                   pt::atom::snapshot_v, caf::actor_cast<caf::actor>(bsink)),
      make_attempt("publish fake counters", false, pt::atom::publish_v, fake),
      make_attempt("subscribe as a forwarder", false, pt::atom::subscribe_v,
                   t.host, std::uint64_t{1}),
      make_attempt("an output line", false,
                   std::string{"{\"pt-attacker\":1}\n"}),
      make_attempt("enrich", false, pt::atom::enrich_v, t.exe),
      make_attempt("run", false, pt::atom::run_v),
      make_attempt("sync", false, pt::atom::sync_v),
      make_attempt("snapshot", false, pt::atom::snapshot_v),
      make_attempt("ready", false, pt::atom::ready_v, std::uint64_t{1000000}),
      make_attempt("reconnect", false, pt::atom::reconnect_v),
      make_attempt("timeout", false, pt::atom::timeout_v),
      make_attempt("stats", true, pt::atom::stats_v),
      make_attempt("query", true, pt::query{"pslist", "", 0}),
      make_attempt("host query", true, t.host, pt::query{"pslist", "", 0}),
      make_attempt("host as-of query (a read: the collector's history "
                   "answers)",
                   true, t.host, pt::query{"pslist", "", 0}, future),
      make_attempt("hosts", true, pt::atom::hosts_v),
  };
}

// ---- a CAF client, plain or with a certificate ----

struct client_config : caf::actor_system_config {
  explicit client_config(const party *p, const std::string &ca) {
    pt::add_message_types(*this);
    load<caf::io::middleman>();
    if (p) {
      openssl_certificate = p->cert;
      openssl_key = p->key;
      openssl_cafile = ca;
      load<caf::openssl::manager>();
    }
    set("logger.verbosity", caf::atom("quiet"));
    set("scheduler.max-threads", 2);
  }
};

// Counts what the client's sinks receive (they should receive nothing).
struct sink_count {
  std::atomic<int> lines{0}, batches{0};
};

class client {
public:
  client(const party *p, const std::string &ca)
      : cfg_(p, ca), sys_(cfg_), tls_(p != nullptr), self_(sys_) {
    auto count = count_;
    sink_ = sys_.spawn([count]() -> pt::update_sink_actor::behavior_type {
      return {[count](const std::string &) { ++count->lines; }};
    });
    bsink_ =
        sys_.spawn([count]() -> pt::update_batch_sink_actor::behavior_type {
          return {[count](const pt::update_batch &) { ++count->batches; }};
        });
  }
  ~client() {
    self_->send_exit(sink_, caf::exit_reason::user_shutdown);
    self_->send_exit(bsink_, caf::exit_reason::user_shutdown);
  }

  template <class Handle>
  caf::expected<Handle> connect(std::uint16_t port) {
    if (tls_)
      return caf::openssl::remote_actor<Handle>(sys_, "127.0.0.1", port);
    return sys_.middleman().remote_actor<Handle>("127.0.0.1", port);
  }

  /// Sends `msg` as a request: "error: ..." with CAF's rendering of the
  /// error (unexpected_message: the receiver has no such handler; "not
  /// your host": the collector's endpoint refused a stream), or
  /// "answered" (an answer of any type arrives as an unexpected_response
  /// error, since only a string is expected here).
  std::string ask(const caf::actor &to, const caf::message &msg) {
    std::string out = "(no answer)";
    self_->request(to, std::chrono::seconds(10), msg)
        .receive([&](std::string &) { out = "answered"; },
                 [&](caf::error &e) {
                   out = e == caf::sec::unexpected_response
                             ? "answered"
                             : "error: " + sys_.render(e);
                 });
    return out;
  }
  /// Sends a query; its text answer, and who answered it in `responder`.
  std::string ask_text(const caf::actor &to, const caf::message &msg,
                       caf::actor_addr &responder) {
    std::string out = "(no answer)";
    self_->request(to, std::chrono::seconds(10), msg)
        .receive(
            [&](std::string &text) {
              if (auto sender = self_->current_sender())
                responder = sender->address();
              out = text;
            },
            [&](caf::error &e) { out = "error: " + sys_.render(e); });
    return out;
  }
  void tell(const caf::actor &to, const caf::message &msg) {
    self_->send(to, msg);
  }
  /// A handle to actor `id` of `node`, as a raw BASP client would address
  /// it: CAF 0.17 delivers a peer's message to any actor registered with
  /// that node's middleman by its id, whichever actor the peer connected
  /// to. (The proxy comes from this client's BASP broker; its registry is
  /// thread-safe, since CAF's BASP workers use it too.)
  caf::actor by_id(const caf::node_id &node, caf::actor_id id) {
    auto basp =
        sys_.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
    auto broker = static_cast<caf::io::basp_broker *>(
        caf::actor_cast<caf::abstract_actor *>(basp));
    return caf::actor_cast<caf::actor>(
        broker->proxy_registry_ptr()->get_or_put(node, id));
  }

  const pt::update_sink_actor &sink() const {
    return sink_;
  }
  const pt::update_batch_sink_actor &batch_sink() const {
    return bsink_;
  }
  const sink_count &received() const {
    return *count_;
  }

private:
  client_config cfg_;
  caf::actor_system sys_;
  bool tls_;
  caf::scoped_actor self_;
  std::shared_ptr<sink_count> count_ = std::make_shared<sink_count>();
  pt::update_sink_actor sink_;
  pt::update_batch_sink_actor bsink_;
};

// Sends every message to the endpoint `published` and to the actor that
// answers its queries (when that is another one, it is reported: the
// endpoint revealed an actor behind it). Each message goes as a request
// and as a plain send. Returns what the non-query requests got.
std::vector<std::string> attack(client &c, const caf::actor &published,
                                const caf::message &probe, const target &t) {
  caf::actor_addr responder;
  auto answer = c.ask_text(published, probe, responder);
  BOOST_TEST_MESSAGE("probe: " << answer.substr(0, 80));
  BOOST_TEST(answer.rfind("error", 0) != 0, answer);
  BOOST_TEST((responder == published.address()),
             "the answer came from another actor than the published one: "
             "its handle is on the wire, and every peer may address it");
  std::vector<caf::actor> targets{published};
  if (responder && responder != published.address())
    targets.push_back(caf::actor_cast<caf::actor>(responder));
  std::vector<std::string> outcomes;
  for (auto &to : targets)
    for (auto &a : every_message(t, c.sink(), c.batch_sink())) {
      auto got = c.ask(to, a.msg);
      c.tell(to, a.msg);
      BOOST_TEST_MESSAGE(a.what << ": " << got.substr(0, 100));
      if (!a.reads)
        outcomes.push_back(a.what + ": " + got);
    }
  // Let the plain sends land before the state is read again.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  return outcomes;
}

// An outcome of `attack` ("WHAT: error: ..."): refused by the receiver's
// typed dispatch, or by the collector's host check.
bool refused(const std::string &outcome) {
  return outcome.find(": error: ") != std::string::npos
         && (outcome.find("unexpected_message") != std::string::npos
             || outcome.find("not your host") != std::string::npos);
}

// ---- the binary ----

// A background `proctrack ARGS...` with stderr in a file, killed (and
// reaped) when it goes out of scope.
class background {
public:
  background(std::vector<std::string> args, const std::string &err_path)
      : err_(err_path) {
    args.insert(args.begin(), binary());
    pid_ = fork();
    if (pid_ < 0)
      throw std::runtime_error("fork");
    if (pid_ == 0) {
      int e = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int n = ::open("/dev/null", O_RDWR);
      dup2(n, 0);
      dup2(n, 1);
      dup2(e, 2);
      exec_or_exit(args);
    }
  }
  ~background() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  background(const background &) = delete;
  background &operator=(const background &) = delete;

  std::string log() const {
    return slurp(err_);
  }
  /// The port of the log's "ready: query endpoint HOST:PORT" (agent) or
  /// "listening on HOST:PORT" (collector) line; 0 after 30 s without.
  std::uint16_t wait_port(const std::string &marker) const {
    for (int i = 0; i < 600; ++i) {
      auto l = log();
      auto at = l.find(marker);
      if (at != std::string::npos) {
        auto line = l.substr(at, l.find('\n', at) - at);
        auto colon = line.rfind(':');
        return static_cast<std::uint16_t>(std::stoi(line.substr(colon + 1)));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return 0;
  }

private:
  std::string err_;
  pid_t pid_ = -1;
};

// A child that runs `argv` (kept running, or waited for).
pid_t spawn_child(const std::vector<std::string> &argv) {
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

// `proctrack query --connect=127.0.0.1:PORT FLAGS... Q`: the result.
json ask_binary(std::uint16_t port, const std::vector<std::string> &flags,
                const std::string &q) {
  std::vector<std::string> args{"query",
                                "--connect=127.0.0.1:" + std::to_string(port)};
  args.insert(args.end(), flags.begin(), flags.end());
  args.push_back(q);
  auto r = run(binary(), args, {}, std::chrono::seconds(60));
  if (r.status != 0)
    throw std::runtime_error("proctrack query " + q + " exited "
                             + std::to_string(r.status) + ": " + r.err);
  return results(r, {q}).at(0);
}

// The entry of `pid` in a pslist result (the newest one: its Id is
// "PID-START"), or null.
json entry_of_pid(const json &pslist, pid_t pid) {
  json found = nullptr;
  auto prefix = std::to_string(pid) + "-";
  for (auto &e : pslist)
    if (e.at("Id").get<std::string>().rfind(prefix, 0) == 0)
      found = e;
  return found;
}

// What the attacks must leave as it is on a live agent: the entries of a
// running and of an exited process of ours, byte for byte, and no trace of
// the attacker anywhere.
struct agent_view {
  std::string running, exited;
  std::string pslist, stats;
};

agent_view look(std::uint16_t port, const std::vector<std::string> &flags,
                pid_t running, pid_t exited) {
  auto ps = ask_binary(port, flags, "pslist");
  auto st = ask_binary(port, flags, "stats");
  return {entry_of_pid(ps, running).dump(), entry_of_pid(ps, exited).dump(),
          ps.dump(), st.dump()};
}

// Runs the attack against a live agent's TCP endpoint started with
// `endpoint_flags`; the client connects with `who` (null: plain).
void attack_agent(const std::vector<std::string> &endpoint_flags,
                  const std::vector<std::string> &query_flags, const party *who,
                  const std::string &ca) {
  temp_dir d;
  std::vector<std::string> args{"run",
                                "--query.port=0",
                                "--query.socket=",
                                "--tracker.sync-period=1h",
                                "--stats.interval=1h",
                                "--output.path=" + (d.path() / "out").string()};
  args.insert(args.end(), endpoint_flags.begin(), endpoint_flags.end());
  background agent{args, (d.path() / "agent.err").string()};
  auto port = agent.wait_port("ready: query endpoint ");
  BOOST_REQUIRE_MESSAGE(port != 0, "agent not ready:\n" << agent.log());
  // A process that runs and one that has ended, both seen by the agent.
  pid_t running = spawn_child({"/bin/sleep", "600"});
  reap_on_exit reaper{running};
  pid_t exited = spawn_child({"/bin/true"});
  waitpid(exited, nullptr, 0);
  agent_view before;
  for (int i = 0; i < 100; ++i) {
    before = look(port, query_flags, running, exited);
    auto r = json::parse(before.running), e = json::parse(before.exited);
    if (!r.is_null() && !e.is_null() && e.at("EndTime") != zero_time
        && r.at("Data").contains("Exe"))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  BOOST_REQUIRE_MESSAGE(before.running != "null" && before.exited != "null",
                        "the agent did not record our processes: "
                            << before.pslist.substr(0, 300));
  auto r = json::parse(before.running);
  target t;
  t.pid = std::to_string(running);
  t.start = *pt::parse_time(r.at("StartTime").get<std::string>());
  t.exe = r.at("Data").at("Exe").get<std::string>();

  client c{who, ca};
  // The facade is not a cache: asked for the cache's interface, refused.
  BOOST_TEST(!c.connect<pt::cache_actor>(port));
  auto facade = c.connect<pt::query_api>(port);
  BOOST_REQUIRE_MESSAGE(facade, "cannot connect: " << agent.log());
  auto outcomes = attack(c, caf::actor_cast<caf::actor>(*facade),
                         caf::make_message(pt::query{"pslist", "", 0}), t);
  for (auto &o : outcomes)
    BOOST_TEST(refused(o), o);

  auto after = look(port, query_flags, running, exited);
  BOOST_TEST(after.running == before.running);
  BOOST_TEST(after.exited == before.exited);
  for (auto marker : planted_markers)
    BOOST_TEST(after.pslist.find(marker) == std::string::npos,
               marker << ": " << after.pslist.substr(0, 300));
  BOOST_TEST(after.stats.find("PtAttacker") == std::string::npos, after.stats);
  BOOST_TEST(c.received().lines == 0);
  BOOST_TEST(c.received().batches == 0);
  // Still tracking: a new process is recorded with its data.
  pid_t late = spawn_child({"/bin/true"});
  waitpid(late, nullptr, 0);
  json e = nullptr;
  for (int i = 0; i < 100 && e.is_null(); ++i) {
    e = entry_of_pid(ask_binary(port, query_flags, "pslist"), late);
    if (e.is_null())
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  BOOST_TEST(!e.is_null(), "a process started after the attack is missing");
}

// The processes of `host` in the collector's mirror (plaintext collector).
json mirror_of(std::uint16_t port, const std::string &host) {
  return ask_binary(port, {"--host=" + host}, "pslist");
}

} // namespace

BOOST_AUTO_TEST_CASE(every_message_type_is_attempted) {
  std::set<std::type_index> sent;
  pt::update_sink_actor sink;
  pt::update_batch_sink_actor bsink;
  for (auto &a : every_message(target{}, sink, bsink))
    sent.insert(a.types);
  for (auto &[name, ins] : every_interface())
    for (std::size_t i = 0; i < ins.size(); ++i)
      BOOST_TEST(sent.count(ins[i]) == 1,
                 name << ": message " << i << " of its interface ("
                      << ins[i].name()
                      << ") is not attempted: add it to every_message");
  std::size_t ids =
      caf::id_block::proctrack::end - caf::id_block::proctrack::begin;
  BOOST_TEST(ids == known_type_ids, "messages/type_ids.hpp has "
                                        << ids << " type ids, not "
                                        << known_type_ids
                                        << ": send the new ones in "
                                           "every_message, then update "
                                           "known_type_ids");
}

BOOST_AUTO_TEST_CASE(agent_insecure_loopback_endpoint_changes_nothing) {
  if (geteuid() != 0) {
    BOOST_TEST_MESSAGE("not root: the agent needs the proc connector; skipped");
    return;
  }
  attack_agent({"--allow-insecure=true"}, {}, nullptr, "");
}

BOOST_AUTO_TEST_CASE(agent_tls_endpoint_changes_nothing) {
  if (geteuid() != 0) {
    BOOST_TEST_MESSAGE("not root: the agent needs the proc connector; skipped");
    return;
  }
  temp_dir d;
  pki keys{d};
  attack_agent(pki::flags(keys.agent(), keys.ca()),
               pki::flags(keys.collector(), keys.ca()), &keys.collector(),
               keys.ca());
}

// The collector with mutual TLS: host web1 forwards its replay with its own
// certificate; a peer with another certificate of the same CA (CN=analyst:
// it may query) sends everything, a wiping snapshot of web1 included. The
// hosts, web1's mirror and the collector's counts are unchanged.
BOOST_AUTO_TEST_CASE(collector_tls_endpoint_changes_nothing) {
  temp_dir d;
  pki keys{d};
  auto web1 = keys.make_leaf("web1");
  auto analyst = keys.make_leaf("analyst");
  background coll{{"collector", "--listen.port=0", "--log.level=info",
                   "--tls.certificate=" + keys.collector().cert,
                   "--tls.key=" + keys.collector().key,
                   "--tls.ca=" + keys.ca()},
                  (d.path() / "collector.err").string()};
  auto port = coll.wait_port("collector listening on ");
  BOOST_REQUIRE_MESSAGE(port != 0, "collector not ready:\n" << coll.log());
  auto scenario = std::string{std::getenv("PROCTRACK_SOURCE")}
                  + "/examples/updates/velociraptor_scenario.jsonl";
  auto host_flags = pki::flags(web1, keys.ca());
  std::vector<std::string> fwd{"replay",
                               scenario,
                               "--forward.connect=127.0.0.1:"
                                   + std::to_string(port),
                               "--agent.host-name=web1",
                               "--forward.timeout=30s",
                               "--query=pslist"};
  fwd.insert(fwd.end(), host_flags.begin(), host_flags.end());
  auto own = run(binary(), fwd, {}, std::chrono::seconds(120));
  BOOST_REQUIRE_MESSAGE(own.status == 0, own.err);
  auto q = pki::flags(analyst, keys.ca());
  auto qh = q;
  qh.push_back("--host=web1");
  auto counts = [&] {
    auto s = ask_binary(port, q, "collector-stats");
    std::string out;
    for (auto name : {"Hosts", "Processes", "Batches", "Updates", "Snapshots"})
      out +=
          std::string{name} + "=" + std::to_string(counter_of(s, name)) + " ";
    return out;
  };
  auto hosts_before = ask_binary(port, q, "hosts").dump();
  auto pslist_before = ask_binary(port, qh, "pslist").dump();
  auto counts_before = counts();
  BOOST_REQUIRE(pslist_before == results(own, {"pslist"}).at(0).dump());
  BOOST_REQUIRE(hosts_before.find("web1") != std::string::npos);

  // A process of web1's replay to aim at.
  auto ps = json::parse(pslist_before);
  BOOST_REQUIRE(!ps.empty());
  target t;
  auto id = ps[0].at("Id").get<std::string>();
  t.pid = id.substr(0, id.find('-'));
  t.start = *pt::parse_time(ps[0].at("StartTime").get<std::string>());
  t.exe = "C:\\Windows\\System32\\cmd.exe";
  t.host = "web1";

  client c{&analyst, keys.ca()};
  BOOST_TEST(!c.connect<pt::cache_actor>(port));
  auto endpoint = c.connect<pt::collector_query_api>(port);
  BOOST_REQUIRE_MESSAGE(endpoint, "cannot connect: " << coll.log());
  auto outcomes = attack(
      c, caf::actor_cast<caf::actor>(*endpoint),
      caf::make_message(std::string{"web1"}, pt::query{"pslist", "", 0}), t);
  for (auto &o : outcomes)
    BOOST_TEST(refused(o), o);

  BOOST_TEST(ask_binary(port, q, "hosts").dump() == hosts_before);
  BOOST_TEST(ask_binary(port, qh, "pslist").dump() == pslist_before);
  BOOST_TEST(counts() == counts_before);
  auto s = ask_binary(port, q, "collector-stats");
  BOOST_TEST(counter_of(s, "NotOwnHost") >= 3, s.dump()); // 3 batches, hello
  BOOST_TEST(c.received().lines == 0);
  BOOST_TEST(c.received().batches == 0);
  BOOST_TEST(coll.log().find("names host analyst, not this one")
                 != std::string::npos,
             coll.log());
}

// An agent that forwards to a collector and also listens on query.port
// (allow-insecure, loopback): a client of the query endpoint addresses
// every actor id 1..400 of the agent's node, as a raw BASP client can,
// with the stream messages of the forwarder's interface and of the
// collector's (update_batch, fleet_batch, a forwarder's hello, flush),
// sent as plain messages.
// Nothing takes them: the forwarder's handle never goes on the wire (it
// talks to the collector through a courier per connection, which accepts
// messages from the forwarder only), so the collector's mirror of the
// agent's host has no trace of them, while the agent's own processes still
// arrive there.
BOOST_AUTO_TEST_CASE(agent_forwarder_is_not_addressable_by_id) {
  if (geteuid() != 0) {
    BOOST_TEST_MESSAGE("not root: the agent needs the proc connector; skipped");
    return;
  }
  temp_dir d;
  background coll{{"collector", "--listen.port=0", "--log.level=info",
                   "--allow-insecure=true"},
                  (d.path() / "collector.err").string()};
  auto cport = coll.wait_port("collector listening on ");
  BOOST_REQUIRE_MESSAGE(cport != 0, "collector not ready:\n" << coll.log());
  const std::string host = "probed";
  background agent{{"run", "--query.port=0",
                    "--query.socket=", "--allow-insecure=true",
                    "--tracker.sync-period=1h", "--stats.interval=1h",
                    "--output.path=" + (d.path() / "out").string(),
                    "--forward.connect=127.0.0.1:" + std::to_string(cport),
                    "--agent.host-name=" + host},
                   (d.path() / "agent.err").string()};
  auto port = agent.wait_port("ready: query endpoint ");
  BOOST_REQUIRE_MESSAGE(port != 0, "agent not ready:\n" << agent.log());
  // A running process of ours, in the collector's mirror with its Exe.
  pid_t running = spawn_child({"/bin/sleep", "600"});
  reap_on_exit reaper{running};
  json mine = nullptr;
  for (int i = 0; i < 200; ++i) {
    try {
      mine = entry_of_pid(mirror_of(cport, host), running);
    } catch (const std::exception &) {
      mine = nullptr; // the host is not mirrored yet
    }
    if (!mine.is_null() && mine.at("Data").contains("Exe"))
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  BOOST_REQUIRE_MESSAGE(!mine.is_null(), "the collector has no mirror of "
                                             << host << ":\n"
                                             << agent.log() << coll.log());
  target t;
  t.pid = std::to_string(running);
  t.start = *pt::parse_time(mine.at("StartTime").get<std::string>());
  t.exe = mine.at("Data").at("Exe").get<std::string>();
  t.host = host;

  client c{nullptr, ""};
  auto facade = c.connect<pt::query_api>(port);
  BOOST_REQUIRE_MESSAGE(facade, "cannot connect: " << agent.log());
  auto node = facade->node();
  // The stream messages: what would reach the collector as this host's.
  std::vector<attempt> stream;
  for (auto &a : every_message(t, c.sink(), c.batch_sink()))
    if (a.what.rfind("update_batch", 0) == 0
        || a.what.rfind("fleet_batch", 0) == 0
        || a.what == "subscribe as a forwarder" || a.what == "flush")
      stream.push_back(a);
  BOOST_REQUIRE_EQUAL(stream.size(), 6u);
  // Each id gets every stream message as a plain send (a request to an id
  // nobody has waits for its timeout: 2400 of them would take hours).
  for (caf::actor_id id = 1; id <= 400; ++id) {
    auto to = c.by_id(node, id);
    for (auto &a : stream)
      c.tell(to, a.msg);
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));

  // The stream goes on: a process started after the probes reaches the
  // mirror, so anything a probe had queued before it would be there too.
  pid_t late = spawn_child({"/bin/true"});
  waitpid(late, nullptr, 0);
  json mirror, e = nullptr;
  for (int i = 0; i < 200 && e.is_null(); ++i) {
    mirror = mirror_of(cport, host);
    e = entry_of_pid(mirror, late);
    if (e.is_null())
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  BOOST_TEST(!e.is_null(), "a process started after the probes is missing");
  for (auto marker : planted_markers)
    BOOST_TEST(mirror.dump().find(marker) == std::string::npos,
               marker << ": " << mirror.dump().substr(0, 300));
  auto now_mine = entry_of_pid(mirror, running);
  BOOST_TEST(now_mine.dump() == mine.dump());
  auto hosts = ask_binary(cport, {}, "hosts").dump();
  BOOST_TEST(hosts.find("pt-invented-host") == std::string::npos, hosts);
  BOOST_TEST(c.received().lines == 0);
  BOOST_TEST(c.received().batches == 0);
}

BOOST_AUTO_TEST_SUITE_END() // endpoint_readonly_e2e_test
