// The history actor: the one owner of a history store. The cache hands it
// what its tables changed (process_changes: the cache's tables track their
// changes, process_table::track_changes); it keeps them pending and writes
// them to the store in one transaction every history.flush-interval, and
// acknowledges each message so the cache can hold its sources while it is
// behind (backpressure). docs/history.md.
#pragma once

#include "actors/cache/cache.hpp"
#include "actors/common/defaults.hpp"
#include "actors/history/history_store.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace proctrack {

struct history_config {
  std::string path; ///< history.path
  timestamp flush_interval =
      defaults::ticks(defaults::history_flush_interval); ///< 100 ns ticks
  std::uint64_t max_bytes = defaults::history_max_bytes; ///< history.max-bytes
  timestamp max_age =
      defaults::ticks(defaults::history_max_age); ///< history.max-age; 0: none
  /// Changed processes held between writes; more are written at once, so
  /// memory stays bounded whatever the input rate.
  std::size_t max_pending = 20000;
  /// The writer's SQLite page cache, bytes (defaults.hpp: 32 MiB, the
  /// agent 4 MiB).
  std::uint64_t cache_bytes = defaults::history_cache_bytes;
  /// An agent's start (docs/history.md "Restart"): the newest processes
  /// of the store (host "") are reloaded into the empty cache before its
  /// first listing, which then reconciles the ones that ended meanwhile.
  bool reload = false;
  /// A query answered from the store lists at most this many entries or
  /// tree nodes (children:ID:MAX, tree:ID:MAX): the store may hold a
  /// month of init's children.
  std::int64_t max_answer = 10000;
  /// A pslist answered from the store (`pslist@T` through an agent) lists
  /// at most this many processes; more is an error that says so (0: no
  /// limit: a replay's own queries, whose answers go to its own output).
  std::size_t max_listed = 10000;
  /// The cache's limits: what a restart reloads (tracker.max-size,
  /// max-bytes, max-expiry).
  cache_config cache;

  static constexpr timestamp min_flush_interval = hns_per_second / 100;
  static constexpr timestamp max_flush_interval = 3600 * hns_per_second;
  static constexpr std::uint64_t min_max_bytes = std::uint64_t{1} << 20;

  /// Empty when valid, else what is wrong, naming the config key.
  std::string validate() const;
};

struct history_state {
  static inline const char *name = "proctrack.history";

  std::shared_ptr<history_store> store;
  /// Answers the queries on a connection and a thread of its own (null:
  /// this actor answers them on the writer's connection).
  history_reader_actor reader;
  /// Changed processes since the last write, each once (its latest
  /// state): a process started and ended between two writes is one row.
  std::vector<history_row> pending;
  std::unordered_map<std::string, std::size_t> pending_index; ///< host\0id
  std::int64_t rows_dropped = 0; ///< lost to failed writes
  std::int64_t lookups = 0;      ///< queries answered from the store
  std::int64_t reloaded = 0;     ///< processes reloaded at start (reload)
  timestamp last_age_retire = unknown_time;
  std::string last_error;

  /// Moves `rows` into `pending` (a process already pending is replaced
  /// by its newer state).
  void add_pending(std::vector<history_row> &&rows);
};

/// `reader`: a second connection to the same store (history_store::mode::
/// reader), given to a detached reader actor this actor spawns and links
/// to, so that a query (pslist@T of a large store) never delays a write
/// nor the acknowledgements the cache's backpressure waits for. Null: the
/// queries are answered on the writer's connection (deterministic tests).
history_actor::behavior_type
history(history_actor::stateful_pointer<history_state> self, history_config cfg,
        std::shared_ptr<history_store> store, cache_actor cache,
        std::shared_ptr<history_store> reader);

/// The reader: answers `query` as of a time from `store` (a reader
/// connection), lists bounded by `max_listed` (history_config).
history_reader_actor::behavior_type
history_reader(history_reader_actor::pointer self,
               std::shared_ptr<history_store> store, std::size_t max_listed);

/// Validates `cfg`, opens (or creates) the store at cfg.path and a reader
/// connection to it, spawns the history actor (and its reader) and
/// registers it with `cache` before returning (so no change made
/// afterwards is missed). A null `cache`: nothing is registered, the
/// caller sends process_changes itself (the fleet collector); cfg.reload
/// then is an error. A damaged store is moved aside and
/// a new one created (logged as a warning). A null handle with `error`
/// when the config is invalid or the store cannot be opened.
history_actor spawn_history(caf::actor_system &sys, const history_config &cfg,
                            cache_actor cache, std::string &error);

} // namespace proctrack
