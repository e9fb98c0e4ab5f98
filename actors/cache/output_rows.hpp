// The rows of the output stream (SPEC §6) as JSON text: update rows in the
// same shape `replay` reads (so an output stream can be replayed), the
// `sync` row of the whole cache and `stats` rows.
#pragma once

#include "messages/types.hpp"

#include <cstddef>

#include <string>
#include <vector>

namespace proctrack {

class process_table;
struct table_config;

/// One update as a JSON line (no trailing newline). `with_host`: add the
/// update's "host" when it has one (a cache with several hosts). A sync in
/// parts (sync_part) gives one line across its parts, in order: the first
/// part opens it, the middle ones go on, the last closes it.
std::string update_row_json(const process_update &u, bool with_host = false);

/// A `sync` row holding every cached process (running and exited): per
/// process `id` (pid, or GUID without one), `parent_id` (the exact ParentId,
/// `5-?` when unknown), `start_time`, `end_time`, the full `entry` and
/// `data`; with a "host" key when `host` is not empty. decode_update_row()
/// restores it into the same cache.
std::string cache_sync_row_json(const process_table &table, timestamp time,
                                const std::string &host = {});

/// The longest `sync` row cache_sync_row_json() writes for a table of this
/// configuration, in bytes: every Data twice (`data` and `entry.Data`,
/// together at most 2 x max_bytes) plus, per process (max_size), its keys,
/// five times, four ids and max_children child ids, each id counted at
/// 96 bytes (a pid, GUID or real id is at most ~40). `replay` reads lines
/// up to this long (at least 16 MiB), so that the stream a cache of this
/// configuration writes always reads back (docs/semantics.md, Output
/// stream); a log whose ids are longer than 96 bytes may exceed it.
std::size_t max_cache_sync_row_bytes(const table_config &cfg);

/// The stats object: every counter by name, plus Time.
std::string stats_object_json(const std::vector<counter> &counters);

/// A `stats` row: {"update_type":"stats","time":...,"data":{...}}.
std::string stats_row_json(const std::vector<counter> &counters,
                           timestamp time);

} // namespace proctrack
