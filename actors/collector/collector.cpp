#include "actors/collector/collector.hpp"

#include "actors/cache/output_rows.hpp"
#include "actors/cache/query_parser.hpp"
#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"
#include "actors/common/tls_audit.hpp"
#include "actors/forward/forwarder.hpp"
#include "actors/query_endpoint/history_completion.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace proctrack {

namespace {

std::string check_record(const process_record &p, const fleet_limits &l) {
  if (p.pid.size() > l.max_id || p.ppid.size() > l.max_id
      || p.guid.size() > l.max_id || p.parent_guid.size() > l.max_id)
    return "an id longer than " + std::to_string(l.max_id) + " bytes";
  if (p.data.size() > l.max_fields)
    return "more than " + std::to_string(l.max_fields) + " data fields";
  for (auto &f : p.data) {
    if (f.key.empty() || f.key.size() > l.max_key)
      return "a data key that is empty or too long";
    if (f.json.size() > l.max_value)
      return "data value " + f.key + " longer than "
             + std::to_string(l.max_value) + " bytes";
    if (!nlohmann::json::accept(f.json))
      return "data value " + f.key + " is not JSON";
  }
  return {};
}

bool is_json_object(const std::string &text) {
  auto first = text.find_first_not_of(" \t\r\n");
  return first != std::string::npos && text[first] == '{'
         && nlohmann::json::accept(text);
}

std::string check_state(const table_state &s, const fleet_limits &l) {
  if (s.processes.size() > l.max_updates)
    return std::to_string(s.processes.size())
           + " snapshot processes in one message (at most "
           + std::to_string(l.max_updates) + ")";
  if (s.pending_exits.size() > l.max_pending)
    return "more than " + std::to_string(l.max_pending) + " pending exits";
  for (auto &pe : s.pending_exits)
    if (pe.key.size() > l.max_id)
      return "a pending exit key longer than " + std::to_string(l.max_id);
  for (auto &p : s.processes) {
    if (p.id.empty() || p.id.size() > l.max_id || p.parent_id.size() > l.max_id
        || p.guid.size() > l.max_id)
      return "a snapshot process id that is empty or longer than "
             + std::to_string(l.max_id) + " bytes";
    if (p.children.size() > l.max_children)
      return "snapshot process " + p.id + " has more than "
             + std::to_string(l.max_children) + " children";
    for (auto &c : p.children)
      if (c.empty() || c.size() > l.max_id)
        return "snapshot process " + p.id + " has a bad child id";
    if (p.data.size() > l.max_data)
      return "snapshot process " + p.id + " has Data longer than "
             + std::to_string(l.max_data) + " bytes";
    if (!p.data.empty() && !is_json_object(p.data))
      return "snapshot process " + p.id + " has Data that is not a JSON object";
  }
  return {};
}

std::string check_enrichment(const process_enrichment &pe,
                             const fleet_limits &l) {
  if (pe.id.size() > l.max_id)
    return "an enrichment id longer than " + std::to_string(l.max_id);
  auto &e = pe.info;
  if (e.path.size() > l.max_value || e.original_filename.size() > l.max_value
      || e.error.size() > l.max_value
      || e.version_info_json.size() > l.max_data)
    return "an enrichment field that is too long";
  if (e.ok && !is_json_object(e.version_info_json))
    return "enrichment of " + e.path.substr(0, 64)
           + ": VersionInformation is not a JSON object";
  return {};
}

} // namespace

std::string collector_config::validate() const {
  if (table.max_size == 0)
    return "tracker.max-size must be at least 1";
  // The same bounds as the cache's (cache_config::validate).
  if (table.max_bytes < (std::size_t{1} << 20)
      || table.max_bytes > (std::size_t{1} << 40))
    return "tracker.max-bytes must be between 1048576 (1 MiB) and "
           "1099511627776 (1 TiB) (got "
           + std::to_string(table.max_bytes) + ")";
  if (max_hosts == 0 || max_hosts > 100000)
    return "collector.max-hosts must be between 1 and 100000";
  // The same bounds as the cache's backpressure (cache_config::validate).
  cache_config cc;
  cc.history_max_unacked_rows = history_max_unacked_rows;
  cc.history_max_unacked_bytes = history_max_unacked_bytes;
  if (auto why = cc.validate(); !why.empty())
    return why;
  if (max_waiting == 0)
    return "collector max_waiting must be at least 1";
  return {};
}

std::string check_fleet_batch(const fleet_batch &b, const fleet_limits &l) {
  if (!valid_host_name(b.host))
    return "bad host name";
  if (b.session == 0 || b.seq == 0)
    return "session and seq must not be 0";
  if (b.updates.size() > l.max_updates)
    return std::to_string(b.updates.size())
           + " updates in one message (at "
             "most "
           + std::to_string(l.max_updates) + ")";
  if (b.stats.size() > l.max_counters)
    return "too many stats counters";
  for (auto &c : b.stats)
    if (c.name.empty() || c.name.size() > l.max_key)
      return "a stats counter name that is empty or too long";
  if (auto e = check_state(b.state, l); !e.empty())
    return e;
  if (b.enrichments.size() > l.max_updates)
    return "too many enrichments in one message";
  for (auto &pe : b.enrichments)
    if (auto e = check_enrichment(pe, l); !e.empty())
      return e;
  std::size_t records = 0;
  for (auto &u : b.updates) {
    if (static_cast<unsigned>(u.kind) > 2)
      return "unknown update kind "
             + std::to_string(static_cast<unsigned>(u.kind));
    if (static_cast<unsigned>(u.part) > 3)
      return "unknown sync part "
             + std::to_string(static_cast<unsigned>(u.part));
    if (u.target.size() > l.max_id)
      return "an exit target longer than " + std::to_string(l.max_id);
    if (auto e = check_record(u.process, l); !e.empty())
      return e;
    records += u.processes.size();
    if (records > l.max_records)
      return "more than " + std::to_string(l.max_records)
             + " processes in the syncs of one message";
    for (auto &p : u.processes)
      if (auto e = check_record(p, l); !e.empty())
        return e;
  }
  return {};
}

std::vector<counter> collector_state::counters() const {
  std::int64_t processes = 0;
  for (auto &[_, h] : hosts)
    processes += h.table ? static_cast<std::int64_t>(h.table->size()) : 0;
  std::vector<counter> out{
      {"Hosts", static_cast<std::int64_t>(hosts.size())},
      {"Processes", processes},
      {"Batches", batches},
      {"Updates", updates},
      {"Snapshots", snapshots},
      {"Refused", refused},
      {"OutOfOrder", out_of_order},
      {"Duplicates", duplicates},
      {"HostsRefused", hosts_refused},
      // Peers refused at the TLS handshake never reach this actor;
      // actors/common/tls_audit.cpp counts them for the process.
      {"TlsAccepted", tls_audit().accepted},
      {"TlsRefused", tls_audit().refused}};
  if (history) {
    out.push_back({"HistoryRowsSent", credit.rows_sent()});
    out.push_back({"HistoryRowsUnacked",
                   static_cast<std::int64_t>(credit.unacked_rows())});
    out.push_back({"HistoryWaits", history_waits});
    out.push_back(
        {"HistoryWaiting", static_cast<std::int64_t>(waiting.size())});
    out.push_back({"HistoryLookups", history_lookups});
  }
  return out;
}

namespace {

// How long a query may wait on the history (it writes what is pending
// first): less than the endpoint's relay timeout (30 s), so the answer
// (or the mirror's own) still reaches the client.
constexpr auto history_timeout = std::chrono::seconds(20);

bool is_lookup(const std::string &verb) {
  return verb == "get" || verb == "callchain" || verb == "children"
         || verb == "tree";
}

// A query about `host` as the history store takes it: HOST/ID, and a
// pslist names the host (history_store::answer).
query for_store(const std::string &host, query q) {
  q.id = q.verb == "pslist" ? host : host + "/" + q.id;
  return q;
}

} // namespace

collector_actor::behavior_type
collector(collector_actor::stateful_pointer<collector_state> self,
          collector_config cfg, history_actor history) {
  self->state.history = std::move(history);
  auto refuse = [self](const fleet_batch &b, const std::string &why) {
    ++self->state.refused;
    spdlog::warn("collector: refused a message from {}: {}",
                 b.host.substr(0, 64), why);
    return caf::make_error(caf::sec::invalid_argument, why);
  };
  // Backpressure from the history (docs/fleet.md "History"): behind while
  // too many of the rows sent to it are unacknowledged.
  self->state.credit = history_credit{cfg.history_max_unacked_rows,
                                      cfg.history_max_unacked_bytes};
  auto history_behind = [self] {
    auto &st = self->state;
    return st.history && st.credit.behind();
  };
  // Hands the history what `host`'s mirror changed, counted until it
  // acknowledges.
  auto send_changes = [self](const std::string &host, process_table &table) {
    auto &st = self->state;
    if (!st.history)
      return;
    process_changes c;
    c.rows = table.take_changes();
    if (c.rows.empty())
      return;
    for (auto &r : c.rows)
      r.host = host;
    std::uint64_t rows = c.rows.size();
    auto bytes = st.credit.sent(c.rows);
    auto acked = [self, rows, bytes] {
      self->state.credit.acked(rows, bytes);
      self->state.drain();
    };
    auto to = st.history;
    self->request(to, caf::infinite, std::move(c))
        .then([acked](std::uint64_t) { acked(); },
              [self, acked, to](caf::error &err) {
                // The history is gone (or failed): the mirrors go on
                // without it, and nothing waits for it.
                auto &st = self->state;
                if (st.history == to) {
                  spdlog::error("collector: the history took no changes "
                                "({}): the collector goes on without it",
                                caf::to_string(err));
                  st.history = nullptr;
                  for (auto &[_, h] : st.hosts)
                    if (h.table)
                      h.table->track_changes(false);
                }
                acked();
              });
  };
  // Applies one host message (the stream as issue 7 defined it); its ack
  // or why it was refused.
  auto apply = [self, cfg, refuse,
                send_changes](fleet_batch &b) -> caf::expected<std::uint64_t> {
    auto &st = self->state;
    auto it = st.hosts.find(b.host);
    if (b.snapshot) {
      if (it == st.hosts.end()) {
        if (st.hosts.size() >= cfg.max_hosts) {
          ++st.hosts_refused;
          return refuse(b, "collector.max-hosts ("
                               + std::to_string(cfg.max_hosts) + ") reached");
        }
        it = st.hosts.emplace(b.host, host_mirror{}).first;
        spdlog::info("collector: new host {}", b.host);
      }
      // The host's own limits, capped by ours: the mirror then evicts
      // and expires exactly as the host does.
      table_config tc = cfg.table;
      if (b.max_size > 0)
        tc.max_size = std::min<std::size_t>(tc.max_size, b.max_size);
      if (b.max_children > 0)
        tc.max_children =
            std::min<std::size_t>(tc.max_children, b.max_children);
      if (b.max_expiry > 0)
        tc.max_expiry = b.max_expiry;
      else if (b.max_expiry < 0)
        tc.max_expiry = 0; // the host's expiry is off (forwarder.cpp)
      if (b.max_bytes > 0)
        tc.max_bytes = std::min<std::size_t>(tc.max_bytes, b.max_bytes);
      if (b.max_pending_exits > 0)
        tc.max_pending_exits =
            std::min<std::size_t>(tc.max_pending_exits, b.max_pending_exits);
      auto &h = it->second;
      // The store keeps what the old mirror held: a process that exited
      // (or was evicted) before this snapshot stays there. The new mirror
      // notes what it imports, so the snapshot's processes are written.
      if (h.table)
        send_changes(b.host, *h.table);
      h.table = std::make_unique<process_table>(tc);
      h.table->track_changes(static_cast<bool>(st.history));
      h.session = b.session;
      h.next_seq = b.seq;
      ++h.snapshots;
      ++st.snapshots;
    } else if (it == st.hosts.end() || it->second.session != b.session) {
      ++st.out_of_order;
      return caf::make_error(caf::sec::invalid_argument,
                             "unknown session: send a snapshot");
    }
    auto &h = it->second;
    if (b.seq < h.next_seq) {
      ++st.duplicates; // a resend after a lost ack: applied already
      return b.seq;
    }
    if (b.seq != h.next_seq) {
      ++st.out_of_order;
      return caf::make_error(caf::sec::invalid_argument,
                             "gap in the stream: send a snapshot");
    }
    // In the order the host applied them (fleet_batch).
    auto n = b.updates.size() + b.state.processes.size();
    if (auto skipped = h.table->import_state(std::move(b.state)))
      spdlog::warn("collector: {} snapshot processes of {} were "
                   "duplicates and skipped",
                   skipped, b.host);
    h.table->apply(update_batch{b.host, std::move(b.updates),
                                std::move(b.enrichments), b.expire_at});
    send_changes(b.host, *h.table);
    h.next_seq = b.seq + 1;
    h.updates += static_cast<std::int64_t>(n);
    h.last_update = wall_clock_now();
    if (!b.stats.empty())
      h.stats = std::move(b.stats);
    ++st.batches;
    st.updates += static_cast<std::int64_t>(n);
    return b.seq;
  };
  // Applies the held messages, in arrival order, while the history keeps
  // up (or is gone).
  self->state.drain = [self, apply, history_behind] {
    auto &st = self->state;
    while (!st.waiting.empty() && !history_behind()) {
      auto w = std::move(st.waiting.front());
      st.waiting.pop_front();
      auto c = st.waiting_of.find(w.batch.host);
      if (c != st.waiting_of.end() && --c->second == 0)
        st.waiting_of.erase(c);
      auto r = apply(w.batch);
      if (r)
        w.ack.deliver(*r);
      else
        w.ack.deliver(std::move(r.error()));
    }
  };
  // A query about now answered from the history alone: a host the
  // collector does not mirror (not connected since it started, or its
  // forwarder ended).
  auto from_store = [self](const std::string &host,
                           query q) -> caf::result<std::string> {
    auto &st = self->state;
    if (!is_lookup(q.verb))
      return caf::make_error(
          caf::sec::invalid_argument,
          "host " + host
              + " is not mirrored now: its history answers get, callchain, "
                "children, tree, and any query as of a time (QUERY@T)");
    ++st.history_lookups;
    auto rp = self->make_response_promise<std::string>();
    self->request(st.history, history_timeout, for_store(host, std::move(q)),
                  unknown_time)
        .then([rp](std::string &r) mutable { rp.deliver(std::move(r)); },
              [rp](caf::error &e) mutable { rp.deliver(std::move(e)); });
    return rp;
  };
  return {
      [self, cfg, refuse, apply,
       history_behind](fleet_batch &b) -> caf::result<std::uint64_t> {
        auto &st = self->state;
        if (auto why = check_fleet_batch(b); !why.empty())
          return refuse(b, why);
        // While the history is behind, a message waits unapplied and its
        // ack with it: the host's forwarder stops at its window of unacked
        // messages, and the rows on their way to the store stay bounded.
        // A host's later messages wait behind its earlier ones (order).
        if (history_behind() || st.waiting_of.count(b.host) > 0) {
          auto &n = st.waiting_of[b.host];
          if (n >= cfg.max_waiting)
            return refuse(b, "more than " + std::to_string(cfg.max_waiting)
                                 + " messages of this host wait for the "
                                   "history");
          ++n;
          ++st.history_waits;
          auto rp = self->make_response_promise<std::uint64_t>();
          st.waiting.push_back({std::move(b), rp});
          return rp;
        }
        auto r = apply(b);
        if (!r)
          return std::move(r.error());
        return *r;
      },
      [self](atom::subscribe, const std::string &host,
             std::uint64_t session) -> std::uint64_t {
        auto &st = self->state;
        // A hello comes on a new connection: what waits of this host came
        // on the one its forwarder left, which resends it (or a snapshot)
        // from the seq answered here.
        if (st.waiting_of.erase(host) > 0) {
          for (auto w = st.waiting.begin(); w != st.waiting.end();) {
            if (w->batch.host == host) {
              w->ack.deliver(caf::make_error(caf::sec::invalid_argument,
                                             "superseded by a new "
                                             "connection of the host"));
              w = st.waiting.erase(w);
            } else {
              ++w;
            }
          }
        }
        auto it = st.hosts.find(host);
        if (it == st.hosts.end() || it->second.session != session)
          return 0;
        return it->second.next_seq;
      },
      [self, from_store](const std::string &host,
                         query &q) -> caf::result<std::string> {
        auto &st = self->state;
        auto it = st.hosts.find(host);
        if (it == st.hosts.end() || !it->second.table) {
          if (st.history && valid_host_name(host))
            return from_store(host, std::move(q));
          return caf::make_error(caf::sec::invalid_argument,
                                 "unknown host " + host);
        }
        auto &h = it->second;
        std::string stats;
        if (q.verb == "stats")
          stats = stats_object_json(h.stats);
        auto mirrored = answer(*h.table, q, stats);
        if (!st.history)
          return mirrored;
        // What the mirror misses (evicted, expired, before a resync or a
        // restart of the collector) comes from the store, as the agent's
        // facade completes its cache's answers.
        auto plan = plan_completion(q, mirrored);
        if (!plan)
          return mirrored;
        ++st.history_lookups;
        auto rp = self->make_response_promise<std::string>();
        self->request(st.history, history_timeout, for_store(host, plan->ask),
                      unknown_time)
            .then(
                [rp, mirrored, plan = *plan](std::string &stored) mutable {
                  rp.deliver(complete_answer(plan, std::move(mirrored),
                                             std::move(stored)));
                },
                [rp, mirrored](caf::error &) mutable {
                  rp.deliver(std::move(mirrored)); // what the mirror has
                });
        return rp;
      },
      [self](const std::string &host, query &q,
             timestamp as_of) -> caf::result<std::string> {
        auto &st = self->state;
        if (!st.history)
          return caf::make_error(
              caf::sec::runtime_error,
              "no process history: a query as of a time (" + to_string(q)
                  + "@T) is answered from the history store, and this "
                    "collector keeps none (history.path)");
        if (as_of == unknown_time || q.verb == "stats")
          return caf::make_error(caf::sec::runtime_error,
                                 "an as-of query needs a time and one of "
                                 "get, callchain, children, tree, pslist");
        if (!valid_host_name(host))
          return caf::make_error(caf::sec::invalid_argument, "bad host name");
        ++st.history_lookups;
        auto rp = self->make_response_promise<std::string>();
        self->request(st.history, history_timeout,
                      for_store(host, std::move(q)), as_of)
            .then([rp](std::string &r) mutable { rp.deliver(std::move(r)); },
                  [rp](caf::error &e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
      [self](atom::hosts) -> std::string {
        std::string out = "[";
        bool first = true;
        for (auto &[name, h] : self->state.hosts) {
          if (!first)
            out += ',';
          first = false;
          out += "{\"Host\":";
          append_json_string(out, name);
          out += ",\"LastUpdate\":";
          append_time_json(out, h.last_update);
          out += ",\"Length\":";
          out += std::to_string(h.table ? h.table->size() : 0);
          out += ",\"Updates\":";
          out += std::to_string(h.updates);
          out += ",\"Snapshots\":";
          out += std::to_string(h.snapshots);
          out += ",\"Stats\":";
          out += h.stats.empty() ? "null" : stats_object_json(h.stats);
          out += '}';
        }
        return out + "]";
      },
      [self](atom::stats) -> caf::result<stats_report> {
        auto &st = self->state;
        stats_report mine{collector_state::name, st.counters()};
        if (!st.history)
          return mine;
        // The store's own counters (rows written, retired, failures).
        auto rp = self->make_response_promise<stats_report>();
        self->request(st.history, history_timeout, atom::stats_v)
            .then(
                [rp, mine](stats_report &h) mutable {
                  for (auto &c : h.counters)
                    mine.counters.push_back(std::move(c));
                  rp.deliver(std::move(mine));
                },
                [rp, mine](caf::error &) mutable { rp.deliver(mine); });
        return rp;
      },
  };
}

collector_actor spawn_collector(caf::actor_system &sys,
                                const collector_config &cfg, std::string &error,
                                history_actor history) {
  error = cfg.validate();
  if (!error.empty())
    return {};
  return sys.spawn(collector, cfg, std::move(history));
}

} // namespace proctrack
