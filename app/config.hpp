// proctrack's configuration: every tunable has a default, a key in the
// config file and a flag of the same name (SPEC §8). CAF reads both; we
// then check what CAF lets through silently (unknown keys and wrong types
// in the file, out-of-range values) so every mistake is an exit 2 that
// names the key.
#pragma once

#include "actors/cache/cache.hpp"
#include "actors/ingest/ingest.hpp"

#include <caf/actor_system_config.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace proctrack {

class proctrack_config : public caf::actor_system_config {
public:
  proctrack_config();

  // [tracker]
  std::int64_t max_size = 10000;
  std::int64_t max_children = 10;
  caf::timespan max_expiry = std::chrono::hours(24);
  bool also_forward_updates = false;
  bool add_enrichments = false;
  std::string sysmon_file_location = "C:/Windows/sysmon64.exe";
  caf::timespan sync_period = std::chrono::seconds(60);
  // [stats]
  caf::timespan stats_interval = std::chrono::seconds(10);
  // [query]
  std::string query_host = "127.0.0.1";
  std::int64_t query_port = 4711;
  // [output]
  std::string output_path;
  // [log]
  std::string log_level = "info";
  // [enrich]
  std::int64_t enrich_workers = 2;
  std::vector<std::string> enrich_path_map;
  // [ingest]
  std::int64_t ingest_batch_size = 1024;
  std::int64_t ingest_max_in_flight = 4;

  /// Parses CAF-style arguments (`--tracker.max-size=10`,
  /// `--config-file=F`). Returns an empty string on success, else the
  /// message to print (exit 2).
  std::string load(std::vector<std::string> args);

  /// Checks the values; empty when valid, else a message naming the key.
  std::string check() const;

  cache_config make_cache_config() const;

  /// The effective configuration as an ini file (for --dump-config).
  std::string dump() const;

  bool help_printed() const {
    return cli_helptext_printed;
  }
};

/// Sets up spdlog on stderr at `level` (trace, debug, info, warn, error,
/// critical, off); false if the level is unknown.
bool setup_logging(const std::string &level);

} // namespace proctrack
