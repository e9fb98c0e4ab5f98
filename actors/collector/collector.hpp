// The fleet collector: one mirrored process table per host, fed by the
// hosts' forwarders (issue 7, docs/fleet.md). Every message from the
// network is checked (sizes, names, JSON) before it touches a table; a
// host's stream is applied strictly in order per session, and a snapshot
// starts the host's mirror over. With a history (history.path), every
// mirror tracks its changes and the collector writes them, host by name,
// to one history store; queries about a host fall back to it
// (docs/fleet.md "History").
#pragma once

#include "actors/cache/cache.hpp"
#include "actors/cache/process_table.hpp"
#include "actors/common/defaults.hpp"
#include "actors/history/history_credit.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <caf/typed_response_promise.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace proctrack {

struct collector_config {
  table_config table; ///< tracker.*: the bound of every host's mirror
  std::size_t max_hosts =
      defaults::collector_max_hosts; ///< collector.max-hosts
  /// With a history: host messages whose changes would go past these
  /// (history.max-unacked-rows, -bytes: changed processes sent to the
  /// history and not yet acknowledged) wait, unapplied and unacked, until
  /// the history catches up; the hosts' forwarders then stop at their
  /// window of unacked messages (docs/fleet.md "History").
  std::size_t history_max_unacked_rows = defaults::history_max_unacked_rows;
  std::size_t history_max_unacked_bytes = defaults::history_max_unacked_bytes;
  /// Messages of one host that may wait so at most: twice a forwarder's
  /// window (forward_queue_config::max_in_flight, 4). More is refused
  /// (the sender resyncs later): a peer that does not wait for its acks
  /// cannot fill the collector's memory.
  std::size_t max_waiting = 8;

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

/// A host message held while the history is behind, with its ack.
struct waiting_batch {
  fleet_batch batch;
  caf::typed_response_promise<std::uint64_t> ack;
};

struct collector_state {
  static inline const char *name = "proctrack.collector";

  std::map<std::string, host_mirror> hosts;
  std::int64_t batches = 0, updates = 0, snapshots = 0, refused = 0,
               out_of_order = 0, hosts_refused = 0, duplicates = 0;

  // -- the history (null: none) ----------------------------------------------
  history_actor history;
  /// Rows (and their bytes) sent to the history and not yet acknowledged.
  history_credit credit{defaults::history_max_unacked_rows,
                        defaults::history_max_unacked_bytes};
  std::int64_t history_waits = 0, history_lookups = 0;
  /// Host messages held while the history is behind, in arrival order;
  /// and how many of each host.
  std::deque<waiting_batch> waiting;
  std::map<std::string, std::size_t> waiting_of;
  /// Applies the held messages while the history keeps up (set by the
  /// behavior; called when the history acknowledges).
  std::function<void()> drain;

  std::vector<counter> counters() const;
};

/// `history`: the history actor the mirrors' changes go to (spawned
/// without a cache: spawn_history), null for none.
collector_actor::behavior_type
collector(collector_actor::stateful_pointer<collector_state> self,
          collector_config cfg, history_actor history);

/// Spawns the collector; empty with `error` set when cfg is bad. With a
/// `history`, every host's mirror tracks its changes and they are written
/// there with the host's name (history_row::host).
collector_actor spawn_collector(caf::actor_system &sys,
                                const collector_config &cfg, std::string &error,
                                history_actor history = {});

} // namespace proctrack
