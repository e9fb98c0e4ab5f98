#include "actors/collector/collector.hpp"

#include "actors/cache/output_rows.hpp"
#include "actors/cache/query_parser.hpp"
#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"
#include "actors/common/tls_audit.hpp"
#include "actors/forward/forwarder.hpp"

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
  return {{"Hosts", static_cast<std::int64_t>(hosts.size())},
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
}

collector_actor::behavior_type
collector(collector_actor::stateful_pointer<collector_state> self,
          collector_config cfg) {
  auto refuse = [self](const fleet_batch &b, const std::string &why) {
    ++self->state.refused;
    spdlog::warn("collector: refused a message from {}: {}",
                 b.host.substr(0, 64), why);
    return caf::make_error(caf::sec::invalid_argument, why);
  };
  return {
      [self, cfg, refuse](fleet_batch &b) -> caf::result<std::uint64_t> {
        auto &st = self->state;
        if (auto why = check_fleet_batch(b); !why.empty())
          return refuse(b, why);
        auto it = st.hosts.find(b.host);
        if (b.snapshot) {
          if (it == st.hosts.end()) {
            if (st.hosts.size() >= cfg.max_hosts) {
              ++st.hosts_refused;
              return refuse(b, "collector.max-hosts ("
                                   + std::to_string(cfg.max_hosts)
                                   + ") reached");
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
            tc.max_pending_exits = std::min<std::size_t>(tc.max_pending_exits,
                                                         b.max_pending_exits);
          auto &h = it->second;
          h.table = std::make_unique<process_table>(tc);
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
        h.next_seq = b.seq + 1;
        h.updates += static_cast<std::int64_t>(n);
        h.last_update = wall_clock_now();
        if (!b.stats.empty())
          h.stats = std::move(b.stats);
        ++st.batches;
        st.updates += static_cast<std::int64_t>(n);
        return b.seq;
      },
      [self](atom::subscribe, const std::string &host,
             std::uint64_t session) -> std::uint64_t {
        auto &st = self->state;
        auto it = st.hosts.find(host);
        if (it == st.hosts.end() || it->second.session != session)
          return 0;
        return it->second.next_seq;
      },
      [self](const std::string &host, query &q) -> caf::result<std::string> {
        auto &st = self->state;
        auto it = st.hosts.find(host);
        if (it == st.hosts.end() || !it->second.table)
          return caf::make_error(caf::sec::invalid_argument,
                                 "unknown host " + host);
        auto &h = it->second;
        std::string stats;
        if (q.verb == "stats")
          stats = stats_object_json(h.stats);
        return answer(*h.table, q, stats);
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
      [self](atom::stats) -> stats_report {
        return {collector_state::name, self->state.counters()};
      },
  };
}

collector_actor spawn_collector(caf::actor_system &sys,
                                const collector_config &cfg,
                                std::string &error) {
  error = cfg.validate();
  if (!error.empty())
    return {};
  return sys.spawn(collector, cfg);
}

} // namespace proctrack
