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
