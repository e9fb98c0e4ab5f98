// Time parsing and printing shared by the decoders and the process table.
#pragma once

#include "messages/types.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace proctrack {

/// Parses RFC 3339 (with or without seconds or fraction, `Z` or an offset),
/// Sysmon's `2021-01-01 12:30:00.123` (UTC), or Unix seconds (integer or
/// fractional). Returns nullopt on anything else.
std::optional<timestamp> parse_time(std::string_view text);

/// RFC 3339 in UTC with `Z`; the fraction is printed only when non-zero
/// (trailing zeros trimmed, as Go's RFC3339Nano). unknown_time prints as
/// 0001-01-01T00:00:00Z.
std::string format_time(timestamp t);

/// Appends format_time(t) to out, quoted as a JSON string.
void append_time_json(std::string &out, timestamp t);

/// Whole Unix seconds of t (floor), 0 for unknown.
std::int64_t whole_seconds(timestamp t);

/// Parses a duration with units: `500ms`, `60s`, `5min`, `24h`, `2d`, `1us`,
/// `10ns`. Negative or unit-less values are rejected.
std::optional<timestamp> parse_duration(std::string_view text);

} // namespace proctrack
