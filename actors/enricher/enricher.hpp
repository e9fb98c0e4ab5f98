// The enricher (SPEC §7): answers `enrich` requests for an executable's path
// with the PE version information of that file. A front actor maps the path
// (path_map), keeps a bounded result cache keyed by (local path, size,
// mtime), coalesces requests for a file that is being read into one read,
// and hands reads to a pool of detached workers, so a slow file holds one
// worker and never delays the others. See docs/enrichment.md.
#pragma once

#include "actors/common/defaults.hpp"
#include "actors/enricher/path_map.hpp"
#include "actors/enricher/pe_version_reader.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace proctrack {

/// Reads one local file; pe::read_file unless a test swaps it.
using pe_reader_fn = std::function<pe::result(const std::string &)>;

struct enricher_config {
  std::size_t workers = defaults::enrich_workers; ///< enrich.workers
  std::vector<std::string> path_map;              ///< enrich.path-map entries
  std::size_t cache_size = defaults::enrich_cache_size; ///< results kept (LRU)
  pe::limits limits = {};                               ///< for pe::read_file
  /// Replaces pe::read_file (tests: slow or counted reads). Called on the
  /// worker threads, possibly concurrently.
  pe_reader_fn reader = {};

  /// Empty when valid, else what is wrong, naming the config key.
  std::string validate() const;
};

/// A worker: reads one local file and answers the enrichment (path field
/// empty) and the outcome kind: "ok", "partial" or a pe::error_kind name.
using enricher_worker_actor = caf::typed_actor<
    caf::replies_to<atom::run, std::string>::with<enrichment, std::string>>;

enricher_worker_actor::behavior_type
enricher_worker(enricher_worker_actor::pointer self, pe_reader_fn reader);

struct enricher_state {
  static inline const char *name = "proctrack.enricher";

  struct waiter {
    caf::typed_response_promise<enrichment> promise;
    std::string path; ///< as the requester wrote it
  };
  struct result {
    enrichment value; ///< path empty
    std::string kind; ///< as the worker reported it
  };
  struct job {
    std::string key;
    std::string local;
  };

  path_map map;
  std::size_t cache_size = defaults::enrich_cache_size;
  std::vector<enricher_worker_actor> workers;
  std::vector<enricher_worker_actor> idle;
  std::deque<job> queue; ///< reads waiting for an idle worker
  /// Reads in flight or queued, by key, with everyone waiting for them.
  std::unordered_map<std::string, std::vector<waiter>> in_flight;
  /// Result cache, most recently used first.
  std::list<std::pair<std::string, result>> lru;
  std::unordered_map<std::string,
                     std::list<std::pair<std::string, result>>::iterator>
      index;

  // Counters (stats report).
  std::int64_t requests = 0, cache_hits = 0, coalesced = 0, files_read = 0,
               answered_ok = 0, partial = 0, errors = 0, evictions = 0,
               worker_restarts = 0;
  std::unordered_map<std::string, std::int64_t> errors_by_kind;

  std::vector<counter> counters() const;
};

using enricher_stateful_pointer =
    enricher_actor::stateful_pointer<enricher_state>;

enricher_actor::behavior_type enricher(enricher_stateful_pointer self,
                                       enricher_config cfg);

/// Validates `cfg` and spawns the enricher with its workers; an error
/// (sec::invalid_argument, the message naming the key) when invalid.
caf::expected<enricher_actor> spawn_enricher(caf::actor_system &sys,
                                             const enricher_config &cfg);

} // namespace proctrack
