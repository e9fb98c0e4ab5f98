// `proctrack run`: the console agent (SPEC §6, §9). Live kernel process
// events plus a periodic /proc listing feed the cache; the output stream
// goes to stdout (or output.path); queries come over CAF's middleman.
#include "app/commands.hpp"
#include "app/config.hpp"

#include "actors/enricher/enricher.hpp"
#include "actors/live/live_events.hpp"
#include "actors/live/pslist_sync.hpp"
#include "actors/output/output_writer.hpp"
#include "actors/stats/stats_publisher.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <pthread.h>
#include <sys/resource.h>
#include <thread>

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
  if (auto why = cfg.check_listen(cfg.query_host, "query.host"); !why.empty())
    return fail(why);
  cfg.load_network(); // the query endpoint; TLS when tls.* is set
  raise_descriptor_limit();

  // The kernel's process events first: nothing may fall between the first
  // listing and the first event.
  auto connector = std::make_shared<linux_proc::proc_connector>();
  std::string error;
  connector->set_receive_buffer(8 << 20);
  if (!connector->open(error))
    return fail("cannot listen to the kernel's process events: " + error
                + " (the agent needs root or CAP_NET_ADMIN: run it with sudo)");

  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  // Every actor started so far, stopped on any way out (a failure after
  // this point must not leave timers running: the system would wait on
  // them forever). The writer goes last and flushes what it has.
  std::vector<caf::actor> started;
  output_writer_actor writer;
  auto stop_all = [&](int code) {
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
  enricher_actor enricher;
  if (auto why = cfg.spawn_enricher_if_on(sys, enricher); !why.empty())
    return fail_running(why);
  keep(enricher);
  auto cache = spawn_cache(sys, cfg.make_cache_config(), enricher);
  keep(cache);
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
  bool synced = false;
  self->request(pslist, std::chrono::seconds(30), atom::sync_v)
      .receive(
          [&](std::uint64_t n) {
            synced = true;
            spdlog::info("first pslist sync: {} processes", n);
          },
          [&](caf::error &e) { error = caf::to_string(e); });
  if (!synced)
    return fail_running("the first /proc listing failed: " + error);
  // The stream starts with the whole cache.
  auto sink = caf::actor_cast<update_sink_actor>(writer);
  self->request(cache, caf::infinite, atom::subscribe_v, sink)
      .receive([&](std::string &row) { self->send(writer, row + "\n"); },
               [&](caf::error &e) { error = caf::to_string(e); });
  live_events_config lc;
  auto live = spawn_live_events(sys, lc, connector, cache, pslist);
  keep(live);
  connector.reset(); // the live events actor owns it now
  std::vector<stats_api> polled{caf::actor_cast<stats_api>(live),
                                caf::actor_cast<stats_api>(pslist),
                                caf::actor_cast<stats_api>(writer)};
  if (enricher)
    polled.push_back(caf::actor_cast<stats_api>(enricher));
  // Fleet: the stream goes to a collector too (docs/fleet.md).
  forwarder_actor forwarder;
  if (!cfg.forward_connect.empty()) {
    forwarder = spawn_forwarder(sys, cfg.make_forwarder_config(), cache, error);
    if (!forwarder)
      return fail_running(error);
    keep(forwarder);
    polled.push_back(caf::actor_cast<stats_api>(forwarder));
  }
  stats_publisher_config sc;
  sc.interval = cfg.stats_interval;
  auto stats = spawn_stats_publisher(sys, sc, cache, polled, sink);
  keep(stats);
  // The query endpoint: TLS when tls.* is set (checked above: beyond
  // loopback only with TLS or allow-insecure).
  auto qport = static_cast<std::uint16_t>(cfg.query_port);
  auto port =
      cfg.tls_enabled()
          ? caf::openssl::publish(cache, qport, cfg.query_host.c_str(), true)
          : sys.middleman().publish(cache, qport, cfg.query_host.c_str(), true);
  if (!port)
    return fail_running("cannot open the query endpoint " + cfg.query_host + ":"
                        + std::to_string(cfg.query_port)
                        + " (query.host, query.port): "
                        + sys.render(port.error()));
  spdlog::info("ready: query endpoint {}:{}", cfg.query_host, *port);

  int sig = 0;
  // SIGHUP (a closed terminal, or a reload request) changes nothing: the
  // configuration is read at start only.
  while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP)
    spdlog::info("SIGHUP: nothing is reloaded (restart the agent to apply a "
                 "changed configuration); still running");
  spdlog::info("stopping on signal {}", sig);
  sys.middleman().unpublish(cache, *port);
  return stop_all(0);
}

} // namespace proctrack
