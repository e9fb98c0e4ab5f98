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

namespace {

// What a message carries: its updates, the processes of a snapshot chunk
// and its enrichments.
std::size_t weight(const fleet_batch &b) {
  return b.updates.size() + b.state.processes.size() + b.enrichments.size();
}

// What a message counts against forward.buffer: its stream updates. A
// snapshot is not counted: it is one copy of the table, bounded by
// tracker.max-size, and counting it would make every table larger than
// the buffer overflow it again as soon as the next update arrives, so a
// busy host would send nothing but snapshots.
std::size_t buffered(const fleet_batch &b) {
  return b.updates.size() + b.enrichments.size();
}

} // namespace

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

stats_report forwarder_state::report() const {
  std::int64_t in_flight_updates = 0;
  for (auto &b : pending)
    in_flight_updates += static_cast<std::int64_t>(weight(b));
  bool delivered = pending.empty() && !awaiting_snapshot && !resync;
  return {name,
          {{"ForwardUpdatesIn", updates_in},
           {"ForwardUpdatesAcked", updates_acked},
           {"ForwardUndelivered", in_flight_updates},
           {"ForwardDropped", dropped},
           {"ForwardSuperseded", superseded},
           {"ForwardSnapshots", snapshots},
           {"ForwardConnects", connects},
           {"ForwardConnectFailures", connect_failures},
           {"ForwardDisconnects", disconnects},
           {"ForwardRefused", refused},
           {"ForwardDelivered", delivered ? 1 : 0}}};
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
  auto &st0 = self->state;
  st0.session = std::random_device{}() * std::uint64_t{0x100000000}
                + std::random_device{}();
  if (st0.session == 0)
    st0.session = 1;
  st0.backoff = cfg.backoff_min;
  auto sink = caf::actor_cast<update_batch_sink_actor>(self);

  auto release_flushes = [self](bool force) {
    auto &st = self->state;
    bool done = st.pending.empty() && !st.awaiting_snapshot && !st.resync;
    if (!done && !force)
      return;
    auto r = st.report();
    for (auto &p : st.flush_waiters)
      p.deliver(r);
    st.flush_waiters.clear();
  };

  // Pacing (atom::ready): room for more, or nobody to wait for. A waiter
  // hears false: it had to wait.
  auto release_ready = [self, cfg] {
    auto &st = self->state;
    auto &ws = st.ready_waiters;
    auto released = std::stable_partition(ws.begin(), ws.end(), [&](auto &w) {
      return !st.has_room(cfg, w.second);
    });
    for (auto i = released; i != ws.end(); ++i)
      i->first.deliver(false);
    ws.erase(released, ws.end());
  };

  auto make_batch = [self, cfg](bool snapshot) {
    auto &st = self->state;
    fleet_batch b;
    b.host = cfg.host;
    b.session = st.session;
    b.seq = st.next_seq++;
    b.snapshot = snapshot;
    b.max_size = cfg.max_size;
    b.max_children = cfg.max_children;
    b.max_bytes = cfg.max_bytes;
    // 0 in a batch means "not said" (the collector's own); expiry off
    // (a replay's default) travels as -1 so the mirror keeps all too.
    b.max_expiry = cfg.max_expiry > 0 ? cfg.max_expiry : -1;
    b.max_pending_exits = cfg.max_pending_exits;
    return b;
  };

  // Sends what may go now: at most max_in_flight unacked messages.
  self->state.pump = [self, cfg, release_flushes, release_ready] {
    auto &st = self->state;
    if (!st.collector || !st.courier || st.connecting || st.awaiting_snapshot)
      return;
    if (st.resync) {
      self->state.take_snapshot();
      return;
    }
    while (st.sent < st.pending.size() && st.sent < cfg.max_in_flight) {
      auto epoch = st.epoch;
      // Through the connection's courier, which answers within
      // cfg.timeout (or with request_timeout); the forwarder's own handle
      // never goes out.
      self->request(st.courier, caf::infinite, st.pending[st.sent])
          .then(
              [self, cfg, epoch, release_flushes,
               release_ready](std::uint64_t seq) {
                auto &st = self->state;
                if (epoch != st.epoch)
                  return;
                // Backoff starts over only once the collector takes our
                // messages: one that refuses them (max-hosts, a bad
                // message) is not hammered at the shortest interval.
                st.backoff = cfg.backoff_min;
                while (!st.pending.empty() && st.pending.front().seq <= seq) {
                  st.updates_acked +=
                      static_cast<std::int64_t>(weight(st.pending.front()));
                  st.pending_updates -= std::min(st.pending_updates,
                                                 buffered(st.pending.front()));
                  st.pending.pop_front();
                  if (st.sent > 0)
                    --st.sent;
                }
                st.pump();
                release_flushes(false);
                release_ready();
              },
              [self, epoch](caf::error &err) {
                if (epoch != self->state.epoch)
                  return;
                self->state.fail(err);
              });
      ++st.sent;
    }
  };

  // Queues the cache's state in chunks, the first one marked as the
  // snapshot and carrying the clock, the pending exits and the host's last
  // counters, and sends.
  auto queue_snapshot = [self, cfg, make_batch](table_state &s) {
    auto &st = self->state;
    st.awaiting_snapshot = false;
    ++st.snapshots;
    auto &procs = s.processes;
    std::size_t i = 0;
    do {
      auto fb = make_batch(i == 0);
      auto end = std::min(procs.size(), i + cfg.chunk);
      fb.state.processes.assign(std::make_move_iterator(procs.begin() + i),
                                std::make_move_iterator(procs.begin() + end));
      if (fb.snapshot) {
        fb.state.now = s.now;
        fb.state.last_expiry_run = s.last_expiry_run;
        fb.state.clock_candidate = s.clock_candidate;
        fb.state.pending_exits = std::move(s.pending_exits);
        fb.stats = st.last_stats;
      }
      st.pending.push_back(std::move(fb));
      i = end;
    } while (i < procs.size());
    st.pump();
  };

  // Forgets what is pending and asks the cache for a fresh snapshot; every
  // batch the cache applied before answering is in it.
  self->state.take_snapshot = [self, cache, sink, queue_snapshot,
                               release_ready] {
    auto &st = self->state;
    st.awaiting_snapshot = true;
    st.resync = false;
    st.superseded += static_cast<std::int64_t>(st.pending_updates);
    st.pending.clear();
    st.pending_updates = 0;
    st.sent = 0;
    ++st.epoch;
    release_ready();
    self->request(cache, caf::infinite, atom::snapshot_v, sink)
        .then([queue_snapshot](table_state &s) { queue_snapshot(s); },
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
    if (err != caf::sec::request_receiver_down
        && err != caf::sec::request_timeout)
      ++st.refused; // the collector refused a message: resync
    if (err != caf::sec::request_receiver_down)
      st.resync = true;
    ++st.disconnects;
    self->demonitor(st.collector.address());
    st.collector = nullptr;
    self->send_exit(st.courier, caf::exit_reason::user_shutdown);
    st.courier = nullptr;
    st.sent = 0;
    ++st.epoch;
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
      ++st.connect_failures;
      spdlog::debug("forwarder: cannot connect: {}", caf::to_string(err));
      schedule_reconnect();
    };
    self->request(mm, cfg.timeout, caf::connect_atom::value, cfg.collector_host,
                  cfg.collector_port)
        .then(
            [self, cfg, on_error](caf::node_id &, caf::strong_actor_ptr &ptr,
                                  std::set<std::string> &ifs) {
              auto &sys = self->home_system();
              auto expected = sys.message_types<collector_actor>();
              if (!ptr || ifs != expected) {
                caf::error e = caf::make_error(
                    caf::sec::unexpected_actor_messaging_interface);
                on_error(e);
                return;
              }
              auto handle = caf::actor_cast<collector_actor>(std::move(ptr));
              auto courier = make_courier(self, handle, cfg.timeout);
              self->request(courier, caf::infinite, atom::subscribe_v, cfg.host,
                            self->state.session)
                  .then(
                      [self, handle, courier, cfg](std::uint64_t next) {
                        auto &st = self->state;
                        st.connecting = false;
                        st.collector = handle;
                        st.courier = courier;
                        self->monitor(handle);
                        ++st.connects;
                        spdlog::info("forwarder: connected to {}:{} as {}",
                                     cfg.collector_host, cfg.collector_port,
                                     cfg.host);
                        // Resume where the collector is, when nothing it
                        // needs is lost; else start over with a snapshot.
                        bool ok = false;
                        if (!st.resync && !st.awaiting_snapshot) {
                          auto front = st.pending.empty()
                                           ? st.next_seq
                                           : st.pending.front().seq;
                          if (next != 0 && next >= front
                              && next <= st.next_seq) {
                            while (!st.pending.empty()
                                   && st.pending.front().seq < next) {
                              st.pending_updates -=
                                  std::min(st.pending_updates,
                                           buffered(st.pending.front()));
                              st.pending.pop_front();
                            }
                            ok = true;
                          } else if (!st.pending.empty()
                                     && st.pending.front().snapshot) {
                            ok = true;
                          }
                        } else if (st.awaiting_snapshot) {
                          ok = true; // one is on its way
                        }
                        st.sent = 0;
                        if (!ok)
                          self->state.take_snapshot();
                        else
                          self->state.pump();
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
  st0.awaiting_snapshot = true;
  self->request(cache, caf::infinite, atom::snapshot_v, sink)
      .then([queue_snapshot](table_state &s) { queue_snapshot(s); },
            [self](caf::error &err) { self->quit(err); });
  self->state.connect();
  self->delayed_send(self, cfg.stats_interval, atom::tick_v);

  return {
      [self, cfg, make_batch](update_batch &b) {
        auto &st = self->state;
        auto n = b.updates.size() + b.enrichments.size();
        if (n == 0 && b.expire_at == unknown_time)
          return;
        st.updates_in += static_cast<std::int64_t>(n);
        if (st.awaiting_snapshot) {
          st.superseded += static_cast<std::int64_t>(n); // in the snapshot
          return;
        }
        if (st.resync || st.pending_updates + n > cfg.buffer) {
          // The buffer is full (collector away or slow): drop, and make
          // the collector exact again with a snapshot once it is back.
          st.dropped += static_cast<std::int64_t>(n);
          // Once per episode, and at most every 10 s while the collector
          // keeps falling behind.
          auto now = std::chrono::steady_clock::now();
          if (!st.resync
              && now - st.last_drop_warning >= std::chrono::seconds(10)) {
            spdlog::warn("forwarder: buffer of {} updates full; dropping "
                         "until the next snapshot ({} dropped so far)",
                         cfg.buffer, st.dropped);
            st.last_drop_warning = now;
          }
          st.resync = true;
          self->state.pump();
          return;
        }
        // Updates in chunks; the enrichments and the expiry ride with the
        // last chunk, since they apply after the updates.
        auto &u = b.updates;
        std::size_t i = 0;
        // Small batches (a live agent's, a replay's with a small
        // ingest.batch-size) fill the last unsent message first: only
        // max_in_flight messages travel per round trip, so one batch per
        // message would make a busy host outrun its collector. Only a
        // message with nothing that applies after its updates can grow.
        if (st.pending.size() > st.sent) {
          auto &last = st.pending.back();
          if (!last.snapshot && last.state.processes.empty()
              && last.enrichments.empty() && last.expire_at == unknown_time
              && last.stats.empty() && last.updates.size() < cfg.chunk) {
            i = std::min(u.size(), cfg.chunk - last.updates.size());
            last.updates.insert(last.updates.end(),
                                std::make_move_iterator(u.begin()),
                                std::make_move_iterator(u.begin() + i));
            st.pending_updates += i;
            if (i == u.size()) {
              st.pending_updates += b.enrichments.size();
              last.enrichments = std::move(b.enrichments);
              last.expire_at = b.expire_at;
              self->state.pump();
              return;
            }
          }
        }
        do {
          auto fb = make_batch(false);
          auto end = std::min(u.size(), i + cfg.chunk);
          fb.updates.assign(std::make_move_iterator(u.begin() + i),
                            std::make_move_iterator(u.begin() + end));
          if (end == u.size()) {
            fb.enrichments = std::move(b.enrichments);
            fb.expire_at = b.expire_at;
          }
          st.pending_updates += end - i + fb.enrichments.size();
          st.pending.push_back(std::move(fb));
          i = end;
        } while (i < u.size());
        self->state.pump();
      },
      [self](atom::stats) -> stats_report { return self->state.report(); },
      [self, cfg](atom::ready, std::uint64_t n) -> caf::result<bool> {
        if (self->state.has_room(cfg, n))
          return true;
        auto p = self->make_response_promise<bool>();
        self->state.ready_waiters.emplace_back(p, n);
        return p;
      },
      [self, cfg, cache, make_batch,
       release_flushes](atom::flush) -> caf::result<stats_report> {
        auto p = self->make_response_promise<stats_report>();
        self->state.flush_waiters.push_back(p);
        self->delayed_send(self, cfg.timeout, atom::timeout_v);
        // The host's final counters travel with the stream, then wait.
        self->request(cache, caf::infinite, atom::stats_v)
            .then(
                [self, make_batch, release_flushes](stats_report &r) {
                  auto &st = self->state;
                  st.last_stats = r.counters;
                  if (!st.resync && !st.awaiting_snapshot) {
                    auto fb = make_batch(false);
                    fb.stats = st.last_stats;
                    st.pending.push_back(std::move(fb));
                  }
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
      [self, cfg, cache, make_batch](atom::tick) {
        self->delayed_send(self, cfg.stats_interval, atom::tick_v);
        self->request(cache, caf::infinite, atom::stats_v)
            .then(
                [self, make_batch](stats_report &r) {
                  auto &st = self->state;
                  st.last_stats = r.counters;
                  if (st.resync || st.awaiting_snapshot)
                    return; // the next snapshot carries them
                  // Only the latest stats matter: replace unsent ones.
                  if (st.pending.size() > st.sent
                      && st.pending.back().updates.empty()
                      && !st.pending.back().snapshot) {
                    st.pending.back().stats = st.last_stats;
                  } else {
                    auto fb = make_batch(false);
                    fb.stats = st.last_stats;
                    st.pending.push_back(std::move(fb));
                  }
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
