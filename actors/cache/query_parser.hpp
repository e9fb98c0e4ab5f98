// Queries as users type them: `VERB[:ID[:MAX]]` (SPEC §9).
#pragma once

#include "messages/types.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace proctrack {

/// Parses `get:2`, `callchain:2-1609504200:50`, `tree:{guid}`, `pslist`,
/// `stats`. GUIDs contain no ':', real ids neither, so ':' separates. On
/// error, `error` says what is wrong with which query.
std::optional<query> parse_query(std::string_view text, std::string &error);

/// Parses `QUERY[@T]` (docs/history.md "Queries"): the query, and in
/// `as_of` the time after the last '@' (RFC 3339, e.g.
/// `pslist@2021-01-01T10:42:00Z`; 100 ns units since 1970), or
/// unknown_time when there is none. Ids and GUIDs hold no '@'. On error,
/// `error` names the query and what is wrong (a bad time, a bad query).
std::optional<query> parse_query_at(std::string_view text, timestamp &as_of,
                                    std::string &error);

/// The default MAX of a verb (SPEC §4).
std::int64_t default_max(const std::string &verb);

/// The query as text again (`callchain:2:10`), for the output's "query".
std::string to_string(const query &q);

class process_table;

/// Answers a query from the table. `stats_json` is the caller's stats
/// object (the table alone does not know the other actors' counters).
std::string answer(process_table &table, const query &q,
                   const std::string &stats_json);

} // namespace proctrack
