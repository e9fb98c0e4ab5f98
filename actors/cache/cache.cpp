#include "actors/cache/cache.hpp"

#include "actors/cache/output_rows.hpp"
#include "actors/cache/query_parser.hpp"
#include "actors/common/time.hpp"
#include "actors/forward/snapshot.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <iterator>
#include <optional>
#include <tuple>

namespace proctrack {

std::string cache_config::validate() const {
  if (table.max_size == 0)
    return "tracker.max-size must be at least 1";
  if (table.max_size > (std::size_t{1} << 31))
    return "tracker.max-size must be at most 2147483648";
  if (table.max_expiry < 0) // 0: expiry off
    return "tracker.max-expiry must not be negative (0s: expiry off)";
  if (expiry_interval.count() < 0)
    return "the cache's expiry interval must not be negative (0: no timer)";
  if (table.max_bytes < min_max_bytes || table.max_bytes > max_max_bytes)
    return "tracker.max-bytes must be between " + std::to_string(min_max_bytes)
           + " (1 MiB) and " + std::to_string(max_max_bytes) + " (1 TiB) (got "
           + std::to_string(table.max_bytes) + ")";
  if (history_max_unacked_rows == 0
      || history_max_unacked_rows > max_unacked_rows_limit)
    return "history.max-unacked-rows must be between 1 and "
           + std::to_string(max_unacked_rows_limit) + " (got "
           + std::to_string(history_max_unacked_rows) + ")";
  if (history_max_unacked_bytes < min_unacked_bytes
      || history_max_unacked_bytes > max_unacked_bytes_limit)
    return "history.max-unacked-bytes must be between "
           + std::to_string(min_unacked_bytes) + " (64 KiB) and "
           + std::to_string(max_unacked_bytes_limit) + " (16 GiB) (got "
           + std::to_string(history_max_unacked_bytes) + ")";
  return {};
}

namespace {

bool same_host(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i]))
        != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view first_label(std::string_view host) {
  return host.substr(0, host.find('.'));
}

// Nothing applied yet but empty listings: an output stream's first row is
// a sync of the still empty cache, before any host is named.
bool untouched(const process_table &t) {
  auto &c = t.counters();
  return t.size() == 0 && c.starts == 0 && c.exits == 0
         && c.last_sync_size == 0;
}

} // namespace

process_table *cache_state::table_for(const std::string &host,
                                      const cache_config &cfg) {
  if (!cfg.split_hosts || host.empty())
    return &table;
  if (primary_host.empty() && other_hosts.empty()) {
    // The first host claims the first table, also when input without a
    // host (a pslist's update rows) came first: host-less input belongs to
    // the first named host whichever file the merge read first, so a pslist
    // and that machine's Sysmon log link alike in either order (issue 15,
    // kind 5; F8).
    if (!untouched(table))
      spdlog::info("host {} takes the input without a host read before it "
                   "(one table)",
                   host);
    primary_host = host;
    return &table;
  }
  if (!primary_host.empty() && same_host(primary_host, host))
    return &table;
  for (auto &h : other_hosts)
    if (same_host(h->name, host))
      return &h->table;
  if (other_hosts.size() + 1 >= cfg.max_hosts) {
    if (host_limit_drops++ == 0)
      spdlog::warn("more than {} hosts in one replay: the updates of {} and "
                   "any further host are dropped (HostLimitDrops)",
                   cfg.max_hosts, host);
    return nullptr;
  }
  spdlog::warn("host {} is kept apart from {} (one process table per host; "
               "ask HOST/ID, e.g. get:{}/PID)",
               host, primary_host.empty() ? "the unnamed input" : primary_host,
               host);
  other_hosts.push_back(
      std::make_unique<host_table>(host_table{host, process_table{cfg.table}}));
  other_hosts.back()->table.track_changes(tracking);
  return &other_hosts.back()->table;
}

void cache_state::track_changes(bool on) {
  tracking = on;
  table.track_changes(on);
  for (auto &h : other_hosts)
    h->table.track_changes(on);
}

namespace {

void append_rows(std::vector<history_row> &out, std::vector<history_row> rows,
                 const std::string &host) {
  if (!host.empty())
    for (auto &r : rows)
      r.host = host;
  if (out.empty()) {
    out = std::move(rows);
    return;
  }
  out.insert(out.end(), std::make_move_iterator(rows.begin()),
             std::make_move_iterator(rows.end()));
}

} // namespace

std::vector<history_row> cache_state::take_changes() {
  std::vector<history_row> out;
  if (!tracking)
    return out;
  append_rows(out, table.take_changes(), primary_host);
  for (auto &h : other_hosts)
    append_rows(out, h->table.take_changes(), h->name);
  return out;
}

std::vector<history_row> cache_state::all_rows() const {
  std::vector<history_row> out;
  append_rows(out, table.rows(), primary_host);
  for (auto &h : other_hosts)
    append_rows(out, h->table.rows(), h->name);
  return out;
}

process_table *cache_state::find_host(std::string_view host) {
  if (!primary_host.empty() && same_host(primary_host, host))
    return &table;
  for (auto &h : other_hosts)
    if (same_host(h->name, host))
      return &h->table;
  // The short name (HOSTA for HOSTA.example.test), when only one host has it.
  process_table *found = nullptr;
  int matches = 0;
  if (!primary_host.empty() && same_host(first_label(primary_host), host)) {
    found = &table;
    ++matches;
  }
  for (auto &h : other_hosts)
    if (same_host(first_label(h->name), host)) {
      found = &h->table;
      ++matches;
    }
  return matches == 1 ? found : nullptr;
}

std::string cache_state::answer_query(const query &q,
                                      const std::string &stats) {
  if (q.verb == "pslist" && !q.id.empty()) {
    auto *t = find_host(q.id);
    return t ? t->pslist_json() : std::string{"[]"};
  }
  // HOST/ID splits at the last '/': an id never holds one, a host name may
  // (docs/semantics.md, "Several hosts in one replay").
  if (auto slash = q.id.rfind('/'); slash != std::string::npos) {
    query sub = q;
    sub.id = q.id.substr(slash + 1);
    if (auto *t = find_host(std::string_view{q.id}.substr(0, slash)))
      return answer(*t, sub, stats);
    process_table none{table_config{1, 1, 1, 1}};
    return answer(none, sub, stats);
  }
  if (other_hosts.empty())
    return answer(table, q, stats);
  if (q.verb == "pslist") {
    // Every host's processes in one list, by start time then id.
    std::vector<std::pair<const process_entry *, const process_table *>> all;
    for (auto *e : table.entries())
      all.emplace_back(e, &table);
    for (auto &h : other_hosts)
      for (auto *e : h->table.entries())
        all.emplace_back(e, &h->table);
    std::stable_sort(all.begin(), all.end(), [](auto &a, auto &b) {
      if (a.first->start_time != b.first->start_time)
        return a.first->start_time < b.first->start_time;
      return a.first->id < b.first->id;
    });
    std::string out = "[";
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (i)
        out += ',';
      all[i].second->append_entry_json(out, *all[i].first);
    }
    out += ']';
    return out;
  }
  if (q.id.empty())
    return answer(table, q, stats);
  // A bare id: the first host (in order of appearance) that knows it.
  if (table.find(q.id))
    return answer(table, q, stats);
  for (auto &h : other_hosts)
    if (h->table.find(q.id))
      return answer(h->table, q, stats);
  return answer(table, q, stats);
}

std::vector<counter> cache_state::all_counters() const {
  auto out = table.counter_list();
  if (!other_hosts.empty()) {
    timestamp newest_sync = unknown_time;
    for (auto &c : out)
      if (c.name == "LastSyncTime")
        newest_sync = c.value;
    for (auto &h : other_hosts) {
      auto theirs = h->table.counter_list();
      timestamp their_sync = unknown_time;
      for (auto &c : theirs)
        if (c.name == "LastSyncTime")
          their_sync = c.value;
      bool newer = their_sync > newest_sync;
      for (auto &c : theirs)
        for (auto &o : out)
          if (o.name == c.name) {
            if (c.name == "Capacity")
              break; // per host
            if (c.name == "LastSyncTime" || c.name == "LastSyncSize") {
              if (newer)
                o.value = c.value;
              break;
            }
            o.value += c.value;
            break;
          }
      if (newer)
        newest_sync = their_sync;
    }
    out.push_back({"Hosts", static_cast<std::int64_t>(1 + other_hosts.size())});
  }
  if (host_limit_drops > 0)
    out.push_back({"HostLimitDrops", host_limit_drops});
  if (history) {
    out.push_back({"HistoryRowsSent", credit.rows_sent()});
    out.push_back({"HistoryRowsUnacked",
                   static_cast<std::int64_t>(credit.unacked_rows())});
    out.push_back({"HistoryWaits", history_waits});
  }
  out.push_back({"EnrichRequests", enrichments.requests()});
  out.push_back({"EnrichDone", enrichments.done()});
  out.push_back({"EnrichFailed", enrichments.failed()});
  for (auto &r : published)
    for (auto &c : r.counters) {
      bool merged = false;
      for (auto &o : out)
        if (o.name == c.name) {
          o.value += c.value;
          merged = true;
          break;
        }
      if (!merged)
        out.push_back(c);
    }
  return out;
}

cache_actor::behavior_type
cache(cache_actor::stateful_pointer<cache_state> self, cache_config cfg,
      enricher_actor enricher) {
  self->state.table = process_table{cfg.table};
  self->state.enrichments = enrichment_memory{cfg.max_enrichment_cache};
  bool enrich_on = cfg.add_enrichments && enricher != nullptr;
  // Answers flush requests once no enrichment is in flight.
  auto release_flushes = [self] {
    if (!self->state.enrichments.idle())
      return;
    for (auto &p : self->state.flush_waiters)
      p.deliver(true);
    self->state.flush_waiters.clear();
  };
  // Subscribers (subscribers.hpp) are monitored when added: one that
  // terminates is dropped, so sinks that come and go leave nothing behind.
  self->set_down_handler(
      [self](caf::down_msg &m) { self->state.subs.drop(m.source); });
  // Typed sinks get what the table applied, in order (update_batch).
  auto to_batch_sinks = [self](update_batch &&b) {
    self->state.subs.send_batch(self, std::move(b));
  };
  // Backpressure from the history (docs/history.md): behind while too
  // many rows are unacknowledged; the held batch answers go out, in order,
  // once it is no longer behind.
  self->state.credit = history_credit{cfg.history_max_unacked_rows,
                                      cfg.history_max_unacked_bytes};
  auto history_behind = [self] { return self->state.credit.behind(); };
  auto release_answers = [self, history_behind] {
    auto &st = self->state;
    if (st.held_answers.empty() || history_behind())
      return;
    auto held = std::move(st.held_answers);
    st.held_answers.clear();
    for (auto &[p, n] : held)
      p.deliver(n);
  };
  // Hands the history what the tables changed since the last call (after
  // a batch, an enrichment, an expiry), counted until it acknowledges.
  auto send_changes = [self, release_answers] {
    auto &st = self->state;
    if (!st.history)
      return;
    process_changes c;
    c.rows = st.take_changes();
    if (c.rows.empty())
      return;
    std::uint64_t rows = c.rows.size();
    auto bytes = st.credit.sent(c.rows);
    auto acked = [self, rows, bytes, release_answers] {
      self->state.credit.acked(rows, bytes);
      release_answers();
    };
    auto to = st.history;
    self->request(to, caf::infinite, std::move(c))
        .then([acked](std::uint64_t) { acked(); },
              [self, acked, to](caf::error &err) {
                // The history is gone (or failed): no more changes for it,
                // and no source waits for it.
                auto &st = self->state;
                if (st.history == to) {
                  // Stopped (the agent's stop sends every actor its exit
                  // in turn), or failed: it said why itself.
                  if (err == caf::sec::request_receiver_down)
                    spdlog::info("the history stopped: the cache goes on "
                                 "without it");
                  else
                    spdlog::error("the history took no changes ({}): the "
                                  "cache goes on without it",
                                  caf::to_string(err));
                  st.history = nullptr;
                  st.track_changes(false);
                }
                acked();
              });
  };
  // Applies a batch to every table (an enricher's answer, an expiry):
  // what no update names a host of is every host's.
  auto apply_everywhere = [self](const update_batch &b) {
    auto &st = self->state;
    for (auto &h : st.other_hosts)
      h->table.apply(update_batch{b});
    st.table.apply(update_batch{b});
  };
  // Asks the enricher for the processes a batch created that it knows no
  // version information for, once per path; the answer enriches every
  // process of that path, in every table, and goes to the typed sinks.
  auto enrich = [self, enricher, release_flushes, to_batch_sinks, send_changes,
                 apply_everywhere](const std::string &path) {
    auto &st = self->state;
    if (!st.enrichments.ask(path))
      return; // asked already; the answer enriches every process of it
    self->request(enricher, caf::infinite, atom::enrich_v, path)
        .then(
            [self, release_flushes, to_batch_sinks, send_changes,
             apply_everywhere](enrichment &r) {
              auto &st = self->state;
              st.enrichments.answered(r);
              if (r.ok) {
                update_batch b;
                b.enrichments.push_back({{}, std::move(r)});
                apply_everywhere(b);
                if (st.subs.has_batch_sinks())
                  to_batch_sinks(std::move(b));
                send_changes();
              } else {
                spdlog::debug("enrichment of {} failed: {}", r.path, r.error);
              }
              release_flushes();
            },
            [self, path, release_flushes](caf::error &err) {
              self->state.enrichments.unanswered(path);
              spdlog::warn("enricher did not answer for {}: {}", path,
                           caf::to_string(err));
              release_flushes();
            });
  };
  // Expires exited processes against `now` (a wall-clock time), in every
  // table, and tells the batch sinks (the forwarder's mirror does the same).
  auto expire = [self, to_batch_sinks, send_changes,
                 apply_everywhere](timestamp now) {
    update_batch b;
    b.expire_at = now;
    apply_everywhere(b);
    if (self->state.subs.has_batch_sinks())
      to_batch_sinks(std::move(b));
    send_changes();
  };
  if (!cfg.event_clock && cfg.expiry_interval.count() > 0)
    self->delayed_send(self, cfg.expiry_interval, atom::tick_v);
  return {
      [self, cfg, enrich_on, enrich, to_batch_sinks, send_changes,
       history_behind](update_batch &batch) -> caf::result<std::uint64_t> {
        auto &st = self->state;
        std::uint64_t n = batch.updates.size();
        // Each update's table (split_hosts): nullptr past max_hosts, where
        // the update is dropped (and counted once).
        std::vector<process_table *> tables;
        if (cfg.split_hosts)
          for (auto &u : batch.updates)
            tables.push_back(st.table_for(u.host, cfg));
        if (cfg.forward_updates && st.subs.has_text_sinks()) {
          std::string forwarded;
          for (std::size_t i = 0; i < batch.updates.size(); ++i) {
            auto &u = batch.updates[i];
            if (cfg.split_hosts && tables[i] == nullptr)
              continue;
            // Every row names its host when hosts are kept apart, the
            // first host's too: a replay of the stream splits them again.
            forwarded += update_row_json(u, cfg.split_hosts);
            if (u.kind != update_kind::sync || u.part == sync_part::whole
                || u.part == sync_part::last)
              forwarded += '\n'; // a listing in parts is one line
          }
          st.subs.send_text(self, forwarded);
        }
        // Typed sinks get the batch as applied (process_table::apply), so
        // a mirror applying it stays equal; the enricher is asked for what
        // is new. A sync creates processes too, and they need their version
        // information as much as started ones (SPEC §7).
        batch_options opt;
        opt.keep_applied = st.subs.has_batch_sinks();
        opt.report_created = enrich_on;
        if (enrich_on)
          opt.remembered = [&st](const std::string &path) {
            return st.enrichments.find(path);
          };
        std::vector<apply_report> reports;
        if (!cfg.split_hosts) {
          reports.push_back(st.table.apply(std::move(batch), opt));
        } else {
          // One batch per host's table, each in the order given; the
          // batch's own enrichments are the first table's, its expiry
          // every table's.
          std::vector<std::pair<process_table *, update_batch>> parts;
          for (std::size_t i = 0; i < batch.updates.size(); ++i) {
            auto *table = tables[i];
            if (table == nullptr)
              continue;
            auto &u = batch.updates[i];
            auto it = std::find_if(parts.begin(), parts.end(),
                                   [&](auto &p) { return p.first == table; });
            if (it == parts.end())
              it = parts.emplace(parts.end(), table, update_batch{});
            it->second.updates.push_back(std::move(u));
          }
          auto primary = std::find_if(parts.begin(), parts.end(), [&](auto &p) {
            return p.first == &st.table;
          });
          if (primary == parts.end())
            primary = parts.emplace(parts.end(), &st.table, update_batch{});
          primary->second.enrichments = std::move(batch.enrichments);
          for (auto &[table, part] : parts)
            part.expire_at = batch.expire_at;
          if (batch.expire_at != unknown_time)
            for (auto &h : st.other_hosts)
              if (std::none_of(parts.begin(), parts.end(),
                               [&](auto &p) { return p.first == &h->table; }))
                parts.emplace_back(&h->table,
                                   update_batch{{}, {}, {}, batch.expire_at});
          for (auto &[table, part] : parts)
            reports.push_back(table->apply(std::move(part), opt));
        }
        for (auto &r : reports)
          for (auto &item : r.to_enrich)
            enrich(item.second);
        if (opt.keep_applied) {
          auto applied = std::move(*reports.front().applied);
          for (std::size_t i = 1; i < reports.size(); ++i) {
            auto &more = *reports[i].applied;
            std::move(more.updates.begin(), more.updates.end(),
                      std::back_inserter(applied.updates));
            std::move(more.enrichments.begin(), more.enrichments.end(),
                      std::back_inserter(applied.enrichments));
          }
          to_batch_sinks(std::move(applied));
        }
        if (st.subs.has_waiters() && !st.table.sync_open())
          st.subs.answer_waiters(self,
                                 [&st] { return st.table.export_state(); });
        send_changes();
        if (!st.held_answers.empty() || history_behind()) {
          // The history is behind: the source waits for this answer.
          ++st.history_waits;
          auto p = self->make_response_promise<std::uint64_t>();
          st.held_answers.emplace_back(p, n);
          return p;
        }
        return n;
      },
      [self](query &q) -> std::string {
        auto &st = self->state;
        std::string stats;
        if (q.verb == "stats")
          stats = stats_object_json(st.all_counters());
        return st.answer_query(q, stats);
      },
      [self](atom::stats) -> stats_report {
        auto counters = self->state.all_counters();
        // Only the actor itself may read its mailbox (CAF 0.17's size()
        // moves messages between internal queues).
        counters.push_back({"MailboxCache",
                            static_cast<std::int64_t>(self->mailbox().size())});
        // Sinks now (output stream and typed): only the live ones.
        counters.push_back({"Subscribers", static_cast<std::int64_t>(
                                               self->state.subs.size())});
        return {cache_state::name, std::move(counters)};
      },
      [expire](atom::tick, timestamp now) { expire(now); },
      [self, cfg, expire](atom::tick) {
        self->delayed_send(self, cfg.expiry_interval, atom::tick_v);
        expire(wall_clock_now());
      },
      [self](atom::flush) -> caf::result<bool> {
        auto &st = self->state;
        if (st.enrichments.idle())
          return true;
        auto p = self->make_response_promise<bool>();
        st.flush_waiters.push_back(p);
        return p;
      },
      [self, cfg](atom::subscribe, update_sink_actor sink) -> std::string {
        auto &st = self->state;
        st.subs.add_text(self, sink); // a null sink just asks for the sync row
        auto now = st.table.now() != unknown_time || cfg.event_clock
                       ? st.table.now()
                       : wall_clock_now();
        if (st.other_hosts.empty())
          return cache_sync_row_json(st.table, now);
        // One sync row per host, each naming it, so that the stream
        // replays into the same tables.
        auto rows = cache_sync_row_json(st.table, now, st.primary_host);
        for (auto &h : st.other_hosts) {
          auto t = h->table.now() != unknown_time ? h->table.now() : now;
          rows += '\n';
          rows += cache_sync_row_json(h->table, t, h->name);
        }
        return rows;
      },
      [self](atom::subscribe, update_batch_sink_actor sink) -> update_batch {
        self->state.subs.add_batch(self, sink);
        update_batch b;
        b.updates = snapshot_updates(self->state.table);
        return b;
      },
      [self](atom::snapshot,
             update_batch_sink_actor sink) -> caf::result<table_state> {
        auto &st = self->state;
        if (st.table.sync_open()) {
          auto p = self->make_response_promise<table_state>();
          st.subs.wait_for_whole(p, std::move(sink));
          return p;
        }
        st.subs.add_batch(self, sink);
        return st.table.export_state();
      },
      [self](atom::subscribe, history_sink_actor h) -> process_changes {
        auto &st = self->state;
        st.track_changes(false); // drops what a previous history missed
        st.history = std::move(h);
        process_changes all;
        if (st.history) {
          st.track_changes(true);
          all.rows = st.all_rows();
        }
        return all;
      },
      [self](atom::restore, table_state &s, timestamp last_alive,
             history_sink_actor h) -> caf::result<std::uint64_t> {
        auto &st = self->state;
        if (st.table.size() != 0 || !st.other_hosts.empty())
          return caf::make_error(caf::sec::runtime_error,
                                 "a restart's state goes into an empty cache");
        auto n = st.table.restore_state(std::move(s), last_alive);
        // Tracking starts after the import: the store has those rows, and
        // rewriting them would keep them young for history.max-age.
        st.track_changes(false);
        st.history = std::move(h);
        if (st.history)
          st.track_changes(true);
        return static_cast<std::uint64_t>(n);
      },
      [self](atom::publish, stats_report &r) {
        auto &pub = self->state.published;
        for (auto &p : pub)
          if (p.source == r.source) {
            p = std::move(r);
            return;
          }
        pub.push_back(std::move(r));
      },
  };
}

cache_actor spawn_cache(caf::actor_system &sys, const cache_config &cfg,
                        enricher_actor enricher) {
  return sys.spawn(cache, cfg, std::move(enricher));
}

} // namespace proctrack
