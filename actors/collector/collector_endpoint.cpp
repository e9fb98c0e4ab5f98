#include "actors/collector/collector_endpoint.hpp"

#include "actors/common/tls_audit.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include <memory>

namespace proctrack {

namespace {

struct endpoint_state {
  static inline const char *name = "proctrack.collector-endpoint";
  std::int64_t not_own_host = 0;
};

using endpoint_pointer = collector_actor::stateful_pointer<endpoint_state>;

// Sends `xs` to the collector and the answer (or its error) back to the
// requester, from the endpoint: the collector's handle stays here.
template <class T, class... Ts>
caf::typed_response_promise<T> relay(endpoint_pointer self,
                                     const collector_actor &collector,
                                     std::chrono::seconds timeout, Ts &&...xs) {
  auto rp = self->make_response_promise<T>();
  self->request(collector, timeout, std::forward<Ts>(xs)...)
      .then([rp](T &x) mutable { rp.deliver(std::move(x)); },
            [rp](caf::error &e) mutable { rp.deliver(std::move(e)); });
  return rp;
}

// Calls `done(why)` with `why` empty when a message from `sender` may
// write `host`: without TLS always; with TLS when the sender's connection
// presented a certificate whose CN is `host`. The lookup is awaited, so
// a host's stream stays in order. (`sender` is taken before the handler
// makes its response promise, which moves it out of the message.)
template <class F>
void check_own_host(endpoint_pointer self, const collector_endpoint_config &cfg,
                    const caf::strong_actor_ptr &sender,
                    const std::string &host, F done) {
  if (!cfg.tls) {
    done(std::string{});
    return;
  }
  if (!sender) {
    done(std::string{"an anonymous message: no sender to identify"});
    return;
  }
  auto node = sender->node();
  if (node == self->node()) {
    // Only a peer's routed message can claim this process as its origin.
    done(std::string{"a message claiming to come from the collector itself"});
    return;
  }
  self->request(cfg.middleman, cfg.timeout, caf::get_atom::value, node)
      .await(
          [=](const caf::node_id &, std::string &addr,
              std::uint16_t port) mutable {
            if (addr.empty()) {
              done(std::string{"a sender without a connection of its own"});
              return;
            }
            auto name = tls_peer_name(addr, port);
            if (name.empty())
              done("the certificate of " + addr + ":" + std::to_string(port)
                   + " names no host (no single subject CN)");
            else if (name != host)
              done("the certificate of " + addr + ":" + std::to_string(port)
                   + " names host " + name.substr(0, 64) + ", not this one");
            else
              done(std::string{});
          },
          [=](caf::error &e) mutable {
            done("cannot identify the sender: " + caf::to_string(e));
          });
}

collector_actor::behavior_type endpoint(endpoint_pointer self,
                                        collector_actor collector,
                                        collector_endpoint_config cfg) {
  auto refuse = [self](const std::string &host, const std::string &why) {
    ++self->state.not_own_host;
    spdlog::warn("collector: refused a stream for host {}: {}",
                 host.substr(0, 64), why);
    return caf::make_error(caf::sec::invalid_argument, "not your host: " + why);
  };
  return {
      [=](fleet_batch &b) {
        auto sender = self->current_sender();
        auto rp = self->make_response_promise<std::uint64_t>();
        auto msg = std::make_shared<fleet_batch>(std::move(b));
        check_own_host(
            self, cfg, sender, msg->host, [=](const std::string &why) mutable {
              if (!why.empty()) {
                rp.deliver(refuse(msg->host, why));
                return;
              }
              self->request(collector, cfg.timeout, std::move(*msg))
                  .then([rp](std::uint64_t seq) mutable { rp.deliver(seq); },
                        [rp](caf::error &e) mutable {
                          rp.deliver(std::move(e));
                        });
            });
        return rp;
      },
      [=](atom::subscribe, std::string &host, std::uint64_t session) {
        auto sender = self->current_sender();
        auto rp = self->make_response_promise<std::uint64_t>();
        check_own_host(
            self, cfg, sender, host, [=](const std::string &why) mutable {
              if (!why.empty()) {
                rp.deliver(refuse(host, why));
                return;
              }
              self->request(collector, cfg.timeout, atom::subscribe_v, host,
                            session)
                  .then([rp](std::uint64_t next) mutable { rp.deliver(next); },
                        [rp](caf::error &e) mutable {
                          rp.deliver(std::move(e));
                        });
            });
        return rp;
      },
      [=](std::string &host, query &q) {
        return relay<std::string>(self, collector, cfg.timeout, std::move(host),
                                  std::move(q));
      },
      [=](std::string &host, query &q, timestamp as_of) {
        return relay<std::string>(self, collector, cfg.timeout, std::move(host),
                                  std::move(q), as_of);
      },
      [=](atom::hosts) {
        return relay<std::string>(self, collector, cfg.timeout, atom::hosts_v);
      },
      [=](atom::stats) {
        auto rp = self->make_response_promise<stats_report>();
        self->request(collector, cfg.timeout, atom::stats_v)
            .then(
                [self, rp](stats_report &r) mutable {
                  r.counters.push_back(
                      {"NotOwnHost", self->state.not_own_host});
                  rp.deliver(std::move(r));
                },
                [rp](caf::error &e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
  };
}

} // namespace

collector_actor spawn_collector_endpoint(caf::actor_system &sys,
                                         collector_actor collector,
                                         collector_endpoint_config cfg) {
  return sys.spawn(endpoint, std::move(collector), std::move(cfg));
}

} // namespace proctrack
