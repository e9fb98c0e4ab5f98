// The tracker as one unit, for applications that embed proctrack: from a
// plain settings struct, spawn_tracker validates everything and spawns the
// cache with the actors around it (enricher, stats publisher, forwarder)
// into the host's own actor system, and hands back their typed handles.
// docs/embedding.md describes the whole embedding surface.
#pragma once

#include "actors/cache/cache.hpp"
#include "actors/enricher/enricher.hpp"
#include "actors/forward/forwarder.hpp"
#include "actors/stats/stats_publisher.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>

#include <optional>
#include <string>
#include <vector>

namespace proctrack {

/// Optional stats publishing: every `config.interval` the publisher polls
/// the cache, the tracker's other actors and `others`, writes one `stats`
/// row to `sink` (when set) and keeps it for `atom::snapshot`. (The cache
/// runs its own expiry timer: cache_config::expiry_interval.)
struct tracker_stats_settings {
  stats_publisher_config config;
  update_sink_actor sink;        ///< receives the stats rows; may be null
  std::vector<stats_api> others; ///< the host's own actors to poll too
};

/// Everything spawn_tracker needs. Plain values: fill it from your own
/// configuration. Optional parts are off when empty.
struct tracker_settings {
  /// The cache: table limits (`cache.table`), whether applied updates go to
  /// `update_sink_actor` subscribers as JSON lines
  /// (`cache.forward_updates`), and whether started processes get PE
  /// version information (`cache.add_enrichments`, needs `enricher`).
  cache_config cache;
  /// The enricher (SPEC §7); off when empty. Also usable on its own
  /// (`atom::enrich`, path) when `cache.add_enrichments` is off.
  std::optional<enricher_config> enricher;
  /// The stats publisher; off when empty.
  std::optional<tracker_stats_settings> stats;
  /// Forwarding the update stream to a fleet collector (docs/fleet.md); off
  /// when empty. Needs the middleman loaded in the actor system (and the
  /// openssl manager when `tls`). Its table limits (`forward->table`) are
  /// taken from `cache.table`.
  std::optional<forwarder_config> forward;

  /// Empty when valid, else what is wrong, naming the setting (e.g.
  /// "tracker_settings.cache: tracker.max-size must be at least 1").
  std::string validate() const;
};

/// The tracker's actors; a handle is null when its part is off.
struct tracker {
  cache_actor cache;
  enricher_actor enricher;
  stats_publisher_actor stats;
  forwarder_actor forwarder;
};

/// Validates `settings` (and, for forwarding, that `sys` has the middleman)
/// and spawns the tracker's actors into `sys`. Nothing is spawned when
/// anything is wrong: the error is sec::invalid_argument with the message of
/// validate() as its context (tracker_error_message reads it back).
caf::expected<tracker> spawn_tracker(caf::actor_system &sys,
                                     const tracker_settings &settings);

/// The message of an error from spawn_tracker (or any error with a string
/// context); CAF's rendering of the error otherwise.
std::string tracker_error_message(const caf::error &err);

/// Sends every actor of `t` an exit message (user_shutdown): the stats
/// publisher and the forwarder first, then the cache and the enricher. The
/// actors stop asynchronously; await them with a scoped actor's wait_for.
void stop_tracker(const tracker &t);

} // namespace proctrack
