#include "actors/query_endpoint/history_completion.hpp"

#include "actors/cache/query_parser.hpp"
#include "actors/common/time.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <unordered_set>
#include <vector>

namespace proctrack {

namespace {

bool unknown_parent(const std::string &id) {
  return id.empty()
         || (id.size() >= 2 && id.compare(id.size() - 2, 2, "-?") == 0);
}

timestamp start_of(const nlohmann::ordered_json &e) {
  auto it = e.find("StartTime");
  if (it == e.end() || !it->is_string())
    return unknown_time;
  auto t = parse_time(it->get<std::string>());
  return t ? *t : unknown_time;
}

} // namespace

std::optional<history_completion> plan_completion(const query &q,
                                                  const std::string &cached) {
  using merge = history_completion::merge;
  auto max = q.max > 0 ? q.max : default_max(q.verb);
  if ((q.verb == "get" || q.verb == "tree") && cached == "null")
    return history_completion{q, merge::replace, max};
  if (q.verb == "callchain") {
    auto chain = nlohmann::json::parse(cached, nullptr, false);
    if (!chain.is_array())
      return std::nullopt;
    if (chain.empty())
      return history_completion{q, merge::replace, max};
    auto parent = chain.front().value("ParentId", std::string{});
    auto have = static_cast<std::int64_t>(chain.size());
    if (have >= max || unknown_parent(parent))
      return std::nullopt;
    return history_completion{query{"callchain", parent, max - have},
                              merge::prepend_chain, max};
  }
  if (q.verb == "children")
    return history_completion{q, merge::merge_children, max};
  return std::nullopt;
}

std::string complete_answer(const history_completion &c, std::string cached,
                            std::string stored) {
  using merge = history_completion::merge;
  switch (c.how) {
  case merge::replace:
    return stored;
  case merge::prepend_chain:
    if (stored.size() < 3 || stored.front() != '[' || stored.back() != ']')
      return cached; // [] (not stored either)
    stored.pop_back();
    stored += ',';
    stored.append(cached, 1, std::string::npos);
    return stored;
  case merge::merge_children: {
    using oj = nlohmann::ordered_json;
    auto mine = oj::parse(cached, nullptr, false);
    auto theirs = oj::parse(stored, nullptr, false);
    if (!mine.is_array() || !theirs.is_array())
      return cached;
    if (mine.empty())
      return stored;
    std::unordered_set<std::string> ids;
    for (auto &e : mine)
      ids.insert(e.value("Id", std::string{}));
    std::vector<oj> all(mine.begin(), mine.end());
    for (auto &e : theirs)
      if (ids.count(e.value("Id", std::string{})) == 0)
        all.push_back(std::move(e));
    if (all.size() == mine.size())
      return cached;
    std::stable_sort(all.begin(), all.end(), [](auto &a, auto &b) {
      return start_of(a) < start_of(b);
    });
    if (all.size() > static_cast<std::size_t>(c.max))
      all.resize(static_cast<std::size_t>(c.max));
    return oj(std::move(all))
        .dump(-1, ' ', false, oj::error_handler_t::replace);
  }
  }
  return cached;
}

} // namespace proctrack
