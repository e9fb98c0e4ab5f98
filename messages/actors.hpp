// Every typed actor interface of proctrack, declared once. Who sends what to
// whom is drawn in docs/architecture.md.
#pragma once

#include "messages/type_ids.hpp"

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <cstdint>
#include <string>

namespace proctrack {

/// The shared sub-protocol: every actor reports its counters when asked, so
/// the stats publisher (and `replay`) poll them all alike.
using stats_api =
    caf::typed_actor<caf::replies_to<atom::stats>::with<stats_report>>;

/// Receives the output stream (SPEC §6): forwarded update batches and stats
/// rows, both as JSON lines. Implemented by the output writer and by
/// anything that embeds proctrack and wants the stream.
using update_sink_actor = caf::typed_actor<
    // One or more JSON lines (each ending in '\n') to write.
    caf::reacts_to<std::string>>;

/// Reads the PE version information of executables (SPEC §7).
using enricher_actor = stats_api::extend<
    // The version information of the file at a path (as the process data has
    // it); always answers, with ok = false and an error when it cannot.
    caf::replies_to<atom::enrich, std::string>::with<enrichment>>;

/// Owns the process table: applies updates and answers queries.
using cache_actor = stats_api::extend<
    // Applies a batch of updates in order; answers with the number applied
    // once they are in the table (sources wait for it: backpressure).
    caf::replies_to<update_batch>::with<std::uint64_t>,
    // Answers a query with its JSON result (SPEC §4).
    caf::replies_to<query>::with<std::string>,
    // Housekeeping in live mode: expire against this wall-clock time.
    caf::reacts_to<atom::tick, timestamp>,
    // Answers once every enrichment requested so far has been merged, so a
    // replay's answers do not depend on timing.
    caf::replies_to<atom::flush>::with<bool>,
    // Registers a sink for the output stream; answers with the `sync` row of
    // the whole cache, which the subscriber writes first.
    caf::replies_to<atom::subscribe, update_sink_actor>::with<std::string>,
    // Adds counters of other actors to the ones `stats` queries report.
    caf::reacts_to<atom::publish, stats_report>>;

/// Reads update sources (files, stdin, EVTX, Sysmon JSON) and feeds the
/// cache in order, a bounded number of batches in flight.
using ingest_actor = stats_api::extend<
    // Reads every configured source to its end; answers when all of it has
    // been applied by the cache (true), or false when a source failed to open.
    caf::replies_to<atom::run>::with<bool>>;

/// Takes a /proc listing on a timer and sends it to the cache as `sync`.
using pslist_sync_actor = stats_api::extend<
    // Takes a listing now (e.g. after lost events); answers when applied.
    caf::replies_to<atom::sync>::with<std::uint64_t>>;

/// Live kernel process events (netlink proc connector) into the cache.
using live_events_actor = stats_api;

/// Polls the stats of every actor and publishes `stats` rows.
using stats_publisher_actor =
    stats_api::extend<caf::reacts_to<atom::tick>,
                      // Answers the current stats row (JSON object) of all
                      // actors combined.
                      caf::replies_to<atom::snapshot>::with<std::string>>;

} // namespace proctrack
