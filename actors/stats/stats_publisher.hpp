// The stats publisher: every stats.interval it asks each actor for its
// counters (the shared stats_api), merges them into one `stats` row and
// sends it to the output stream; it also hands the merged counters to the
// cache so `stats` queries see them. (The cache's expiry is its own timer.)
#pragma once

#include "actors/common/defaults.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace proctrack {

struct stats_publisher_config {
  std::chrono::nanoseconds interval = defaults::stats_interval;
  /// Counters added as they are to every row (e.g. the agent's
  /// ReducedMode).
  std::vector<counter> fixed;

  std::string validate() const;
};

struct stats_publisher_state {
  static inline const char *name = "proctrack.stats_publisher";

  std::vector<counter> last;  ///< the last merged counters
  std::vector<counter> fixed; ///< stats_publisher_config::fixed
  std::int64_t rows = 0;
  std::int64_t round = 0; ///< current polling round
};

/// Polled: the cache (first: its counters lead the row) and any others.
stats_publisher_actor::behavior_type stats_publisher(
    stats_publisher_actor::stateful_pointer<stats_publisher_state> self,
    stats_publisher_config cfg, cache_actor cache,
    std::vector<stats_api> others, update_sink_actor sink);

stats_publisher_actor spawn_stats_publisher(caf::actor_system &sys,
                                            const stats_publisher_config &cfg,
                                            cache_actor cache,
                                            std::vector<stats_api> others,
                                            update_sink_actor sink);

/// Adds `more` into `into`: counters of the same name are summed.
void merge_counters(std::vector<counter> &into,
                    const std::vector<counter> &more);

} // namespace proctrack
