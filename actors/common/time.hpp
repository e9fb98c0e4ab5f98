// Time parsing and printing shared by the decoders and the process table.
#pragma once

#include "messages/types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace proctrack {

/// The times the input formats can say and proctrack keeps exactly:
/// 0000-01-01T00:00:00Z .. 9999-12-31T23:59:59.9999999Z
/// (docs/semantics.md, "Times"). A Unix-seconds number past the last is
/// not a time.
inline constexpr timestamp min_time = -62167219200LL * hns_per_second;
inline constexpr timestamp max_time = 253402300800LL * hns_per_second - 1;

/// A timestamp (ticks) from a count of nanoseconds (the kernel's, the
/// system clock's): truncated toward minus infinity to 100 ns.
constexpr timestamp from_ns(std::int64_t ns) {
  return ns >= 0 ? ns / ns_per_hns : -((-ns + ns_per_hns - 1) / ns_per_hns);
}

/// Nanoseconds of a timestamp or duration in ticks, for std::chrono and
/// CAF timeouts (saturated at the int64 bounds; durations are small).
constexpr std::int64_t to_ns(timestamp t) {
  constexpr std::int64_t lim = INT64_MAX / ns_per_hns;
  return t > lim ? INT64_MAX : t < -lim ? INT64_MIN : t * ns_per_hns;
}

/// The wall clock now, in ticks since the epoch.
timestamp wall_clock_now();

/// Parses RFC 3339 (with or without seconds or fraction, `Z` or an offset),
/// Sysmon's `2021-01-01 12:30:00.123` (UTC), or Unix seconds (integer or
/// fractional, at most 12 digits, up to 9999-12-31). Years 0000-9999 are
/// kept exactly (fractions to 100 ns). `0001-01-01T00:00:00Z` (Go's zero
/// time, which proctrack and Velociraptor print for an unknown time) gives
/// unknown_time. Returns nullopt on anything else, including impossible
/// values (2021-02-31, hour 25, offset +99:99); `why`, when given, then says
/// what is wrong ("day 31 does not exist in 2021-02").
std::optional<timestamp> parse_time(std::string_view text,
                                    std::string *why = nullptr);

/// Unix seconds (as a JSON number gives them) to a timestamp; nullopt when
/// negative, not finite or past 9999-12-31.
std::optional<timestamp> from_unix_seconds(double seconds);

/// RFC 3339 in UTC with `Z`; the fraction is printed only when non-zero
/// (trailing zeros trimmed, as Go's RFC3339Nano). unknown_time prints as
/// 0001-01-01T00:00:00Z.
std::string format_time(timestamp t);

/// Appends format_time(t) to out, quoted as a JSON string.
void append_time_json(std::string &out, timestamp t);

/// Whole Unix seconds of t (floor), 0 for unknown. Negative before 1970.
std::int64_t whole_seconds(timestamp t);

/// Parses a duration with units into ticks: `500ms`, `60s`, `5min`, `24h`,
/// `2d`, `1us`, `100ns` (truncated to 100 ns). Negative or unit-less
/// values are rejected.
std::optional<timestamp> parse_duration(std::string_view text);

} // namespace proctrack
