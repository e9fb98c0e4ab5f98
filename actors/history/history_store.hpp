// The history store: a durable record of every process the tracker learned
// of, in one SQLite file (WAL mode), keyed by host and real id. Plain C++
// over libsqlite3 (no actor system): the history actor owns one and writes
// batches to it; `proctrack query --history=FILE` opens one read-only and
// answers from it. docs/history.md describes the design.
#pragma once

#include "messages/types.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;
struct ZSTD_CCtx_s;
struct ZSTD_DCtx_s;
struct ZSTD_CDict_s;
struct ZSTD_DDict_s;

namespace proctrack {

// history_row (one process as the store holds it): messages/types.hpp,
// where the cache's process_changes carry it to the history actor.

/// Counters of one store (reported by the history actor's stats).
struct history_counters {
  std::int64_t rows_written = 0;   ///< row writes (inserts and updates)
  std::int64_t transactions = 0;   ///< committed write transactions
  std::int64_t rows_retired = 0;   ///< rows dropped by max-age or max-bytes
  std::int64_t write_failures = 0; ///< transactions that failed
  std::int64_t data_bytes = 0;     ///< Data text written (before compression)
  std::int64_t stored_bytes = 0;   ///< what it took in the rows (compressed)
};

class history_store {
public:
  /// reader: read-only, a second connection of the process that holds the
  /// store open read_write (the history actor's reader): the writer's
  /// open checked the file, so no quick_check; dictionaries the writer
  /// trains later are loaded when a row first needs one.
  enum class mode { read_write, read_only, reader };

  /// Opens the store at `path`, creating it (and nothing else: the folder
  /// must exist) when missing. read_write: a file that is not a readable
  /// SQLite database, or fails SQLite's quick_check (truncated, garbage,
  /// torn beyond what the WAL recovers), is renamed to
  /// `<path>.damaged-<UTC time>` (its -wal and -shm with it) and a new store
  /// is created; `recovered` then says what was wrong and where the file
  /// went. A valid SQLite database that is not a proctrack history is never
  /// touched: an error. read_only: any damage is an error. nullptr on error,
  /// with `error` naming the file and the cause.
  static std::unique_ptr<history_store> open(const std::string &path, mode m,
                                             std::string &error,
                                             std::string *recovered = nullptr);
  ~history_store();
  history_store(const history_store &) = delete;
  history_store &operator=(const history_store &) = delete;

  const std::string &path() const {
    return path_;
  }

  // -- writing ---------------------------------------------------------------

  /// Writes `rows` in one transaction: a new (host, id) is inserted with
  /// first_seen = last_seen = `now`; a known one takes the row's values and
  /// last_seen = `now`, keeping its first_seen; a row with data_kept keeps
  /// the Data stored (inserted with "{}" when none is). All or nothing: false
  /// with `error` when the transaction failed (it is rolled back).
  bool write(const std::vector<history_row> &rows, timestamp now,
             std::string &error);

  /// Retention: drops exited processes last written more than `max_age`
  /// before `now` (0: no age limit), then, while the rows take more than
  /// `max_bytes` of the file, the exited processes written longest ago
  /// (running ones only when no exited one is left), and returns the freed
  /// pages to the file system. Returns the rows dropped; -1 with `error`.
  std::int64_t retire(std::uint64_t max_bytes, timestamp max_age, timestamp now,
                      std::string &error);

  /// The connection's page cache, at most `bytes` (SQLite's cache_size;
  /// open() sets defaults::history_cache_bytes for a writer, a reader
  /// keeps SQLite's 2 MiB). False
  /// with SQLite's message in `error` when it refuses.
  bool set_cache_bytes(std::uint64_t bytes, std::string &error);
  /// The page cache's bound, bytes.
  std::uint64_t cache_bytes();

  /// Bytes of the database file that hold data (pages in use x page size).
  std::uint64_t used_bytes();
  std::int64_t row_count();
  const history_counters &counters() const {
    return counters_;
  }

  // -- reading ---------------------------------------------------------------

  /// The process `id` names: a real id, a GUID, or a bare pid (the newest
  /// holder of it started at or before `as_of`). `host` empty: any host
  /// (the first by name that has it). `as_of` unknown_time: no time limit;
  /// else a process started after it is not returned.
  std::optional<history_row> find(std::string_view host, std::string_view id,
                                  timestamp as_of = unknown_time);
  /// Processes running at `as_of` (started at or before, not ended at or
  /// before it), or every stored process when it is unknown_time; by start
  /// time then id.
  /// At most `max_rows` (0: no limit).
  std::vector<history_row> pslist(std::string_view host, timestamp as_of,
                                  std::size_t max_rows = 0);
  /// Direct children (by ParentId) of real id `id` on `host`, started at
  /// or before `as_of` when it is set; by start time, at most `max`.
  std::vector<history_row> children(const std::string &host,
                                    const std::string &id, timestamp as_of,
                                    std::size_t max);
  /// The processes of `host` an agent reloads when it starts
  /// (actors/history/restore.hpp): the most recently written first (a
  /// running process is rewritten at every listing, so running ones come
  /// first), at most `max_rows`, and while their Data text takes at most
  /// `max_bytes` in all (the cache's tracker.max-size and max-bytes).
  std::vector<history_row> recent(std::string_view host, std::size_t max_rows,
                                  std::size_t max_bytes);
  /// When the store last wrote a row of `host` (the largest last_seen;
  /// wall clock, ns), unknown_time when it holds none: the last moment an
  /// agent that stopped is known to have been recording.
  timestamp last_write(std::string_view host);

  /// The first read error (a damaged page, an I/O error) since the last
  /// call or answer(), naming the file; empty when there was none. find,
  /// pslist, children, recent and last_write return what they read before
  /// it.
  std::string take_read_error();

  /// Answers a query (SPEC §4 shapes; verbs get, callchain, children,
  /// tree, pslist) as JSON text, as it stood at `as_of` (unknown_time: now). An
  /// id of the form HOST/ID asks that host only. Entries carry Children as
  /// the store knows them (every child by ParentId, up to 100). nullopt
  /// for another verb, with `error`. `max_list` (0: no limit) bounds a
  /// pslist: more processes than that is an error saying so, not a
  /// silently cut list (an agent's answers are bounded; the file's reader
  /// is not).
  /// A read error on the way is the answer's error (never a shorter answer).
  std::optional<std::string> answer(const query &q, timestamp as_of,
                                    std::string &error,
                                    std::size_t max_list = 0);

private:
  history_store() = default;
  std::optional<std::string> answer_reads(const query &q, timestamp as_of,
                                          std::string &error,
                                          std::size_t max_list);
  /// sqlite3_step for a reader: true on a row; an error is kept (read_failed).
  bool next_row(sqlite3_stmt *s);
  void read_failed(std::string what);
  history_row read_row(sqlite3_stmt *s);
  /// Data as stored: a zstd frame (with the store's dictionary once it has
  /// one) when that is smaller than the text, else the text.
  void compress(std::string_view data, std::string &out);
  /// Trains the store's dictionary from `rows` (and the rows stored so
  /// far) once enough samples exist; within the write's transaction.
  void maybe_train(const std::vector<history_row> &rows);
  bool load_dictionaries(std::string &error);
  /// The decompression dictionary `dict_id`, loading the ones stored since
  /// the open (another connection trained them); null when there is none.
  ZSTD_DDict_s *dictionary(unsigned dict_id);
  /// After a rollback: a dictionary trained in it is gone from the file.
  void forget_trained(ZSTD_CDict_s *before);
  bool exec(const char *sql, std::string &error);
  sqlite3_stmt *prepare(const char *sql, std::string &error);
  std::string sqlite_error() const;
  void append_entry_json(std::string &out, const history_row &r);

  sqlite3 *db_ = nullptr;
  std::string path_;
  sqlite3_stmt *upsert_ = nullptr;
  sqlite3_stmt *upsert_kept_ = nullptr; ///< the same, keeping the stored Data
  sqlite3_stmt *update_end_ = nullptr; ///< data_kept, all but the end as stored
  history_counters counters_;
  // Data compression (docs/history.md "What is stored"): one dictionary per
  // store, trained from its first rows, kept in its `dictionary` table.
  ZSTD_CCtx_s *cctx_ = nullptr;
  ZSTD_DCtx_s *dctx_ = nullptr;
  ZSTD_CDict_s *cdict_ = nullptr; ///< the one to write with
  std::vector<std::pair<unsigned, ZSTD_DDict_s *>> ddicts_; ///< by dictID
  std::int64_t train_after_ = 0; ///< rows still to write before training
  std::string scratch_;
  std::string read_error_; ///< take_read_error
};

} // namespace proctrack
