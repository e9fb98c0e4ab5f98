// Time parsing and printing shared by the decoders and the process table.
#pragma once

#include "messages/types.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace proctrack {

/// The instants a timestamp holds: int64 nanoseconds run from 1677-09-21 to
/// 2262-04-11; these bounds are the whole seconds inside that range,
/// 1677-09-21T00:12:44Z and 2262-04-11T23:47:16Z. A valid time outside them
/// (the formats say years 0000-9999) is saturated to the nearer bound, never
/// wrapped into another date (docs/semantics.md, "Times").
inline constexpr timestamp min_time = -9223372036LL * ns_per_second;
inline constexpr timestamp max_time = 9223372036LL * ns_per_second;

/// Parses RFC 3339 (with or without seconds or fraction, `Z` or an offset),
/// Sysmon's `2021-01-01 12:30:00.123` (UTC), or Unix seconds (integer or
/// fractional, at most 12 digits). Years 0000-9999 are read exactly, then
/// saturated to [min_time, max_time]. `0001-01-01T00:00:00Z` (Go's zero
/// time, which proctrack and Velociraptor print for an unknown time) gives
/// unknown_time. Returns nullopt on anything else, including impossible
/// values (2021-02-31, hour 25, offset +99:99); `why`, when given, then says
/// what is wrong ("day 31 does not exist in 2021-02").
std::optional<timestamp> parse_time(std::string_view text,
                                    std::string *why = nullptr);

/// Unix seconds (as a JSON number gives them) to a timestamp, saturated to
/// [min_time, max_time]; nullopt when negative or not finite.
std::optional<timestamp> from_unix_seconds(double seconds);

/// RFC 3339 in UTC with `Z`; the fraction is printed only when non-zero
/// (trailing zeros trimmed, as Go's RFC3339Nano). unknown_time prints as
/// 0001-01-01T00:00:00Z.
std::string format_time(timestamp t);

/// Appends format_time(t) to out, quoted as a JSON string.
void append_time_json(std::string &out, timestamp t);

/// Whole Unix seconds of t (floor), 0 for unknown. Negative before 1970.
std::int64_t whole_seconds(timestamp t);

/// Parses a duration with units: `500ms`, `60s`, `5min`, `24h`, `2d`, `1us`,
/// `10ns`. Negative or unit-less values are rejected.
std::optional<timestamp> parse_duration(std::string_view text);

} // namespace proctrack
