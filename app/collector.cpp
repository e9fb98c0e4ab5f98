// `proctrack collector`: mirrors the process tables of many hosts that
// forward their update streams (issue 7, docs/fleet.md), and answers
// queries about each host over the middleman. What listens is the
// collector's endpoint, never the collector (collector_endpoint.hpp): with
// mutual TLS each peer writes only the host its certificate names.
#include "app/commands.hpp"
#include "app/config.hpp"

#include "actors/collector/collector.hpp"
#include "actors/collector/collector_endpoint.hpp"
#include "actors/common/tls_audit.hpp"
#include "actors/history/history.hpp"
#include "actors/listen_guard/listen_guard.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <pthread.h>

namespace proctrack {

namespace {

int fail(const std::string &msg) {
  std::fprintf(stderr, "proctrack collector: %s\n", msg.c_str());
  return 2;
}

} // namespace

int run_collector(const command_line &cl) {
  proctrack_config cfg;
  if (auto done = start_command(cfg, cl, "proctrack collector"))
    return *done;
  if (!cl.operands.empty())
    return fail("unexpected argument " + cl.operands.front());
  // Host streams only from peers that passed mutual TLS. Without TLS there
  // is no identity: allow-insecure opens a loopback listener where every
  // local user may write every host (tests, demos), and nothing else.
  if (!cfg.tls_enabled()) {
    if (!cfg.allow_insecure)
      return fail("the collector needs tls.certificate, tls.key and tls.ca "
                  "(mutual TLS: a host's certificate names the one host it "
                  "may write); allow-insecure=true listens without TLS on a "
                  "loopback listen.host, for tests and demos only");
    if (!is_loopback(cfg.listen_host))
      return fail("listen.host " + cfg.listen_host
                  + " is not loopback: without TLS (allow-insecure=true) the "
                    "collector listens on loopback only");
  } else if (auto why = cfg.check_listen(cfg.listen_host, "listen.host");
             !why.empty()) {
    return fail(why);
  }
  if (!cl.history.empty())
    return fail("--history is replay's and query's: the collector keeps its "
                "history at history.path (--history.path=FILE)");
  auto cache_cfg = cfg.make_cache_config();
  collector_config cc;
  cc.table = cache_cfg.table;
  cc.max_hosts = static_cast<std::size_t>(cfg.collector_max_hosts);
  cc.history_max_unacked_rows = cache_cfg.history_max_unacked_rows;
  cc.history_max_unacked_bytes = cache_cfg.history_max_unacked_bytes;
  // The collector keeps a history only where history.path says
  // (docs/fleet.md "History"): the default is the local agent's store,
  // which a collector must not write (the agent reloads and retires it
  // as its own), and a fleet's store needs a size chosen for the fleet.
  bool history_asked = cfg.history_path != defaults::agent_history_path;
  for (auto &a : cl.config_args)
    history_asked = history_asked || a.rfind("--history.path=", 0) == 0;
  std::string history_path = history_asked ? cfg.history_path : "";
  // Block the stop signals before CAF starts its threads, then wait for one.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  cfg.load_network();
  caf::actor_system sys{cfg};
  std::string error;
  history_actor history;
  if (!history_path.empty()) {
    // One store for every host, the host's name as its key; no cache: the
    // collector sends each mirror's changes itself.
    auto hc = cfg.make_history_config(history_path, cache_cfg);
    history = spawn_history(sys, hc, cache_actor{}, error);
    if (!history)
      return fail(error);
    spdlog::info("process history of the hosts: {}", history_path);
  }
  auto handle = spawn_collector(sys, cc, error, history);
  if (!handle) {
    if (history)
      caf::anon_send_exit(history, caf::exit_reason::user_shutdown);
    return fail(error);
  }
  collector_endpoint_config ec;
  ec.tls = cfg.tls_enabled();
  ec.middleman = ec.tls ? sys.openssl_manager().actor_handle()
                        : sys.middleman().actor_handle();
  auto endpoint = spawn_collector_endpoint(sys, handle, ec);
  auto stop_actors = [&] {
    caf::anon_send_exit(endpoint, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(handle, caf::exit_reason::user_shutdown);
    if (history) {
      // What the mirrors changed until the collector stopped, written
      // before the history stops.
      caf::scoped_actor self{sys};
      self->wait_for(handle);
      self->request(history, std::chrono::seconds(5), atom::flush_v)
          .receive([](std::uint64_t) {}, [](caf::error &) {});
      caf::anon_send_exit(history, caf::exit_reason::user_shutdown);
    }
  };
  auto port = static_cast<std::uint16_t>(cfg.listen_port);
  // The guard bounds connections and announced message sizes, which CAF's
  // own listener does not (docs/security.md). An agent's batch is at most
  // forward.chunk updates; a message is at most listen.max-message bytes.
  listen_guard_config gc;
  gc.name = "collector";
  gc.tls = cfg.tls_enabled();
  gc.max_connections = static_cast<std::size_t>(cfg.listen_max_connections);
  gc.max_message = static_cast<std::size_t>(cfg.listen_max_message);
  // Without TLS anyone on the host may send: all connections together may
  // announce one message's worth; with TLS only authenticated agents get
  // past the handshake to send a header at all.
  gc.max_pending = gc.tls ? 4 * gc.max_message : gc.max_message;
  auto bound = guarded_publish(sys, endpoint, port, cfg.listen_host, gc);
  if (!bound) {
    stop_actors();
    return fail("cannot listen on " + cfg.listen_host + ":"
                + std::to_string(port) + ": " + sys.render(bound.error()));
  }
  // The one stdout line: where we listen (port 0 picks a free one).
  std::printf("{\"listening\":\"%s:%u\",\"tls\":%s}\n", cfg.listen_host.c_str(),
              static_cast<unsigned>(*bound),
              cfg.tls_enabled() ? "true" : "false");
  std::fflush(stdout);
  spdlog::info("collector listening on {}:{}{}", cfg.listen_host, *bound,
               cfg.tls_enabled() ? " (TLS)" : "");
  if (!cfg.tls_enabled())
    spdlog::warn("collector {}:{} WITHOUT TLS (allow-insecure=true): EVERY "
                 "LOCAL USER can write ANY host's mirror and read every "
                 "host; for tests and demos only",
                 cfg.listen_host, *bound);
  if (cfg.tls_enabled() && !tls_audit_active())
    spdlog::warn("tls: SSL_CTX_set_verify is not interposed (see "
                 "docs/fleet.md): refused peers are not counted (TlsRefused)");
  int sig = 0;
  sigwait(&stop, &sig);
  spdlog::info("collector stopping (signal {})", sig);
  stop_actors();
  return 0;
}

} // namespace proctrack
