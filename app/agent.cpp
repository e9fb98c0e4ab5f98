// `proctrack run`: the console agent (SPEC §6, §9). Live kernel process
// events plus a periodic /proc listing feed the cache; the output stream
// goes to stdout (or output.path); queries come over the local socket
// (query.socket) and, when query.port is set, over CAF's middleman (mutual
// TLS), both through a read-only facade, never the cache itself.
#include "app/agent_start.hpp"
#include "app/commands.hpp"
#include "app/config.hpp"

#include "actors/enricher/enricher.hpp"
#include "actors/listen_guard/listen_guard.hpp"
#include "actors/live/live_events.hpp"
#include "actors/live/pslist_sync.hpp"
#include "actors/output/output_writer.hpp"
#include "actors/query_endpoint/query_facade.hpp"
#include "actors/query_endpoint/query_socket.hpp"
#include "actors/stats/stats_publisher.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <linux/capability.h>
#include <memory>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

namespace proctrack {

namespace {

int fail(const std::string &msg) {
  std::fprintf(stderr, "proctrack run: %s\n", msg.c_str());
  return 2;
}

// Clients' connections take descriptors from the same table as /proc reads
// and the live sources: the soft limit goes up to the hard one so a flood
// runs out later (a /proc listing that still fails is not applied, see
// pslist_sync).
void raise_descriptor_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur >= r.rlim_max)
    return;
  auto was = r.rlim_cur;
  r.rlim_cur = r.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &r) == 0)
    spdlog::info("descriptor limit raised from {} to {}", was, r.rlim_cur);
  else
    spdlog::warn("descriptor limit stays at {}: {}", was, std::strerror(errno));
}

// The capabilities of this process's effective set.
struct capabilities {
  __user_cap_data_struct d[2]{};
  std::string error; ///< capget failed
  bool has(int cap) const {
    return (d[cap / 32].effective & (1u << (cap % 32))) != 0;
  }
  // What the kernel checks for bpf() (bpf_capable) and for tracing programs
  // (perfmon_capable): CAP_SYS_ADMIN stands in for both.
  bool bpf() const {
    return has(CAP_BPF) || has(CAP_SYS_ADMIN);
  }
  bool perfmon() const {
    return has(CAP_PERFMON) || has(CAP_SYS_ADMIN);
  }
};

capabilities effective_capabilities() {
  capabilities c;
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  if (::syscall(SYS_capget, &h, c.d) != 0)
    c.error = "(capget failed: " + std::string{std::strerror(errno)} + ")";
  return c;
}

// The capabilities a complete record needs that this process lacks in its
// effective set (docs/agent.md "Privileges"), for live.source `source`:
// the kernel's process events (the proc connector: CAP_NET_ADMIN, required
// before Linux 6.6 and what keeps a plain user from starting an agent; the
// eBPF source: CAP_BPF and CAP_PERFMON), and CAP_SYS_PTRACE to read every
// process's /proc/PID/exe and to see through hidepid. auto needs either
// source's.
std::vector<std::string> missing_privileges(const capabilities &c,
                                            const std::string &source) {
  if (!c.error.empty())
    return {c.error};
  std::vector<std::string> out;
  bool ebpf = c.bpf() && c.perfmon();
  if (source == "proc-connector" || (source == "auto" && !ebpf)) {
    if (!c.has(CAP_NET_ADMIN))
      out.push_back(source == "auto"
                        ? "CAP_NET_ADMIN (or CAP_BPF and CAP_PERFMON)"
                        : "CAP_NET_ADMIN");
  } else if (source == "ebpf") {
    if (!c.bpf())
      out.push_back("CAP_BPF");
    if (!c.perfmon())
      out.push_back("CAP_PERFMON");
  }
  if (!c.has(CAP_SYS_PTRACE))
    out.push_back("CAP_SYS_PTRACE");
  return out;
}

} // namespace

int run_agent(const command_line &cl) {
  // SIGINT/SIGTERM are taken by sigwait below: block them before any thread
  // starts so no CAF thread gets them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGHUP);
  // A shell starts background jobs with SIGINT ignored, and an ignored
  // signal is discarded before sigwait can see it: take both back.
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  std::signal(SIGHUP, SIG_DFL);
  // A closed output is an EPIPE the writer reports, not a silent death.
  std::signal(SIGPIPE, SIG_IGN);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  proctrack_config cfg;
  // CAF's work-stealing workers poll: an idle agent took 8.2% of a core with
  // them and 0.8% with the sharing policy (docs/agent.md). A config file or
  // --scheduler.policy still chooses.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  if (auto done = start_command(cfg, cl, "proctrack run"))
    return *done;
  if (!cl.operands.empty())
    return fail("takes no operands (got \"" + cl.operands.front()
                + "\"); to read files use `proctrack replay`");
  if (cfg.sources != "auto")
    return fail("tracker.sources=" + cfg.sources
                + " is the Windows agent's fallback without Sysmon; the Linux "
                  "agent's live events come from the kernel (live.source)");
  // Without the privileges for a complete record the agent does not start,
  // unless told to run reduced (and then every stats row says so).
  auto caps = effective_capabilities();
  auto missing = missing_privileges(caps, cfg.live_source);
  bool reduced = !missing.empty();
  if (reduced) {
    std::string list;
    for (auto &m : missing)
      list += (list.empty() ? "" : ", ") + m;
    if (!cfg.allow_reduced)
      return fail("missing " + list
                  + ": without them the record is incomplete (other users' "
                    "Exe, hidden processes) and a plain user's agent could "
                    "pose as the real one. Run it as root (or with these "
                    "capabilities), or pass --allow-reduced to start anyway "
                    "in reduced mode (docs/agent.md)");
    spdlog::warn("REDUCED MODE (allow-reduced): missing {}; the record lacks "
                 "what those allow; every stats row has ReducedMode=1",
                 list);
  }
  if (cfg.query_socket.empty() && cfg.query_port < 0)
    spdlog::warn("no query endpoint: query.socket is empty and query.port "
                 "is not set");
  if (auto why = cfg.check_query_endpoint(); !why.empty())
    return fail(why);
  // CAF's network (TLS when tls.* is set): the TCP query endpoint and the
  // forwarder's connection.
  if (cfg.query_port >= 0 || !cfg.forward_connect.empty())
    cfg.load_network();
  raise_descriptor_limit();
  // The local socket before anything else: a second agent stops here, and
  // never takes over the first one's socket.
  std::unique_ptr<query_socket> qsock;
  if (!cfg.query_socket.empty()) {
    query_socket_config qc;
    qc.path = cfg.query_socket;
    qc.group = cfg.query_group;
    std::string why;
    qsock = query_socket::open(qc, why);
    if (!qsock)
      return fail(why);
  }

  // The kernel's process events first: nothing may fall between the first
  // listing and the first event.
  // live.source: the eBPF source when it loads (auto, ebpf), else the proc
  // connector (auto, proc-connector).
  std::shared_ptr<linux_proc::proc_connector> connector;
  std::shared_ptr<linux_proc::ebpf_source> ebpf;
  std::string error;
  if (cfg.live_source != "proc-connector") {
    ebpf = std::make_shared<linux_proc::ebpf_source>();
    if (ebpf->open(error, static_cast<unsigned>(cfg.live_ebpf_wakeup_bytes))) {
      spdlog::info("live source: eBPF (sched_process_fork/exec/exit{})",
                   ebpf->has_comm() ? ", task_rename" : "");
    } else {
      ebpf.reset();
      if (cfg.live_source == "ebpf")
        return fail("live.source=ebpf: cannot load the eBPF source: " + error
                    + " (the agent needs root, or CAP_BPF and CAP_PERFMON)");
      // auto was let in by CAP_BPF and CAP_PERFMON: the proc connector
      // needs its own.
      if (!reduced && !caps.has(CAP_NET_ADMIN)) {
        if (!cfg.allow_reduced)
          return fail("the eBPF source did not load (" + error
                      + ") and the proc connector needs CAP_NET_ADMIN, "
                        "which this agent lacks (or pass --allow-reduced)");
        spdlog::warn("REDUCED MODE (allow-reduced): missing CAP_NET_ADMIN for "
                     "the proc connector; every stats row has ReducedMode=1");
        reduced = true;
      }
      spdlog::warn("live source: proc connector ({})", error);
    }
  }
  if (!ebpf) {
    connector = std::make_shared<linux_proc::proc_connector>();
    connector->set_receive_buffer(8 << 20);
    if (!connector->open(error))
      return fail("cannot listen to the kernel's process events: " + error
                  + " (the agent needs root or CAP_NET_ADMIN: run it with "
                    "sudo)");
    if (cfg.live_source == "proc-connector")
      spdlog::info("live source: proc connector");
  }
  // Counted in every stats row; 1 when started with --allow-reduced.
  std::vector<counter> fixed{{"ReducedMode", reduced ? 1 : 0}};

  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  // Every actor started so far, stopped on any way out (a failure after
  // this point must not leave timers running: the system would wait on
  // them forever). The writer goes last and flushes what it has.
  std::vector<caf::actor> started;
  output_writer_actor writer;
  history_actor history;
  auto stop_all = [&](int code) {
    if (qsock)
      qsock->stop(); // no new queries; the socket file is removed
    if (history)     // what changed since the last write, before it stops
      self->request(history, std::chrono::seconds(5), atom::flush_v)
          .receive([](std::uint64_t) {}, [](caf::error &) {});
    for (auto &a : started)
      self->send_exit(a, caf::exit_reason::user_shutdown);
    if (writer) {
      self->send_exit(writer, caf::exit_reason::user_shutdown);
      self->wait_for(writer);
    }
    std::fflush(stdout);
    // Everything is written. The actor system's teardown can still wait on
    // network peers (e.g. a forwarder's collector connection); the 2 s stop
    // promise wins over that wait.
    std::thread([code] {
      std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      spdlog::warn("shutdown took over 1 s after the output was flushed; "
                   "exiting");
      spdlog::default_logger()->flush();
      std::_Exit(code);
    }).detach();
    return code;
  };
  auto fail_running = [&](const std::string &msg) {
    fail(msg);
    return stop_all(2);
  };
  auto keep = [&](const auto &h) {
    if (h)
      started.push_back(caf::actor_cast<caf::actor>(h));
  };
  // The cache, with the enricher and the forwarder when they are on, as
  // replay and embedders start them. The stats publisher comes last: it
  // polls the sources started below.
  auto tracked = spawn_tracker(sys, cfg.make_tracker_settings());
  if (!tracked)
    return fail_running(tracker_error_message(tracked.error()));
  auto cache = tracked->cache;
  auto enricher = tracked->enricher;
  auto forwarder = tracked->forwarder;
  keep(enricher);
  keep(cache);
  keep(forwarder);
  // The history (docs/history.md), subscribed before the first listing so
  // it holds every process the agent learns of. The default store's folder
  // is made by the unit (StateDirectory); without it the agent runs
  // without history and says so. A store named in the config must open.
  if (!cfg.history_path.empty()) {
    auto dir = std::filesystem::path{cfg.history_path}.parent_path();
    std::error_code ec;
    if (cfg.history_path == defaults::agent_history_path
        && !std::filesystem::is_directory(dir, ec)) {
      spdlog::warn("no process history: {} does not exist (the service "
                   "creates it; set history.path to keep one elsewhere, or "
                   "history.path= to silence this)",
                   dir.string());
    } else {
      // A restart reloads what the store knew (docs/history.md
      // "Restart"); the first listing below reconciles it.
      auto hc =
          cfg.make_history_config(cfg.history_path, cfg.make_cache_config());
      hc.reload = true;
      hc.cache_bytes = defaults::agent_history_cache_bytes;
      history = spawn_history(sys, hc, cache, error);
      if (!history)
        return fail_running(error);
      keep(history);
      spdlog::info("process history: {}", cfg.history_path);
    }
  }
  writer = spawn_output_writer(sys, cfg.output_path, error);
  if (!writer)
    return fail_running(error);
  pslist_sync_config pc;
  pc.period = cfg.sync_period;
  if (auto why = pc.validate(); !why.empty())
    return fail_running(why);
  auto pslist = spawn_pslist_sync(sys, pc, cache);
  keep(pslist);
  // The first sync before anything is reported.
  if (auto why =
          first_sync_then_subscribe(self, pslist, cache, writer, "pslist sync");
      !why.empty())
    return fail_running(why);
  auto sink = caf::actor_cast<update_sink_actor>(writer);
  live_events_config lc;
  lc.flush_ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(cfg.live_flush)
          .count());
  // Batched wakeups leave a few events in the ring buffer until the turn
  // ends: the turn's wait is their longest delay.
  if (ebpf && cfg.live_ebpf_wakeup_bytes > 0)
    lc.poll_ms =
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                             cfg.live_ebpf_max_delay)
                             .count());
  if (auto why = lc.validate(); !why.empty())
    return fail_running(why);
  auto live = ebpf ? spawn_live_events(sys, lc, ebpf, cache, pslist)
                   : spawn_live_events(sys, lc, connector, cache, pslist);
  keep(live);
  // Each later listing waits for the events before it to reach the cache.
  self->send(pslist, atom::subscribe_v, live);
  connector.reset(); // the live events actor owns the source now
  ebpf.reset();
  std::vector<stats_api> polled{caf::actor_cast<stats_api>(live),
                                caf::actor_cast<stats_api>(pslist),
                                caf::actor_cast<stats_api>(writer)};
  if (enricher)
    polled.push_back(caf::actor_cast<stats_api>(enricher));
  if (history)
    polled.push_back(caf::actor_cast<stats_api>(history));
  // Fleet: the stream goes to a collector too (docs/fleet.md).
  if (forwarder)
    polled.push_back(caf::actor_cast<stats_api>(forwarder));
  // Query clients see the cache only through this facade: queries in,
  // answers out, nothing else (issue 13).
  // With a history, what the cache misses is looked up in the store.
  auto facade = spawn_query_facade(sys, cache, history);
  keep(facade);
  if (qsock) {
    auto socket_stats = qsock->serve(sys, facade);
    keep(socket_stats);
    polled.push_back(socket_stats);
  }
  stats_publisher_config sc;
  sc.interval = cfg.stats_interval;
  sc.fixed = fixed;
  auto stats = spawn_stats_publisher(sys, sc, cache, polled, sink);
  keep(stats);
  // The TCP query endpoint, only when query.port is set: mutual TLS, or
  // allow-insecure on loopback (checked above).
  caf::expected<std::uint16_t> port{caf::error{}};
  if (cfg.query_port >= 0) {
    auto qport = static_cast<std::uint16_t>(cfg.query_port);
    // CAF's own listener trusts a wire header's payload size and takes
    // connections without limit: the guard bounds both (docs/security.md).
    // Clients send queries only: a few hundred bytes a message.
    listen_guard_config gc;
    gc.name = "query endpoint";
    gc.tls = cfg.tls_enabled();
    gc.max_connections = static_cast<std::size_t>(cfg.query_max_connections);
    gc.max_message = 64u << 10;
    gc.max_pending = 1u << 20;
    port = guarded_publish(sys, facade, qport, cfg.query_host, gc);
    if (!port)
      return fail_running("cannot open the query endpoint " + cfg.query_host
                          + ":" + std::to_string(cfg.query_port)
                          + " (query.host, query.port): "
                          + sys.render(port.error()));
    // (Tests and scripts take the port after the last ':'.)
    spdlog::info("{} query endpoint; ready: query endpoint {}:{}",
                 cfg.tls_enabled() ? "mutual TLS" : "NO TLS", cfg.query_host,
                 *port);
  }
  if (qsock)
    spdlog::info("ready: query socket {}{}", qsock->path(),
                 cfg.query_group.empty()
                     ? std::string{" (0600)"}
                     : " (0660, group " + cfg.query_group + ")");
  else
    spdlog::info("ready: no query socket (query.socket is empty)");

  int sig = 0;
  // SIGHUP (a closed terminal, or a reload request) changes nothing: the
  // configuration is read at start only.
  while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP)
    spdlog::info("SIGHUP: nothing is reloaded (restart the agent to apply a "
                 "changed configuration); still running");
  spdlog::info("stopping on signal {}", sig);
  if (port)
    sys.middleman().unpublish(facade, *port);
  return stop_all(0);
}

} // namespace proctrack
