#include "actors/ingest/evtx_binxml.hpp"

#include "actors/common/byte_order.hpp"
#include "actors/common/json_text.hpp"

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace proctrack::evtx {

namespace {

// A decimal number, NUL-terminated, into buf (at least 24 bytes).
template <class T>
void dec(char *buf, T v) {
  auto r = std::to_chars(buf, buf + 23, v);
  *r.ptr = '\0';
}

// `digits` hex digits of v, most significant first, at p; returns the end.
// snprintf's "%0*X" took 3% of an EVTX replay (GUIDs, FILETIMEs, HexInt64).
char *hex(char *p, std::uint64_t v, int digits, bool upper) {
  const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  for (int i = digits - 1; i >= 0; --i)
    *p++ = set[(v >> (4 * i)) & 15];
  return p;
}

// v as `width` decimal digits, zero-padded; returns the end.
char *dec_fixed(char *p, std::uint64_t v, int width) {
  for (int i = width - 1; i >= 0; --i, v /= 10)
    p[i] = static_cast<char>('0' + v % 10);
  return p + width;
}

// "0x" and the value in `digits` lower-case hex digits, NUL-terminated.
void hex_value(char *buf, std::uint64_t v, int digits) {
  buf[0] = '0';
  buf[1] = 'x';
  *hex(buf + 2, v, digits, false) = '\0';
}

void put_utf8(std::uint32_t cp, std::string &out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | cp >> 6);
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | cp >> 12);
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | cp >> 18);
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// The elements whose content or attributes make a sysmon_event; the rest
// of the document is walked (it may hold them) but not kept.
enum class tag : std::uint8_t {
  none,
  other,
  event,
  system,
  provider,
  event_id,
  computer,
  time_created,
  record_id,
  event_data,
  data,
};

// Binary XML tokens ([MS-EVEN6] 3.1.4.7.3; the 0x40 bit is a "more" flag).
// The kind is the low nibble: the other bits of the high one mean nothing,
// and a flipped one there (a damaged log) leaves the record as it was, so it
// is ignored, as python-evtx does (libevtx masks only 0x40 and refuses the
// record; tests/evtx_binxml_test's mutation case).
constexpr unsigned char token_kind(unsigned char token) {
  return token & 0x0f;
}

enum : unsigned char {
  t_eof = 0x00,
  t_open = 0x01,
  t_close_start = 0x02,
  t_close_empty = 0x03,
  t_end = 0x04,
  t_value = 0x05,
  t_attribute = 0x06,
  t_cdata = 0x07,
  t_charref = 0x08,
  t_entityref = 0x09,
  t_pi_target = 0x0a,
  t_pi_data = 0x0b,
  t_template = 0x0c,
  t_subst = 0x0d,
  t_opt_subst = 0x0e,
  t_fragment = 0x0f,
};

constexpr int max_element_depth = 64;
constexpr int max_template_depth = 16;
// Work and output bounds per record: a template may name one substitution
// many times, and a BinXml value may hold another template instance.
constexpr std::size_t max_tokens = 1u << 20;
constexpr std::size_t max_text = 4u << 20;

struct value_ref {
  const unsigned char *p;
  std::uint16_t size;
  std::uint8_t type;
};

struct values {
  const value_ref *v;
  std::size_t n;
};

} // namespace

struct chunk_decoder::scratch {
  std::string text, attr, data_name, event_id_text, record_id_text;
  std::vector<value_ref> vals[max_template_depth + 1];
  std::vector<chunk_decoder::raw_value> raw; ///< parallel to ev.fields
};

namespace {

struct walker {
  const unsigned char *c; // the chunk; every offset is relative to it
  std::size_t csize;
  sysmon_event &ev;
  chunk_decoder::scratch &sc;
  const std::vector<std::int64_t> &fields_for;

  walker(const unsigned char *chunk, std::size_t size, sysmon_event &e,
         chunk_decoder::scratch &s, const std::vector<std::int64_t> &ff,
         bool raw)
      : c(chunk), csize(size), ev(e), sc(s), fields_for(ff), keep_raw(raw) {
    stack[0] = tag::none;
  }
  bool keep_raw;
  // The first substitution of the <Data> element being read.
  chunk_decoder::raw_value raw_pending;
  bool raw_seen = false;
  std::string err;
  std::size_t replaced = 0;
  std::size_t tokens = 0;
  std::size_t text_bytes = 0;

  tag stack[max_element_depth + 1];
  int depth = 0;
  bool seen_event = false, seen_system = false, seen_provider = false,
       seen_event_id = false, seen_computer = false, seen_time = false,
       seen_record_id = false, seen_event_data = false;
  // The element whose first text is kept (pugixml's child_value()), and
  // whether a child element has ended that text.
  tag capture = tag::none;
  bool capture_closed = false;
  std::string &text = sc.text;
  std::string &data_name = sc.data_name;
  bool data_named = false;
  int unnamed = 0;
  std::size_t nfields = 0; ///< ev.fields in use (their buffers are reused)
  std::string &event_id_text = sc.event_id_text;
  std::string &record_id_text = sc.record_id_text;
  // Attribute being read: which one we keep, and its text.
  int attr_keep = 0; // 0 none, 1 Provider@Name, 2 SystemTime, 3 Data@Name
  std::string &attr = sc.attr;

  bool fail(const char *why, std::size_t at) {
    if (err.empty())
      err = std::string(why) + " at chunk offset " + std::to_string(at);
    return false;
  }

  bool need(std::size_t pos, std::size_t n, std::size_t end) {
    return pos <= end && n <= end - pos;
  }

  // The name string at chunk offset `off`: UTF-16 at p, n units.
  bool name_at(std::uint32_t off, const unsigned char *&p, std::size_t &n) {
    if (!need(off, 8, csize))
      return fail("name outside the chunk", off);
    n = le16(c + off + 6);
    if (!need(off + 8, 2 * n, csize))
      return fail("name outside the chunk", off);
    p = c + off + 8;
    return true;
  }

  static bool name_is(const unsigned char *p, std::size_t n,
                      std::string_view s) {
    if (n != s.size())
      return false;
    for (std::size_t i = 0; i < n; ++i)
      if (p[2 * i] != static_cast<unsigned char>(s[i]) || p[2 * i + 1] != 0)
        return false;
    return true;
  }

  // Reads a name reference at pos (u32 offset; the string follows inline
  // when the offset points right after it). Advances pos past both.
  bool name_ref(std::size_t &pos, std::size_t end, const unsigned char *&p,
                std::size_t &n) {
    if (!need(pos, 4, end))
      return fail("name reference cut off", pos);
    std::uint32_t off = le32(c + pos);
    pos += 4;
    if (!name_at(off, p, n))
      return false;
    if (off == pos) {
      std::size_t len = 8 + 2 * n + 2;
      if (!need(pos, len, end))
        return fail("inline name cut off", pos);
      pos += len;
    }
    return true;
  }

  bool counting(std::size_t at) {
    if (++tokens > max_tokens)
      return fail("too many binary XML tokens", at);
    return true;
  }

  bool keeping_text() const {
    return capture != tag::none && !capture_closed && stack[depth] == capture;
  }

  // Where text goes: the attribute being kept, or the element's text.
  std::string &sink(bool attribute) {
    return attribute ? attr : text;
  }

  // Makes the text appended to `to` since `from` what pugixml reads back
  // from libevtx's XML: CR LF and a lone CR become LF in content; CR, LF
  // and TAB become a space in an attribute (CR LF: one space).
  static void normalize(std::string &to, std::size_t from, bool attribute) {
    if (to.find_first_of(attribute ? "\r\n\t" : "\r", from)
        == std::string::npos)
      return;
    std::size_t w = from;
    for (std::size_t i = from; i < to.size(); ++i) {
      char ch = to[i];
      if (ch == '\r') {
        if (i + 1 < to.size() && to[i + 1] == '\n')
          ++i;
        to[w++] = attribute ? ' ' : '\n';
      } else if (attribute && (ch == '\n' || ch == '\t')) {
        to[w++] = ' ';
      } else {
        to[w++] = ch;
      }
    }
    to.resize(w);
  }

  bool grew(std::size_t n, std::size_t at) {
    text_bytes += n;
    return text_bytes <= max_text ? true
                                  : fail("binary XML text too large", at);
  }

  bool emit(std::string_view s, bool attribute, std::size_t at) {
    if (!wanted(attribute))
      return true;
    auto &to = sink(attribute);
    std::size_t from = to.size();
    to.append(s.data(), s.size());
    normalize(to, from, attribute);
    return grew(s.size(), at);
  }

  // n UTF-16 units at p, straight into the text being kept.
  bool emit_utf16(const unsigned char *p, std::size_t n, bool attribute,
                  std::size_t at) {
    if (!wanted(attribute))
      return true;
    auto &to = sink(attribute);
    std::size_t from = to.size();
    replaced += utf16_to_utf8(p, n, to);
    normalize(to, from, attribute);
    return grew(to.size() - from, at);
  }

  bool wanted(bool attribute) const {
    return attribute ? attr_keep != 0 : keeping_text();
  }

  // Renders a substitution value as libevtx's XML does.
  bool render(const value_ref &v, bool attribute, std::size_t at) {
    if (!wanted(attribute))
      return true;
    const unsigned char *p = v.p;
    std::size_t n = v.size;
    char buf[96];
    // A fixed-size value in a larger slot (its type or size damaged: the
    // slots' sizes still place the values after it) is read from its first
    // bytes, as python-evtx reads it; a smaller one is refused.
    auto fixed = [&](std::size_t want) {
      return n >= want ? true : fail("substitution value of a bad size", at);
    };
    switch (v.type) {
    case 0x00: // null
      return true;
    case 0x01: // UTF-16 string
      return emit_utf16(p, n / 2, attribute, at);
    case 0x02: { // ANSI string (Latin-1 here), up to a NUL
      std::string s;
      for (std::size_t i = 0; i < n && p[i] != 0; ++i)
        put_utf8(p[i], s);
      return emit(s, attribute, at);
    }
    case 0x03:
      if (!fixed(1))
        return false;
      dec(buf, static_cast<std::int8_t>(p[0]));
      break;
    case 0x04:
      if (!fixed(1))
        return false;
      dec(buf, p[0]);
      break;
    case 0x05:
      if (!fixed(2))
        return false;
      dec(buf, static_cast<std::int16_t>(le16(p)));
      break;
    case 0x06:
      if (!fixed(2))
        return false;
      dec(buf, le16(p));
      break;
    case 0x07:
      if (!fixed(4))
        return false;
      dec(buf, static_cast<std::int32_t>(le32(p)));
      break;
    case 0x08:
      if (!fixed(4))
        return false;
      dec(buf, le32(p));
      break;
    case 0x09:
      if (!fixed(8))
        return false;
      dec(buf, static_cast<std::int64_t>(le64(p)));
      break;
    case 0x0a:
      if (!fixed(8))
        return false;
      dec(buf, le64(p));
      break;
    case 0x0d: // boolean
      if (!fixed(4))
        return false;
      std::strcpy(buf, le32(p) != 0 ? "true" : "false");
      break;
    case 0x0e: { // binary: hex digits
      std::string s;
      static const char hex[] = "0123456789ABCDEF";
      for (std::size_t i = 0; i < n; ++i) {
        s += hex[p[i] >> 4];
        s += hex[p[i] & 15];
      }
      return emit(s, attribute, at);
    }
    case 0x0f: // GUID
      if (!fixed(16))
        return false;
      { // {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}, upper case as libevtx
        char *o = buf;
        *o++ = '{';
        o = hex(o, le32(p), 8, true);
        *o++ = '-';
        o = hex(o, le16(p + 4), 4, true);
        *o++ = '-';
        o = hex(o, le16(p + 6), 4, true);
        *o++ = '-';
        for (int i = 8; i < 16; ++i) {
          if (i == 10)
            *o++ = '-';
          o = hex(o, p[i], 2, true);
        }
        *o++ = '}';
        *o = '\0';
        break;
      }
    case 0x10: // size_t: hex, as wide as it is
      if (n == 4)
        hex_value(buf, le32(p), 8);
      else if (n == 8)
        hex_value(buf, le64(p), 16);
      else
        return fail("substitution value of a bad size", at);
      break;
    case 0x11: { // FILETIME
      if (!fixed(8))
        return false;
      filetime(le64(p), buf, sizeof buf);
      break;
    }
    case 0x12: { // SYSTEMTIME
      if (!fixed(16))
        return false;
      std::snprintf(buf, sizeof buf,
                    "%04u-%02u-%02uT%02u:%02u:%02u.%03u000000Z", le16(p),
                    le16(p + 2), le16(p + 6), le16(p + 8), le16(p + 10),
                    le16(p + 12), le16(p + 14));
      break;
    }
    case 0x13: { // SID
      if (n < 8 || n != 8 + 4 * std::size_t{p[1]})
        return fail("substitution value of a bad size", at);
      std::uint64_t auth = 0;
      for (int i = 2; i < 8; ++i)
        auth = auth << 8 | p[i];
      std::string s = "S-" + std::to_string(p[0]) + "-" + std::to_string(auth);
      for (std::size_t i = 0; i < p[1]; ++i)
        s += "-" + std::to_string(le32(p + 8 + 4 * i));
      return emit(s, attribute, at);
    }
    case 0x14:
      if (!fixed(4))
        return false;
      hex_value(buf, le32(p), 8);
      break;
    case 0x15:
      if (!fixed(8))
        return false;
      hex_value(buf, le64(p), 16);
      break;
    default:
      return fail("unsupported substitution value type", at);
    }
    return emit(buf, attribute, at);
  }

  static void filetime(std::uint64_t ft, char *buf, std::size_t size) {
    // 100 ns ticks since 1601-01-01.
    std::uint64_t ticks = ft % 10000000, secs = ft / 10000000;
    std::int64_t days = static_cast<std::int64_t>(secs / 86400);
    std::uint64_t rem = secs % 86400;
    // Days to a civil date, proleptic Gregorian (H. Hinnant's algorithm).
    // days since 1601-01-01 -> since 0000-03-01 (1970's 719468 - 134774).
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
    // YYYY-MM-DDTHH:MM:SS.fffffff00Z (30 bytes and NUL); a FILETIME's year
    // is 1601..60056: five digits past 9999, as "%04lld" would print.
    char *o = buf;
    int ydigits = y > 9999 ? 5 : 4;
    if (size < static_cast<std::size_t>(27 + ydigits)) {
      buf[0] = '\0';
      return;
    }
    o = dec_fixed(o, static_cast<std::uint64_t>(y), ydigits);
    *o++ = '-';
    o = dec_fixed(o, static_cast<std::uint64_t>(m), 2);
    *o++ = '-';
    o = dec_fixed(o, static_cast<std::uint64_t>(d), 2);
    *o++ = 'T';
    o = dec_fixed(o, rem / 3600, 2);
    *o++ = ':';
    o = dec_fixed(o, rem / 60 % 60, 2);
    *o++ = ':';
    o = dec_fixed(o, rem % 60, 2);
    *o++ = '.';
    o = dec_fixed(o, ticks, 7);
    std::memcpy(o, "00Z", 4);
  }

  static std::int64_t parse_event_id(const std::string &text) {
    const char *t = text.c_str();
    char *e = nullptr;
    long long v = std::strtoll(t, &e, 10);
    return (e != t && *e == '\0') ? v : -1;
  }

  // Whether this event's EventData is kept (System, with its EventID,
  // comes first in every event).
  bool fields_wanted() const {
    if (fields_for.empty())
      return true;
    auto id = parse_event_id(event_id_text);
    for (auto w : fields_for)
      if (w == id)
        return true;
    return false;
  }

  tag classify(const unsigned char *p, std::size_t n) const {
    tag parent = stack[depth];
    switch (parent) {
    case tag::none:
      return !seen_event && name_is(p, n, "Event") ? tag::event : tag::other;
    case tag::event:
      if (!seen_system && name_is(p, n, "System"))
        return tag::system;
      if (!seen_event_data && name_is(p, n, "EventData"))
        return fields_wanted() ? tag::event_data : tag::other;
      return tag::other;
    case tag::system:
      if (!seen_provider && name_is(p, n, "Provider"))
        return tag::provider;
      if (!seen_event_id && name_is(p, n, "EventID"))
        return tag::event_id;
      if (!seen_computer && name_is(p, n, "Computer"))
        return tag::computer;
      if (!seen_time && name_is(p, n, "TimeCreated"))
        return tag::time_created;
      if (!seen_record_id && name_is(p, n, "EventRecordID"))
        return tag::record_id;
      return tag::other;
    case tag::event_data:
      return name_is(p, n, "Data") ? tag::data : tag::other;
    default:
      return tag::other;
    }
  }

  void opened(tag t) {
    switch (t) {
    case tag::event:
      seen_event = true;
      break;
    case tag::system:
      seen_system = true;
      break;
    case tag::provider:
      seen_provider = true;
      break;
    case tag::event_id:
    case tag::computer:
    case tag::record_id:
      if (t == tag::event_id)
        seen_event_id = true;
      else if (t == tag::computer)
        seen_computer = true;
      else
        seen_record_id = true;
      capture = t;
      capture_closed = false;
      text.clear();
      break;
    case tag::time_created:
      seen_time = true;
      break;
    case tag::event_data:
      seen_event_data = true;
      break;
    case tag::data:
      capture = t;
      capture_closed = false;
      text.clear();
      data_name.clear();
      data_named = false;
      raw_pending = {};
      raw_seen = false;
      break;
    default:
      break;
    }
  }

  void closed(tag t) {
    switch (t) {
    case tag::event_id:
      event_id_text = text;
      break;
    case tag::computer:
      ev.computer = text;
      break;
    case tag::record_id:
      record_id_text = text;
      break;
    case tag::data: {
      if (nfields == ev.fields.size())
        ev.fields.emplace_back();
      auto &f = ev.fields[nfields++];
      if (data_named)
        f.first = data_name;
      else
        f.first = "Data" + std::to_string(unnamed++);
      f.second = text;
      if (keep_raw) {
        sc.raw.resize(nfields);
        sc.raw[nfields - 1] = raw_pending;
      }
      break;
    }
    default:
      return;
    }
    capture = tag::none;
  }

  // Attribute values and element content: value text, substitutions,
  // character and entity references. Returns false on a token it does not
  // know; `pos` is left at the first token that is not one of them.
  bool char_data(std::size_t &pos, std::size_t end, const values *vals,
                 bool attribute, int tdepth) {
    while (pos < end) {
      unsigned char tok = c[pos];
      switch (token_kind(tok)) {
      case t_value: {
        if (!counting(pos) || !need(pos, 4, end))
          return fail("value cut off", pos);
        std::uint8_t type = c[pos + 1];
        if (type != 0x01)
          return fail("value text of a type other than string", pos);
        std::size_t n = le16(c + pos + 2);
        if (!need(pos + 4, 2 * n, end))
          return fail("value text cut off", pos);
        if (!emit_utf16(c + pos + 4, n, attribute, pos))
          return false;
        pos += 4 + 2 * n;
        break;
      }
      case t_subst:
      case t_opt_subst: {
        if (!counting(pos) || !need(pos, 4, end))
          return fail("substitution cut off", pos);
        std::uint16_t id = le16(c + pos + 1);
        std::size_t at = pos;
        pos += 4;
        if (vals == nullptr)
          return fail("substitution outside a template", at);
        if (id >= vals->n) {
          if (keep_raw && !attribute && !raw_seen && keeping_text()
              && capture == tag::data) {
            raw_seen = true;
            raw_pending = {0, c[at + 3], nullptr, 0};
          }
          break; // libevtx renders a missing value as nothing
        }
        const value_ref &v = vals->v[id];
        if (keep_raw && !attribute && !raw_seen && keeping_text()
            && capture == tag::data) {
          raw_seen = true;
          raw_pending = {v.type, c[at + 3], v.p, v.size};
        }
        if (v.type == 0x21) { // BinXml: a fragment in place
          if (attribute)
            break;
          std::size_t p = static_cast<std::size_t>(v.p - c);
          if (!fragment(p, p + v.size, tdepth + 1))
            return false;
        } else if (!render(v, attribute, at)) {
          return false;
        }
        break;
      }
      case t_charref: {
        if (!counting(pos) || !need(pos, 3, end))
          return fail("character reference cut off", pos);
        std::uint16_t cp = le16(c + pos + 1);
        pos += 3;
        std::string s;
        if (cp >= 0xd800 && cp <= 0xdfff) {
          s = "\xEF\xBF\xBD";
          ++replaced;
        } else {
          put_utf8(cp, s);
        }
        if (!emit(s, attribute, pos))
          return false;
        break;
      }
      case t_entityref: {
        if (!counting(pos))
          return false;
        std::size_t at = pos;
        ++pos;
        const unsigned char *p = nullptr;
        std::size_t n = 0;
        if (!name_ref(pos, end, p, n))
          return false;
        const char *s = name_is(p, n, "amp")    ? "&"
                        : name_is(p, n, "lt")   ? "<"
                        : name_is(p, n, "gt")   ? ">"
                        : name_is(p, n, "quot") ? "\""
                        : name_is(p, n, "apos") ? "'"
                                                : nullptr;
        if (s == nullptr)
          return fail("unknown entity reference", at);
        if (!emit(s, attribute, at))
          return false;
        break;
      }
      case t_cdata: {
        if (attribute)
          return true;
        if (!counting(pos) || !need(pos, 3, end))
          return fail("CDATA cut off", pos);
        std::size_t n = le16(c + pos + 1);
        if (!need(pos + 3, 2 * n, end))
          return fail("CDATA cut off", pos);
        if (!emit_utf16(c + pos + 3, n, false, pos))
          return false;
        pos += 3 + 2 * n;
        break;
      }
      default:
        return true;
      }
    }
    return true;
  }

  // An element at pos (an open-start-element token), with its attributes
  // and content, up to and including its end.
  bool element(std::size_t &pos, std::size_t end, const values *vals,
               int tdepth) {
    if (!counting(pos))
      return false;
    if (depth >= max_element_depth)
      return fail("elements nested too deep", pos);
    std::size_t at = pos;
    bool has_attrs = (c[pos] & 0x40) != 0;
    // token, dependency identifier (u16), data size (u32), name.
    if (!need(pos, 7, end))
      return fail("element cut off", pos);
    pos += 7;
    const unsigned char *np = nullptr;
    std::size_t nn = 0;
    if (!name_ref(pos, end, np, nn))
      return false;
    if (has_attrs) {
      if (!need(pos, 4, end))
        return fail("element cut off", at);
      pos += 4;
    }
    if (keeping_text())
      capture_closed = true; // pugixml keeps only the text before it
    tag t = classify(np, nn);
    stack[++depth] = t;
    opened(t);
    while (has_attrs && pos < end && token_kind(c[pos]) == t_attribute) {
      if (!counting(pos))
        return false;
      ++pos;
      const unsigned char *ap = nullptr;
      std::size_t an = 0;
      if (!name_ref(pos, end, ap, an))
        return false;
      attr_keep = (t == tag::provider && name_is(ap, an, "Name")) ? 1
                  : (t == tag::time_created && name_is(ap, an, "SystemTime"))
                      ? 2
                  : (t == tag::data && name_is(ap, an, "Name")) ? 3
                                                                : 0;
      attr.clear();
      if (!char_data(pos, end, vals, true, tdepth))
        return false;
      if (attr_keep == 1)
        ev.provider = attr;
      else if (attr_keep == 2)
        ev.time_created = attr;
      else if (attr_keep == 3) {
        data_name = attr;
        data_named = true;
      }
      attr_keep = 0;
    }
    if (pos >= end)
      return fail("element cut off", at);
    unsigned char tok = c[pos++];
    if (token_kind(tok) == t_close_empty) {
      closed(t);
      --depth;
      return true;
    }
    if (token_kind(tok) != t_close_start)
      return fail("unexpected token in an element's start", pos - 1);
    if (!content(pos, end, vals, tdepth, true))
      return false;
    closed(t);
    --depth;
    return true;
  }

  // Content up to an end-element token (inside an element) or to the end
  // of file token / the end of the range (a fragment).
  bool content(std::size_t &pos, std::size_t end, const values *vals,
               int tdepth, bool in_element) {
    while (pos < end) {
      unsigned char tok = c[pos];
      switch (token_kind(tok)) {
      case t_eof:
        if (in_element)
          return fail("end of fragment inside an element", pos);
        ++pos;
        return true;
      case t_end:
        if (!in_element)
          return fail("end of element outside one", pos);
        ++pos;
        return true;
      case t_fragment:
        if (!need(pos, 4, end))
          return fail("fragment header cut off", pos);
        pos += 4;
        break;
      case t_open:
        if (!element(pos, end, vals, tdepth))
          return false;
        break;
      case t_template:
        if (!template_instance(pos, end, tdepth))
          return false;
        break;
      case t_pi_target: {
        ++pos;
        const unsigned char *p = nullptr;
        std::size_t n = 0;
        if (!counting(pos) || !name_ref(pos, end, p, n))
          return false;
        break;
      }
      case t_pi_data: {
        if (!counting(pos) || !need(pos, 3, end))
          return fail("PI data cut off", pos);
        std::size_t n = le16(c + pos + 1);
        if (!need(pos + 3, 2 * n, end))
          return fail("PI data cut off", pos);
        pos += 3 + 2 * n;
        break;
      }
      case t_value:
      case t_subst:
      case t_opt_subst:
      case t_charref:
      case t_entityref:
      case t_cdata: {
        std::size_t before = pos;
        if (!char_data(pos, end, vals, false, tdepth))
          return false;
        if (pos == before)
          return fail("bad token", pos);
        break;
      }
      default:
        return fail("unknown binary XML token", pos);
      }
    }
    if (in_element)
      return fail("element not ended", pos);
    return true;
  }

  // A fragment held by a BinXml value.
  bool fragment(std::size_t pos, std::size_t end, int tdepth) {
    if (tdepth > max_template_depth)
      return fail("template instances nested too deep", pos);
    return content(pos, end, nullptr, tdepth, false);
  }

  // A template instance at pos: its definition (inline, or earlier in the
  // chunk) and its values, then the definition's body walked with them.
  bool template_instance(std::size_t &pos, std::size_t end, int tdepth) {
    if (!counting(pos))
      return false;
    if (tdepth >= max_template_depth)
      return fail("template instances nested too deep", pos);
    std::size_t at = pos;
    if (!need(pos, 10, end))
      return fail("template instance cut off", pos);
    std::uint32_t def = le32(c + pos + 6);
    pos += 10;
    std::size_t body, body_end;
    if (def == pos) { // defined here
      if (!need(pos, 24, end))
        return fail("template definition cut off", at);
      std::uint32_t dsize = le32(c + pos + 20);
      if (!need(pos + 24, dsize, end))
        return fail("template definition cut off", at);
      body = pos + 24;
      body_end = body + dsize;
      pos = body_end;
    } else {
      if (!need(def, 24, csize))
        return fail("template definition outside the chunk", at);
      std::uint32_t dsize = le32(c + def + 20);
      body = def + 24;
      // A size past the chunk is damage of that field alone when the body
      // still ends with its end-of-fragment token inside the chunk: walked
      // up to that token, as python-evtx reads it (the instance defining it
      // needed the size to find its values, and failed on it).
      body_end = need(body, dsize, csize) ? body + dsize : csize;
    }
    if (!need(pos, 4, end))
      return fail("template values cut off", at);
    std::uint32_t count = le32(c + pos);
    pos += 4;
    if (count > (end - pos) / 4)
      return fail("template value count larger than the record", at);
    auto &v = sc.vals[tdepth];
    v.resize(count);
    std::size_t data = pos + 4 * std::size_t{count};
    for (std::uint32_t i = 0; i < count; ++i) {
      std::uint16_t size = le16(c + pos + 4 * i);
      std::uint8_t type = c[pos + 4 * i + 2];
      if (!need(data, size, end))
        return fail("template value outside the record", at);
      v[i] = value_ref{c + data, size, type};
      data += size;
    }
    pos = data;
    values vals{v.data(), v.size()};
    std::size_t b = body;
    return content(b, body_end, &vals, tdepth + 1, false);
  }
};

} // namespace

std::size_t utf16_to_utf8(const unsigned char *p, std::size_t n,
                          std::string &out) {
  std::size_t bad = 0;
  // ASCII, the common case, a run at a time.
  std::size_t i = 0;
  while (i < n && p[2 * i + 1] == 0 && p[2 * i] != 0 && p[2 * i] < 0x80)
    ++i;
  std::size_t from = out.size();
  out.resize(from + i);
  for (std::size_t k = 0; k < i; ++k)
    out[from + k] = static_cast<char>(p[2 * k]);
  for (; i < n; ++i) {
    std::uint32_t u = le16(p + 2 * i);
    if (u == 0)
      break;
    if (u < 0x80) {
      out += static_cast<char>(u);
      continue;
    }
    if (u >= 0xd800 && u <= 0xdbff && i + 1 < n) {
      std::uint32_t lo = le16(p + 2 * i + 2);
      if (lo >= 0xdc00 && lo <= 0xdfff) {
        put_utf8(0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00), out);
        ++i;
        continue;
      }
    }
    if (u >= 0xd800 && u <= 0xdfff) {
      out += "\xEF\xBF\xBD";
      ++bad;
      continue;
    }
    put_utf8(u, out);
  }
  return bad;
}

void chunk_decoder::reset(const unsigned char *chunk, std::size_t size) {
  c_ = chunk;
  size_ = size < chunk_size ? size : chunk_size;
}

bool chunk_decoder::record_at(std::size_t off, std::uint32_t &size) const {
  if (off < chunk_header_size || off + record_header_size + 4 > size_)
    return false;
  if (std::memcmp(c_ + off, "**\0\0", 4) != 0)
    return false;
  size = le32(c_ + off + 4);
  if (size < record_header_size + 4 || size > size_ - off)
    return false;
  return le32(c_ + off + size - 4) == size;
}

bool chunk_decoder::damaged_record_at(std::size_t off, std::size_t records_end,
                                      std::uint32_t &size,
                                      std::string &damage) const {
  damage.clear();
  if (off < chunk_header_size || off + record_header_size + 4 > size_)
    return false;
  size = le32(c_ + off + 4);
  if (size < record_header_size + 4 || size > size_ - off)
    return false;
  std::size_t after = off + size;
  bool signature = std::memcmp(c_ + off, "**\0\0", 4) == 0;
  bool copy = le32(c_ + after - 4) == size;
  bool next = after == records_end
              || (after + 4 <= size_
                  && (std::memcmp(c_ + after, "**\0\0", 4) == 0
                      || std::memcmp(c_ + after, "\0\0\0\0", 4) == 0));
  if (signature + copy + next < 2)
    return false;
  if (!signature)
    damage = "damaged record signature";
  else if (!copy)
    damage = "damaged copy of the record's size at its end";
  else if (!next)
    damage = "no record or end of records after it";
  return true;
}

std::uint64_t chunk_decoder::record_id(std::size_t off) const {
  return le64(c_ + off + 8);
}

const std::vector<chunk_decoder::raw_value> &chunk_decoder::raw_values() const {
  return s_->raw;
}

chunk_decoder::chunk_decoder() : s_(std::make_unique<scratch>()) {}

chunk_decoder::~chunk_decoder() = default;

bool chunk_decoder::decode(std::size_t off, std::uint32_t size,
                           sysmon_event &ev, std::string &why,
                           std::uint64_t *invalid_text) {
  ev.provider.clear();
  ev.event_id = -1;
  ev.computer.clear();
  ev.record_number = 0;
  ev.time_created.clear();
  auto &sc = *s_;
  sc.text.clear();
  sc.attr.clear();
  sc.event_id_text.clear();
  sc.record_id_text.clear();
  sc.raw.clear();
  walker w(c_, size_, ev, sc, fields_for_, keep_raw_);
  std::size_t pos = off + record_header_size;
  std::size_t end = off + size - 4;
  bool ok = w.content(pos, end, nullptr, 0, false);
  ev.fields.resize(w.nfields);
  if (keep_raw_)
    sc.raw.resize(w.nfields);
  if (!ok) {
    why = "bad binary XML: " + w.err;
    return false;
  }
  if (!w.seen_event) {
    why = "no <Event> element";
    return false;
  }
  ev.event_id = walker::parse_event_id(w.event_id_text);
  ev.record_number = std::strtoull(w.record_id_text.c_str(), nullptr, 10);
  if (invalid_text != nullptr)
    *invalid_text += w.replaced;
  return true;
}

} // namespace proctrack::evtx
