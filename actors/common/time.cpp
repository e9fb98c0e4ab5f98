#include "actors/common/time.hpp"

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>

namespace proctrack {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil), so no time zone or locale is involved.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t &y, unsigned &m,
                     unsigned &d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp + (mp < 10 ? 3 : -9);
  y += m <= 2;
}

struct cursor {
  std::string_view s;
  size_t i = 0;
  bool done() const {
    return i >= s.size();
  }
  char peek() const {
    return done() ? '\0' : s[i];
  }
  bool digits(size_t n, int &out) {
    if (i + n > s.size())
      return false;
    int v = 0;
    for (size_t k = 0; k < n; ++k) {
      char c = s[i + k];
      if (c < '0' || c > '9')
        return false;
      v = v * 10 + (c - '0');
    }
    out = v;
    i += n;
    return true;
  }
  bool lit(char c) {
    if (peek() != c)
      return false;
    ++i;
    return true;
  }
};

// 0001-01-01T00:00:00Z in Unix seconds: Go's zero time.
constexpr std::int64_t go_zero_seconds = -62135596800;

// The last whole second a timestamp of the formats can say:
// 9999-12-31T23:59:59Z.
constexpr std::int64_t last_second = 253402300799;
constexpr std::int64_t first_second = -62167219200; // 0000-01-01T00:00:00Z

void say(std::string *why, std::string text) {
  if (why != nullptr)
    *why = std::move(text);
}

std::optional<timestamp> parse_unix(std::string_view s, std::string *why) {
  // Integer or fractional Unix seconds.
  size_t i = 0;
  std::int64_t secs = 0;
  if (s.empty()) {
    say(why, "empty");
    return std::nullopt;
  }
  size_t digits = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    if (++digits > 12) {
      say(why, "more than 12 digits of Unix seconds");
      return std::nullopt;
    }
    secs = secs * 10 + (s[i] - '0');
    ++i;
  }
  if (digits == 0) {
    say(why, "neither RFC 3339 nor Unix seconds");
    return std::nullopt;
  }
  std::int64_t frac = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    std::int64_t scale = hns_per_second / 10;
    size_t fd = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      frac += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
      ++fd;
    }
    if (fd == 0) {
      say(why, "no digit after the decimal point");
      return std::nullopt;
    }
  }
  if (i != s.size()) {
    say(why, "neither RFC 3339 nor Unix seconds");
    return std::nullopt;
  }
  if (secs > last_second) {
    say(why, "Unix seconds past 9999-12-31T23:59:59Z");
    return std::nullopt;
  }
  return secs * hns_per_second + frac;
}

bool leap_year(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, int m) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30,
                                      31, 31, 30, 31, 30, 31};
  return m == 2 && leap_year(y) ? 29 : days[m - 1];
}

std::string two(int v) {
  char b[8];
  std::snprintf(b, sizeof(b), "%02d", v);
  return b;
}

} // namespace

std::optional<timestamp> parse_time(std::string_view text, std::string *why) {
  while (!text.empty() && text.front() == ' ')
    text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ')
    text.remove_suffix(1);
  if (text.size() < 10 || text[4] != '-')
    return parse_unix(text, why);
  cursor c{text};
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!c.digits(4, y) || !c.lit('-') || !c.digits(2, mo) || !c.lit('-')
      || !c.digits(2, d)) {
    say(why, "not YYYY-MM-DD");
    return std::nullopt;
  }
  if (mo < 1 || mo > 12) {
    say(why, "month " + two(mo) + " does not exist");
    return std::nullopt;
  }
  if (d < 1 || static_cast<unsigned>(d) > days_in_month(y, mo)) {
    say(why, "day " + two(d) + " does not exist in " + std::to_string(y) + "-"
                 + two(mo));
    return std::nullopt;
  }
  std::int64_t frac = 0;
  std::int64_t offset = 0;
  if (!c.done()) {
    if (!(c.lit('T') || c.lit('t') || c.lit(' '))) {
      say(why, "text after the date");
      return std::nullopt;
    }
    if (!c.digits(2, h) || !c.lit(':') || !c.digits(2, mi)) {
      say(why, "not hh:mm after the date");
      return std::nullopt;
    }
    if (c.lit(':')) {
      if (!c.digits(2, sec)) {
        say(why, "not two digits of seconds");
        return std::nullopt;
      }
      if (c.lit('.') || c.lit(',')) {
        std::int64_t scale = hns_per_second / 10;
        size_t fd = 0;
        while (!c.done()
               && std::isdigit(static_cast<unsigned char>(c.peek()))) {
          frac += (c.peek() - '0') * scale;
          scale /= 10;
          ++c.i;
          ++fd;
        }
        if (fd == 0) {
          say(why, "no digit after the decimal point");
          return std::nullopt;
        }
      }
    }
    if (h > 23 || mi > 59 || sec > 60) {
      say(why, "time of day " + two(h) + ":" + two(mi) + ":" + two(sec)
                   + " does not exist");
      return std::nullopt;
    }
    if (c.lit('Z') || c.lit('z')) {
      // UTC
    } else if (c.peek() == '+' || c.peek() == '-') {
      int sign = c.peek() == '-' ? -1 : 1;
      ++c.i;
      int oh, om = 0;
      if (!c.digits(2, oh)) {
        say(why, "not an offset (+hh:mm)");
        return std::nullopt;
      }
      c.lit(':');
      if (!c.done() && !c.digits(2, om)) {
        say(why, "not an offset (+hh:mm)");
        return std::nullopt;
      }
      if (oh > 23 || om > 59) {
        say(why, "offset " + std::string{sign < 0 ? "-" : "+"} + two(oh) + ":"
                     + two(om) + " does not exist: hours 00-23, minutes 00-59");
        return std::nullopt;
      }
      offset = sign * (oh * 3600 + om * 60);
    }
    // No zone: UTC (Sysmon's UtcTime has none).
    if (!c.done()) {
      say(why, "text after the time");
      return std::nullopt;
    }
  }
  // Years 0000-9999 fit in int64 ticks (+-29,000 years).
  std::int64_t days =
      days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  std::int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - offset;
  // Go's zero time, what Velociraptor and proctrack print for "unknown".
  if (secs == go_zero_seconds && frac == 0)
    return unknown_time;
  if (secs < first_second || secs > last_second) {
    // Only an offset takes a valid date out: 0000-01-01T00:00+01:00.
    say(why, "outside 0000-01-01T00:00:00Z..9999-12-31T23:59:59Z once put "
             "on UTC");
    return std::nullopt;
  }
  return secs * hns_per_second + frac;
}

std::optional<timestamp> from_unix_seconds(double seconds) {
  if (!(seconds >= 0) || seconds >= static_cast<double>(last_second + 1))
    return std::nullopt;
  auto whole = static_cast<std::int64_t>(seconds);
  return whole * hns_per_second
         + static_cast<timestamp>((seconds - static_cast<double>(whole))
                                  * hns_per_second);
}

std::string format_time(timestamp t) {
  if (t == unknown_time)
    return "0001-01-01T00:00:00Z";
  std::int64_t secs = t / hns_per_second;
  std::int64_t frac = t % hns_per_second;
  if (frac < 0) {
    frac += hns_per_second;
    --secs;
  }
  std::int64_t days = secs / 86400;
  std::int64_t rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  char buf[64];
  int n = std::snprintf(
      buf, sizeof(buf), "%04lld-%02u-%02uT%02lld:%02lld:%02lld",
      static_cast<long long>(y), m, d, static_cast<long long>(rem / 3600),
      static_cast<long long>((rem / 60) % 60),
      static_cast<long long>(rem % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (frac != 0) {
    char fb[16];
    std::snprintf(fb, sizeof(fb), ".%07lld", static_cast<long long>(frac));
    std::string f(fb);
    while (f.back() == '0')
      f.pop_back();
    out += f;
  }
  out += 'Z';
  return out;
}

void append_time_json(std::string &out, timestamp t) {
  out += '"';
  out += format_time(t);
  out += '"';
}

std::int64_t whole_seconds(timestamp t) {
  if (t == unknown_time)
    return 0;
  std::int64_t s = t / hns_per_second;
  if (t % hns_per_second < 0)
    --s;
  return s;
}

std::optional<timestamp> parse_duration(std::string_view text) {
  size_t i = 0;
  std::int64_t v = 0;
  size_t digits = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (++digits > 15)
      return std::nullopt;
    v = v * 10 + (text[i] - '0');
    ++i;
  }
  if (digits == 0)
    return std::nullopt;
  auto unit = text.substr(i);
  std::int64_t mul;
  if (unit == "ns")
    return v / ns_per_hns;
  else if (unit == "us")
    mul = 10;
  else if (unit == "ms")
    mul = hns_per_ms;
  else if (unit == "s")
    mul = hns_per_second;
  else if (unit == "min" || unit == "m")
    mul = 60 * hns_per_second;
  else if (unit == "h")
    mul = 3600 * hns_per_second;
  else if (unit == "d")
    mul = 86400 * hns_per_second;
  else
    return std::nullopt;
  if (v > INT64_MAX / mul) // 15 digits of days would overflow
    return std::nullopt;
  return v * mul;
}

timestamp wall_clock_now() {
  return from_ns(std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count());
}

} // namespace proctrack
