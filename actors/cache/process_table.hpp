// The process table: proctrack's cache of processes, exited ones included.
// Plain C++ (no actor system): the cache actor owns one and feeds it
// updates; tests and benchmarks use it directly. The rules it implements are
// SPEC §1-§4; docs/semantics.md lists every choice the SPEC leaves open.
#pragma once

#include "actors/cache/inline_text.hpp"
#include "actors/cache/pending_exits.hpp"
#include "actors/cache/slot_index.hpp"
#include "actors/common/defaults.hpp"
#include "messages/types.hpp"

#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace proctrack {

struct table_config {
  /// processes cached (links do not count)
  std::size_t max_size = defaults::max_size;
  std::size_t max_children = defaults::max_children; ///< child ids per parent
  /// Exited processes live this long; 0: expiry off (replay's default).
  timestamp max_expiry = defaults::ticks(defaults::max_expiry);
  std::size_t max_pending_exits =
      4096; ///< exits remembered for a start that comes late
  /// Bytes of Data text cached, all processes together (tracker.max-bytes).
  /// The LRU evicts by bytes as by count, with the same tiers. The default
  /// holds the default max-size at 6.7 KB of Data per process (a Sysmon
  /// EID 1 row is about 1-2 KB).
  std::size_t max_bytes = defaults::max_bytes;
  /// One Data value's JSON text at most, in bytes: 32 KiB, Windows' limit
  /// on a command line (32,767 UTF-16 units). A longer string is cut at a
  /// character boundary, any other value becomes null; the key is listed
  /// in Data's "Truncated" array.
  std::size_t max_field_bytes = std::size_t{32} << 10;
};

/// One cached process. Data values are kept as JSON text.
struct process_entry {
  // Kept inline (inline_text.hpp): no heap block for an id or a GUID.
  id_text id;        ///< real id "<pid>-<start seconds>"
  id_text parent_id; ///< real id of the parent, or "<ppid>-?"
  guid_text guid;    ///< lower-case ProcessGuid, empty when none
  timestamp start_time = unknown_time;
  timestamp end_time = unknown_time;
  timestamp last_sync_time = unknown_time;
  std::string data; ///< the Data object as JSON text (one block; see pack_data)
  std::vector<id_text> children; ///< real ids, at most max_children
  // Bookkeeping for eviction order (see process_table::tier_of).
  std::uint32_t prev = 0;
  std::uint32_t next = 0;
  std::uint32_t live_children =
      0; ///< children that are running or have running descendants
  /// Where the parent was last found: a hint only, checked against
  /// parent_id on every use (process_table::parent_of), never trusted.
  mutable std::uint32_t parent_hint = 0xFFFFFFFFu;
  std::uint64_t seen_in_sync =
      0;                    ///< generation of the last sync that listed it
  std::size_t sync_row = 0; ///< its row in that sync's bookkeeping
  std::uint8_t tier = 0;
  bool end_is_estimate = false;
  bool used = false;
  bool changed = false; ///< noted for take_changes() (change tracking only)
  /// Its Data, as it is now, went out in a change already: the next change
  /// that leaves Data alone (an exit, a listing's LastSyncTime) is reported
  /// without it (history_row::data_kept), not copied again.
  bool data_sent = false;

  bool running() const {
    return end_time == unknown_time;
  }
  /// The bare pid: the real id up to its last '-'.
  std::string_view pid() const;
};

/// Counters reported in `stats` (SPEC §6).
struct table_counters {
  std::int64_t starts = 0, exits = 0, syncs = 0;
  std::int64_t start_merges = 0;    ///< starts for a process already known
  std::int64_t unknown_parents = 0; ///< starts whose parent is not cached
  std::int64_t pid_reuses = 0;      ///< a running holder of a pid replaced
  std::int64_t unknown_exits = 0;   ///< exits for no cached process
  std::int64_t late_exits = 0; ///< exits applied when their start came later
  std::int64_t children_dropped = 0;
  std::int64_t evictions = 0, expired = 0;
  std::int64_t hits = 0, misses = 0;
  std::int64_t guid_collisions = 0;  ///< same pid+second, different GUIDs
  std::int64_t sync_exits = 0;       ///< processes found gone by a sync
  std::int64_t parent_loops = 0;     ///< parent links refused: they would loop
  std::int64_t truncated_fields = 0; ///< Data values cut at max_field_bytes
  std::int64_t byte_evictions = 0;   ///< evictions for max_bytes (in evictions)
  std::int64_t clock_outliers = 0;   ///< event times too far ahead for "now"
  /// Exits not applied: no known time, or dated before the start of the
  /// process they name exactly (by real id or GUID).
  std::int64_t exits_refused = 0;
  /// Listings with no known time: they add and refresh their processes
  /// but end none (they cannot say when the unlisted ones ended).
  std::int64_t untimed_syncs = 0;
  /// Ended processes proven alive by an exact record (exec, comm, listing).
  std::int64_t exits_revived = 0;
  /// Exact starts of a new process whose "<pid>-<second>" was taken.
  std::int64_t same_second_pids = 0;
  timestamp last_sync_time = unknown_time;
  std::int64_t last_sync_size = 0;
};

/// What process_table::apply(update_batch&&) does besides applying.
struct batch_options {
  /// Report the processes the batch created that need PE version
  /// information (SPEC §7): a start, and a listed process without
  /// VersionInformation once the listing is in.
  bool report_created = false;
  /// When reporting them: the version information already known for an
  /// Exe path (nullptr when unknown). Known information is merged at once,
  /// before the expiry, and listed in the applied batch.
  std::function<const enrichment *(const std::string &exe)> remembered;
  /// Keep a copy of the batch as applied (apply_report::applied), for a
  /// mirror that must end equal to this table (a fleet collector).
  bool keep_applied = false;
};

/// What apply(update_batch&&) changed.
struct apply_report {
  std::size_t updates = 0; ///< update rows applied
  /// Created processes to enrich (report_created), in the order applied:
  /// (real id, Exe path as the Data has it).
  std::vector<std::pair<std::string, std::string>> to_enrich;
  /// The batch as applied (keep_applied): its updates, its enrichments
  /// then the remembered ones merged, its expire_at. A table that applies
  /// it with apply(update_batch&&) ends equal to this one.
  std::optional<update_batch> applied;
};

class process_table {
public:
  explicit process_table(table_config cfg = {});

  // -- updates ---------------------------------------------------------------

  /// Applies one update (SPEC §2). Data is moved out of `u`. For a start,
  /// returns the process it created or merged into (valid until the next
  /// update), else nullptr.
  const process_entry *apply(process_update &&u);
  const process_entry *apply(const process_update &u) {
    return apply(process_update{u});
  }

  /// Applies a batch in its order (messages/types.hpp, update_batch): the
  /// updates, then the enrichments (then those `opt.remembered` knows for
  /// the processes it created), then the expiry at `expire_at` when set.
  /// The one way the cache and a fleet collector change a table, so that
  /// a collector's mirror applying the cache's applied batches stays equal
  /// to it. Data is moved out of `b`.
  apply_report apply(update_batch &&b, const batch_options &opt = {});

  /// Drops processes that exited more than max_expiry before `now`.
  /// apply() calls it on its own as event time advances.
  void expire(timestamp now);

  /// Merges PE version information into every cached process whose Exe is
  /// `e.path` (SPEC §7). Returns how many processes were updated.
  std::size_t apply_enrichment(const enrichment &e);
  /// The same for one process (by real id); false if it is not cached.
  bool apply_enrichment(std::string_view id, const enrichment &e);
  /// A process_enrichment: by id, or by path when its id is empty.
  std::size_t apply_enrichment(const process_enrichment &pe);

  // -- lookups (each counts a hit or a miss and touches the process) --------

  /// Resolves a bare pid, a real id or a GUID; nullptr when unknown.
  const process_entry *find(std::string_view id);
  /// The process with this real id, without counting or touching it (the
  /// cache's own bookkeeping must not change eviction order).
  const process_entry *peek(std::string_view real_id) const;
  /// Oldest known ancestor first, the process itself last.
  std::vector<const process_entry *> callchain(std::string_view id,
                                               std::size_t max = 10);
  /// Direct children that are cached, sorted by start time.
  std::vector<const process_entry *> children(std::string_view id,
                                              std::size_t max = 100);

  // -- answers as JSON text (SPEC §4) ----------------------------------------

  std::string get_json(std::string_view id);
  std::string callchain_json(std::string_view id, std::size_t max = 10);
  std::string children_json(std::string_view id, std::size_t max = 100);
  std::string tree_json(std::string_view id, std::size_t max = 1000);
  std::string pslist_json() const;
  void append_entry_json(std::string &out, const process_entry &e) const;

  // -- state -----------------------------------------------------------------

  std::size_t size() const {
    return by_id_.size();
  }
  /// True between a listing's first and last part (sync_part).
  bool sync_open() const {
    return sync_.open;
  }
  /// Bytes of Data text cached (what max_bytes bounds).
  std::size_t data_bytes() const {
    return data_bytes_;
  }
  std::size_t link_count() const {
    return links_.size();
  }
  const table_config &config() const {
    return cfg_;
  }
  const table_counters &counters() const {
    return counters_;
  }
  std::vector<counter> counter_list() const;
  /// Newest event time seen ("now" for expiry in replay).
  timestamp now() const {
    return now_;
  }
  /// Every cached entry, sorted by start time then id.
  std::vector<const process_entry *> entries() const;

  // -- state transfer (fleet snapshots) --------------------------------------

  /// Everything that decides this table's future answers: the processes in
  /// eviction order with their links, the pending exits and the clock.
  /// Importing it into an empty table with the same limits gives a table
  /// that answers and evolves exactly as this one (save for the LRU touches
  /// of queries, which are not part of any stream).
  table_state export_state() const;
  /// Imports a state, or one chunk of it (chunks in order). Processes whose
  /// id is empty or already cached are skipped; returns how many were.
  /// Children beyond max_children are cut; the table stays within max_size.
  std::size_t import_state(table_state &&s);
  /// Imports what an agent's history held when it restarts
  /// (actors/history/restore.hpp), as import_state does, and remembers
  /// the running processes imported. The next listing reconciles them: one
  /// it does not list (it exited while the agent was down, or its pid is
  /// another process's now) gets as its estimated end `last_alive` (the
  /// last time the stopped agent recorded anything; at least its start and
  /// its LastSyncTime, at most the end the listing would estimate), and
  /// Data `"EndTimeEstimated": true`. Returns what import_state returns.
  std::size_t restore_state(table_state &&s, timestamp last_alive);

  // -- change tracking (the cache's history, actors/history) -----------------

  /// When on, every process an update, an enrichment or an import creates
  /// or changes is noted (over-noting costs a rewrite, never a loss), and
  /// one removed (evicted, expired) while noted is kept as it was. Off by
  /// default: a cache without a history pays one branch. Turning it off
  /// drops what was noted.
  void track_changes(bool on);
  bool tracks_changes() const {
    return tracking_;
  }
  /// The processes noted since the last call, each once, as history rows
  /// (host, first_seen and last_seen empty): as they are now, or as they
  /// were when removed.
  std::vector<history_row> take_changes();
  /// Every cached process as a history row (host empty), in eviction
  /// order: what a history that starts now has not written yet.
  std::vector<history_row> rows() const;

  static constexpr std::size_t max_tree_depth = 20;

private:
  /// Answer order: start time, then id.
  static bool by_start(const process_entry *a, const process_entry *b);
  void note_change(std::uint32_t slot) {
    if (tracking_ && !slots_[slot].changed) {
      slots_[slot].changed = true;
      changed_.push_back(slot);
    }
  }

  static constexpr std::uint32_t npos = 0xFFFFFFFFu;
  struct lru_list {
    std::uint32_t head = npos;
    std::uint32_t tail = npos;
    std::size_t size = 0;
  };

  std::uint32_t apply_start(process_record &&p);
  /// Whether start `p` is another process than `holder`, a running holder
  /// of its pid started within the rounding slack: their Exe names differ,
  /// or, when the holder's parent came from a start event (never listed),
  /// their creators' pids do.
  bool other_process(const process_entry &holder,
                     const process_record &p) const;
  void apply_exit(std::string_view target, const process_record &p,
                  timestamp end);
  // A sync in three steps, so a listing may come in parts (sync_part):
  // begin (counts it, moves the clock), rows (pass 1: find or create each
  // listed process, evicting as it goes), end (parents, restored state,
  // links, and the vanished processes' estimated ends).
  void begin_sync(timestamp time);
  void sync_rows(std::vector<process_record> &&listing);
  void end_sync();
  bool sync_current(std::size_t i) const;
  void compact_sync();

  std::uint32_t lookup(std::string_view id) const;
  std::uint32_t lookup_real_id(std::string_view id) const;
  std::uint32_t lookup_link(std::string_view pid) const;
  std::uint32_t lookup_guid(std::string_view guid) const;
  /// The cached process whose id is `slot`'s parent_id, npos if none: what
  /// lookup_real_id(parent_id) gives, through the slot's hint when it
  /// still holds that id (the loop check walks chains on every link).
  std::uint32_t parent_of(std::uint32_t slot) const;
  /// A new process under `id`, with p's GUID, start and Data (the rest of
  /// `p` is left as it was).
  std::uint32_t insert(std::string_view id, process_record &&p);
  std::uint32_t allocate_slot();
  /// Raises max_suffix_ to the ".N" of a cached id.
  void note_suffix(std::string_view id);
  /// `base` with the first free ".N" suffix (same pid and second).
  std::string unique_id(const std::string &base);
  /// The process with this pid and exactly this start ("<pid>-<s>", then
  /// its ".N" forms), npos if none.
  std::uint32_t lookup_exact(const std::string &pid, timestamp start) const;
  /// An ended process proven alive: its end is cleared.
  void revive(std::uint32_t slot);
  void resolve_parent(std::uint32_t child, const std::string &ppid,
                      const std::string &parent_guid,
                      std::uint32_t parent_hint);
  /// Takes `child` out of its parent's children and live count (or the
  /// orphan count), before resolve_parent() links it anew.
  void unlink_parent(std::uint32_t child);
  /// Whether `holder` may have held its pid when a child started at
  /// `start`: started at or before it, not known to have ended before it.
  bool held_pid_at(std::uint32_t holder, timestamp start) const;
  /// Whether `holder` is known to have exited more than the rounding slack
  /// (1 s) before `start`: it cannot have started a process then.
  static bool ended_before(const process_entry &holder, timestamp start);
  /// Whether `ancestor` is `slot` or an ancestor of it.
  bool is_ancestor(std::uint32_t ancestor, std::uint32_t slot) const;
  void take_link(std::uint32_t slot, const std::string &pid,
                 timestamp holder_end);
  /// A listed process that names its parent's exact real id (a replayed
  /// output stream): links it so; false when the row names none.
  bool restore_parent(std::uint32_t slot, const process_record &p);
  /// A listed process that says it ended, or when a listing last saw it (a
  /// replayed output stream): applied as the stream says.
  void restore_end(std::uint32_t slot, const process_record &p);
  void set_end(std::uint32_t slot, timestamp end, bool estimate);
  void merge_data(process_entry &e, data_fields &&fields);
  bool merge_packed(process_entry &e, const data_fields &fields);
  /// Data as stored: values capped at max_field_bytes, the "Truncated" list
  /// (given ones, `cut`, and the newly cut) written once at the end.
  std::string stored_data(data_fields &&d, std::vector<std::string> cut = {});
  /// The same into `out` (its buffer reused).
  void stored_data_into(std::string &out, data_fields &&d,
                        std::vector<std::string> cut = {});
  void set_data(process_entry &e, std::string data);
  void refresh_data(process_entry &e, std::string fresh);
  void merge_enrichment(process_entry &e, const enrichment &en);
  /// Moves "now" to event time `t` of the process (`pid`, `guid`; both
  /// empty for a listing), unless it is a clock outlier.
  void observe_time(timestamp t, std::string_view pid = {},
                    std::string_view guid = {});
  void apply_pending_exit(std::uint32_t slot, const std::string &pid);

  // Eviction order: tier 0 (exited, no running descendant) goes first, then
  // tier 1 (running, no running descendant), then tier 2 (ancestors of
  // running processes), each least recently used first.
  std::uint8_t tier_of(const process_entry &e) const;
  void refresh_tier(std::uint32_t slot);
  void touch(std::uint32_t slot);
  void list_push_back(std::uint32_t slot);
  void list_remove(std::uint32_t slot);
  void evict_if_full();
  void remove(std::uint32_t slot);
  void count_orphan(std::string_view parent_id, int delta);

  table_config cfg_;
  std::vector<process_entry> slots_;
  std::vector<std::uint32_t> free_slots_;
  /// Freed slots keep their buffers for reuse while there are at most this
  /// many, and Data's buffer only up to this size (remove()).
  static constexpr std::size_t kept_free_slots = 64;
  static constexpr std::size_t kept_data_capacity = 8192;
  mutable std::string scratch_id_; ///< lookup_exact's key buffer
  /// The key of an orphan_live_ lookup by a stored id
  /// (those maps are keyed by std::string: no temporary string per lookup).
  std::string key_buf_;
  std::string new_id_;    ///< apply_start's id buffer
  std::string merge_buf_; ///< merge_packed's output before it is copied
  // The indexes hold slot numbers; each key lives in its slot (slot_index).
  slot_index by_id_;   ///< real id -> process
  slot_index links_;   ///< bare pid -> newest holder
  slot_index by_guid_; ///< GUID -> process
  auto id_key() const {
    return [this](std::uint32_t s) { return std::string_view{slots_[s].id}; };
  }
  auto pid_key() const {
    return [this](std::uint32_t s) { return slots_[s].pid(); };
  }
  auto guid_key() const {
    return [this](std::uint32_t s) { return std::string_view{slots_[s].guid}; };
  }
  lru_list lists_[3];
  /// Real id of an uncached parent -> its children that are live (running
  /// or with running descendants); bounded by the cached live processes.
  std::unordered_map<std::string, std::uint32_t> orphan_live_;
  pending_exits pending_exits_;
  table_counters counters_;
  timestamp now_ = unknown_time;
  timestamp last_expiry_run_ = unknown_time;
  /// Times more than max_expiry ahead of now_, held back until events of
  /// clock_witnesses distinct processes confirm them (observe_time); in
  /// arrival order, the first is the earliest candidate. Empty when none.
  struct clock_witness {
    timestamp time = unknown_time;
    std::string pid, guid; ///< both empty: a listing, or a restored state
  };
  static constexpr std::size_t clock_witnesses = 3;
  std::vector<clock_witness> clock_candidates_;
  std::uint64_t sync_generation_ = 0;
  /// The listing being applied, between its first and last part. What
  /// end_sync() needs of a listed row (no Data) is kept only while its
  /// process is cached: at most 2 x max_size + 64 rows.
  struct open_sync {
    struct placed_row {
      std::uint32_t slot;
      process_record row; ///< Data released, children cut at max_children
      bool created;
    };
    bool open = false;
    std::uint64_t gen = 0;
    timestamp time = unknown_time;
    std::vector<placed_row> placed;
  };
  open_sync sync_;
  /// The largest ".N" suffix of any id cached so far (lookup_exact scans up
  /// to it; at most max_size + 1).
  std::uint64_t max_suffix_ = 0;
  std::size_t data_bytes_ = 0;
  /// Running processes of a restore_state, until the next listing ends.
  std::vector<std::string> restored_running_;
  timestamp restored_alive_ = unknown_time;
  /// Their estimated ends, at the end of the first listing after a restart.
  void reconcile_restored(std::uint64_t gen);
  bool tracking_ = false;
  std::vector<std::uint32_t> changed_;       ///< slots noted (may repeat)
  std::vector<history_row> removed_changes_; ///< noted, then removed
};

/// Data as stored: one JSON object text, so a process costs one allocation
/// for its data and answers splice it unchanged.
std::string pack_data(const data_fields &d);
/// The same into `out`, replacing what it held (its buffer reused).
void pack_data_into(std::string &out, const data_fields &d);
/// Appends the same JSON object text to `out`.
void append_packed_data(std::string &out, const data_fields &d);
data_fields unpack_data(std::string_view packed);
/// The raw JSON value of `key`, if present.
std::optional<std::string_view> data_value(std::string_view packed,
                                           std::string_view key);

/// Appends a tree node up to its children's list, as Velociraptor's tree
/// writes it: `{"name":N,"id":ID,"start_time":T,"end_time":T,"data":D,
/// "children":[` with N = Data.Name when a non-empty string, else the id;
/// `data` is packed Data (empty gives `{}`). The caller closes with `]}`.
void open_tree_node(std::string &out, std::string_view id,
                    std::string_view data, timestamp start_time,
                    timestamp end_time);

/// Cuts one Data value (JSON text) to at most `max` bytes: a string at a
/// character boundary (never inside an escape or a UTF-8 sequence) and
/// closed again, any other value to `null`. False when it fits as it is.
bool cap_json_value(std::string &json, std::size_t max);

/// The real id of a process: "<pid>-<whole start seconds>" (SPEC §1);
/// "<pid>-0" for an unknown start or one before 1970 (Velociraptor's
/// GetRealId), so an id never holds a second '-'.
std::string make_real_id(std::string_view pid, timestamp start);
/// The same into `id`, replacing what it held (its buffer reused).
void real_id_into(std::string &id, std::string_view pid, timestamp start);

/// Lower-cases a GUID and strips nothing else; "" for the all-zero GUID.
std::string normalize_guid(std::string_view guid);

} // namespace proctrack
