#include "actors/etw/sysmon_etw_decoder.hpp"

#include "actors/common/byte_order.hpp"

#include "actors/ingest/evtx_binxml.hpp"

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>

namespace proctrack::etw {

namespace {

template <class T>
std::string dec(T v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

void put_utf8(std::uint32_t cp, std::string &out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {
    out += static_cast<char>(0xc0 | cp >> 6);
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// CR LF and a lone CR read as LF, as the EVTX path reads element content
// (XML end-of-line handling of libevtx's rendered XML).
void normalize_eol(std::string &s) {
  if (s.find('\r') == std::string::npos)
    return;
  std::size_t w = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r') {
      if (i + 1 < s.size() && s[i + 1] == '\n')
        ++i;
      s[w++] = '\n';
    } else {
      s[w++] = s[i];
    }
  }
  s.resize(w);
}

// The fixed size of an in-type, 0 for the variable ones, -1 for refused.
int fixed_size(std::uint16_t t, bool pointer_64) {
  switch (t) {
  case in_int8:
  case in_uint8:
    return 1;
  case in_int16:
  case in_uint16:
    return 2;
  case in_int32:
  case in_uint32:
  case in_float:
  case in_boolean:
  case in_hexint32:
    return 4;
  case in_int64:
  case in_uint64:
  case in_double:
  case in_filetime:
  case in_hexint64:
    return 8;
  case in_guid:
  case in_systemtime:
    return 16;
  case in_pointer:
    return pointer_64 ? 8 : 4;
  case in_unicode_string:
  case in_ansi_string:
  case in_sid:
    return 0;
  default:
    return -1;
  }
}

// Renders a fixed-size value (p holds exactly its bytes).
std::string render_fixed(std::uint16_t t, const unsigned char *p,
                         std::size_t n) {
  char buf[96];
  switch (t) {
  case in_int8:
    return dec(static_cast<std::int8_t>(p[0]));
  case in_uint8:
    return dec(p[0]);
  case in_int16:
    return dec(static_cast<std::int16_t>(le16(p)));
  case in_uint16:
    return dec(le16(p));
  case in_int32:
    return dec(static_cast<std::int32_t>(le32(p)));
  case in_uint32:
    return dec(le32(p));
  case in_int64:
    return dec(static_cast<std::int64_t>(le64(p)));
  case in_uint64:
    return dec(le64(p));
  case in_float: {
    std::uint32_t bits = le32(p);
    float f;
    static_assert(sizeof f == 4);
    std::memcpy(&f, &bits, 4);
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(f));
    return buf;
  }
  case in_double: {
    std::uint64_t bits = le64(p);
    double d;
    std::memcpy(&d, &bits, 8);
    std::snprintf(buf, sizeof buf, "%.17g", d);
    return buf;
  }
  case in_boolean:
    return le32(p) != 0 ? "true" : "false";
  case in_guid:
    std::snprintf(buf, sizeof buf,
                  "{%08" PRIX32 "-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X}",
                  le32(p), le16(p + 4), le16(p + 6), p[8], p[9], p[10], p[11],
                  p[12], p[13], p[14], p[15]);
    return buf;
  case in_pointer:
    if (n == 4)
      std::snprintf(buf, sizeof buf, "0x%08" PRIx32, le32(p));
    else
      std::snprintf(buf, sizeof buf, "0x%016" PRIx64, le64(p));
    return buf;
  case in_filetime:
    return filetime_text(le64(p));
  case in_systemtime:
    std::snprintf(buf, sizeof buf, "%04u-%02u-%02uT%02u:%02u:%02u.%03u000000Z",
                  le16(p), le16(p + 2), le16(p + 6), le16(p + 8), le16(p + 10),
                  le16(p + 12), le16(p + 14));
    return buf;
  case in_hexint32:
    std::snprintf(buf, sizeof buf, "0x%08" PRIx32, le32(p));
    return buf;
  case in_hexint64:
    std::snprintf(buf, sizeof buf, "0x%016" PRIx64, le64(p));
    return buf;
  default:
    return {};
  }
}

bool fail(std::string &why, const property &pr, std::size_t at,
          const char *what) {
  why = "property " + pr.name.substr(0, 64) + " at byte " + std::to_string(at)
        + ": " + what;
  return false;
}

} // namespace

std::string filetime_text(std::uint64_t ft) {
  std::uint64_t ticks = ft % 10000000, secs = ft / 10000000;
  auto days = static_cast<std::int64_t>(secs / 86400);
  std::uint64_t rem = secs % 86400;
  // Days since 1601-01-01 to a civil date (H. Hinnant's algorithm).
  std::int64_t z = days + 584694;
  std::int64_t era = z / 146097;
  std::int64_t doe = z - era * 146097;
  std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  std::int64_t y = yoe + era * 400;
  std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  std::int64_t mp = (5 * doy + 2) / 153;
  std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2)
    ++y;
  char buf[64];
  std::snprintf(buf, sizeof buf,
                "%04lld-%02lld-%02lldT%02u:%02u:%02u.%07" PRIu64 "00Z",
                static_cast<long long>(y), static_cast<long long>(m),
                static_cast<long long>(d), static_cast<unsigned>(rem / 3600),
                static_cast<unsigned>(rem / 60 % 60),
                static_cast<unsigned>(rem % 60), ticks);
  return buf;
}

bool decode_payload(std::uint16_t event_id, const unsigned char *data,
                    std::size_t size, const layout &props, const envelope &env,
                    sysmon_event &ev, std::string &why) {
  ev.clear();
  ev.provider = std::string(sysmon_provider);
  ev.event_id = event_id;
  ev.computer = env.computer;
  ev.record_number = env.record_number;
  if (env.filetime != 0)
    ev.time_created = filetime_text(env.filetime);
  if (size > max_payload) {
    why = "payload of " + std::to_string(size) + " bytes, more than "
          + std::to_string(max_payload);
    return false;
  }
  if (props.size() > max_properties) {
    why = "layout of " + std::to_string(props.size())
          + " properties, more than " + std::to_string(max_properties);
    return false;
  }
  if (size > 0 && data == nullptr) {
    why = "no payload bytes";
    return false;
  }
  ev.fields.reserve(props.size());
  std::size_t pos = 0;
  for (auto &pr : props) {
    std::string value;
    std::size_t left = size - pos;
    int fixed = fixed_size(pr.type, env.pointer_64);
    if (fixed < 0) {
      return fail(
          why, pr, pos,
          ("in-type " + std::to_string(pr.type) + " not supported").c_str());
    } else if (fixed > 0) {
      if (left < static_cast<std::size_t>(fixed))
        return fail(why, pr, pos, "payload cut off");
      value =
          render_fixed(pr.type, data + pos, static_cast<std::size_t>(fixed));
      pos += static_cast<std::size_t>(fixed);
    } else if (pr.type == in_unicode_string) {
      std::size_t n = 0; // units before the NUL
      while (2 * n + 1 < left && le16(data + pos + 2 * n) != 0)
        ++n;
      if (2 * n + 1 >= left)
        return fail(why, pr, pos, "UTF-16 string not terminated");
      evtx::utf16_to_utf8(data + pos, n, value);
      normalize_eol(value);
      pos += 2 * n + 2;
    } else if (pr.type == in_ansi_string) {
      std::size_t n = 0;
      while (n < left && data[pos + n] != 0)
        ++n;
      if (n == left)
        return fail(why, pr, pos, "ANSI string not terminated");
      for (std::size_t i = 0; i < n; ++i)
        put_utf8(data[pos + i], value);
      normalize_eol(value);
      pos += n + 1;
    } else { // SID: revision, count, 6-byte authority, count sub-authorities
      if (left < 8)
        return fail(why, pr, pos, "SID cut off");
      const unsigned char *p = data + pos;
      std::size_t n = 8 + 4 * std::size_t{p[1]};
      if (p[1] > 15)
        return fail(why, pr, pos, "SID with more than 15 sub-authorities");
      if (left < n)
        return fail(why, pr, pos, "SID cut off");
      std::uint64_t auth = 0;
      for (int i = 2; i < 8; ++i)
        auth = auth << 8 | p[i];
      value = "S-" + std::to_string(p[0]) + "-" + std::to_string(auth);
      for (std::size_t i = 0; i < p[1]; ++i)
        value += "-" + std::to_string(le32(p + 8 + 4 * i));
      pos += n;
    }
    ev.fields.emplace_back(pr.name, std::move(value));
  }
  if (pos != size) {
    why = std::to_string(size - pos) + " bytes left after the last of "
          + std::to_string(props.size())
          + " properties: the layout does not match the payload";
    return false;
  }
  return true;
}

std::optional<process_update>
decode_update(std::uint16_t event_id, const unsigned char *data,
              std::size_t size, const layout &props, const envelope &env,
              std::string &why) {
  sysmon_event ev;
  if (!decode_payload(event_id, data, size, props, env, ev, why))
    return std::nullopt;
  return to_update(ev, why);
}

} // namespace proctrack::etw
