#include "actors/cache/query_parser.hpp"

#include "actors/cache/process_table.hpp"
#include "actors/common/time.hpp"

namespace proctrack {

namespace {

bool needs_id(const std::string &verb) {
  return verb == "get" || verb == "callchain" || verb == "children"
         || verb == "tree";
}

} // namespace

std::int64_t default_max(const std::string &verb) {
  if (verb == "callchain")
    return 10;
  if (verb == "children")
    return 100;
  if (verb == "tree")
    return 1000;
  return 0;
}

std::optional<query> parse_query(std::string_view text, std::string &error) {
  while (!text.empty() && (text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ')
    text.remove_prefix(1);
  query q;
  auto c1 = text.find(':');
  q.verb = std::string{text.substr(0, c1)};
  std::string_view rest =
      c1 == std::string_view::npos ? std::string_view{} : text.substr(c1 + 1);
  auto fail = [&](std::string why) {
    error = "query \"" + std::string{text} + "\": " + why;
    return std::nullopt;
  };
  if (q.verb == "pslist" || q.verb == "stats") {
    if (q.verb == "pslist" && rest.find(':') == std::string_view::npos) {
      q.id = std::string{rest}; // pslist:HOST, one host's processes
      return q;
    }
    if (!rest.empty())
      return fail(q.verb + " takes no id");
    return q;
  }
  if (!needs_id(q.verb))
    return fail("unknown verb \"" + q.verb
                + "\" (get, callchain, children, tree, pslist, stats)");
  auto c2 = rest.find(':');
  q.id = std::string{rest.substr(0, c2)};
  if (q.id.empty())
    return fail(q.verb + " needs an id (pid, real id or GUID)");
  q.max = default_max(q.verb);
  if (c2 != std::string_view::npos) {
    auto m = rest.substr(c2 + 1);
    if (q.verb == "get")
      return fail("get takes no MAX");
    std::int64_t v = 0;
    if (m.empty() || m.size() > 9)
      return fail("MAX must be a positive number");
    for (char ch : m) {
      if (ch < '0' || ch > '9')
        return fail("MAX must be a positive number");
      v = v * 10 + (ch - '0');
    }
    if (v <= 0)
      return fail("MAX must be a positive number");
    q.max = v;
  }
  return q;
}

std::optional<query> parse_query_at(std::string_view text, timestamp &as_of,
                                    std::string &error) {
  as_of = unknown_time;
  auto at = text.rfind('@');
  if (at == std::string_view::npos)
    return parse_query(text, error);
  std::string why;
  auto when = parse_time(text.substr(at + 1), &why);
  if (!when || *when == unknown_time) {
    error = "query \"" + std::string{text}
            + "\": bad time after @ (RFC 3339, e.g. 2021-01-01T10:42:00Z)"
            + (why.empty() ? "" : ": " + why);
    return std::nullopt;
  }
  auto q = parse_query(text.substr(0, at), error);
  if (q && q->verb == "stats") {
    error = "query \"" + std::string{text} + "\": stats has no past";
    return std::nullopt;
  }
  if (q)
    as_of = *when;
  return q;
}

std::string to_string(const query &q) {
  std::string s = q.verb;
  if (!q.id.empty()) {
    s += ':';
    s += q.id;
    if (q.max != default_max(q.verb) && q.max > 0) {
      s += ':';
      s += std::to_string(q.max);
    }
  }
  return s;
}

std::string answer(process_table &table, const query &q,
                   const std::string &stats_json) {
  auto max = [&] {
    return static_cast<std::size_t>(q.max > 0 ? q.max : default_max(q.verb));
  };
  if (q.verb == "get")
    return table.get_json(q.id);
  if (q.verb == "callchain")
    return table.callchain_json(q.id, max());
  if (q.verb == "children")
    return table.children_json(q.id, max());
  if (q.verb == "tree")
    return table.tree_json(q.id, max());
  if (q.verb == "pslist")
    return table.pslist_json();
  if (q.verb == "stats")
    return stats_json;
  return "null";
}

} // namespace proctrack
