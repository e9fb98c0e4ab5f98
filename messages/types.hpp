// Plain data carried by proctrack's messages. No CAF include here: the
// process table and the decoders use these types without an actor system.
// Every struct has an `inspect` overload so CAF can serialize it (see
// messages/type_ids.hpp) and the messages can later cross a network.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace proctrack {

/// A time or a duration in ticks of 100 ns (the unit of Windows' FILETIME
/// and of EVTX's TimeCreated), counted from the Unix epoch (1970-01-01
/// UTC; negative before it). int64 ticks hold +-29,000 years, so every time
/// the input formats can say (RFC 3339 and Go: years 0000-9999) is kept
/// exactly; int64 nanoseconds would stop at 1677 and 2262 (issue 15).
/// Finer fractions (RFC 3339's 9 digits, the kernel's ns) are truncated to
/// 100 ns. 0 means "unknown" and prints as 0001-01-01T00:00:00Z, as
/// Velociraptor does for a zero time.
using timestamp = std::int64_t;
inline constexpr timestamp unknown_time = 0;
inline constexpr timestamp hns_per_second = 10'000'000;
/// Ticks in a millisecond and nanoseconds in a tick, for conversions.
inline constexpr timestamp hns_per_ms = hns_per_second / 1000;
inline constexpr std::int64_t ns_per_hns = 100;

/// One key of a process's Data object. `json` is the value as JSON text
/// (`"cmd.exe"`, `42`, `{"SHA256":"..."}`), kept as text so that storing and
/// answering never re-serialises it.
struct data_field {
  std::string key;
  std::string json;
};
using data_fields = std::vector<data_field>;

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, data_field &x) {
  return f(x.key, x.json);
}

/// How exactly a record's start time names its process.
/// - approximate: SPEC §1's rule, a start within 1 s of a running holder of
///   the same pid is that holder (sources round differently);
/// - exact: the start time is the kernel's own (Linux agent: /proc start
///   ticks), so the same pid and start is the same process and any other
///   start is another process; the record proves the process alive (exec,
///   comm change, listing), reviving an exit wrongly applied to it;
/// - exact_new: as exact, from a fork event: a new process, never one that
///   already ended (same pid and start tick after a fast pid reuse).
enum class record_identity : std::uint8_t {
  approximate = 0,
  exact = 1,
  exact_new = 2
};

/// One process as a source saw it.
struct process_record {
  std::string pid;  ///< bare pid as text; empty when the source lacks it
  std::string ppid; ///< bare parent pid as text; empty when unknown
  std::string guid; ///< globally unique id (Sysmon ProcessGuid), lower case
  std::string parent_guid; ///< ParentProcessGuid, lower case; empty when none
  timestamp start_time = unknown_time;
  data_fields data;
  // Only a process listed in a sync row carries these: a replayed output
  // stream holds the cache itself (proctrack's `entry`, Velociraptor's sync
  // keyed by id), and replaying it must give the same cache back.
  timestamp end_time = unknown_time; ///< it ended then; unknown_time: running
  /// The entry's exact Id ("5-1609495200.1", "?-1609495200"); empty: made
  /// from pid and start (and a free ".N" suffix when taken).
  std::string real_id;
  /// The parent's exact real id ("5-1609495200", or "5-?" for an unknown
  /// parent); empty: the parent is resolved from ppid / parent_guid.
  std::string parent_real_id;
  bool keeps_last_sync = false; ///< last_sync_time is the entry's own
  timestamp last_sync_time = unknown_time;
  bool keeps_children = false; ///< children is the entry's Children list
  std::vector<std::string> children;
  record_identity identity = record_identity::approximate;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, process_record &x) {
  return f(x.pid, x.ppid, x.guid, x.parent_guid, x.start_time, x.data,
           x.end_time, x.real_id, x.parent_real_id, x.keeps_last_sync,
           x.last_sync_time, x.keeps_children, x.children, x.identity);
}

enum class update_kind : std::uint8_t { start = 0, exit = 1, sync = 2 };

inline const char *to_string(update_kind k) {
  switch (k) {
  case update_kind::start:
    return "start";
  case update_kind::exit:
    return "exit";
  case update_kind::sync:
    return "sync";
  }
  return "?";
}

/// Which part of a listing a sync update carries. A listing longer than a
/// message's worth of rows (a replayed sync row of 200,000 processes) is
/// decoded and sent in consecutive parts so that memory follows the table's
/// max-size, not the listing's length: `first`, any number of `middle`,
/// then `last`, all with the same time and host, never interleaved with
/// another update of the same host. The table applies the listing's
/// vanished-process rule only at `last` (docs/semantics.md, sync).
enum class sync_part : std::uint8_t {
  whole = 0,
  first = 1,
  middle = 2,
  last = 3
};

/// One update row (SPEC §2).
/// - start: `process` is the new process.
/// - exit: `target` names the process (bare pid, real id or GUID), `time` is
///   the end time; `process.guid`/`process.pid` may also be set by decoders.
/// - sync: `time` is when the listing was taken, `processes` the listing
///   (or, unless `part` is whole, one part of it).
struct process_update {
  update_kind kind = update_kind::start;
  process_record process;
  std::string target;
  timestamp time = unknown_time;
  std::vector<process_record> processes;
  /// The machine the update is about (Sysmon's Computer, winlogbeat's
  /// host.name, an update row's "host"); empty when the source does not
  /// say. A cache with split hosts keeps one table per host
  /// (docs/semantics.md, "Several hosts in one replay").
  std::string host;
  sync_part part = sync_part::whole; ///< syncs only
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, process_update &x) {
  return f(x.kind, x.process, x.target, x.time, x.processes, x.host, x.part);
}

/// A named counter, as reported by every actor's stats handler.
struct counter {
  std::string name;
  std::int64_t value = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, counter &x) {
  return f(x.name, x.value);
}

/// The stats of one actor: its name and its counters.
struct stats_report {
  std::string source;
  std::vector<counter> counters;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, stats_report &x) {
  return f(x.source, x.counters);
}

/// A query (SPEC §4/§9): `verb` is get, callchain, children, tree, pslist or
/// stats; `id` a bare pid, real id or GUID; `max` 0 for the verb's default.
struct query {
  std::string verb;
  std::string id;
  std::int64_t max = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, query &x) {
  return f(x.verb, x.id, x.max);
}

/// The PE version information of one executable (SPEC §7), or why there is
/// none. `version_info_json` is the VersionInformation object as JSON text.
struct enrichment {
  std::string path; ///< the Exe/Image path as the process data had it
  bool ok = false;
  std::string version_info_json; ///< {"CompanyName":...}; empty unless ok
  std::string original_filename; ///< VersionInformation.OriginalFilename
  std::string error;             ///< why not, unless ok
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, enrichment &x) {
  return f(x.path, x.ok, x.version_info_json, x.original_filename, x.error);
}

/// Version information to merge into cached processes: into the process
/// with real id `id`, or, when `id` is empty, into every cached process
/// whose Exe is `info.path`.
struct process_enrichment {
  std::string id;
  enrichment info;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, process_enrichment &x) {
  return f(x.id, x.info);
}

/// Updates travel in batches: one message per batch keeps the mailbox short
/// and amortises the per-message cost. `host` names the machine the updates
/// come from (empty for the local one) so a collector can tell hosts apart.
/// A batch is applied in this order: the updates, then the enrichments,
/// then, when `expire_at` is set, the expiry of processes that exited
/// tracker.max-expiry before it. The cache hands its typed sinks every
/// batch in this form, enrichments and live-mode expiry included, so a
/// mirror that applies them in order stays equal to the cache.
struct update_batch {
  std::string host;
  std::vector<process_update> updates;
  std::vector<process_enrichment> enrichments;
  timestamp expire_at = unknown_time;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, update_batch &x) {
  return f(x.host, x.updates, x.enrichments, x.expire_at);
}

/// One cached process exactly as a process table holds it: what a fleet
/// snapshot carries so that a collector's mirror is the host's table, not a
/// re-derivation of it (a re-derivation loses the children and parents the
/// host has already evicted).
struct process_state {
  std::string id;        ///< real id
  std::string parent_id; ///< real id of the parent, or "<ppid>-?"
  std::string guid;      ///< lower case, empty when none
  timestamp start_time = unknown_time;
  timestamp end_time = unknown_time;
  timestamp last_sync_time = unknown_time;
  std::string data;                  ///< the Data object as JSON text
  std::vector<std::string> children; ///< real ids, as stored
  std::uint32_t live_children = 0;   ///< children running or with running ones
  bool end_is_estimate = false;
  bool holds_pid = false;  ///< the newest holder of its pid (bare-pid lookups)
  bool holds_guid = false; ///< the process its GUID resolves to
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, process_state &x) {
  return f(x.id, x.parent_id, x.guid, x.start_time, x.end_time,
           x.last_sync_time, x.data, x.children, x.live_children,
           x.end_is_estimate, x.holds_pid, x.holds_guid);
}

/// One process as the history store holds it (actors/history,
/// docs/history.md): what the process table holds for it (SPEC §3: Id,
/// ParentId, times, Data), plus when the store first and last wrote it
/// (wall clock, set by the store: 0 in a message).
struct history_row {
  std::string host;      ///< the machine; empty for the local/unnamed one
  std::string id;        ///< real id "<pid>-<start seconds>[.N]"
  std::string parent_id; ///< real id of the parent, or "<ppid>-?"
  std::string guid;      ///< lower-case ProcessGuid, empty when none
  timestamp start_time = unknown_time;
  timestamp end_time = unknown_time; ///< unknown_time: running (last known)
  timestamp last_sync_time = unknown_time;
  bool end_is_estimate = false;
  std::string data; ///< the Data object as JSON text (empty when data_kept)
  timestamp first_seen = unknown_time;
  timestamp last_seen = unknown_time;
  /// The Data is the one an earlier row of this process carried (an exit,
  /// a listing's LastSyncTime): `data` is empty and the store keeps what it
  /// has, so a process's Data is copied and compressed once, not at every
  /// change. A row the store does not hold yet is written with Data "{}".
  bool data_kept = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, history_row &x) {
  return f(x.host, x.id, x.parent_id, x.guid, x.start_time, x.end_time,
           x.last_sync_time, x.end_is_estimate, x.data, x.first_seen,
           x.last_seen, x.data_kept);
}

/// What the cache's tables changed since its last message to the history
/// (process_table::track_changes): each process created or changed once,
/// as it is now, or as it was when it was evicted or expired. The rows the
/// history writes (upserts by host and id), in the order the cache took
/// them. The history acknowledges each message with its row count; the
/// cache holds its answers to the sources while too many rows are
/// unacknowledged (backpressure, docs/history.md).
struct process_changes {
  std::vector<history_row> rows;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, process_changes &x) {
  return f(x.rows);
}

/// An exit seen before its process's start (kept for out-of-order logs).
struct pending_exit {
  std::string key; ///< GUID, real id or pid the exit named
  timestamp time = unknown_time;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, pending_exit &x) {
  return f(x.key, x.time);
}

/// A process table's state (process_table::export_state). `processes` are
/// in eviction order (the first goes first), `pending_exits` oldest first.
/// It may travel in chunks: importing the pieces in order equals importing
/// the whole; the clock fields are set only in the first.
struct table_state {
  timestamp now = unknown_time;             ///< newest event time seen
  timestamp last_expiry_run = unknown_time; ///< event time of the last expiry
  timestamp clock_candidate = unknown_time; ///< a held-back clock outlier
  std::vector<pending_exit> pending_exits;
  std::vector<process_state> processes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, table_state &x) {
  return f(x.now, x.last_expiry_run, x.clock_candidate, x.pending_exits,
           x.processes);
}

/// One message of a host's update stream to a fleet collector (issue 7).
/// `seq` numbers the messages of one forwarder `session` (1, 2, ...): the
/// collector applies them in order and acks each seq. A message with
/// `snapshot` set starts over: the collector drops its mirror of `host` and
/// builds a new one (with the host's table limits, capped by its own).
/// Each message is applied as: `state` imported (the chunks of the host's
/// table state, which follow the snapshot message), then the updates, the
/// enrichments and `expire_at` as in update_batch. `stats`, when not empty,
/// are the host's latest counters.
struct fleet_batch {
  std::string host;
  std::uint64_t session = 0;
  std::uint64_t seq = 0;
  bool snapshot = false;
  std::uint64_t max_size = 0;          ///< the host's tracker.max-size
  std::uint64_t max_children = 0;      ///< the host's tracker.max-children
  timestamp max_expiry = 0;            ///< the host's tracker.max-expiry
  std::uint64_t max_pending_exits = 0; ///< the host's pending-exit bound
  std::uint64_t max_bytes = 0;         ///< the host's tracker.max-bytes
  table_state state;
  std::vector<process_update> updates;
  std::vector<process_enrichment> enrichments;
  timestamp expire_at = unknown_time;
  std::vector<counter> stats;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector &f, fleet_batch &x) {
  return f(x.host, x.session, x.seq, x.snapshot, x.max_size, x.max_children,
           x.max_expiry, x.max_pending_exits, x.max_bytes, x.state, x.updates,
           x.enrichments, x.expire_at, x.stats);
}

} // namespace proctrack
