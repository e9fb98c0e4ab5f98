// The forwarder: sends this host's update stream to a fleet collector as
// typed messages between remote actors (issue 7, docs/fleet.md). It is the
// cache's typed sink: a snapshot of the cache first, then every batch the
// cache applies, numbered per session and acked by the collector. While the
// collector is unreachable it keeps at most `buffer` updates and counts what
// it drops; on reconnect (with backoff) it resumes where the collector
// stopped when nothing was lost, else it sends a fresh snapshot first.
#pragma once

#include "actors/common/defaults.hpp"
#include "actors/forward/forward_queue.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace proctrack {

struct forwarder_config {
  std::string collector_host;       ///< forward.connect, before the ':'
  std::uint16_t collector_port = 0; ///< forward.connect, after the ':'
  std::string host;                 ///< agent.host-name: tags every message
  std::size_t buffer =
      defaults::forward_buffer; ///< forward.buffer: updates kept
  caf::timespan timeout = defaults::forward_timeout; ///< forward.timeout
  caf::timespan stats_interval = defaults::stats_interval;
  caf::timespan backoff_min = std::chrono::milliseconds(100);
  caf::timespan backoff_max = std::chrono::seconds(5);
  std::size_t chunk = defaults::forward_chunk; ///< updates per message
  std::size_t max_in_flight =
      defaults::forward_max_in_flight; ///< unacked messages
  bool tls = false;                    ///< connect through CAF's openssl module
  /// Connects through this middleman actor instead of the system's (or
  /// openssl's): a test's, to run the forwarder in one process.
  caf::io::middleman_actor middleman;
  /// The host's table limits, sent with the stream so the collector's
  /// mirror evicts exactly as the host does (spawn_tracker sets them from
  /// its cache's).
  table_config table;

  /// Empty when valid, else what is wrong, naming the config key.
  std::string validate() const;
  /// What of it the protocol uses.
  forward_queue_config queue_config() const;
};

struct forwarder_state {
  static inline const char *name = "proctrack.forwarder";

  /// The protocol: messages queued, in flight and acked (forward_queue.hpp).
  /// Made by the behavior from the config and a random session.
  std::unique_ptr<forward_queue> queue;
  collector_actor collector;
  /// Carries this connection's messages to the collector, in order (see
  /// forwarder.cpp, courier); set with `collector`.
  fleet_ingest_api courier;
  bool connecting = false;
  std::chrono::steady_clock::time_point last_drop_warning{};
  caf::timespan backoff{};
  std::vector<caf::typed_response_promise<stats_report>> flush_waiters;
  /// Paced sources waiting for room, with the room each needs.
  std::vector<std::pair<caf::typed_response_promise<bool>, std::uint64_t>>
      ready_waiters;

  // The steps, set up by the behavior (they call each other).
  std::function<void()> pump;                   ///< send what may go now
  std::function<void()> take_snapshot;          ///< start over from the cache
  std::function<void()> connect;                ///< connect and say hello
  std::function<void(const caf::error &)> fail; ///< lost the collector
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
