// The cache actor: the one owner of a process table. It applies update
// batches, answers queries, asks the enricher for PE version information
// and feeds the output stream to its subscribers.
#pragma once

#include "actors/cache/process_table.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <deque>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace proctrack {

struct cache_config {
  table_config table;
  bool forward_updates = false;            ///< tracker.also-forward-updates
  bool add_enrichments = false;            ///< tracker.add-enrichments
  std::size_t max_enrichment_cache = 4096; ///< version infos kept per path

  /// tracker.max-bytes bounds: at least 1 MiB (a few processes with every
  /// value at the 32 KiB cap), at most 1 TiB (beyond it, a typo).
  static constexpr std::size_t min_max_bytes = std::size_t{1} << 20;
  static constexpr std::size_t max_max_bytes = std::size_t{1} << 40;

  /// Empty when valid, else what is wrong, naming the config key.
  std::string validate() const;
};

struct cache_state {
  static inline const char *name = "proctrack.cache";

  process_table table;
  std::vector<update_sink_actor> sinks;
  std::vector<update_batch_sink_actor> batch_sinks; ///< typed (fleet)
  // Enrichment bookkeeping: results by path (bounded), paths in flight, and
  // flush requests waiting for the in-flight ones.
  std::unordered_map<std::string, enrichment> enriched;
  std::deque<std::string> enriched_order;
  std::unordered_set<std::string> enriching;
  std::vector<caf::typed_response_promise<bool>> flush_waiters;
  // Counters other actors published (by source) and our own.
  std::vector<stats_report> published;
  std::int64_t enrich_requests = 0, enrich_done = 0, enrich_failed = 0;

  std::vector<counter> all_counters() const;
};

cache_actor::behavior_type
cache(cache_actor::stateful_pointer<cache_state> self, cache_config cfg,
      enricher_actor enricher);

/// Validates `cfg` and spawns the cache. `enricher` may be null (no
/// enrichment even when add_enrichments is set).
cache_actor spawn_cache(caf::actor_system &sys, const cache_config &cfg,
                        enricher_actor enricher = {});

} // namespace proctrack
