#include "actors/forward/snapshot.hpp"

#include "actors/cache/process_table.hpp"

#include <algorithm>
#include <string>
#include <unordered_map>

namespace proctrack {

std::vector<process_update> snapshot_updates(const process_table &table) {
  auto entries = table.entries(); // by start time, then id
  std::unordered_map<std::string_view, const process_entry *> by_id;
  by_id.reserve(entries.size());
  for (auto *e : entries)
    by_id.emplace(e->id, e);
  struct event {
    timestamp time;
    int order; // exits (0) before starts (1) at the same time
    std::size_t index;
  };
  std::vector<event> events;
  events.reserve(entries.size() * 2);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    auto *e = entries[i];
    events.push_back({e->start_time, 1, i});
    if (!e->running())
      events.push_back({std::max(e->end_time, e->start_time), 0, i});
  }
  std::stable_sort(events.begin(), events.end(),
                   [](const event &a, const event &b) {
                     if (a.time != b.time)
                       return a.time < b.time;
                     return a.order < b.order;
                   });
  std::vector<process_update> out;
  out.reserve(events.size());
  for (auto &ev : events) {
    auto *e = entries[ev.index];
    process_update u;
    if (ev.order == 1) {
      u.kind = update_kind::start;
      u.process.pid = std::string{e->pid()};
      u.process.guid = e->guid;
      u.process.start_time = e->start_time;
      u.process.data = unpack_data(e->data);
      // The parent as the entry links it: its pid, and its GUID when the
      // parent is cached with one.
      std::string_view parent_id = e->parent_id;
      auto dash = parent_id.rfind('-');
      if (dash != std::string_view::npos)
        u.process.ppid = parent_id.substr(0, dash);
      if (auto p = by_id.find(e->parent_id); p != by_id.end())
        u.process.parent_guid = p->second->guid;
      u.time = e->start_time;
    } else {
      u.kind = update_kind::exit;
      u.target = e->id;
      u.process.guid = e->guid;
      u.time = e->end_time;
    }
    out.push_back(std::move(u));
  }
  return out;
}

} // namespace proctrack
