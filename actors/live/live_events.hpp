// The live events actor: owns the live source (the netlink proc connector
// socket, or the eBPF source's ring buffer), turns the kernel's
// fork/exec/exit events into updates and sends them to the cache. Lost
// events (the connector's ENOBUFS, the ring buffer's full count) are
// counted and an immediate pslist sync heals the cache.
#pragma once

#include "actors/live/ebpf_source.hpp"
#include "actors/live/proc_connector.hpp"
#include "actors/live/procfs_reader.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace proctrack {

struct live_events_config {
  /// Longest wait for events per turn. With the eBPF source's batched
  /// wakeups (ebpf_source::open's wakeup_bytes) the kernel does not wake the
  /// agent for a few events: they wait in the ring buffer until the turn
  /// ends, so this is also their longest wait there (live.ebpf-max-delay).
  int poll_ms = 100;
  /// Updates wait at most this long (ms) before one message takes them to
  /// the cache (or at once when a batch of max_batch is full): one wakeup of
  /// the cache per flush instead of one per turn. Queries see a start or an
  /// exit this much later at most.
  int flush_ms = 0;
  std::size_t max_batch = 4096;  ///< updates per message to the cache
  std::size_t max_in_flight = 8; ///< batches not yet applied by the cache
  /// Updates waiting for the cache beyond the batches in flight (coalesced
  /// into full batches). Past this bound new updates are dropped, counted,
  /// and a pslist sync heals the cache: memory stays bounded under a storm.
  std::size_t max_backlog = 65536;
  std::string proc_root = "/proc";
  std::string host;

  std::string validate() const;
};

struct live_events_state {
  static inline const char *name = "proctrack.live_events";

  /// One of the two is set: the source the agent chose.
  std::shared_ptr<linux_proc::proc_connector> connector;
  std::shared_ptr<linux_proc::ebpf_source> ebpf;
  std::optional<linux_proc::procfs_reader> reader;
  std::vector<linux_proc::proc_event> events;
  std::vector<linux_proc::ebpf_event> ebpf_events;
  linux_proc::ebpf_translator ebpf_translator;
  linux_proc::ebpf_counts ebpf_counts;
  std::uint64_t ebpf_lost_seen = 0; ///< ebpf->lost() already counted
  /// Updates not yet sent, oldest first, in batches of at most max_batch.
  std::deque<std::vector<process_update>> backlog;
  std::size_t backlog_size = 0; ///< updates in backlog
  std::size_t in_flight = 0;
  bool heal_pending = false; ///< a sync was asked for and has not answered
  /// When the oldest update of the backlog was queued (flush_ms).
  std::chrono::steady_clock::time_point backlog_since;
  std::int64_t events_seen = 0;
  std::int64_t updates_sent = 0;
  std::int64_t lost_overflows = 0;
  std::int64_t dropped_updates = 0;
  std::int64_t heal_syncs = 0;
  std::int64_t receive_errors = 0;
  std::int64_t max_backlog_seen = 0;
  /// Flushes asked for (a pslist sync takes its listing after one).
  std::int64_t flushes = 0;
  linux_proc::update_counts counts; ///< what the decoder left out
  /// Knows each process by pid and start ticks (proc_connector.hpp).
  linux_proc::event_translator translator;
  /// Leader exits held until /proc tells what they were, with when first seen.
  std::vector<
      std::pair<linux_proc::proc_event, std::chrono::steady_clock::time_point>>
      undecided;
};

live_events_actor::behavior_type
live_events(live_events_actor::stateful_pointer<live_events_state> self,
            live_events_config cfg,
            std::shared_ptr<linux_proc::proc_connector> connector,
            cache_actor cache, pslist_sync_actor pslist);

/// The same around the eBPF source.
live_events_actor::behavior_type
live_events_ebpf(live_events_actor::stateful_pointer<live_events_state> self,
                 live_events_config cfg,
                 std::shared_ptr<linux_proc::ebpf_source> source,
                 cache_actor cache, pslist_sync_actor pslist);

/// Spawns the actor in a thread of its own around an already opened
/// connector (open it before the first pslist sync, so nothing falls
/// between the listing and the events).
live_events_actor
spawn_live_events(caf::actor_system &sys, const live_events_config &cfg,
                  std::shared_ptr<linux_proc::proc_connector> connector,
                  cache_actor cache, pslist_sync_actor pslist);

/// As above around an already opened eBPF source.
live_events_actor
spawn_live_events(caf::actor_system &sys, const live_events_config &cfg,
                  std::shared_ptr<linux_proc::ebpf_source> source,
                  cache_actor cache, pslist_sync_actor pslist);

} // namespace proctrack
