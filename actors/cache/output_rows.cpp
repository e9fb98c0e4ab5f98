#include "actors/cache/output_rows.hpp"

#include "actors/cache/process_table.hpp"
#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

namespace proctrack {

namespace {

void append_id(std::string &out, const std::string &pid,
               const std::string &guid) {
  append_json_string(out, pid.empty() ? guid : pid);
}

// A parent as an update row names it: its pid, else its GUID in the form
// the row decoder takes ("{...}", which Sysmon's ParentProcessGuid has),
// else nothing (unknown; a Sysmon row's Data still has the GUID).
void append_parent(std::string &out, const process_record &p) {
  const auto &g = p.parent_guid;
  bool braced =
      g.size() >= 2 && g.size() <= 64 && g.front() == '{' && g.back() == '}';
  if (p.ppid.empty() && !braced)
    return;
  out += ",\"parent_id\":";
  append_json_string(out, p.ppid.empty() ? g : p.ppid);
}

// A listed process's keys, as decode_update_row() reads them back: its own
// end and the cache state it carries (a replayed stream's `entry`) are
// kept, so that a forwarded listing restores what the original did.
void append_record(std::string &out, const process_record &p) {
  out += "{\"id\":";
  append_id(out, p.pid, p.guid);
  append_parent(out, p);
  out += ",\"start_time\":";
  append_time_json(out, p.start_time);
  if (p.end_time != unknown_time) {
    out += ",\"end_time\":";
    append_time_json(out, p.end_time);
  }
  if (!p.real_id.empty() || !p.parent_real_id.empty() || p.keeps_last_sync
      || p.keeps_children) {
    out += ",\"entry\":{\"EndTime\":";
    append_time_json(out, p.end_time);
    if (!p.real_id.empty()) {
      out += ",\"Id\":";
      append_json_string(out, p.real_id);
    }
    if (!p.parent_real_id.empty()) {
      out += ",\"ParentId\":";
      append_json_string(out, p.parent_real_id);
    }
    if (p.keeps_last_sync) {
      out += ",\"LastSyncTime\":";
      append_time_json(out, p.last_sync_time);
    }
    if (p.keeps_children) {
      out += ",\"Children\":[";
      for (std::size_t i = 0; i < p.children.size(); ++i) {
        if (i)
          out += ',';
        append_json_string(out, p.children[i]);
      }
      out += ']';
    }
    out += '}';
  }
  out += ",\"data\":";
  append_packed_data(out, p.data);
  out += '}';
}

} // namespace

std::string update_row_json(const process_update &u, bool with_host) {
  // A listing in parts is one row across them: the first opens it, the
  // last closes it (each part holds at least one process).
  if (u.kind == update_kind::sync && u.part != sync_part::whole
      && u.part != sync_part::first) {
    std::string out;
    for (auto &p : u.processes) {
      out += ',';
      append_record(out, p);
    }
    if (u.part == sync_part::last) {
      out += ']';
      if (with_host && !u.host.empty()) {
        out += ",\"host\":";
        append_json_string(out, u.host);
      }
      out += '}';
    }
    return out;
  }
  std::string out = "{\"update_type\":\"";
  out += to_string(u.kind);
  out += '"';
  switch (u.kind) {
  case update_kind::start: {
    out += ",\"id\":";
    append_id(out, u.process.pid, u.process.guid);
    append_parent(out, u.process);
    out += ",\"start_time\":";
    append_time_json(out, u.process.start_time);
    out += ",\"data\":";
    append_packed_data(out, u.process.data);
    break;
  }
  case update_kind::exit:
    out += ",\"id\":";
    append_json_string(out, u.target);
    out += ",\"end_time\":";
    append_time_json(out, u.time);
    break;
  case update_kind::sync:
    out += ",\"time\":";
    append_time_json(out, u.time);
    out += ",\"processes\":[";
    for (std::size_t i = 0; i < u.processes.size(); ++i) {
      if (i)
        out += ',';
      append_record(out, u.processes[i]);
    }
    if (u.part == sync_part::first)
      return out; // the next parts go on
    out += ']';
    break;
  }
  if (with_host && !u.host.empty()) {
    out += ",\"host\":";
    append_json_string(out, u.host);
  }
  out += '}';
  return out;
}

std::string cache_sync_row_json(const process_table &table, timestamp time,
                                const std::string &host) {
  std::string out = "{\"update_type\":\"sync\",";
  if (!host.empty()) {
    out += "\"host\":";
    append_json_string(out, host);
    out += ',';
  }
  out += "\"time\":";
  append_time_json(out, time);
  out += ",\"processes\":[";
  bool first = true;
  for (auto *e : table.entries()) {
    if (!first)
      out += ',';
    first = false;
    // The entry in Velociraptor's shape, plus the update-row keys so the
    // row can be fed back to `replay`.
    // The id is the pid, or the GUID of a process without one ("?-..."); the
    // parent is the exact ParentId ("5-1609495200", "5-?"), so the row
    // replays into the same cache (docs/semantics.md, Output stream).
    out += "{\"id\":";
    append_json_string(out, e->pid() == "?" && !e->guid.empty()
                                ? std::string_view{e->guid}
                                : e->pid());
    out += ",\"parent_id\":";
    append_json_string(out, e->parent_id);
    out += ",\"start_time\":";
    append_time_json(out, e->start_time);
    out += ",\"end_time\":";
    append_time_json(out, e->end_time);
    out += ",\"entry\":";
    table.append_entry_json(out, *e);
    out += ",\"data\":";
    out += e->data;
    out += '}';
  }
  out += "]}";
  return out;
}

std::size_t max_cache_sync_row_bytes(const table_config &cfg) {
  constexpr std::size_t id_bytes = 96;   // quoted, a GUID is 40
  constexpr std::size_t time_bytes = 48; // quoted, nanoseconds and all
  constexpr std::size_t key_bytes = 256; // the keys and punctuation of one
  const std::size_t per_process = key_bytes + 4 * id_bytes + 5 * time_bytes
                                  + cfg.max_children * (id_bytes + 1);
  // The row's own keys, time and host name.
  constexpr std::size_t head_bytes = 64 * 1024;
  return head_bytes + cfg.max_size * per_process + 2 * cfg.max_bytes;
}

std::string stats_object_json(const std::vector<counter> &counters) {
  std::string out = "{";
  for (std::size_t i = 0; i < counters.size(); ++i) {
    if (i)
      out += ',';
    append_json_string(out, counters[i].name);
    out += ':';
    if (counters[i].name.size() > 4
        && counters[i].name.compare(counters[i].name.size() - 4, 4, "Time")
               == 0)
      append_time_json(out, counters[i].value);
    else
      out += std::to_string(counters[i].value);
  }
  out += '}';
  return out;
}

std::string stats_row_json(const std::vector<counter> &counters,
                           timestamp time) {
  std::string out = "{\"update_type\":\"stats\",\"time\":";
  append_time_json(out, time);
  out += ",\"data\":";
  out += stats_object_json(counters);
  out += '}';
  return out;
}

} // namespace proctrack
