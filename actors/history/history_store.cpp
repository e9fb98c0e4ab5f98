#include "actors/history/history_store.hpp"

#include "actors/common/defaults.hpp"
#include "actors/common/entry_json.hpp"

#include "actors/common/text.hpp"

#include "actors/cache/process_table.hpp"
#include "actors/cache/query_parser.hpp"
#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

#include <sqlite3.h>
#include <zdict.h>
#include <zstd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace proctrack {

namespace {

// 'PTRK' in the file header: tells our store from any other SQLite file.
constexpr int application_id = 0x5054524b;
// 3: Data may be a zstd frame (a BLOB) and the store keeps its dictionary.
// 2: times in 100 ns units, Data always text; opened read-write it becomes a
// version 3 (its rows stay as they are). 1 held nanoseconds: refused by
// name, never misread.
constexpr int schema_version = 3;
constexpr int oldest_readable_version = 2;

// Data compression: a store trains one zstd dictionary from its first
// `train_rows` rows of Data (Sysmon-sized Data shares most of its text:
// keys, paths, users, company names), then writes every Data with it.
// Measured on bench/history.sh's 880-byte Data: 880 B as text, 575 B as a
// zstd frame alone, 269 B with a dictionary at level 3, 283 B at level 1,
// which costs less CPU a row (the history is on the replay's critical path).
constexpr std::size_t train_rows = 2000;
// Training time grows with the samples (ZDICT_trainFromBuffer searches its
// parameters): 2,000 samples of 1 KB take about 0.3 s; 8,000 of 1.7 KB took
// over 10 s, in the history's thread.
constexpr std::size_t max_train_samples = 2000;
constexpr std::size_t max_train_bytes = 1 << 20;
constexpr std::size_t dictionary_bytes = 32 * 1024;
constexpr int compression_level = 1;
// Data shorter than this stays text (a frame's header costs ~6 bytes).
constexpr std::size_t min_compress = 48;

// Rows are written as "INSERT ... ON CONFLICT": a process first seen keeps
// its first_seen. A rowid table (not WITHOUT ROWID): Data is 1-2 KB for a
// Sysmon process, too large for a clustered key's pages.
constexpr const char *schema_sql = R"sql(
CREATE TABLE process(
  host TEXT NOT NULL,
  id TEXT NOT NULL,
  parent_id TEXT NOT NULL,
  guid TEXT NOT NULL,
  start_time INTEGER NOT NULL,
  end_time INTEGER NOT NULL,
  end_estimate INTEGER NOT NULL,
  last_sync_time INTEGER NOT NULL,
  data TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  UNIQUE(id, host));
CREATE INDEX process_parent ON process(parent_id, start_time);
CREATE INDEX process_guid ON process(guid) WHERE guid <> '';
CREATE INDEX process_life ON process(end_time, start_time);
CREATE INDEX process_seen ON process(last_seen);
CREATE TABLE dictionary(id INTEGER PRIMARY KEY, content BLOB NOT NULL);
)sql";

// A version 2 store opened read-write: the dictionary table, and pslist@T's
// index in place of the start_time one.
constexpr const char *upgrade_sql = R"sql(
CREATE TABLE IF NOT EXISTS dictionary(id INTEGER PRIMARY KEY,
                                      content BLOB NOT NULL);
DROP INDEX IF EXISTS process_start;
DROP INDEX IF EXISTS process_pid;
ALTER TABLE process DROP COLUMN pid;
CREATE INDEX IF NOT EXISTS process_life ON process(end_time, start_time);
PRAGMA user_version=3;
)sql";

constexpr const char *columns =
    "host, id, parent_id, guid, start_time, end_time, end_estimate, "
    "last_sync_time, data, first_seen, last_seen";

bool damaged_code(int rc) {
  rc &= 0xff;
  return rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT;
}

std::string stamp_for_file(timestamp now) {
  auto s = format_time(now - now % hns_per_second);
  s.erase(std::remove(s.begin(), s.end(), ':'), s.end());
  return s;
}

// A prepared statement, finalized when it goes out of scope.
struct statement {
  sqlite3_stmt *s = nullptr;
  ~statement() {
    sqlite3_finalize(s);
  }
  void text(int i, std::string_view v) {
    sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()),
                      SQLITE_TRANSIENT);
  }
  void integer(int i, std::int64_t v) {
    sqlite3_bind_int64(s, i, v);
  }
};

std::string column_text(sqlite3_stmt *s, int i) {
  auto *p = reinterpret_cast<const char *>(sqlite3_column_text(s, i));
  return p ? std::string{p,
                         static_cast<std::size_t>(sqlite3_column_bytes(s, i))}
           : std::string{};
}

// The store holds what the agent recorded, command lines included: its
// files (the database, its -wal and -shm, which SQLite creates with the
// database's mode) are never every local user's, whatever the umask. A new
// one is created 0600; an existing one loses the bits for others (a group
// its owner granted keeps them). Not ours to change (EPERM): left as is.
std::string close_to_others(const std::string &path) {
  int fd = ::open(path.c_str(),
                  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0)
    ::close(fd); // an empty file is a new SQLite database
  for (const char *suffix : {"", "-wal", "-shm"}) {
    auto p = path + suffix;
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)
        || (st.st_mode & 0007) == 0)
      continue;
    if (::chmod(p.c_str(), st.st_mode & 0770) != 0 && errno != EPERM)
      return "cannot close " + p + " to other users: " + std::strerror(errno);
  }
  return {};
}

} // namespace

history_row history_store::read_row(sqlite3_stmt *s) {
  history_row r;
  r.host = column_text(s, 0);
  r.id = column_text(s, 1);
  r.parent_id = column_text(s, 2);
  r.guid = column_text(s, 3);
  r.start_time = sqlite3_column_int64(s, 4);
  r.end_time = sqlite3_column_int64(s, 5);
  r.end_is_estimate = sqlite3_column_int64(s, 6) != 0;
  r.last_sync_time = sqlite3_column_int64(s, 7);
  if (sqlite3_column_type(s, 8) == SQLITE_BLOB) {
    // A zstd frame: with the dictionary its header names (0: none).
    auto *p = sqlite3_column_blob(s, 8);
    auto n = static_cast<std::size_t>(sqlite3_column_bytes(s, 8));
    auto size = ZSTD_getFrameContentSize(p, n);
    auto dict_id = ZSTD_getDictID_fromFrame(p, n);
    auto *dd = dict_id == 0 ? nullptr : dictionary(dict_id);
    if (!dctx_)
      dctx_ = ZSTD_createDCtx();
    bool ok = size != ZSTD_CONTENTSIZE_UNKNOWN && size != ZSTD_CONTENTSIZE_ERROR
              && size <= (1u << 26) && (dict_id == 0 || dd != nullptr) && dctx_;
    if (ok) {
      r.data.resize(static_cast<std::size_t>(size));
      auto got =
          dd ? ZSTD_decompress_usingDDict(dctx_, r.data.data(), r.data.size(),
                                          p, n, dd)
             : ZSTD_decompressDCtx(dctx_, r.data.data(), r.data.size(), p, n);
      ok = !ZSTD_isError(got) && got == size;
    }
    if (!ok) // never a crash, never invalid JSON: the row says what it was
      r.data = "{\"HistoryError\":\"stored Data cannot be decompressed\"}";
  } else {
    r.data = column_text(s, 8);
  }
  r.first_seen = sqlite3_column_int64(s, 9);
  r.last_seen = sqlite3_column_int64(s, 10);
  return r;
}

namespace {

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isdigit(static_cast<unsigned char>(c));
  });
}

// What opening a file found: usable, damaged (moved aside in read-write
// mode), someone else's database (never touched), or another failure.
enum class verdict { ok, damaged, foreign, failed };

} // namespace

std::string history_store::sqlite_error() const {
  return db_ ? sqlite3_errmsg(db_) : "out of memory";
}

bool history_store::exec(const char *sql, std::string &error) {
  char *msg = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    error = msg ? msg : sqlite_error();
    sqlite3_free(msg);
    return false;
  }
  return true;
}

sqlite3_stmt *history_store::prepare(const char *sql, std::string &error) {
  sqlite3_stmt *s = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) {
    error = sqlite_error();
    sqlite3_finalize(s);
    return nullptr;
  }
  return s;
}

history_store::~history_store() {
  ZSTD_freeCCtx(cctx_);
  ZSTD_freeDCtx(dctx_);
  ZSTD_freeCDict(cdict_);
  for (auto &[id, d] : ddicts_)
    ZSTD_freeDDict(d);
  sqlite3_finalize(upsert_);
  sqlite3_finalize(upsert_kept_);
  sqlite3_finalize(update_end_);
  if (db_)
    sqlite3_close_v2(db_);
}

std::unique_ptr<history_store> history_store::open(const std::string &path,
                                                   mode m, std::string &error,
                                                   std::string *recovered) {
  bool ro = m != mode::read_write;
  std::error_code ec;
  if (ro && !std::filesystem::exists(path, ec)) {
    error = "history store " + path + ": no such file";
    return nullptr;
  }
  // One attempt: a verdict, and the store when it is ok.
  auto attempt = [&](std::string &why)
      -> std::pair<verdict, std::unique_ptr<history_store>> {
    std::unique_ptr<history_store> st{new history_store};
    st->path_ = path;
    // A reader that may write the file opens it read-write with
    // query_only set: after a crash (kill -9 of the writer) SQLite must
    // rebuild the WAL index, which a read-only connection cannot do (it
    // waits out busy_timeout on every open). query_only still refuses any
    // change to the data.
    if (!ro) {
      why = close_to_others(path);
      if (!why.empty())
        return {verdict::failed, nullptr};
    }
    bool ro_file = ro && ::access(path.c_str(), W_OK) != 0;
    int flags = ro_file ? SQLITE_OPEN_READONLY
                : ro    ? SQLITE_OPEN_READWRITE
                        : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(path.c_str(), &st->db_,
                             flags | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      why = st->sqlite_error();
      return {damaged_code(rc) ? verdict::damaged : verdict::failed, nullptr};
    }
    sqlite3_extended_result_codes(st->db_, 1);
    sqlite3_busy_timeout(st->db_, 5000);
    if (ro && !st->exec("PRAGMA query_only=1", why))
      return {verdict::failed, nullptr};
    // The writer (the agent, a replay) runs quick_check, which reads every
    // page: a truncated file, a garbage page or a torn write the WAL did not
    // cover shows here, and the file is moved aside before anything is
    // written to it. It costs about a second per GB, so a reader does not
    // pay it on every query: `query --history` and the agent's reader
    // check the header and the file's length below, pages are checked as
    // they are read (cell_size_check), and a damaged page a query meets
    // fails that query with the file named (take_read_error).
    if (ro && !st->exec("PRAGMA cell_size_check=1", why))
      return {verdict::failed, nullptr};
    if (!ro) {
      statement s;
      s.s = st->prepare("PRAGMA quick_check(5)", why);
      if (!s.s) {
        auto code = sqlite3_extended_errcode(st->db_);
        return {damaged_code(code) ? verdict::damaged : verdict::failed,
                nullptr};
      }
      std::string problems;
      int step;
      while ((step = sqlite3_step(s.s)) == SQLITE_ROW) {
        auto line = column_text(s.s, 0);
        std::replace(line.begin(), line.end(), '\n', ' ');
        if (line != "ok")
          problems += (problems.empty() ? "" : "; ") + line;
      }
      if (step != SQLITE_DONE) {
        why = st->sqlite_error();
        return {damaged_code(step) ? verdict::damaged : verdict::failed,
                nullptr};
      }
      if (!problems.empty()) {
        why = "integrity check failed: " + problems;
        return {verdict::damaged, nullptr};
      }
    }
    std::int64_t tables = 0, app = 0, version = 0;
    {
      statement s;
      // page_count: SQLite compares the header's page count with the
      // file's length, so a truncated file fails here.
      s.s = st->prepare("SELECT (SELECT count(*) FROM sqlite_master), "
                        "(SELECT application_id FROM pragma_application_id), "
                        "(SELECT user_version FROM pragma_user_version), "
                        "(SELECT page_count FROM pragma_page_count)",
                        why);
      if (!s.s || sqlite3_step(s.s) != SQLITE_ROW) {
        if (s.s)
          why = st->sqlite_error();
        auto code = sqlite3_extended_errcode(st->db_);
        return {damaged_code(code) ? verdict::damaged : verdict::failed,
                nullptr};
      }
      tables = sqlite3_column_int64(s.s, 0);
      app = sqlite3_column_int64(s.s, 1);
      version = sqlite3_column_int64(s.s, 2);
    }
    if (tables > 0 && app != application_id) {
      why = "a SQLite database, but not a proctrack history (application_id "
            + std::to_string(app) + "); left as it is";
      return {verdict::foreign, nullptr};
    }
    if (tables > 0
        && (version < oldest_readable_version || version > schema_version)) {
      why = "history schema version " + std::to_string(version)
            + ", this proctrack reads version "
            + std::to_string(schema_version);
      return {verdict::foreign, nullptr};
    }
    if (tables == 0 && ro) {
      why = "empty file, not a proctrack history";
      return {verdict::foreign, nullptr};
    }
    if (!ro) {
      // WAL: a commit is one append, readers (proctrack query) do not block
      // the writer, and a torn last transaction is dropped on open.
      // synchronous=NORMAL: a kill -9 loses nothing committed; a power cut
      // may lose the last transactions, never the file.
      if (tables == 0) {
        std::string sql =
            "PRAGMA auto_vacuum=INCREMENTAL;"
            "PRAGMA application_id="
            + std::to_string(application_id)
            + ";PRAGMA user_version=" + std::to_string(schema_version) + ";";
        if (!st->exec(sql.c_str(), why)
            || !st->exec("PRAGMA journal_mode=WAL", why)
            || !st->exec("BEGIN", why) || !st->exec(schema_sql, why)
            || !st->exec("COMMIT", why))
          return {verdict::failed, nullptr};
      } else if (!st->exec("PRAGMA journal_mode=WAL", why)) {
        return {verdict::failed, nullptr};
      } else if (version < schema_version) {
        if (!st->exec("BEGIN", why) || !st->exec(upgrade_sql, why)
            || !st->exec("COMMIT", why))
          return {verdict::failed, nullptr};
      }
      // A writer's page cache (SQLite's default is 2 MiB): the indexes'
      // pages stay in memory while a store grows to millions of rows.
      if (!st->exec("PRAGMA synchronous=NORMAL", why)
          || !st->set_cache_bytes(defaults::history_cache_bytes, why))
        return {verdict::failed, nullptr};
      auto upsert = [&](bool keep_data) {
        return std::string{"INSERT INTO process("} + columns
               + ") VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?10) "
                 "ON CONFLICT(id, host) DO UPDATE SET "
                 "parent_id=excluded.parent_id, "
                 "guid=excluded.guid, start_time=excluded.start_time, "
                 "end_time=excluded.end_time, "
                 "end_estimate=excluded.end_estimate, "
                 "last_sync_time=excluded.last_sync_time, "
               + (keep_data ? "" : "data=excluded.data, ")
               + "last_seen=excluded.last_seen";
      };
      st->upsert_ = st->prepare(upsert(false).c_str(), why);
      st->upsert_kept_ = st->prepare(upsert(true).c_str(), why);
      // An exit or a listing of a process the store has as it is: only
      // the columns that change, so SQLite moves the entries of two
      // indexes (end_time, last_seen), not four. Parameters as the upserts'.
      st->update_end_ = st->prepare(
          "UPDATE process SET end_time=?6, end_estimate=?7, "
          "last_sync_time=?8, last_seen=?10 WHERE id=?2 AND host=?1 AND "
          "parent_id=?3 AND guid=?4 AND start_time=?5 AND ?9 IS NULL",
          why);
      if (!st->upsert_ || !st->upsert_kept_ || !st->update_end_)
        return {verdict::failed, nullptr};
    }
    if (!st->load_dictionaries(why))
      return {verdict::failed, nullptr};
    return {verdict::ok, std::move(st)};
  };

  std::string why;
  auto [v, st] = attempt(why);
  if (v == verdict::ok)
    return std::move(st);
  if (v != verdict::damaged || ro) {
    error = "history store " + path + ": " + why;
    return nullptr;
  }
  st.reset();
  // Damaged: kept aside for whoever wants to look at it, never deleted.
  auto aside = path + ".damaged-" + stamp_for_file(wall_clock_now());
  std::filesystem::rename(path, aside, ec);
  if (ec) {
    error = "history store " + path + ": " + why + "; cannot move it aside to "
            + aside + ": " + ec.message();
    return nullptr;
  }
  for (const char *suffix : {"-wal", "-shm"}) {
    std::error_code ignored;
    if (std::filesystem::exists(path + suffix, ignored))
      std::filesystem::rename(path + suffix, aside + suffix, ignored);
  }
  close_to_others(aside); // kept: the same secrets
  auto what = "history store " + path + " was damaged (" + why + "): moved to "
              + aside + ", a new store is created";
  std::string why2;
  auto [v2, fresh] = attempt(why2);
  if (v2 != verdict::ok) {
    error = what + ", and that failed: " + why2;
    return nullptr;
  }
  if (recovered)
    *recovered = what;
  return std::move(fresh);
}

ZSTD_DDict_s *history_store::dictionary(unsigned dict_id) {
  for (auto &[id, d] : ddicts_)
    if (id == dict_id)
      return d;
  // Trained by the writer after this connection opened: in the snapshot
  // that holds the row (a dictionary is committed with its first rows).
  std::string error;
  statement s;
  s.s = prepare("SELECT content FROM dictionary", error);
  if (!s.s)
    return nullptr;
  while (sqlite3_step(s.s) == SQLITE_ROW) {
    auto *p = sqlite3_column_blob(s.s, 0);
    auto n = static_cast<std::size_t>(sqlite3_column_bytes(s.s, 0));
    if (!p || ZDICT_getDictID(p, n) != dict_id)
      continue;
    if (auto *dd = ZSTD_createDDict(p, n)) {
      ddicts_.emplace_back(dict_id, dd);
      return dd;
    }
  }
  return nullptr;
}

bool history_store::load_dictionaries(std::string &error) {
  statement s;
  s.s = prepare("SELECT id, content FROM dictionary ORDER BY id", error);
  if (!s.s) {
    // A version 2 store opened read-only has none (its Data is text).
    error.clear();
    train_after_ = static_cast<std::int64_t>(train_rows);
    return true;
  }
  const void *last = nullptr;
  std::size_t last_size = 0;
  int step;
  while ((step = sqlite3_step(s.s)) == SQLITE_ROW) {
    auto *p = sqlite3_column_blob(s.s, 1);
    auto n = static_cast<std::size_t>(sqlite3_column_bytes(s.s, 1));
    auto *dd = ZSTD_createDDict(p, n);
    if (!dd) {
      error = "dictionary " + column_text(s.s, 0) + " is not a zstd dictionary";
      return false;
    }
    ddicts_.emplace_back(ZSTD_getDictID_fromDDict(dd), dd);
    last = p;
    last_size = n;
    if (upsert_) {
      ZSTD_freeCDict(cdict_);
      cdict_ = ZSTD_createCDict(last, last_size, compression_level);
    }
  }
  if (step != SQLITE_DONE) {
    error = sqlite_error();
    return false;
  }
  train_after_ = cdict_ ? 0 : static_cast<std::int64_t>(train_rows);
  return true;
}

void history_store::compress(std::string_view data, std::string &out) {
  out.clear();
  if (data.size() < min_compress)
    return;
  if (!cctx_) {
    cctx_ = ZSTD_createCCtx();
    if (!cctx_)
      return;
    // The frame keeps its content size (the reader sizes its buffer by it)
    // and the dictionary's id (the reader picks the dictionary by it); a
    // checksum would cost 4 bytes a row that SQLite's pages do not need.
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 0);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, compression_level);
  }
  out.resize(ZSTD_compressBound(data.size()));
  std::size_t n;
  if (cdict_)
    n = ZSTD_compress_usingCDict(cctx_, out.data(), out.size(), data.data(),
                                 data.size(), cdict_);
  else
    n = ZSTD_compressCCtx(cctx_, out.data(), out.size(), data.data(),
                          data.size(), compression_level);
  if (ZSTD_isError(n) || n >= data.size())
    out.clear(); // stored as text
  else
    out.resize(n);
}

void history_store::maybe_train(const std::vector<history_row> &rows) {
  if (cdict_ || train_after_ <= 0)
    return;
  train_after_ -= static_cast<std::int64_t>(rows.size());
  if (train_after_ > 0)
    return;
  // Samples: this batch's Data, then the newest stored text rows.
  std::string samples;
  std::vector<std::size_t> sizes;
  auto add = [&](std::string_view d) {
    if (d.size() >= min_compress && sizes.size() < max_train_samples
        && samples.size() + d.size() <= max_train_bytes) {
      samples.append(d);
      sizes.push_back(d.size());
    }
  };
  for (auto &r : rows)
    add(r.data);
  if (sizes.size() < train_rows) {
    std::string error;
    statement s;
    s.s = prepare((std::string{"SELECT "} + columns
                   + " FROM process ORDER BY rowid DESC LIMIT ?1")
                      .c_str(),
                  error);
    if (s.s) {
      s.integer(1, static_cast<std::int64_t>(max_train_samples - sizes.size()));
      while (sqlite3_step(s.s) == SQLITE_ROW)
        add(read_row(s.s).data);
    }
  }
  std::string dict(dictionary_bytes, '\0');
  auto n =
      ZDICT_trainFromBuffer(dict.data(), dict.size(), samples.data(),
                            sizes.data(), static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(n)) {
    // Too few or too alike samples: frames without a dictionary until
    // another train_rows rows were written.
    train_after_ = static_cast<std::int64_t>(train_rows);
    return;
  }
  dict.resize(n);
  std::string error;
  statement ins;
  ins.s = prepare("INSERT OR REPLACE INTO dictionary(id, content) "
                  "VALUES(?1, ?2)",
                  error);
  auto *dd = ZSTD_createDDict(dict.data(), dict.size());
  auto *cd = ZSTD_createCDict(dict.data(), dict.size(), compression_level);
  if (!ins.s || !dd || !cd) {
    ZSTD_freeDDict(dd);
    ZSTD_freeCDict(cd);
    train_after_ = static_cast<std::int64_t>(train_rows);
    return;
  }
  auto id = ZSTD_getDictID_fromDDict(dd);
  ins.integer(1, id);
  sqlite3_bind_blob(ins.s, 2, dict.data(), static_cast<int>(dict.size()),
                    SQLITE_TRANSIENT);
  if (sqlite3_step(ins.s) != SQLITE_DONE) {
    ZSTD_freeDDict(dd);
    ZSTD_freeCDict(cd);
    train_after_ = static_cast<std::int64_t>(train_rows);
    return;
  }
  ddicts_.emplace_back(id, dd);
  cdict_ = cd;
}

void history_store::forget_trained(ZSTD_CDict_s *before) {
  if (cdict_ == before)
    return;
  ZSTD_freeCDict(cdict_);
  cdict_ = before;
  ZSTD_freeDDict(ddicts_.back().second);
  ddicts_.pop_back();
  train_after_ = static_cast<std::int64_t>(train_rows);
}

bool history_store::write(const std::vector<history_row> &rows, timestamp now,
                          std::string &error) {
  if (!upsert_) {
    error = "history store " + path_ + " is read-only";
    return false;
  }
  if (rows.empty())
    return true;
  if (!exec("BEGIN IMMEDIATE", error)) {
    ++counters_.write_failures;
    return false;
  }
  // The dictionary is written in this transaction, before the rows that
  // use it: a reader never sees a frame without its dictionary.
  auto cdict_before = cdict_;
  maybe_train(rows);
  std::int64_t data_bytes = 0, stored_bytes = 0;
  // Binds row `r` to statement `s` (the three share their parameters) and
  // runs it: SQLite's result code.
  auto step = [&](sqlite3_stmt *s, const history_row &r) {
    auto text = [s](int i, std::string_view v) {
      sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()),
                        SQLITE_STATIC);
    };
    text(1, r.host);
    text(2, r.id);
    text(3, r.parent_id);
    text(4, r.guid);
    sqlite3_bind_int64(s, 5, r.start_time);
    sqlite3_bind_int64(s, 6, r.end_time);
    sqlite3_bind_int64(s, 7, r.end_is_estimate ? 1 : 0);
    sqlite3_bind_int64(s, 8, r.last_sync_time);
    if (s == update_end_) {
      sqlite3_bind_null(s, 9);
    } else if (r.data_kept) {
      // Only when the store has no row yet (an earlier write failed): an
      // answer splices Data, so it is an object.
      text(9, "{}");
    } else {
      compress(r.data, scratch_);
      data_bytes += static_cast<std::int64_t>(r.data.size());
      if (scratch_.empty()) {
        text(9, r.data);
        stored_bytes += static_cast<std::int64_t>(r.data.size());
      } else {
        sqlite3_bind_blob(s, 9, scratch_.data(),
                          static_cast<int>(scratch_.size()), SQLITE_STATIC);
        stored_bytes += static_cast<std::int64_t>(scratch_.size());
      }
    }
    sqlite3_bind_int64(s, 10, now);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc;
  };
  for (auto &r : rows) {
    int rc;
    if (!r.data_kept) {
      rc = step(upsert_, r);
    } else {
      rc = step(update_end_, r);
      // Not stored, or stored with another parent, GUID or start: the
      // whole upsert, keeping the stored Data.
      if (rc == SQLITE_DONE && sqlite3_changes(db_) == 0)
        rc = step(upsert_kept_, r);
    }
    if (rc != SQLITE_DONE) {
      error = "history store " + path_ + ": writing " + r.id + ": "
              + sqlite_error();
      std::string ignored;
      exec("ROLLBACK", ignored);
      forget_trained(cdict_before);
      ++counters_.write_failures;
      return false;
    }
  }
  if (!exec("COMMIT", error)) {
    std::string ignored;
    exec("ROLLBACK", ignored);
    forget_trained(cdict_before);
    ++counters_.write_failures;
    return false;
  }
  counters_.data_bytes += data_bytes;
  counters_.stored_bytes += stored_bytes;
  counters_.rows_written += static_cast<std::int64_t>(rows.size());
  ++counters_.transactions;
  return true;
}

bool history_store::set_cache_bytes(std::uint64_t bytes, std::string &error) {
  // A negative cache_size is KiB.
  auto sql = "PRAGMA cache_size=-"
             + std::to_string(std::max<std::uint64_t>(bytes >> 10, 1));
  return exec(sql.c_str(), error);
}

std::uint64_t history_store::cache_bytes() {
  std::string error;
  statement s;
  s.s = prepare("PRAGMA cache_size", error);
  if (!s.s || sqlite3_step(s.s) != SQLITE_ROW)
    return 0;
  auto v = sqlite3_column_int64(s.s, 0);
  if (v < 0)
    return static_cast<std::uint64_t>(-v) << 10;
  // Pages.
  statement p;
  p.s = prepare("PRAGMA page_size", error);
  if (!p.s || sqlite3_step(p.s) != SQLITE_ROW)
    return 0;
  return static_cast<std::uint64_t>(v)
         * static_cast<std::uint64_t>(sqlite3_column_int64(p.s, 0));
}

std::uint64_t history_store::used_bytes() {
  std::string error;
  statement s;
  s.s = prepare("SELECT (SELECT page_count FROM pragma_page_count) - "
                "(SELECT freelist_count FROM pragma_freelist_count), "
                "(SELECT page_size FROM pragma_page_size)",
                error);
  if (!s.s || sqlite3_step(s.s) != SQLITE_ROW)
    return 0;
  return static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 0))
         * static_cast<std::uint64_t>(sqlite3_column_int64(s.s, 1));
}

std::int64_t history_store::row_count() {
  std::string error;
  statement s;
  s.s = prepare("SELECT count(*) FROM process", error);
  if (!s.s || sqlite3_step(s.s) != SQLITE_ROW)
    return -1;
  return sqlite3_column_int64(s.s, 0);
}

std::int64_t history_store::retire(std::uint64_t max_bytes, timestamp max_age,
                                   timestamp now, std::string &error) {
  if (!upsert_) {
    error = "history store " + path_ + " is read-only";
    return -1;
  }
  std::int64_t dropped = 0;
  if (max_age > 0) {
    statement s;
    s.s = prepare("DELETE FROM process WHERE last_seen < ?1 AND end_time <> 0",
                  error);
    if (!s.s)
      return -1;
    s.integer(1, now - max_age);
    if (sqlite3_step(s.s) != SQLITE_DONE) {
      error = sqlite_error();
      return -1;
    }
    dropped += sqlite3_changes(db_);
  }
  // By bytes: the rows to drop are estimated from the average row size,
  // oldest exited first, in a few rounds at most.
  for (int round = 0; max_bytes > 0 && round < 8; ++round) {
    auto used = used_bytes();
    if (used <= max_bytes)
      break;
    auto rows = row_count();
    if (rows <= 0)
      break;
    auto per_row =
        std::max<std::uint64_t>(1, used / static_cast<std::uint64_t>(rows));
    // Down to 90% of the limit, so retirement does not run at every flush.
    auto target = max_bytes - max_bytes / 10;
    auto excess = (used - std::min(used, target)) / per_row + 1;
    statement s;
    s.s = prepare("DELETE FROM process WHERE rowid IN (SELECT rowid FROM "
                  "process ORDER BY end_time = 0, last_seen LIMIT ?1)",
                  error);
    if (!s.s)
      return -1;
    s.integer(1, static_cast<std::int64_t>(excess));
    if (sqlite3_step(s.s) != SQLITE_DONE) {
      error = sqlite_error();
      return -1;
    }
    auto n = sqlite3_changes(db_);
    dropped += n;
    if (n == 0)
      break;
  }
  if (dropped > 0) {
    // Freed pages go back to the file system (auto_vacuum=INCREMENTAL).
    if (!exec("PRAGMA incremental_vacuum", error))
      return -1;
    counters_.rows_retired += dropped;
  }
  return dropped;
}

// -- reading ------------------------------------------------------------------

bool history_store::next_row(sqlite3_stmt *s) {
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    return true;
  if (rc != SQLITE_DONE)
    read_failed(sqlite_error());
  return false;
}

void history_store::read_failed(std::string what) {
  if (read_error_.empty())
    read_error_ = "history store " + path_ + ": " + what;
}

std::string history_store::take_read_error() {
  return std::exchange(read_error_, {});
}

std::optional<history_row> history_store::find(std::string_view host,
                                               std::string_view raw,
                                               timestamp as_of) {
  auto id = trim(raw);
  if (id.empty())
    return std::nullopt;
  std::string error;
  std::string sql = std::string{"SELECT "} + columns + " FROM process WHERE ";
  std::string key{id};
  if (id.front() == '{') {
    sql += "guid = ?1";
    key = normalize_guid(id);
  } else if (all_digits(id)) {
    // The holders of a pid are the ids "<pid>-...": a range of the (id,
    // host) index ('-' sorts just before '.', and a longer pid's next
    // character is a digit), so no pid column nor index of its own.
    sql += "id > ?1 || '-' AND id < ?1 || '.'";
  } else {
    sql += "id = ?1";
  }
  sql += " AND (?2 = '' OR host = ?2) AND (?3 = 0 OR start_time <= ?3) "
         "ORDER BY start_time DESC, host LIMIT 1";
  statement s;
  s.s = prepare(sql.c_str(), error);
  if (!s.s) {
    read_failed(error);
    return std::nullopt;
  }
  s.text(1, key);
  s.text(2, host);
  s.integer(3, as_of);
  if (!next_row(s.s))
    return std::nullopt;
  return read_row(s.s);
}

std::vector<history_row> history_store::pslist(std::string_view host,
                                               timestamp as_of,
                                               std::size_t max_rows) {
  std::vector<history_row> out;
  std::string error;
  std::string sql = std::string{"SELECT "} + columns + " FROM process WHERE ";
  if (as_of != unknown_time) {
    // By the (end_time, start_time) index: the running ones (end 0), then
    // the ones that ended after T; start_time is checked in the index, so
    // only the rows running at T are read.
    sql += "rowid IN (SELECT rowid FROM process WHERE end_time = 0 AND "
           "start_time <= ?1 AND start_time <> 0 UNION ALL SELECT rowid FROM "
           "process "
           "WHERE end_time > ?1 AND start_time <= ?1 AND start_time <> 0) AND ";
  }
  sql += "(?2 = '' OR host = ?2) ORDER BY start_time, id LIMIT ?3";
  statement s;
  s.s = prepare(sql.c_str(), error);
  if (!s.s) {
    read_failed(error);
    return out;
  }
  s.integer(1, as_of);
  s.text(2, host);
  s.integer(3, max_rows == 0 ? -1 // SQLite: no limit
                             : static_cast<std::int64_t>(std::min<std::size_t>(
                                 max_rows, std::size_t{1} << 40)));
  while (next_row(s.s))
    out.push_back(read_row(s.s));
  return out;
}

std::vector<history_row> history_store::children(const std::string &host,
                                                 const std::string &id,
                                                 timestamp as_of,
                                                 std::size_t max) {
  std::vector<history_row> out;
  std::string error;
  std::string sql = std::string{"SELECT "} + columns
                    + " FROM process WHERE parent_id = ?1 AND host = ?2 AND "
                      "(?3 = 0 OR start_time <= ?3) ORDER BY start_time, id "
                      "LIMIT ?4";
  statement s;
  s.s = prepare(sql.c_str(), error);
  if (!s.s) {
    read_failed(error);
    return out;
  }
  s.text(1, id);
  s.text(2, host);
  s.integer(3, as_of);
  s.integer(4, static_cast<std::int64_t>(std::min<std::size_t>(max, 1u << 30)));
  while (next_row(s.s))
    out.push_back(read_row(s.s));
  return out;
}

std::vector<history_row> history_store::recent(std::string_view host,
                                               std::size_t max_rows,
                                               std::size_t max_bytes) {
  std::vector<history_row> out;
  std::string error;
  // The last_seen index, walked from its newest end.
  statement s;
  s.s = prepare((std::string{"SELECT "} + columns
                 + " FROM process WHERE host = ?1 ORDER BY last_seen DESC "
                   "LIMIT ?2")
                    .c_str(),
                error);
  if (!s.s) {
    read_failed(error);
    return out;
  }
  s.text(1, host);
  s.integer(2, static_cast<std::int64_t>(
                   std::min<std::size_t>(max_rows, std::size_t{1} << 31)));
  std::size_t bytes = 0;
  while (next_row(s.s)) {
    auto r = read_row(s.s);
    if (bytes + r.data.size() > max_bytes)
      break;
    bytes += r.data.size();
    out.push_back(std::move(r));
  }
  return out;
}

timestamp history_store::last_write(std::string_view host) {
  std::string error;
  statement s;
  s.s = prepare("SELECT max(last_seen) FROM process WHERE host = ?1", error);
  if (!s.s) {
    read_failed(error);
    return unknown_time;
  }
  s.text(1, host);
  if (!next_row(s.s))
    return unknown_time;
  return sqlite3_column_int64(s.s, 0); // NULL (no row) reads as 0
}

namespace {

void append_row_json(std::string &out, const history_row &r,
                     const std::vector<std::string> &children) {
  append_entry_fields(out, r.id, r.parent_id, r.start_time, r.end_time,
                      r.last_sync_time, r.data, children);
  if (!r.host.empty()) {
    out += ",\"Host\":";
    append_json_string(out, r.host);
  }
  out += ",\"FirstSeen\":";
  append_time_json(out, r.first_seen);
  out += ",\"LastSeen\":";
  append_time_json(out, r.last_seen);
  out += "}";
}

constexpr std::size_t children_listed = 100;

} // namespace

std::optional<std::string> history_store::answer(const query &q,
                                                 timestamp as_of,
                                                 std::string &error,
                                                 std::size_t max_list) {
  read_error_.clear();
  auto out = answer_reads(q, as_of, error, max_list);
  if (auto failed = take_read_error(); !failed.empty()) {
    // Never an answer cut short without saying so: a damaged page found
    // mid-way fails the query (the rest of the store still answers).
    error = std::move(failed);
    return std::nullopt;
  }
  return out;
}

std::optional<std::string> history_store::answer_reads(const query &q,
                                                       timestamp as_of,
                                                       std::string &error,
                                                       std::size_t max_list) {
  std::string host, id = q.id;
  // HOST/ID: at the last '/', as the cache splits it (a host name may hold
  // one, an id never does).
  if (auto slash = id.rfind('/'); slash != std::string::npos) {
    host = id.substr(0, slash);
    id = id.substr(slash + 1);
  }
  auto max = static_cast<std::size_t>(q.max > 0 ? q.max : default_max(q.verb));
  std::string out;
  // An entry with the children the store knows (as of the time asked).
  auto entry = [&](const history_row &r) {
    std::vector<std::string> kids;
    for (auto &c : children(r.host, r.id, as_of, children_listed))
      kids.push_back(std::move(c.id));
    append_row_json(out, r, kids);
  };
  if (q.verb == "get") {
    auto r = find(host, id, as_of);
    if (!r)
      return std::string{"null"};
    entry(*r);
    return out;
  }
  if (q.verb == "callchain") {
    std::vector<history_row> chain;
    auto r = find(host, id, as_of);
    std::unordered_set<std::string> seen;
    while (r && chain.size() < max && seen.insert(r->id).second) {
      auto parent = r->parent_id;
      auto h = r->host;
      chain.push_back(std::move(*r));
      r.reset();
      if (parent.size() >= 2 && parent.compare(parent.size() - 2, 2, "-?") == 0)
        break;
      // The exact parent, as the table linked it; one that started after
      // `as_of` was not there yet.
      r = find(h, parent, as_of);
      if (r && r->id != parent)
        r.reset(); // a bare-pid or GUID match is not the linked parent
    }
    std::reverse(chain.begin(), chain.end());
    out = "[";
    for (std::size_t i = 0; i < chain.size(); ++i) {
      if (i)
        out += ',';
      entry(chain[i]);
    }
    out += "]";
    return out;
  }
  if (q.verb == "children") {
    out = "[";
    if (auto r = find(host, id, as_of)) {
      auto kids = children(r->host, r->id, as_of, max);
      for (std::size_t i = 0; i < kids.size(); ++i) {
        if (i)
          out += ',';
        entry(kids[i]);
      }
    }
    out += "]";
    return out;
  }
  if (q.verb == "tree") {
    // As the table's tree (SPEC §4): breadth first, so the node cap keeps
    // the upper levels whole, children by start time, depth at most 20;
    // a node appears once even if the stored links loop.
    auto root = find(host, id, as_of);
    if (!root || max == 0)
      return std::string{"null"};
    struct node {
      history_row row;
      std::vector<std::size_t> kids;
    };
    std::vector<node> nodes;
    std::unordered_set<std::string> seen{root->id};
    nodes.push_back({std::move(*root), {}});
    std::vector<std::size_t> level{0};
    for (std::size_t depth = 0; depth < process_table::max_tree_depth
                                && !level.empty() && nodes.size() < max;
         ++depth) {
      std::vector<std::size_t> next;
      for (auto n : level) {
        if (nodes.size() >= max)
          break;
        auto kids = children(nodes[n].row.host, nodes[n].row.id, as_of,
                             max - nodes.size());
        for (auto &k : kids) {
          if (nodes.size() >= max)
            break;
          if (!seen.insert(k.id).second)
            continue;
          nodes[n].kids.push_back(nodes.size());
          next.push_back(nodes.size());
          nodes.push_back({std::move(k), {}});
        }
      }
      level = std::move(next);
    }
    auto open_node = [&](const history_row &r) {
      open_tree_node(out, r.id, r.data, r.start_time, r.end_time);
    };
    struct frame {
      std::size_t n;
      std::size_t next_kid;
    };
    std::vector<frame> stack{{0, 0}};
    open_node(nodes[0].row);
    while (!stack.empty()) {
      auto &f = stack.back();
      auto &kids = nodes[f.n].kids;
      if (f.next_kid < kids.size()) {
        if (f.next_kid > 0)
          out += ',';
        auto k = kids[f.next_kid++];
        open_node(nodes[k].row);
        stack.push_back({k, 0});
      } else {
        out += "]}";
        stack.pop_back();
      }
    }
    return out;
  }
  if (q.verb == "pslist") {
    // `pslist:HOST` names a host, as the cache's pslist does.
    auto rows = pslist(q.id, as_of, max_list == 0 ? 0 : max_list + 1);
    if (max_list > 0 && rows.size() > max_list) {
      error = "more than " + std::to_string(max_list) + " processes"
              + (as_of == unknown_time ? std::string{" stored"}
                                       : " running at " + format_time(as_of))
              + ": more than an answer may hold (proctrack query "
                "--history=FILE reads the store without this bound)";
      return std::nullopt;
    }
    // Children among the listed processes, without a query per entry.
    std::unordered_map<std::string, std::vector<std::string>> kids;
    for (auto &r : rows) {
      auto &v = kids[r.host + '/' + r.parent_id];
      if (v.size() < children_listed)
        v.push_back(r.id);
    }
    static const std::vector<std::string> none;
    out = "[";
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (i)
        out += ',';
      auto k = kids.find(rows[i].host + '/' + rows[i].id);
      append_row_json(out, rows[i], k == kids.end() ? none : k->second);
    }
    out += "]";
    return out;
  }
  error = "the history answers get, callchain, children, tree and pslist "
          "(not "
          + q.verb + ")";
  return std::nullopt;
}

} // namespace proctrack
