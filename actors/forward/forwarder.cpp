#include "actors/forward/forwarder.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#ifndef PROCTRACK_NO_TLS // the Windows build has no OpenSSL
#include <caf/openssl/all.hpp>
#endif
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <random>

namespace proctrack {

std::string forwarder_config::validate() const {
  if (collector_host.empty() || collector_port == 0)
    return "forward.connect must be HOST:PORT";
  if (!valid_host_name(host))
    return "agent.host-name must be 1-255 characters of A-Z a-z 0-9 . _ - "
           "(got \""
           + host + "\")";
  if (buffer < 1)
    return "forward.buffer must be at least 1";
  if (timeout.count() <= 0)
    return "forward.timeout must be a positive duration";
  if (chunk < 1 || max_in_flight < 1)
    return "forwarder chunk and max-in-flight must be at least 1";
  return {};
}

bool parse_host_port(const std::string &text, std::string &host,
                     std::uint16_t &port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return false;
  host = text.substr(0, colon);
  if (host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto digits = text.substr(colon + 1);
  if (digits.size() > 5
      || digits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  auto p = std::stoul(digits);
  if (p == 0 || p > 65535)
    return false;
  port = static_cast<std::uint16_t>(p);
  return !host.empty();
}

bool valid_host_name(const std::string &name) {
  if (name.empty() || name.size() > 255)
    return false;
  for (unsigned char c : name)
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

forward_queue_config forwarder_config::queue_config() const {
  forward_queue_config q;
  q.host = host;
  q.buffer = buffer;
  q.chunk = chunk;
  q.max_in_flight = max_in_flight;
  q.table = table;
  return q;
}

namespace {

using fwd_ptr = forwarder_actor::stateful_pointer<forwarder_state>;

// The courier: the only actor whose handle the forwarder puts on the wire
// (issue 13, docs/security.md). CAF 0.17 registers an actor with the
// middleman once its handle is serialized (as the sender of a request, say)
// and delivers any peer's message to any registered actor by its small
// sequential id, whichever endpoint the peer connected to. Had the
// forwarder asked the collector itself, a client of the agent's query.port
// could send it update_batch, which it would forward as this host's stream.
// So the messages of one connection (the hello, then every fleet_batch) go
// through a courier spawned for that connection: it takes messages from the
// forwarder only, relays them to the collector in the order it got them,
// relays each answer (ack, next seq, or error, within `timeout`), and goes
// when the forwarder ends the connection or exits. A peer that reaches it
// by its id is refused: the forwarder's handle never leaves this process,
// so it is not in the registry and no peer can pose as it (CAF resolves a
// sender that claims this node through the registry). Exits and downs
// from anyone but the forwarder are ignored, so a peer cannot stop it
// either.
//
// One courier per connection, not one per message: couriers of their own
// are separate actors that the scheduler runs in any order, so on a loaded
// machine message N+1 reached the collector before N, which refused it as
// a gap, and the forwarder reconnected and sent a full sync (docs/fleet.md).
// One actor sending to one other keeps their order.
fleet_ingest_api::behavior_type courier(fleet_ingest_api::pointer self,
                                        caf::actor_addr owner,
                                        collector_actor collector,
                                        caf::timespan timeout) {
  self->set_exit_handler([self, owner](caf::exit_msg &m) {
    if (m.source == owner)
      self->quit(m.reason);
  });
  self->set_down_handler([self, owner](caf::down_msg &m) {
    if (m.source == owner)
      self->quit(m.reason);
  });
  self->monitor(owner);
  auto relay = [self, owner, collector,
                timeout](auto &&...xs) -> caf::result<std::uint64_t> {
    if (caf::actor_cast<caf::actor_addr>(self->current_sender()) != owner)
      return caf::make_error(caf::sec::unexpected_message);
    auto rp = self->make_response_promise<std::uint64_t>();
    self->request(collector, timeout, std::forward<decltype(xs)>(xs)...)
        .then([rp](std::uint64_t n) mutable { rp.deliver(n); },
              [rp](caf::error &e) mutable { rp.deliver(std::move(e)); });
    return rp;
  };
  return {
      [relay](fleet_batch &b) { return relay(std::move(b)); },
      [relay](atom::subscribe, std::string &host, std::uint64_t session) {
        return relay(atom::subscribe_v, std::move(host), session);
      },
  };
}

// The courier of a new connection to `collector` (see courier).
fleet_ingest_api make_courier(fwd_ptr self, const collector_actor &collector,
                              caf::timespan timeout) {
  return self->home_system().spawn(courier, self->address(), collector,
                                   timeout);
}

} // namespace

forwarder_actor::behavior_type forwarder(fwd_ptr self, forwarder_config cfg,
                                         cache_actor cache) {
  auto session = std::random_device{}() * std::uint64_t{0x100000000}
                 + std::random_device{}();
  if (session == 0)
    session = 1;
  self->state.queue =
      std::make_unique<forward_queue>(cfg.queue_config(), session);
  self->state.backoff = cfg.backoff_min;
  auto sink = caf::actor_cast<update_batch_sink_actor>(self);

  auto report = [self] {
    return stats_report{forwarder_state::name, self->state.queue->report()};
  };

  auto release_flushes = [self, report](bool force) {
    if (!self->state.queue->delivered() && !force)
      return;
    auto r = report();
    for (auto &p : self->state.flush_waiters)
      p.deliver(r);
    self->state.flush_waiters.clear();
  };

  // Pacing (atom::ready): room for more, or nobody to wait for. A waiter
  // hears false: it had to wait.
  auto release_ready = [self] {
    auto &st = self->state;
    auto &ws = st.ready_waiters;
    bool connected = static_cast<bool>(st.collector);
    auto released = std::stable_partition(ws.begin(), ws.end(), [&](auto &w) {
      return !st.queue->has_room(connected, w.second);
    });
    for (auto i = released; i != ws.end(); ++i)
      i->first.deliver(false);
    ws.erase(released, ws.end());
  };

  // Sends what may go now: at most max_in_flight unacked messages.
  self->state.pump = [self, cfg, release_flushes, release_ready] {
    auto &st = self->state;
    auto &q = *st.queue;
    if (!st.collector || !st.courier || st.connecting || q.awaiting_snapshot())
      return;
    if (q.resync()) {
      st.take_snapshot();
      return;
    }
    while (auto *b = q.next_to_send()) {
      auto epoch = q.epoch();
      // Through the connection's courier, which answers within
      // cfg.timeout (or with request_timeout); the forwarder's own handle
      // never goes out.
      self->request(st.courier, caf::infinite, *b)
          .then(
              [self, cfg, epoch, release_flushes,
               release_ready](std::uint64_t seq) {
                auto &st = self->state;
                if (epoch != st.queue->epoch())
                  return;
                // Backoff starts over only once the collector takes our
                // messages: one that refuses them (max-hosts, a bad
                // message) is not hammered at the shortest interval.
                st.backoff = cfg.backoff_min;
                st.queue->acked(seq);
                st.pump();
                release_flushes(false);
                release_ready();
              },
              [self, epoch](caf::error &err) {
                if (epoch != self->state.queue->epoch())
                  return;
                self->state.fail(err);
              });
    }
  };

  // Forgets what is pending and asks the cache for a fresh snapshot; every
  // batch the cache applied before answering is in it.
  self->state.take_snapshot = [self, cache, sink, release_ready] {
    self->state.queue->begin_snapshot();
    release_ready();
    self->request(cache, caf::infinite, atom::snapshot_v, sink)
        .then(
            [self](table_state &s) {
              self->state.queue->queue_snapshot(std::move(s));
              self->state.pump();
            },
            [self](caf::error &err) {
              spdlog::error("forwarder: the cache gave no snapshot: {}",
                            caf::to_string(err));
              self->quit(err);
            });
  };

  auto schedule_reconnect = [self, cfg] {
    auto &st = self->state;
    self->delayed_send(self, st.backoff, atom::reconnect_v);
    st.backoff = std::min(cfg.backoff_max, st.backoff * 2);
  };

  self->state.fail = [self, schedule_reconnect,
                      release_ready](const caf::error &err) {
    auto &st = self->state;
    if (!st.collector)
      return;
    spdlog::warn("forwarder: lost the collector ({}); reconnecting",
                 caf::to_string(err));
    st.queue->lost(err == caf::sec::request_receiver_down ? collector_loss::down
                   : err == caf::sec::request_timeout
                       ? collector_loss::timeout
                       : collector_loss::refused);
    self->demonitor(st.collector.address());
    st.collector = nullptr;
    self->send_exit(st.courier, caf::exit_reason::user_shutdown);
    st.courier = nullptr;
    schedule_reconnect();
    release_ready(); // nobody to wait for now
  };

  // Connects asynchronously through the middleman (or its TLS twin), says
  // hello and resumes or resyncs.
  self->state.connect = [self, cfg, schedule_reconnect] {
    auto &st = self->state;
    if (st.collector || st.connecting)
      return;
    st.connecting = true;
    auto &sys = self->home_system();
    caf::io::middleman_actor mm = cfg.middleman ? cfg.middleman
#ifndef PROCTRACK_NO_TLS // else cfg.tls is refused at spawn (no manager)
                                  : cfg.tls
                                      ? sys.openssl_manager().actor_handle()
#endif
                                      : sys.middleman().actor_handle();
    auto on_error = [self, schedule_reconnect](caf::error &err) {
      auto &st = self->state;
      st.connecting = false;
      st.collector = nullptr;
      ++st.queue->counters.connect_failures;
      spdlog::debug("forwarder: cannot connect: {}", caf::to_string(err));
      schedule_reconnect();
    };
    self->request(mm, cfg.timeout, caf::connect_atom::value, cfg.collector_host,
                  cfg.collector_port)
        .then(
            [self, cfg, on_error](caf::node_id &, caf::strong_actor_ptr &ptr,
                                  std::set<std::string> &ifs) {
              auto &sys = self->home_system();
              // A collector takes the stream (and may answer more, such
              // as a newer one's queries): what we send is what counts.
              auto expected = sys.message_types<fleet_ingest_api>();
              if (!ptr
                  || !std::includes(ifs.begin(), ifs.end(), expected.begin(),
                                    expected.end())) {
                caf::error e = caf::make_error(
                    caf::sec::unexpected_actor_messaging_interface);
                on_error(e);
                return;
              }
              auto handle = caf::actor_cast<collector_actor>(std::move(ptr));
              auto courier = make_courier(self, handle, cfg.timeout);
              self->request(courier, caf::infinite, atom::subscribe_v, cfg.host,
                            self->state.queue->session())
                  .then(
                      [self, handle, courier, cfg](std::uint64_t next) {
                        auto &st = self->state;
                        st.connecting = false;
                        st.collector = handle;
                        st.courier = courier;
                        self->monitor(handle);
                        ++st.queue->counters.connects;
                        spdlog::info("forwarder: connected to {}:{} as {}",
                                     cfg.collector_host, cfg.collector_port,
                                     cfg.host);
                        // Resume where the collector is, when nothing it
                        // needs is lost; else start over with a snapshot.
                        if (st.queue->resume_at(next))
                          st.pump();
                        else
                          st.take_snapshot();
                      },
                      [self, courier, on_error](caf::error &err) {
                        self->send_exit(courier,
                                        caf::exit_reason::user_shutdown);
                        on_error(err);
                      });
            },
            on_error);
  };

  self->set_down_handler([self](caf::down_msg &dm) {
    auto &st = self->state;
    if (st.collector && dm.source == st.collector.address())
      self->state.fail(caf::make_error(caf::sec::request_receiver_down));
  });

  // Start: subscribe (the first snapshot), connect, stats timer.
  self->state.queue->begin_snapshot();
  self->request(cache, caf::infinite, atom::snapshot_v, sink)
      .then(
          [self](table_state &s) {
            self->state.queue->queue_snapshot(std::move(s));
            self->state.pump();
          },
          [self](caf::error &err) { self->quit(err); });
  self->state.connect();
  self->delayed_send(self, cfg.stats_interval, atom::tick_v);

  return {
      [self, cfg](update_batch &b) {
        auto &st = self->state;
        auto r = st.queue->offer(std::move(b));
        if (r == offer_result::first_drop) {
          // Once per episode, and at most every 10 s while the collector
          // keeps falling behind.
          auto now = std::chrono::steady_clock::now();
          if (now - st.last_drop_warning >= std::chrono::seconds(10)) {
            spdlog::warn("forwarder: buffer of {} updates full; dropping "
                         "until the next snapshot ({} dropped so far)",
                         cfg.buffer, st.queue->counters.dropped);
            st.last_drop_warning = now;
          }
        }
        if (r != offer_result::ignored && r != offer_result::superseded)
          st.pump();
      },
      [report](atom::stats) -> stats_report { return report(); },
      [self](atom::ready, std::uint64_t n) -> caf::result<bool> {
        auto &st = self->state;
        if (st.queue->has_room(static_cast<bool>(st.collector), n))
          return true;
        auto p = self->make_response_promise<bool>();
        st.ready_waiters.emplace_back(p, n);
        return p;
      },
      [self, cfg, cache,
       release_flushes](atom::flush) -> caf::result<stats_report> {
        auto p = self->make_response_promise<stats_report>();
        self->state.flush_waiters.push_back(p);
        self->delayed_send(self, cfg.timeout, atom::timeout_v);
        // The host's final counters travel with the stream, then wait.
        self->request(cache, caf::infinite, atom::stats_v)
            .then(
                [self, release_flushes](stats_report &r) {
                  self->state.queue->queue_final_stats(std::move(r.counters));
                  self->state.pump();
                  release_flushes(false);
                },
                [release_flushes](caf::error &) { release_flushes(false); });
        return p;
      },
      [self](atom::reconnect) {
        if (!self->state.collector)
          self->state.connect();
      },
      [self, cfg, cache](atom::tick) {
        self->delayed_send(self, cfg.stats_interval, atom::tick_v);
        self->request(cache, caf::infinite, atom::stats_v)
            .then(
                [self](stats_report &r) {
                  self->state.queue->queue_stats(std::move(r.counters));
                  self->state.pump();
                },
                [](caf::error &) {});
      },
      [release_flushes](atom::timeout) { release_flushes(true); },
  };
}

forwarder_actor spawn_forwarder(caf::actor_system &sys,
                                const forwarder_config &cfg, cache_actor cache,
                                std::string &error) {
  error = cfg.validate();
  if (!error.empty())
    return {};
  if (!sys.has_middleman()) {
    error = "forwarding needs CAF's middleman (load caf::io::middleman)";
    return {};
  }
  if (cfg.tls && !sys.has_openssl_manager()) {
    error = "forwarding with TLS needs caf::openssl::manager loaded";
    return {};
  }
  return sys.spawn(forwarder, cfg, std::move(cache));
}

} // namespace proctrack
