// Every configuration default, in one place: the value a config key has
// when neither the config file nor the command line sets it (README's
// configuration table, docs/agent.md), and the internal bounds that more than
// one struct shares. The config structs of the actors (`*_config`) and the
// application's config (app/config.hpp) take their defaults from here, so a
// default is changed once. Plain C++, no CAF.
//
// Units are in the names' types: counts and bytes are std::size_t,
// durations are std::chrono durations (converted to 100 ns ticks, the
// `timestamp` unit, where a struct keeps ticks).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace proctrack::defaults {

/// A duration in 100 ns ticks (the `timestamp` unit, messages/types.hpp).
template <class Rep, class Period>
constexpr std::int64_t ticks(std::chrono::duration<Rep, Period> d) {
  using tick = std::chrono::duration<std::int64_t, std::ratio<1, 10000000>>;
  return std::chrono::duration_cast<tick>(d).count();
}

// -- tracker.* (SPEC §3)
// -------------------------------------------------------

inline constexpr std::size_t max_size = 10000;      ///< tracker.max-size
inline constexpr std::size_t max_children = 10;     ///< tracker.max-children
inline constexpr std::chrono::hours max_expiry{24}; ///< tracker.max-expiry
/// tracker.max-bytes: bytes of Data text cached.
inline constexpr std::size_t max_bytes = std::size_t{64} << 20;
inline constexpr std::chrono::seconds sync_period{60}; ///< tracker.sync-period
/// tracker.sysmon-file-location (the Windows agent).
inline constexpr const char *sysmon_file_location = "C:/Windows/sysmon64.exe";

// -- the cache
// -------------------------------------------------------------------

/// How often the cache expires exited processes by its own timer.
inline constexpr std::chrono::seconds expiry_interval{10};
/// Enrichment results the cache remembers, by Exe path.
inline constexpr std::size_t max_enrichment_cache = 4096;
/// Host tables a replay of several machines' logs keeps.
inline constexpr std::size_t max_replay_hosts = 256;

// -- stats.*, enrich.*, ingest.*
// -------------------------------------------------

inline constexpr std::chrono::seconds stats_interval{10}; ///< stats.interval
inline constexpr std::size_t enrich_workers = 2;          ///< enrich.workers
/// PE version results the enricher keeps, by (path, size, mtime).
inline constexpr std::size_t enrich_cache_size = 4096;
inline constexpr std::size_t ingest_batch_size = 1024; ///< ingest.batch-size
inline constexpr std::size_t ingest_max_in_flight = 4; ///< ingest.max-in-flight
/// ingest.read-threads; 0: one per core, at most 8.
inline constexpr std::size_t ingest_read_threads = 0;

// -- forward.* (fleet, docs/fleet.md)
// ----------------------------------------------

inline constexpr std::size_t forward_buffer = 100000;      ///< forward.buffer
inline constexpr std::chrono::seconds forward_timeout{30}; ///< forward.timeout
/// Updates (or snapshot processes) per fleet message.
inline constexpr std::size_t forward_chunk = 1024;
/// Fleet messages sent and not yet acknowledged.
inline constexpr std::size_t forward_max_in_flight = 4;

// -- history.* (docs/history.md)
// -------------------------------------------------

/// history.path of the agent (a replay writes only what --history names).
inline constexpr const char *agent_history_path =
    "/var/lib/proctrack/history.db";
inline constexpr std::chrono::seconds history_flush_interval{1};
inline constexpr std::uint64_t history_max_bytes = std::uint64_t{1} << 30;
inline constexpr std::chrono::hours history_max_age{24 * 30};
inline constexpr std::size_t history_max_unacked_rows = 10000;
inline constexpr std::size_t history_max_unacked_bytes = std::size_t{16} << 20;
/// SQLite's page cache of the history's writer: 32 MiB keeps the indexes'
/// pages in memory while a replay writes millions of processes;
/// the agent writes a few a second and keeps 4 MiB (its memory is the hot
/// cache's, docs/history.md "Memory").
inline constexpr std::uint64_t history_cache_bytes = std::uint64_t{32} << 20;
inline constexpr std::uint64_t agent_history_cache_bytes = std::uint64_t{4}
                                                           << 20;

// -- listen.*, collector.*
// ---------------------------------------------------------

inline constexpr std::uint16_t listen_port = 4712; ///< listen.port
inline constexpr std::size_t collector_max_hosts =
    1000; ///< collector.max-hosts

} // namespace proctrack::defaults
