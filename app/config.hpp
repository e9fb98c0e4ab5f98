// proctrack's configuration: every tunable has a default, a key in the
// config file and a flag of the same name (SPEC §8). CAF reads both; we
// then check what CAF lets through silently (unknown keys and wrong types
// in the file, out-of-range values) so every mistake is an exit 2 that
// names the key.
#pragma once

#include "actors/cache/cache.hpp"
#include "actors/common/defaults.hpp"
#include "actors/enricher/enricher.hpp"
#include "actors/forward/forwarder.hpp"
#include "actors/history/history.hpp"
#include "actors/ingest/ingest.hpp"
#include "actors/tracker/tracker.hpp"

#include <caf/actor_system_config.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace proctrack {

class proctrack_config : public caf::actor_system_config {
public:
  proctrack_config();

  // [tracker]
  std::int64_t max_size = defaults::max_size;
  std::int64_t max_bytes = defaults::max_bytes;
  std::int64_t max_children = defaults::max_children;
  /// 0: expiry off (replay's default unless set, app/replay.cpp).
  caf::timespan max_expiry = defaults::max_expiry;
  bool also_forward_updates = false;
  bool add_enrichments = false;
  /// Sysmon's binary: the Windows agent checks that its service and driver
  /// run before it starts the ETW source (actors/etw/sysmon_presence.hpp);
  /// empty: no check (docs/windows-live.md).
  std::string sysmon_file_location = defaults::sysmon_file_location;
  /// What the agent watches: auto (the platform's live events, then the
  /// pslist sync heals: Sysmon over ETW on Windows, live.source on Linux)
  /// or pslist (the periodic process list alone: the Windows agent's
  /// fallback without Sysmon, as Velociraptor's).
  std::string sources = "auto";
  caf::timespan sync_period = defaults::sync_period;
  // [stats]
  caf::timespan stats_interval = defaults::stats_interval;
  // [live] (the agent's kernel events; docs/benchmarks.md "Live agent CPU")
  caf::timespan live_flush = std::chrono::milliseconds(0);
  /// auto (eBPF when it loads, else the proc connector), ebpf or
  /// proc-connector (docs/agent.md "eBPF source").
  std::string live_source = "auto";
  /// eBPF source: the kernel wakes the agent once this many bytes of events
  /// wait (else the agent takes them at its next turn, at most
  /// live_ebpf_max_delay later); 0: at every event. A wakeup per event cost
  /// ~200 us of agent CPU per event in a fork storm (docs/benchmarks.md).
  std::int64_t live_ebpf_wakeup_bytes = 65536;
  /// eBPF source: the longest an event waits in the ring buffer before the
  /// agent takes it (its turn's wait for events).
  caf::timespan live_ebpf_max_delay = std::chrono::milliseconds(100);
  // [query]
  std::string query_socket = "/run/proctrack/query.sock"; ///< empty: off
  std::string query_group; ///< empty: the socket is 0600
  std::string query_host = "127.0.0.1";
  std::int64_t query_port = -1; ///< -1: no TCP endpoint; 0: any free port
  std::int64_t query_max_connections = 64; ///< TCP endpoint (listen_guard)
  // [output]
  std::string output_path;
  // [log]
  std::string log_level = "info";
  // [enrich]
  std::int64_t enrich_workers = defaults::enrich_workers;
  std::vector<std::string> enrich_path_map;
  // [ingest]
  std::int64_t ingest_batch_size = defaults::ingest_batch_size;
  std::int64_t ingest_max_in_flight = defaults::ingest_max_in_flight;
  /// files read ahead; 0: per core
  std::int64_t ingest_read_threads = defaults::ingest_read_threads;
  // [forward] (fleet, docs/fleet.md)
  std::string forward_connect; ///< HOST:PORT of a collector; empty: off
  std::int64_t forward_buffer = defaults::forward_buffer;
  caf::timespan forward_timeout = defaults::forward_timeout;
  // [history] (docs/history.md). The agent writes history.path (empty:
  // off); a replay writes only what --history=FILE names.
  std::string history_path = defaults::agent_history_path;
  caf::timespan history_flush_interval = defaults::history_flush_interval;
  std::int64_t history_max_bytes = defaults::history_max_bytes;
  caf::timespan history_max_age = defaults::history_max_age;
  std::int64_t history_max_unacked_rows = defaults::history_max_unacked_rows;
  std::int64_t history_max_unacked_bytes = defaults::history_max_unacked_bytes;
  // [agent]
  std::string agent_host_name; ///< empty: this machine's hostname
  // [listen] (the collector's endpoint)
  std::string listen_host = "127.0.0.1";
  std::int64_t listen_port = defaults::listen_port;
  std::int64_t listen_max_connections = 256;                ///< listen_guard
  std::int64_t listen_max_message = std::int64_t{64} << 20; ///< bytes
  // [collector]
  std::int64_t collector_max_hosts = defaults::collector_max_hosts;
  // allow-insecure (top level): listen beyond loopback without TLS
  bool allow_insecure = false;
  // allow-reduced (top level): `run` without the privileges a complete
  // record needs (docs/agent.md "Privileges")
  bool allow_reduced = false;
  // [tls]
  std::string tls_certificate, tls_key, tls_ca;

  bool tls_enabled() const {
    return !tls_certificate.empty();
  }
  /// agent.host-name, or this machine's hostname when not set.
  std::string host_name() const;
  /// Whether an endpoint may listen on `host` (the value of config key
  /// `key`): loopback always; elsewhere only with TLS, or with
  /// allow-insecure, which logs a warning. Empty when it may, else why not.
  std::string check_listen(const std::string &host,
                           const std::string &key) const;
  /// Whether the agent's TCP query endpoint may open (query.port set):
  /// mutual TLS, or allow-insecure on a loopback query.host (with a
  /// warning). Empty when it may, else why not.
  std::string check_query_endpoint() const;
  /// Loads CAF's middleman (and, with tls.*, the openssl manager with our
  /// certificate, key and CA). Call before creating the actor system.
  void load_network();

  /// Parses CAF-style arguments (`--tracker.max-size=10`,
  /// `--config-file=F`). Returns an empty string on success, else the
  /// message to print (exit 2).
  std::string load(std::vector<std::string> args);

  /// Checks the values; empty when valid, else a message naming the key.
  std::string check() const;

  cache_config make_cache_config() const;

  /// The history's settings from history.*, writing to `path`, mirroring
  /// a cache configured as `cache`.
  history_config make_history_config(const std::string &path,
                                     const cache_config &cache) const;

  /// The forwarder's settings from forward.*, agent.host-name, tls.* and
  /// the table limits (only meaningful when forward.connect is set).
  forwarder_config make_forwarder_config() const;

  /// The tracker as spawn_tracker takes it: the cache, the enricher when
  /// tracker.add-enrichments is on, the forwarder when forward.connect is
  /// set (no stats publishing: the agent wires its own).
  tracker_settings make_tracker_settings() const;

  /// The effective configuration as an ini file (for --dump-config).
  std::string dump() const;

  bool help_printed() const {
    return cli_helptext_printed;
  }
};

/// True for addresses that only this machine can reach.
bool is_loopback(const std::string &host);

/// Sets up spdlog on stderr at `level` (trace, debug, info, warn, error,
/// critical, off); false if the level is unknown.
bool setup_logging(const std::string &level);

struct command_line;

/// How every subcommand starts: load the configuration (file and flags),
/// answer --help and --dump-config, set up logging. Returns the exit status
/// when the command is done already (0 after help or the dump; 2 after
/// printing "PREFIX: error" on stderr), nothing when it goes on.
/// `defaults`, when given, changes the loaded configuration before the dump
/// (a command's own defaults, e.g. replay's expiry off).
std::optional<int> start_command(
    proctrack_config &cfg, const command_line &cl, const char *prefix,
    void (*defaults)(proctrack_config &, const command_line &) = nullptr);

} // namespace proctrack
