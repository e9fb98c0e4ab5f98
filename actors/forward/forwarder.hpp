// The forwarder: sends this host's update stream to a fleet collector as
// typed messages between remote actors (issue 7, docs/fleet.md). It is the
// cache's typed sink: a snapshot of the cache first, then every batch the
// cache applies, numbered per session and acked by the collector. While the
// collector is unreachable it keeps at most `buffer` updates and counts what
// it drops; on reconnect (with backoff) it resumes where the collector
// stopped when nothing was lost, else it sends a fresh snapshot first.
#pragma once

#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

namespace proctrack {

struct forwarder_config {
  std::string collector_host;       ///< forward.connect, before the ':'
  std::uint16_t collector_port = 0; ///< forward.connect, after the ':'
  std::string host;                 ///< agent.host-name: tags every message
  std::size_t buffer = 100000;      ///< forward.buffer: stream updates kept
  caf::timespan timeout = std::chrono::seconds(30); ///< forward.timeout
  caf::timespan stats_interval = std::chrono::seconds(10);
  caf::timespan backoff_min = std::chrono::milliseconds(100);
  caf::timespan backoff_max = std::chrono::seconds(5);
  std::size_t chunk = 1024;      ///< updates per message
  std::size_t max_in_flight = 4; ///< messages sent but not yet acked
  bool tls = false;              ///< connect through CAF's openssl module
  /// Connects through this middleman actor instead of the system's (or
  /// openssl's): a test's, to run the forwarder in one process.
  caf::io::middleman_actor middleman;
  // The host's table limits, sent with each snapshot so the collector's
  // mirror evicts exactly as the host does.
  std::uint64_t max_size = 10000;
  std::uint64_t max_children = 10;
  std::uint64_t max_bytes = std::uint64_t{64} << 20;
  timestamp max_expiry = 24 * 3600 * hns_per_second;
  std::uint64_t max_pending_exits = 4096;

  /// Empty when valid, else what is wrong, naming the config key.
  std::string validate() const;
};

struct forwarder_state {
  static inline const char *name = "proctrack.forwarder";

  collector_actor collector;
  /// Carries this connection's messages to the collector, in order (see
  /// forwarder.cpp, courier); set with `collector`.
  fleet_ingest_api courier;
  bool connecting = false;
  bool awaiting_snapshot = false; ///< asked the cache for one
  bool resync = false;            ///< updates were lost: snapshot next
  std::uint64_t session = 0;
  std::uint64_t next_seq = 1;
  std::uint64_t epoch = 0;         ///< bumped on disconnect and snapshot
  std::deque<fleet_batch> pending; ///< unacked messages, by seq
  std::size_t sent = 0;            ///< the first `sent` are in flight
  std::size_t pending_updates = 0; ///< stream updates in `pending`
  std::chrono::steady_clock::time_point last_drop_warning{};
  caf::timespan backoff{};
  std::vector<counter> last_stats;
  std::vector<caf::typed_response_promise<stats_report>> flush_waiters;
  /// Paced sources waiting for room, with the room each needs.
  std::vector<std::pair<caf::typed_response_promise<bool>, std::uint64_t>>
      ready_waiters;
  std::int64_t updates_in = 0, updates_acked = 0, dropped = 0, superseded = 0,
               snapshots = 0, connects = 0, connect_failures = 0,
               disconnects = 0, refused = 0;

  // The steps, set up by the behavior (they call each other).
  std::function<void()> pump;                   ///< send what may go now
  std::function<void()> take_snapshot;          ///< start over from the cache
  std::function<void()> connect;                ///< connect and say hello
  std::function<void(const caf::error &)> fail; ///< lost the collector

  stats_report report() const;

  /// Whether a paced source that will send `n` more updates may go on
  /// (atom::ready): no collector is connected (nobody to wait for), or
  /// nothing waits, or the `n` fit in the buffer and what waits is at most
  /// two windows of messages in flight (enough to keep the connection
  /// busy: a paced replay need not fill a large forward.buffer).
  bool has_room(const forwarder_config &cfg, std::uint64_t n) const {
    auto window = 2 * cfg.chunk * cfg.max_in_flight;
    return !collector || pending_updates == 0
           || (pending_updates + n <= cfg.buffer && pending_updates <= window);
  }
};

forwarder_actor::behavior_type
forwarder(forwarder_actor::stateful_pointer<forwarder_state> self,
          forwarder_config cfg, cache_actor cache);

/// Spawns a forwarder that subscribes to `cache` and connects to the
/// collector. The actor system must have the middleman loaded (and the
/// openssl manager when cfg.tls). Empty with `error` set when cfg is bad.
forwarder_actor spawn_forwarder(caf::actor_system &sys,
                                const forwarder_config &cfg, cache_actor cache,
                                std::string &error);

/// Splits "HOST:PORT" (IPv6 as [::1]:PORT); false when malformed.
bool parse_host_port(const std::string &text, std::string &host,
                     std::uint16_t &port);

/// True for a usable host name: 1-255 of [A-Za-z0-9._-].
bool valid_host_name(const std::string &name);

} // namespace proctrack
