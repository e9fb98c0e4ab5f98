#include "actors/history/history.hpp"

#include "actors/cache/query_parser.hpp"
#include "actors/common/time.hpp"
#include "actors/history/restore.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>

namespace proctrack {

namespace {

// Age retirement scans an index range; once a minute is plenty.
constexpr timestamp age_retire_every = 60 * hns_per_second;

} // namespace

// history_config::validate(): history_config.cpp (the Windows build has it
// too, without the store).

void history_state::add_pending(std::vector<history_row> &&rows) {
  for (auto &r : rows) {
    auto key = r.host;
    key += '\0';
    key += r.id;
    auto [it, fresh] = pending_index.emplace(std::move(key), pending.size());
    if (fresh) {
      pending.push_back(std::move(r));
      continue;
    }
    // Its latest state, with the Data of the row it replaces when it
    // carries none (an exit after its start, both unwritten).
    auto &older = pending[it->second];
    if (r.data_kept && !older.data_kept) {
      r.data = std::move(older.data);
      r.data_kept = false;
    }
    older = std::move(r);
  }
}

history_reader_actor::behavior_type
history_reader(history_reader_actor::pointer,
               std::shared_ptr<history_store> store, std::size_t max_listed) {
  return {
      [store, max_listed](query &q,
                          timestamp as_of) -> caf::result<std::string> {
        std::string error;
        auto r = store->answer(q, as_of, error, max_listed);
        if (!r)
          return caf::make_error(caf::sec::runtime_error, std::move(error));
        return std::move(*r);
      },
  };
}

history_actor::behavior_type
history(history_actor::stateful_pointer<history_state> self, history_config cfg,
        std::shared_ptr<history_store> store, cache_actor cache,
        std::shared_ptr<history_store> reader) {
  auto &st0 = self->state;
  st0.store = std::move(store);
  if (reader)
    st0.reader = self->spawn<caf::detached + caf::linked>(
        history_reader, std::move(reader), cfg.max_listed);
  // Writes what is pending in one transaction, then retires what the
  // limits say. A failed write drops its rows (counted): memory stays
  // bounded when the disk is full, and the next write tries again.
  auto write = [self, cfg] {
    auto &st = self->state;
    auto now = wall_clock_now();
    if (!st.pending.empty()) {
      std::string error;
      if (!st.store->write(st.pending, now, error)) {
        st.rows_dropped += static_cast<std::int64_t>(st.pending.size());
        if (error != st.last_error)
          spdlog::error("history: {} ({} rows not written)", error,
                        st.pending.size());
        st.last_error = error;
      } else {
        st.last_error.clear();
      }
      st.pending.clear();
      st.pending_index.clear();
    }
    bool by_age = cfg.max_age > 0
                  && (st.last_age_retire == unknown_time
                      || now - st.last_age_retire >= age_retire_every);
    if (by_age)
      st.last_age_retire = now;
    if (by_age || st.store->used_bytes() > cfg.max_bytes) {
      std::string error;
      auto n =
          st.store->retire(cfg.max_bytes, by_age ? cfg.max_age : 0, now, error);
      if (n < 0)
        spdlog::error("history: retiring rows of {}: {}", st.store->path(),
                      error);
      else if (n > 0)
        spdlog::debug("history: {} rows retired (history.max-bytes, "
                      "history.max-age)",
                      n);
    }
  };
  // Registered with the cache first: what it holds now (all of it new to
  // the store), then every change it makes. await: nothing else is handled
  // before that answer.
  auto sink = caf::actor_cast<history_sink_actor>(self);
  if (!cache) {
    // No cache: its owner sends the changes itself (the fleet collector,
    // one mirror per host: actors/collector/collector.hpp).
  } else if (cfg.reload) {
    // A restart: the cache starts from what the store knew, and tracks
    // changes only from then on: nothing of the reload is new to the
    // store, and rewriting it would keep the reloaded rows young.
    auto &tc = cfg.cache.table;
    auto rows = st0.store->recent("", tc.max_size, tc.max_bytes);
    auto alive = st0.store->last_write("");
    if (auto failed = st0.store->take_read_error(); !failed.empty())
      spdlog::error("history: reloading: {} (what was read before it is "
                    "reloaded)",
                    failed);
    auto state = restore_state_from(std::move(rows), tc,
                                    wall_clock_now() - tc.max_expiry);
    std::int64_t running = 0;
    for (auto &p : state.processes)
      running += p.end_time == unknown_time ? 1 : 0;
    auto n = static_cast<std::int64_t>(state.processes.size());
    self->request(cache, caf::infinite, atom::restore_v, std::move(state),
                  alive, sink)
        .await(
            [self, alive, n, running](std::uint64_t) {
              auto &st = self->state;
              st.reloaded = n;
              if (n > 0)
                spdlog::info("history: {} processes reloaded from {} ({} "
                             "running when it last wrote, at {})",
                             n, st.store->path(), running, format_time(alive));
            },
            [self](caf::error &err) {
              spdlog::error("history: the cache took no restart state: {}",
                            caf::to_string(err));
              self->quit(err);
            });
  } else {
    self->request(cache, caf::infinite, atom::subscribe_v, sink)
        .await(
            [self](process_changes &all) {
              self->state.add_pending(std::move(all.rows));
            },
            [self](caf::error &err) {
              spdlog::error("history: the cache did not register it: {}",
                            caf::to_string(err));
              self->quit(err);
            });
  }
  self->delayed_send(self, std::chrono::nanoseconds{to_ns(cfg.flush_interval)},
                     atom::tick_v);
  return {
      [self, cfg, write](process_changes &c) -> std::uint64_t {
        auto &st = self->state;
        auto n = static_cast<std::uint64_t>(c.rows.size());
        st.add_pending(std::move(c.rows));
        // Acknowledged once pending (or written): the cache counts what is
        // in flight to here, max_pending bounds what waits here.
        if (st.pending.size() >= cfg.max_pending)
          write();
        return n;
      },
      [self, write](atom::flush) -> std::uint64_t {
        write();
        return static_cast<std::uint64_t>(
            self->state.store->counters().rows_written);
      },
      [self, cfg, write](atom::tick) {
        write();
        self->delayed_send(self,
                           std::chrono::nanoseconds{to_ns(cfg.flush_interval)},
                           atom::tick_v);
      },
      [self, cfg, write](query &q,
                         timestamp as_of) -> caf::result<std::string> {
        auto &st = self->state;
        // What the cache evicted since the last write is pending here.
        if (!st.pending.empty())
          write();
        ++st.lookups;
        if (q.max <= 0 || q.max > cfg.max_answer)
          q.max = q.max <= 0 ? default_max(q.verb) : cfg.max_answer;
        // The reader reads the write just made: a WAL reader's snapshot
        // starts at its next statement.
        if (st.reader)
          return self->delegate(st.reader, std::move(q), as_of);
        std::string error;
        auto r = st.store->answer(q, as_of, error, cfg.max_listed);
        if (!r)
          return caf::make_error(caf::sec::runtime_error, std::move(error));
        return std::move(*r);
      },
      [self](atom::stats) -> stats_report {
        auto &st = self->state;
        auto &c = st.store->counters();
        return {
            history_state::name,
            {{"HistoryRowsWritten", c.rows_written},
             {"HistoryTransactions", c.transactions},
             {"HistoryRowsRetired", c.rows_retired},
             {"HistoryWriteFailures", c.write_failures},
             {"HistoryRowsDropped", st.rows_dropped},
             {"HistoryPending", static_cast<std::int64_t>(st.pending.size())},
             {"HistoryLookups", st.lookups},
             {"HistoryReloaded", st.reloaded}}};
      },
  };
}

history_actor spawn_history(caf::actor_system &sys, const history_config &cfg,
                            cache_actor cache, std::string &error) {
  error = cfg.validate();
  if (!error.empty())
    return {};
  if (!cache && cfg.reload) {
    error = "a history that reloads at start needs a cache";
    return {};
  }
  std::string recovered;
  std::shared_ptr<history_store> store = history_store::open(
      cfg.path, history_store::mode::read_write, error, &recovered);
  if (!store)
    return {};
  if (!recovered.empty())
    spdlog::warn("{}", recovered);
  if (!store->set_cache_bytes(cfg.cache_bytes, error)) {
    error = "history store " + cfg.path + ": " + error;
    return {};
  }
  // Queries read on a connection of their own (WAL: readers and the
  // writer do not wait for each other).
  std::string why;
  std::shared_ptr<history_store> reader =
      history_store::open(cfg.path, history_store::mode::reader, why);
  if (!reader)
    spdlog::warn("history: no reader connection ({}): queries are answered "
                 "between writes",
                 why);
  auto h = sys.spawn(history, cfg, std::move(store), std::move(cache),
                     std::move(reader));
  // Answered only once the actor has the cache's state: every batch the
  // cache applies after this returns reaches the history.
  caf::scoped_actor self{sys};
  self->request(h, caf::infinite, atom::flush_v)
      .receive([](std::uint64_t) {},
               [&](caf::error &err) { error = caf::to_string(err); });
  if (!error.empty())
    return {};
  return h;
}

} // namespace proctrack
