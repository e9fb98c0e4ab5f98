// The snapshot of a process table as updates: applied in order to an empty
// table with the same limits, they rebuild its processes (ids, parents,
// start and end times, data, children). A forwarder sends one to the
// collector first and after every reconnect, so the collector's mirror of a
// host becomes exact again whatever was lost in between.
// Plain logic (no CAF).
#pragma once

#include "messages/types.hpp"

#include <vector>

namespace proctrack {

class process_table;

/// Every cached process as a `start`, every exited one also as an `exit`
/// (by real id, at its end time), merged in time order (exits first at
/// equal times, so a reused pid passes from the old to the new holder).
std::vector<process_update> snapshot_updates(const process_table &table);

} // namespace proctrack
