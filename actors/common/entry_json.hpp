// The process entry object of SPEC §4 ("Id", "ParentId", "StartTime",
// "EndTime", "LastSyncTime", "Data", "Children"), as the cache's answers
// and the history store's answers both write it: one writer, so an answer
// from memory and one from the store cannot drift apart.
#pragma once

#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

#include <string>
#include <string_view>

namespace proctrack {

/// Appends `{"Id":...,"Children":[...]` to `out`, without the closing
/// brace, so a caller may add fields of its own (the store's "Host",
/// "FirstSeen", "LastSeen"). Times are timestamps (100 ns ticks since
/// 0001-01-01, time.hpp), written as RFC 3339 text or null when unknown.
/// `data` is the Data object's JSON text as stored (written as it is; "{}"
/// when empty); `children` is any range of ids convertible to
/// std::string_view.
template <class Children>
void append_entry_fields(std::string &out, std::string_view id,
                         std::string_view parent_id, timestamp start_time,
                         timestamp end_time, timestamp last_sync_time,
                         std::string_view data, const Children &children) {
  out += "{\"Id\":";
  append_json_string(out, id);
  out += ",\"ParentId\":";
  append_json_string(out, parent_id);
  out += ",\"StartTime\":";
  append_time_json(out, start_time);
  out += ",\"EndTime\":";
  append_time_json(out, end_time);
  out += ",\"LastSyncTime\":";
  append_time_json(out, last_sync_time);
  out += ",\"Data\":";
  out += data.empty() ? std::string_view{"{}"} : data;
  out += ",\"Children\":[";
  bool first = true;
  for (auto &c : children) {
    if (!first)
      out += ',';
    first = false;
    append_json_string(out, std::string_view{c});
  }
  out += ']';
}

} // namespace proctrack
