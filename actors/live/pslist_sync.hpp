// The pslist sync actor: takes a process listing (/proc on Linux, the
// Windows process list in the Windows build) every tracker.sync-period (and
// on demand, e.g. after lost kernel events) and sends it to the cache as one
// `sync` update. The live events actor is flushed first, so the
// kernel events from before the listing reach the cache before it (the
// eBPF source may hold events up to live.ebpf-max-delay).
#pragma once

#include "actors/common/defaults.hpp"
#include "actors/live/procfs_reader.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace proctrack {

/// Lists the machine's processes (sorted by pid), or says why it could not:
/// the pslist sync's only view of the platform. Called on the sync actor's
/// own thread.
using pslist_reader = std::function<linux_proc::listing()>;

/// The platform's reader: /proc at `proc_root` on Linux
/// (pslist_reader_procfs.cpp); in the Windows build
/// (pslist_reader_windows.cpp) the Windows process list, or a reader that
/// fails with why when the build has none.
pslist_reader default_pslist_reader(const std::string &proc_root);

struct pslist_sync_config {
  std::chrono::nanoseconds period = defaults::sync_period;
  std::string proc_root = "/proc";
  std::string host; ///< tags the batches (fleet)
  /// Empty: default_pslist_reader(proc_root).
  pslist_reader reader;

  std::string validate() const;
};

struct pslist_sync_state {
  static inline const char *name = "proctrack.pslist_sync";

  pslist_reader reader;
  /// Flushed before each listing, once the agent has told it (subscribe).
  live_events_actor live;
  std::int64_t syncs = 0;
  std::int64_t failures = 0; ///< listings that failed and were not applied
  std::int64_t last_size = 0;
  std::int64_t last_duration_us = 0;
  std::int64_t max_duration_us = 0;
  timestamp last_time = unknown_time;
};

pslist_sync_actor::behavior_type
pslist_sync(pslist_sync_actor::stateful_pointer<pslist_sync_state> self,
            pslist_sync_config cfg, cache_actor cache);

/// Spawns the actor; its timer starts with the first period. Ask it
/// atom::sync for a listing now (the agent does, before it reports ready).
pslist_sync_actor spawn_pslist_sync(caf::actor_system &sys,
                                    const pslist_sync_config &cfg,
                                    cache_actor cache);

} // namespace proctrack
