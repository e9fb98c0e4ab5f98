// The process table's answers as JSON text (SPEC §4): the entry object,
// call chains, children, trees and the listing. Kept apart from the table's
// rules (process_table.cpp): ids and Data are written here, when an answer
// is asked for, and nowhere on the update path.
#include "actors/cache/process_table.hpp"

#include "actors/common/entry_json.hpp"
#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

#include <algorithm>
#include <unordered_set>

namespace proctrack {

void open_tree_node(std::string &out, std::string_view id,
                    std::string_view data, timestamp start_time,
                    timestamp end_time) {
  out += "{\"name\":";
  // Velociraptor's tree: Data.Name when it is a non-empty string, else the
  // Id (Data is stored with unique keys, so this is the Name a reader sees).
  auto name = data_value(data, "Name");
  if (name && name->size() > 2 && name->front() == '"')
    out += *name;
  else
    append_json_string(out, id);
  out += ",\"id\":";
  append_json_string(out, id);
  out += ",\"start_time\":";
  append_time_json(out, start_time);
  out += ",\"end_time\":";
  append_time_json(out, end_time);
  out += ",\"data\":";
  out += data.empty() ? std::string_view{"{}"} : data;
  out += ",\"children\":[";
}

void process_table::append_entry_json(std::string &out,
                                      const process_entry &e) const {
  append_entry_fields(out, e.id, e.parent_id, e.start_time, e.end_time,
                      e.last_sync_time, e.data, e.children);
  out += '}';
}

std::string process_table::get_json(std::string_view id) {
  auto e = find(id);
  if (!e)
    return "null";
  std::string out;
  append_entry_json(out, *e);
  return out;
}

namespace {

template <class Range, class F>
std::string json_list(const Range &xs, F &&each) {
  std::string out = "[";
  bool first = true;
  for (auto &x : xs) {
    if (!first)
      out += ',';
    first = false;
    each(out, x);
  }
  out += ']';
  return out;
}

} // namespace

std::string process_table::callchain_json(std::string_view id,
                                          std::size_t max) {
  return json_list(callchain(id, max), [this](std::string &out, auto *e) {
    append_entry_json(out, *e);
  });
}

std::string process_table::children_json(std::string_view id, std::size_t max) {
  return json_list(children(id, max), [this](std::string &out, auto *e) {
    append_entry_json(out, *e);
  });
}

std::string process_table::tree_json(std::string_view id, std::size_t max) {
  auto root_entry = find(id);
  if (!root_entry || max == 0)
    return "null";
  // Breadth first, so a node cap keeps the upper levels whole; then emit the
  // nested form. A node appears once even if the parent links loop.
  struct node {
    std::uint32_t slot;
    std::vector<std::size_t> kids;
  };
  std::vector<node> nodes;
  std::unordered_set<std::uint32_t> seen;
  auto root = lookup_real_id(root_entry->id);
  nodes.push_back({root, {}});
  seen.insert(root);
  std::vector<std::size_t> level{0};
  for (std::size_t depth = 0;
       depth < max_tree_depth && !level.empty() && nodes.size() < max;
       ++depth) {
    std::vector<std::size_t> next;
    for (auto n : level) {
      std::vector<std::uint32_t> kids;
      for (auto &c : slots_[nodes[n].slot].children) {
        auto s = lookup_real_id(c);
        if (s != npos && seen.count(s) == 0)
          kids.push_back(s);
      }
      std::sort(kids.begin(), kids.end(), [this](auto a, auto b) {
        return by_start(&slots_[a], &slots_[b]);
      });
      for (auto s : kids) {
        if (nodes.size() >= max)
          break;
        seen.insert(s);
        nodes[n].kids.push_back(nodes.size());
        next.push_back(nodes.size());
        nodes.push_back({s, {}});
      }
    }
    level = std::move(next);
  }
  std::string out;
  // Iterative emit: depth is capped at 20 anyway, but stay off the stack.
  struct frame {
    std::size_t n;
    std::size_t next_kid;
  };
  std::vector<frame> stack{{0, 0}};
  auto open_node = [&](std::size_t n) {
    auto &e = slots_[nodes[n].slot];
    open_tree_node(out, e.id, e.data, e.start_time, e.end_time);
  };
  open_node(0);
  while (!stack.empty()) {
    auto &f = stack.back();
    auto &kids = nodes[f.n].kids;
    if (f.next_kid < kids.size()) {
      if (f.next_kid > 0)
        out += ',';
      auto k = kids[f.next_kid++];
      open_node(k);
      stack.push_back({k, 0});
    } else {
      out += "]}";
      stack.pop_back();
    }
  }
  return out;
}

std::string process_table::pslist_json() const {
  return json_list(entries(), [this](std::string &out, auto *e) {
    append_entry_json(out, *e);
  });
}

} // namespace proctrack
