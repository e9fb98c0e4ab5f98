// What an agent reloads from its history when it starts (issue 17,
// "restart-proof"; docs/history.md "Restart"). Plain C++, no actor system:
// the history actor reads the rows (history_store::recent) and hands the
// table state built here to the cache, which imports it with
// process_table::restore_state before its first /proc listing.
#pragma once

#include "actors/cache/process_table.hpp"
#include "actors/history/history_store.hpp"

#include <vector>

namespace proctrack {

/// A process table state (process_table::export_state's shape) holding
/// `rows`, which come newest first as history_store::recent returns them:
/// - eviction order: the least recently written first, so the cache's LRU
///   goes on as it was;
/// - Children: the stored children among `rows`, by start time, at most
///   `cfg.max_children`; live_children counted from the running ones;
/// - each pid's and GUID's newest holder (by start) answers bare-pid and
///   GUID lookups;
/// - exited processes that ended before `expire_before` (the table's
///   max-expiry ago) are left out: the cache would expire them at once.
/// `now` is the newest time among the rows. Rows with an empty id are
/// skipped; the table's import drops anything beyond max-size.
table_state restore_state_from(std::vector<history_row> rows,
                               const table_config &cfg,
                               timestamp expire_before);

} // namespace proctrack
