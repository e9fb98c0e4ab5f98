// The cache actor: the one owner of a process table. It applies update
// batches, answers queries, asks the enricher for PE version information
// and feeds the output stream to its subscribers (subscribers.hpp).
#pragma once

#include "actors/cache/enrichment_memory.hpp"
#include "actors/cache/process_table.hpp"
#include "actors/cache/subscribers.hpp"
#include "actors/common/defaults.hpp"
#include "actors/history/history_credit.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace proctrack {

struct cache_config {
  table_config table;
  bool forward_updates = false; ///< tracker.also-forward-updates
  bool add_enrichments = false; ///< tracker.add-enrichments
  std::size_t max_enrichment_cache =
      defaults::max_enrichment_cache; ///< version infos kept by Exe path
  /// One process table per host (process_update::host), so that logs of
  /// several machines replayed together never share a pid or GUID space
  /// (docs/semantics.md, "Several hosts in one replay"). Off for the agent
  /// (one machine) and for a forwarding replay (the collector mirrors one
  /// table per connection).
  bool split_hosts = false;
  std::size_t max_hosts = defaults::max_replay_hosts; ///< with split_hosts
  /// Time is the events' own (replay): a sync row written before any event
  /// says "unknown" (0001-01-01T00:00:00Z), never the wall clock, which
  /// would move a replay of the stream's "now" (docs/semantics.md, Output
  /// stream). Off for the agent, whose events are on the wall clock.
  bool event_clock = false;
  /// How often the cache expires exited processes (tracker.max-expiry)
  /// against the wall clock, by a timer of its own, so that they go even
  /// when no event arrives; zero: never by itself (an owner may still send
  /// atom::tick with a time). Never with event_clock: a replay's table
  /// expires in its events' own time as they are applied.
  caf::timespan expiry_interval = defaults::expiry_interval;
  /// Backpressure from the history (docs/history.md "Backpressure"):
  /// while more rows than this, or more bytes of them, have been sent to
  /// the history and not acknowledged, the cache holds its answers to
  /// update batches, so the sources (which wait for them) slow to the
  /// store's pace and the rows in flight stay bounded.
  /// history.max-unacked-rows, history.max-unacked-bytes.
  std::size_t history_max_unacked_rows = defaults::history_max_unacked_rows;
  std::size_t history_max_unacked_bytes = defaults::history_max_unacked_bytes;

  /// tracker.max-bytes bounds: at least 1 MiB (a few processes with every
  /// value at the 32 KiB cap), at most 1 TiB (beyond it, a typo).
  static constexpr std::size_t min_max_bytes = std::size_t{1} << 20;
  static constexpr std::size_t max_max_bytes = std::size_t{1} << 40;
  /// history.max-unacked-rows: 1 to 10,000,000; history.max-unacked-bytes:
  /// 64 KiB to 16 GiB (beyond either, a typo: the limits bound memory).
  static constexpr std::size_t max_unacked_rows_limit = 10'000'000;
  static constexpr std::size_t min_unacked_bytes = std::size_t{64} << 10;
  static constexpr std::size_t max_unacked_bytes_limit = std::size_t{16} << 30;

  /// Empty when valid, else what is wrong, naming the config key.
  std::string validate() const;
};

/// The table of one more host (cache_config::split_hosts).
struct host_table {
  std::string name;
  process_table table;
};

struct cache_state {
  static inline const char *name = "proctrack.cache";

  /// The first host's table (the only one without split_hosts); the agent,
  /// snapshots and the forwarder see this one.
  process_table table;
  /// The host `table` holds; empty until a named host claims it.
  std::string primary_host;
  /// The other hosts, in order of first appearance (split_hosts).
  std::vector<std::unique_ptr<host_table>> other_hosts;
  std::int64_t host_limit_drops = 0; ///< updates of hosts past max_hosts
  /// Every table tracks its changes (a history is registered); so does a
  /// host's table table_for creates.
  bool tracking = false;

  /// The table of `host` (created when new); nullptr when max_hosts tables
  /// exist already. Always `table` without split_hosts.
  process_table *table_for(const std::string &host, const cache_config &cfg);
  /// The table whose host is `host` (exact name, any case, or the unique
  /// host whose first DNS label it is); nullptr when none.
  process_table *find_host(std::string_view host);
  /// Answers a query: `HOST/ID` in that host's table; a bare ID in the
  /// first table (in order of appearance) that knows it.
  std::string answer_query(const query &q, const std::string &stats);

  /// Turns change tracking on or off in every table.
  void track_changes(bool on);
  /// What every table changed since the last call, as rows of its host.
  std::vector<history_row> take_changes();
  /// Every cached process of every table, as rows of its host.
  std::vector<history_row> all_rows() const;

  // The history (atom::subscribe with a history_sink_actor) and its
  // backpressure: rows (and their bytes) sent and not yet acknowledged,
  // and the batch answers held meanwhile (promise, updates applied).
  history_sink_actor history;
  history_credit credit{defaults::history_max_unacked_rows,
                        defaults::history_max_unacked_bytes};
  std::vector<
      std::pair<caf::typed_response_promise<std::uint64_t>, std::uint64_t>>
      held_answers;
  std::int64_t history_waits = 0; ///< batch answers held for the history

  /// The output stream's sinks, the typed sinks and the snapshot requests
  /// waiting for a whole listing; each sink monitored, dropped when it
  /// terminates.
  subscribers subs;
  // Enrichment bookkeeping (results by path, paths in flight), and flush
  // requests waiting for the in-flight ones.
  enrichment_memory enrichments;
  std::vector<caf::typed_response_promise<bool>> flush_waiters;
  // Counters other actors published (by source) and our own.
  std::vector<stats_report> published;

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
