// The fleet collector: one mirrored process table per host, fed by the
// hosts' forwarders (issue 7, docs/fleet.md). Every message from the
// network is checked (sizes, names, JSON) before it touches a table; a
// host's stream is applied strictly in order per session, and a snapshot
// starts the host's mirror over.
#pragma once

#include "actors/cache/process_table.hpp"
#include "actors/common/defaults.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace proctrack {

struct collector_config {
  table_config table; ///< tracker.*: the bound of every host's mirror
  std::size_t max_hosts =
      defaults::collector_max_hosts; ///< collector.max-hosts

  /// Empty when valid, else what is wrong, naming the config key.
  std::string validate() const;
};

/// Limits on what one message from the network may carry.
struct fleet_limits {
  std::size_t max_updates = 100000;  ///< updates per message
  std::size_t max_records = 1 << 20; ///< processes in the syncs of one
  std::size_t max_fields = 1024;     ///< data fields per process
  std::size_t max_id = 256;          ///< pid, ppid, GUIDs, target
  std::size_t max_key = 256;         ///< data key
  std::size_t max_value = 1 << 20;   ///< data value (JSON text)
  std::size_t max_counters = 1024;   ///< stats counters
  std::size_t max_children = 65536;  ///< child ids of one snapshot process
  std::size_t max_data = 1 << 22;    ///< Data text of one snapshot process
  std::size_t max_pending = 1 << 16; ///< pending exits in one snapshot
};

/// Empty when `b` may be applied, else why not.
std::string check_fleet_batch(const fleet_batch &b,
                              const fleet_limits &limits = {});

struct host_mirror {
  std::unique_ptr<process_table> table;
  std::uint64_t session = 0;
  std::uint64_t next_seq = 0;
  timestamp last_update = unknown_time; ///< wall clock, last message
  std::vector<counter> stats;           ///< the host's last counters
  std::int64_t updates = 0, snapshots = 0;
};

struct collector_state {
  static inline const char *name = "proctrack.collector";

  std::map<std::string, host_mirror> hosts;
  std::int64_t batches = 0, updates = 0, snapshots = 0, refused = 0,
               out_of_order = 0, hosts_refused = 0, duplicates = 0;

  std::vector<counter> counters() const;
};

collector_actor::behavior_type
collector(collector_actor::stateful_pointer<collector_state> self,
          collector_config cfg);

/// Spawns the collector; empty with `error` set when cfg is bad.
collector_actor spawn_collector(caf::actor_system &sys,
                                const collector_config &cfg,
                                std::string &error);

} // namespace proctrack
