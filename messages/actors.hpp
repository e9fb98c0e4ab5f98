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

/// Receives the update stream as typed batches: every batch the cache
/// applied, in order, with the enrichments it merged and its live-mode
/// expiry (the fleet forwarder; embedders).
using update_batch_sink_actor = caf::typed_actor<caf::reacts_to<update_batch>>;

/// Receives what the cache's tables changed (the history actor, the one
/// implementation): rows to write. Answers with the rows it took once
/// they are pending in it (or written): the acknowledgement the cache's
/// backpressure counts (docs/history.md).
using history_sink_actor =
    caf::typed_actor<caf::replies_to<process_changes>::with<std::uint64_t>>;

/// Reads the PE version information of executables (SPEC §7).
using enricher_actor = stats_api::extend<
    // The version information of the file at a path (as the process data has
    // it); always answers, with ok = false and an error when it cannot.
    caf::replies_to<atom::enrich, std::string>::with<enrichment>>;

/// Answers queries and nothing else: the messages a query client may
/// send (the socket and the network endpoints, actors/query_endpoint).
using query_api = caf::typed_actor<
    // A query about now (SPEC §4): the cache's answer, completed from the
    // history where the cache missed (docs/history.md).
    caf::replies_to<query>::with<std::string>,
    // The same query as it stood at a time (`pslist@T`, `callchain:ID@T`;
    // 100 ns units since 1970, never unknown_time), answered from the
    // history store alone; an error when no history is configured.
    caf::replies_to<query, timestamp>::with<std::string>>;

/// Owns the process table: applies updates and answers queries.
using cache_actor = stats_api::extend<
    // Applies a batch of updates in order; answers with the number applied
    // once they are in the table (sources wait for it: backpressure), and,
    // with a history, once the history has acknowledged enough of the
    // changes sent to it (docs/history.md "Backpressure").
    caf::replies_to<update_batch>::with<std::uint64_t>,
    // Answers a query with its JSON result (SPEC §4).
    caf::replies_to<query>::with<std::string>,
    // Housekeeping in live mode: expire against this wall-clock time.
    caf::reacts_to<atom::tick, timestamp>,
    // Its own timer (cache_config::expiry_interval): expire against the
    // wall clock now.
    caf::reacts_to<atom::tick>,
    // Answers once every enrichment requested so far has been merged, so a
    // replay's answers do not depend on timing.
    caf::replies_to<atom::flush>::with<bool>,
    // Registers a sink for the output stream (once; asking again only takes
    // a new sync row); answers with the `sync` row of the whole cache, which
    // the subscriber writes first. The cache monitors every sink it
    // registers (here and below) and forgets one that terminates.
    caf::replies_to<atom::subscribe, update_sink_actor>::with<std::string>,
    // Adds counters of other actors to the ones `stats` queries report.
    caf::reacts_to<atom::publish, stats_report>,
    // Registers a typed sink (once; asking again only takes a new
    // snapshot); answers the snapshot of the cache as updates that rebuild
    // it (actors/forward/snapshot.hpp). Every batch applied after the answer
    // goes to the sink.
    caf::replies_to<atom::subscribe,
                    update_batch_sink_actor>::with<update_batch>,
    // The same registration, answered with the table's exact state
    // (process_table::export_state): what a fleet forwarder sends so the
    // collector's mirror is the table itself.
    caf::replies_to<atom::snapshot, update_batch_sink_actor>::with<table_state>,
    // Registers the history (one; a second replaces the first): from now
    // on every change of the tables goes to it (process_changes, after
    // each batch, enrichment and expiry). Answers every process cached now
    // as rows: all of it is new to the store.
    caf::replies_to<atom::subscribe, history_sink_actor>::with<process_changes>,
    // An agent's restart (docs/history.md "Restart"): imports what the
    // history reloaded into the empty table (process_table::restore_state,
    // with the stopped agent's last write time), then registers the
    // history as atom::subscribe does, without sending the imported rows
    // back (the store has them). Answers the processes imported. An error
    // when the table is not empty.
    caf::replies_to<atom::restore, table_state, timestamp,
                    history_sink_actor>::with<std::uint64_t>>;

/// Keeps the durable history of every process (actors/history,
/// docs/history.md): writes what the cache's tables changed to the history
/// store.
using history_actor = stats_api::extend<
    // What the cache changed (history_sink_actor): pending until the next
    // write, acknowledged with the row count.
    caf::replies_to<process_changes>::with<std::uint64_t>,
    // Writes every change received so far; answers the rows written in
    // all (a replay waits for it before it ends).
    caf::replies_to<atom::flush>::with<std::uint64_t>,
    // Its own timer: a write every history.flush-interval.
    caf::reacts_to<atom::tick>,
    // A query answered from the store (history_store::answer), as it stood
    // at the time given (unknown_time: now), after writing what is pending:
    // a lookup that missed the cache (the query facade's fallback).
    caf::replies_to<query, timestamp>::with<std::string>>;

/// Reads the history store on a connection and a thread of its own
/// (actors/history/history.hpp): the history actor hands it its queries,
/// so a long read neither delays the writes nor the acknowledgements the
/// cache's backpressure waits for.
using history_reader_actor = caf::typed_actor<
    // A query answered from the store as it stood at the time given
    // (unknown_time: now), as history_actor's.
    caf::replies_to<query, timestamp>::with<std::string>>;

/// Reads update sources (files, stdin, EVTX, Sysmon JSON) and feeds the
/// cache in order, a bounded number of batches in flight.
using ingest_actor = stats_api::extend<
    // Reads every configured source to its end; answers when all of it has
    // been applied by the cache (true), or false when a source failed to open.
    caf::replies_to<atom::run>::with<bool>>;

/// Live kernel process events (eBPF source or netlink proc connector) into
/// the cache.
using live_events_actor = stats_api::extend<
    // Its own loop: poll the source briefly, send what arrived, repeat.
    caf::reacts_to<atom::tick>,
    // Takes every event the source holds now and sends all their updates to
    // the cache (past the batches-in-flight bound); answers with how many
    // went, once they are in the cache's mailbox: what the caller sends the
    // cache next is applied after them (a listing after the events before
    // it).
    caf::replies_to<atom::flush>::with<std::uint64_t>>;

/// Takes a /proc listing on a timer and sends it to the cache as `sync`.
using pslist_sync_actor = stats_api::extend<
    // Takes a listing now (e.g. after lost events); answers when applied.
    caf::replies_to<atom::sync>::with<std::uint64_t>,
    // Its own timer: the periodic sync.
    caf::reacts_to<atom::tick>,
    // The live source to flush before each listing (atom::flush), so that
    // the events that happened before the listing reach the cache first.
    caf::reacts_to<atom::subscribe, live_events_actor>>;

/// Polls the stats of every actor and publishes `stats` rows.
using stats_publisher_actor =
    stats_api::extend<caf::reacts_to<atom::tick>,
                      // Answers the current stats row (JSON object) of all
                      // actors combined.
                      caf::replies_to<atom::snapshot>::with<std::string>>;

/// Sends this host's update stream to a fleet collector (issue 7).
using forwarder_actor = stats_api::extend<
    // A batch the cache applied (the forwarder is the cache's typed sink).
    caf::reacts_to<update_batch>,
    // Answers once everything forwarded so far has been acked by the
    // collector, or when forward.timeout has passed; the report counts what
    // was delivered and what was not.
    caf::replies_to<atom::flush>::with<stats_report>,
    // Pacing for a source that can wait (a replay): answers once N more
    // updates fit in the buffer without overflowing it (docs/fleet.md), or
    // at once while no collector is connected (the buffer then overflows
    // and a snapshot follows, as for a live agent); true when it answered
    // at once, false after a wait.
    caf::replies_to<atom::ready, std::uint64_t>::with<bool>,
    // Timers: connect again, periodic stats, flush deadline.
    caf::reacts_to<atom::reconnect>, caf::reacts_to<atom::tick>,
    caf::reacts_to<atom::timeout>>;

/// What a fleet member sends a collector: its own host's stream (issue 7).
/// A collector accepts it only through its endpoint
/// (actors/collector/collector_endpoint.hpp), which lets a peer write only
/// the host its TLS certificate names.
using fleet_ingest_api = caf::typed_actor<
    // A host's next stream message; answers its seq once applied, or an
    // error when it is refused (bad message, out of order: resync; not the
    // peer's own host).
    caf::replies_to<fleet_batch>::with<std::uint64_t>,
    // Hello of a forwarder (host, session): the next seq the collector
    // expects of that session, 0 when it needs a snapshot.
    caf::replies_to<atom::subscribe, std::string,
                    std::uint64_t>::with<std::uint64_t>>;

/// What a collector answers and nothing else: read-only questions about
/// the hosts it mirrors (the collector's query facade).
using collector_query_api = caf::typed_actor<
    // A query about one host (SPEC §4), answered from its mirror; with a
    // history (history.path), completed from the store where the mirror
    // misses, and answered from the store alone for a host not mirrored
    // now (docs/fleet.md "History").
    caf::replies_to<std::string, query>::with<std::string>,
    // The same query as it stood at a time (100 ns units since 1970, never
    // unknown_time), answered from the collector's history store alone;
    // an error when it keeps none.
    caf::replies_to<std::string, query, timestamp>::with<std::string>,
    // Every host: last update time, table size, last stats (JSON list).
    caf::replies_to<atom::hosts>::with<std::string>,
    // The collector's counters.
    caf::replies_to<atom::stats>::with<stats_report>>;

/// Mirrors the process tables of many hosts (issue 7): the stream part and
/// the query part. The collector actor itself is never published; its
/// endpoint, with the same interface, is (collector_endpoint.hpp).
using collector_actor = fleet_ingest_api::extend_with<collector_query_api>;

} // namespace proctrack
