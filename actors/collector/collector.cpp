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

timestamp wall_now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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

} // namespace

std::string collector_config::validate() const {
  if (table.max_size == 0)
    return "tracker.max-size must be at least 1";
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
  std::size_t records = 0;
  for (auto &u : b.updates) {
    if (static_cast<unsigned>(u.kind) > 2)
      return "unknown update kind "
             + std::to_string(static_cast<unsigned>(u.kind));
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
        for (auto &u : b.updates)
          h.table->apply(std::move(u));
        h.next_seq = b.seq + 1;
        h.updates += static_cast<std::int64_t>(b.updates.size());
        h.last_update = wall_now();
        if (!b.stats.empty())
          h.stats = std::move(b.stats);
        ++st.batches;
        st.updates += static_cast<std::int64_t>(b.updates.size());
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
