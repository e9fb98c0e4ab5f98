#include "actors/history/restore.hpp"

#include <algorithm>
#include <unordered_map>

namespace proctrack {

table_state restore_state_from(std::vector<history_row> rows,
                               const table_config &cfg,
                               timestamp expire_before) {
  table_state s;
  // Oldest written first: the order import_state keeps within each tier.
  std::reverse(rows.begin(), rows.end());
  rows.erase(std::remove_if(rows.begin(), rows.end(),
                            [&](const history_row &r) {
                              return r.id.empty()
                                     || (r.end_time != unknown_time
                                         && r.end_time < expire_before);
                            }),
             rows.end());
  std::unordered_map<std::string, std::size_t> by_id;
  by_id.reserve(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i)
    by_id.emplace(rows[i].id, i);
  s.processes.resize(rows.size());
  // Children among the reloaded rows, by start time.
  std::vector<std::vector<std::size_t>> kids(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto p = by_id.find(rows[i].parent_id);
    if (p != by_id.end() && p->second != i)
      kids[p->second].push_back(i);
  }
  // live_children: a child counts when it runs or has a live child of its
  // own. Each running process marks its ancestors up to the first that
  // was live already (a loop in stored links stops at a live one too).
  std::vector<char> live(rows.size(), 0);
  std::vector<std::uint32_t> live_children(rows.size(), 0);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].end_time != unknown_time || live[i])
      continue;
    live[i] = 1;
    auto child = i;
    for (auto p = by_id.find(rows[child].parent_id);
         p != by_id.end() && p->second != child;
         p = by_id.find(rows[child].parent_id)) {
      ++live_children[p->second];
      if (live[p->second])
        break;
      live[p->second] = 1;
      child = p->second;
    }
  }
  std::unordered_map<std::string, std::size_t> pid_holder, guid_holder;
  auto newer = [&](std::unordered_map<std::string, std::size_t> &m,
                   const std::string &key, std::size_t i) {
    auto [it, fresh] = m.emplace(key, i);
    if (!fresh && rows[it->second].start_time <= rows[i].start_time)
      it->second = i;
  };
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto &r = rows[i];
    auto dash = r.id.rfind('-');
    newer(pid_holder, r.id.substr(0, dash), i);
    if (!r.guid.empty())
      newer(guid_holder, r.guid, i);
    for (auto t : {r.start_time, r.end_time, r.last_sync_time})
      s.now = std::max(s.now, t);
  }
  for (auto &[pid, i] : pid_holder)
    s.processes[i].holds_pid = true;
  for (auto &[guid, i] : guid_holder)
    s.processes[i].holds_guid = true;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto &k = kids[i];
    std::stable_sort(k.begin(), k.end(), [&](std::size_t a, std::size_t b) {
      return rows[a].start_time < rows[b].start_time;
    });
    if (k.size() > cfg.max_children)
      k.resize(cfg.max_children);
    auto &p = s.processes[i];
    for (auto c : k)
      p.children.push_back(rows[c].id);
    p.live_children = live_children[i];
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    auto &r = rows[i];
    auto &p = s.processes[i];
    p.id = std::move(r.id);
    p.parent_id = std::move(r.parent_id);
    p.guid = std::move(r.guid);
    p.start_time = r.start_time;
    p.end_time = r.end_time;
    p.last_sync_time = r.last_sync_time;
    p.data = std::move(r.data);
    p.end_is_estimate = r.end_is_estimate;
  }
  return s;
}

} // namespace proctrack
