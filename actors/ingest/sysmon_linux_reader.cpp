#include "actors/ingest/sysmon_linux_reader.hpp"

#include "actors/common/json_scan.hpp"
#include "actors/common/text.hpp"
#include "actors/ingest/evtx_reader.hpp" // parse_event_xml

#include <algorithm>
#include <cstring>

namespace proctrack {

const char *to_string(sysmon_linux_reader::form f) {
  switch (f) {
  case sysmon_linux_reader::form::syslog:
    return "syslog";
  case sysmon_linux_reader::form::journal_json:
    return "journal JSON (journalctl -o json)";
  case sysmon_linux_reader::form::journal_export:
    return "journal export (journalctl -o export)";
  }
  return "syslog";
}

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool digits(std::string_view s, std::size_t &i, std::size_t n) {
  for (std::size_t k = 0; k < n; ++k, ++i)
    if (i >= s.size() || !is_digit(s[i]))
      return false;
  return true;
}

bool expect(std::string_view s, std::size_t &i, char c) {
  if (i >= s.size() || s[i] != c)
    return false;
  ++i;
  return true;
}

void fraction(std::string_view s, std::size_t &i) {
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i]))
      ++i;
  }
}

// "2022-11-24T09:59:48[.015060][Z|+00:00|+0000]" (RFC 3339, rsyslog's
// high-precision format, journalctl short-iso).
bool iso_time(std::string_view s, std::size_t &i) {
  if (!digits(s, i, 4) || !expect(s, i, '-') || !digits(s, i, 2)
      || !expect(s, i, '-') || !digits(s, i, 2) || !expect(s, i, 'T')
      || !digits(s, i, 2) || !expect(s, i, ':') || !digits(s, i, 2)
      || !expect(s, i, ':') || !digits(s, i, 2))
    return false;
  fraction(s, i);
  if (i < s.size() && s[i] == 'Z') {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    ++i;
    if (!digits(s, i, 2))
      return false;
    if (i < s.size() && s[i] == ':')
      ++i;
    if (!digits(s, i, 2))
      return false;
  }
  return true;
}

// "Nov 24 09:59:48" / "Nov  4 09:59:48[.015060]" (RFC 3164, rsyslog's
// traditional format, journalctl short / short-precise).
bool bsd_time(std::string_view s, std::size_t &i) {
  static constexpr std::string_view months[] = {"Jan", "Feb", "Mar", "Apr",
                                                "May", "Jun", "Jul", "Aug",
                                                "Sep", "Oct", "Nov", "Dec"};
  if (s.size() < i + 3
      || std::find(std::begin(months), std::end(months), s.substr(i, 3))
             == std::end(months))
    return false;
  i += 3;
  if (!expect(s, i, ' '))
    return false;
  if (i < s.size() && s[i] == ' ')
    ++i; // a one-digit day is padded with a space
  if (i >= s.size() || !is_digit(s[i]))
    return false;
  ++i;
  if (i < s.size() && is_digit(s[i]))
    ++i;
  if (!expect(s, i, ' ') || !digits(s, i, 2) || !expect(s, i, ':')
      || !digits(s, i, 2) || !expect(s, i, ':') || !digits(s, i, 2))
    return false;
  fraction(s, i);
  return true;
}

// A header token: printable, no space.
std::string_view token(std::string_view s, std::size_t &i) {
  auto start = i;
  while (i < s.size() && s[i] > ' ' && s[i] != 0x7f)
    ++i;
  return s.substr(start, i - start);
}

// RFC 5424 after "<PRI>1 ": TIMESTAMP HOSTNAME APP-NAME PROCID MSGID
// STRUCTURED-DATA [MSG]; "-" is a nil value.
bool split_5424(std::string_view s, std::size_t i, syslog_line &out) {
  if (!(s.substr(i, 2) == "- " ? (++i, true) : iso_time(s, i)))
    return false;
  if (!expect(s, i, ' '))
    return false;
  auto host = token(s, i);
  if (host.empty() || !expect(s, i, ' '))
    return false;
  auto app = token(s, i);
  if (app.empty() || !expect(s, i, ' '))
    return false;
  if (token(s, i).empty() || !expect(s, i, ' ')) // PROCID
    return false;
  if (token(s, i).empty() || !expect(s, i, ' ')) // MSGID
    return false;
  if (i < s.size() && s[i] == '-') {
    ++i;
  } else {
    // One or more [SD-ID PARAM="VALUE" ...]; a value escapes ", \ and ].
    if (i >= s.size() || s[i] != '[')
      return false;
    while (i < s.size() && s[i] == '[') {
      bool quoted = false;
      for (++i; i < s.size(); ++i) {
        if (quoted && s[i] == '\\') {
          ++i;
          continue;
        }
        if (s[i] == '"')
          quoted = !quoted;
        else if (!quoted && s[i] == ']')
          break;
      }
      if (i >= s.size())
        return false;
      ++i;
    }
  }
  if (i < s.size() && !expect(s, i, ' '))
    return false;
  auto text = s.substr(std::min(i, s.size()));
  if (text.substr(0, 3) == "\xEF\xBB\xBF")
    text.remove_prefix(3);
  out.host = host == "-" ? std::string_view{} : host;
  out.tag = app == "-" ? std::string_view{} : app;
  out.text = text;
  return true;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

// The EventID of an event's XML without parsing it; -1 when not found.
std::int64_t quick_event_id(std::string_view xml) {
  auto p = xml.find("<EventID>");
  if (p == std::string_view::npos || p > 4096)
    return -1;
  std::size_t i = p + 9;
  std::int64_t v = 0;
  std::size_t n = 0;
  while (i < xml.size() && is_digit(xml[i]) && n < 12) {
    v = v * 10 + (xml[i] - '0');
    ++i, ++n;
  }
  return n > 0 && i < xml.size() && xml[i] == '<' ? v : -1;
}

// The message of sysmon's that holds an event: its text from "<Event".
bool event_text(std::string_view text, std::string_view &xml) {
  auto t = trim(text);
  if (!starts_with(t, "<Event"))
    return false;
  xml = t;
  return true;
}

// sysmonLogView's own rule, for a line whose header has no form we know:
// " sysmon" then ':' or '[' then, later, "<Event".
bool fallback_sysmon(std::string_view line, std::string_view &xml) {
  for (auto p = line.find(" sysmon"); p != std::string_view::npos;
       p = line.find(" sysmon", p + 1)) {
    auto after = p + 7;
    if (after >= line.size() || (line[after] != ':' && line[after] != '['))
      continue;
    auto e = line.find("<Event", after);
    if (e == std::string_view::npos)
      return false;
    xml = trim(line.substr(e));
    return true;
  }
  return false;
}

std::string printable(std::string_view s, std::size_t max) {
  std::string out;
  for (char c : s.substr(0, max))
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > max)
    out += "...";
  return out;
}

} // namespace

bool split_syslog_line(std::string_view s, syslog_line &out) {
  std::size_t i = 0;
  bool pri = false;
  if (!s.empty() && s[0] == '<') {
    i = 1;
    std::size_t n = 0;
    while (i < s.size() && is_digit(s[i]) && n < 3)
      ++i, ++n;
    if (n == 0 || !expect(s, i, '>'))
      return false;
    pri = true;
  }
  if (pri && s.substr(i, 2) == "1 ")
    return split_5424(s, i + 2, out);
  if (!(is_digit(s.size() > i ? s[i] : 'x') ? iso_time(s, i) : bsd_time(s, i)))
    return false;
  if (!expect(s, i, ' '))
    return false;
  auto host = token(s, i);
  if (host.empty() || !expect(s, i, ' '))
    return false;
  // TAG: up to '[' (then PID ']') or ':'.
  auto start = i;
  while (i < s.size() && s[i] > ' ' && s[i] != ':' && s[i] != '['
         && s[i] != 0x7f)
    ++i;
  auto tag = s.substr(start, i - start);
  if (tag.empty() || tag.size() > 64)
    return false;
  if (i < s.size() && s[i] == '[') {
    auto close = s.find(']', i);
    if (close == std::string_view::npos || close - i > 24)
      return false;
    i = close + 1;
  }
  if (!expect(s, i, ':'))
    return false;
  if (i < s.size() && s[i] == ' ')
    ++i;
  out.host = host;
  out.tag = tag;
  out.text = s.substr(i);
  return true;
}

bool parse_journal_json(std::string_view line, std::string &message,
                        std::string &ident, std::string &comm, std::string &uid,
                        std::string &host) {
  message.clear(), ident.clear(), comm.clear(), uid.clear(), host.clear();
  json_scan::scanner sc{line};
  bool first = true;
  if (sc.peek() != '{' || !sc.begin_object(first))
    return false;
  bool has_message = false;
  std::string_view raw_key;
  bool esc = false;
  std::string key, buf;
  while (sc.next_key(first, raw_key, esc)) {
    if (esc)
      json_scan::unescape("\"" + std::string{raw_key} + "\"", key);
    else
      key.assign(raw_key);
    std::string *into = key == "MESSAGE"             ? &message
                        : key == "SYSLOG_IDENTIFIER" ? &ident
                        : key == "_COMM"             ? &comm
                        : key == "_UID"              ? &uid
                        : key == "_HOSTNAME"         ? &host
                                                     : nullptr;
    if (into == nullptr || sc.peek() != '[') {
      json_scan::value v;
      if (!sc.scan(v))
        return false;
      if (into != nullptr && v.k == json_scan::kind::string)
        into->assign(json_scan::string_text(v, buf));
      else if (into != nullptr && v.k == json_scan::kind::number)
        into->assign(v.raw);
      has_message = has_message || into == &message;
      continue;
    }
    // An array: the bytes of a value that is not printable text
    // ([60,69,...]), or the values of a field given more than once (the
    // first is kept; a byte array among them is decoded).
    bool f = true;
    if (!sc.begin_array(f))
      return false;
    bool taken = false;
    while (sc.next_element(f)) {
      if (sc.peek() == '[' && !taken) {
        bool g = true;
        if (!sc.begin_array(g))
          return false;
        while (sc.next_element(g)) {
          json_scan::value b;
          if (!sc.scan(b) || b.k != json_scan::kind::number)
            return false;
          into->push_back(
              static_cast<char>(std::atoi(std::string(b.raw).c_str())));
        }
        if (!sc.ok())
          return false;
        taken = true;
        continue;
      }
      json_scan::value v;
      if (!sc.scan(v))
        return false;
      if (taken)
        continue;
      if (v.k == json_scan::kind::number) {
        auto n = std::atoi(std::string(v.raw).c_str());
        if (n < 0 || n > 255)
          return false;
        into->push_back(static_cast<char>(n));
      } else if (v.k == json_scan::kind::string) {
        into->assign(json_scan::string_text(v, buf));
        taken = true;
      }
    }
    if (!sc.ok())
      return false;
    has_message = has_message || into == &message;
  }
  return sc.ok() && sc.at_end() && has_message;
}

sysmon_linux_reader::sysmon_linux_reader(std::string path)
    : lines_(std::move(path)) {}

bool sysmon_linux_reader::open(std::string &error) {
  return lines_.open(error);
}

void sysmon_linux_reader::error(std::uint64_t line, std::string msg) {
  if (errors_.size() < 10000)
    errors_.push_back(lines_.path() + ":" + std::to_string(line) + ": "
                      + std::move(msg));
}

std::vector<std::string> sysmon_linux_reader::take_errors() {
  return std::exchange(errors_, {});
}

std::vector<std::string> sysmon_linux_reader::take_notes() {
  return std::exchange(notes_, {});
}

// False (and counted, and said for the first few) when a journal entry
// that names itself "sysmon" was sent by another program or user: journald
// sets _COMM and _UID from the sender's credentials.
bool sysmon_linux_reader::from_journal_fields(std::string_view ident,
                                              std::string_view comm,
                                              std::string_view uid,
                                              std::uint64_t line) {
  if ((comm.empty() || comm == "sysmon") && (uid.empty() || uid == "0"))
    return true;
  ++stats_.not_from_sysmon;
  if (stats_.not_from_sysmon <= 10)
    notes_.push_back(lines_.path() + ":" + std::to_string(line)
                     + ": journal entry with SYSLOG_IDENTIFIER="
                     + printable(ident, 32) + " sent by _COMM="
                     + printable(comm, 32) + " _UID=" + printable(uid, 16)
                     + ", not by Sysmon (root's sysmon): skipped");
  return false;
}

bool sysmon_linux_reader::next_export_entry(std::string &xml, std::string &host,
                                            std::uint64_t &line) {
  for (;;) {
    std::string message, ident, comm, uid;
    bool any = false, bad = false;
    host.clear();
    std::uint64_t start = 0;
    auto store = [&](std::string_view key, std::string_view value) {
      std::string *into = key == "MESSAGE"             ? &message
                          : key == "SYSLOG_IDENTIFIER" ? &ident
                          : key == "_COMM"             ? &comm
                          : key == "_UID"              ? &uid
                          : key == "_HOSTNAME"         ? &host
                                                       : nullptr;
      if (into != nullptr)
        into->assign(value);
    };
    for (;;) {
      std::string_view l;
      if (have_pending_) {
        l = pending_;
        have_pending_ = false;
      } else {
        auto st = lines_.next(l);
        if (st == line_reader::status::eof)
          break;
        ++stats_.lines;
        if (st == line_reader::status::too_long) {
          bad = true;
          error(lines_.line_number(), "journal export line longer than the "
                                      "16 MiB limit: its entry is skipped");
          continue;
        }
      }
      if (l.empty()) {
        if (any)
          break;
        continue;
      }
      if (!any) {
        any = true;
        start = lines_.line_number();
      }
      auto eq = l.find('=');
      if (eq != std::string_view::npos) {
        store(l.substr(0, eq), l.substr(eq + 1));
        continue;
      }
      // A binary field: KEY, then a 64-bit little-endian size, the bytes
      // and '\n'; the bytes may hold '\n', so lines are joined back.
      std::string key{l};
      std::string acc;
      bool joined = false;
      std::uint64_t size = 0;
      while (acc.size() < 8 || acc.size() < 8 + size) {
        std::string_view more;
        auto st = lines_.next(more);
        if (st == line_reader::status::eof)
          break;
        ++stats_.lines;
        if (st == line_reader::status::too_long)
          break;
        if (joined)
          acc += '\n';
        joined = true;
        acc.append(more);
        if (acc.size() >= 8 && size == 0) {
          for (int b = 7; b >= 0; --b)
            size = size << 8 | static_cast<unsigned char>(acc[b]);
          if (size > line_reader::default_max_line)
            break;
        }
      }
      if (acc.size() != 8 + size || size > line_reader::default_max_line) {
        bad = true;
        error(start, "journal export entry: binary field " + printable(key, 40)
                         + " is not as long as its size says ("
                         + std::to_string(size) + " bytes): entry skipped");
        // Resynchronise at the next blank line.
        std::string_view skip;
        while (lines_.next(skip) == line_reader::status::ok && !skip.empty())
          ++stats_.lines;
        break;
      }
      store(key, std::string_view{acc}.substr(8));
    }
    if (!any)
      return false;
    line = start;
    if (bad) {
      ++stats_.bad_lines;
      continue;
    }
    if (ident.empty() ? comm != "sysmon" : ident != "sysmon") {
      ++stats_.other_lines;
      continue;
    }
    if (!from_journal_fields(ident, comm, uid, start))
      continue;
    std::string_view text;
    if (!event_text(message, text)) {
      ++stats_.sysmon_text;
      continue;
    }
    xml.assign(text);
    return true;
  }
}

bool sysmon_linux_reader::next_message(std::string &xml, std::string &host,
                                       std::uint64_t &line) {
  for (;;) {
    if (form_known_ && form_ == form::journal_export)
      return next_export_entry(xml, host, line);
    std::string_view l;
    auto st = lines_.next(l);
    if (st == line_reader::status::eof)
      return false;
    ++stats_.lines;
    line = lines_.line_number();
    if (st == line_reader::status::too_long) {
      ++stats_.bad_lines;
      error(line, "line longer than the 16 MiB limit: skipped (a Sysmon event "
                  "in it is lost)");
      continue;
    }
    if (trim(l).empty())
      continue;
    if (!form_known_) {
      form_known_ = true;
      if (starts_with(l, "__CURSOR=")
          || starts_with(l, "__REALTIME_TIMESTAMP=")) {
        form_ = form::journal_export;
        pending_.assign(l);
        have_pending_ = true;
        return next_export_entry(xml, host, line);
      }
      form_ = trim(l).front() == '{' ? form::journal_json : form::syslog;
    }
    if (form_ == form::journal_json) {
      std::string message, ident, comm, uid;
      if (!parse_journal_json(l, message, ident, comm, uid, host)) {
        ++stats_.other_lines;
        ++stats_.unrecognised;
        continue;
      }
      if (ident.empty() ? comm != "sysmon" : ident != "sysmon") {
        ++stats_.other_lines;
        continue;
      }
      if (!from_journal_fields(ident, comm, uid, line))
        continue;
      std::string_view text;
      if (!event_text(message, text)) {
        ++stats_.sysmon_text;
        continue;
      }
      xml.assign(text);
      return true;
    }
    syslog_line parts;
    std::string_view text;
    if (split_syslog_line(l, parts)) {
      if (parts.tag != "sysmon") {
        ++stats_.other_lines;
        continue;
      }
      if (!event_text(parts.text, text)) {
        ++stats_.sysmon_text;
        continue;
      }
      host.assign(parts.host);
    } else if (fallback_sysmon(l, text)) {
      host.clear();
    } else if (starts_with(l, "-- ")) {
      continue; // journalctl's "-- Journal begins at ..", "-- Boot .."
    } else {
      ++stats_.other_lines;
      ++stats_.unrecognised;
      continue;
    }
    xml.assign(text);
    return true;
  }
}

bool sysmon_linux_reader::next(sysmon_event &ev) {
  std::string xml, host;
  std::uint64_t at = 0;
  while (!ended_ && next_message(xml, host, at)) {
    if (!wanted_.empty()) {
      auto id = quick_event_id(xml);
      if (id >= 0
          && std::find(wanted_.begin(), wanted_.end(), id) == wanted_.end()) {
        ++stats_.filtered;
        ++stats_.filtered_by_event_id[id];
        continue;
      }
    }
    if (!ends_with(xml, "</Event>")) {
      ++stats_.bad_lines;
      error(at, "Sysmon for Linux event cut short after "
                    + std::to_string(xml.size())
                    + " bytes (no closing </Event>: the syslog daemon's "
                      "message size limit?): skipped");
      continue;
    }
    std::string why;
    if (!parse_event_xml(xml.data(), xml.size(), ev, why,
                         &stats_.invalid_text)) {
      ++stats_.bad_lines;
      error(at, "Sysmon for Linux event: " + why + ": skipped");
      continue;
    }
    if (ev.computer.empty())
      ev.computer = host;
    if (ev.record_number == 0)
      ev.record_number = at;
    ++stats_.records;
    return true;
  }
  if (!ended_) {
    ended_ = true;
    if (!lines_.last_error().empty()) {
      ++stats_.read_errors;
      errors_.push_back(lines_.last_error());
    }
    note_at_end();
  }
  return false;
}

// A log that holds no Sysmon event at all replays to nothing: say what it
// held instead.
void sysmon_linux_reader::note_at_end() {
  if (stats_.records > 0 || stats_.filtered > 0 || stats_.bad_lines > 0
      || stats_.lines == 0)
    return;
  std::string what = lines_.path() + ": " + to_string(form_) + " of "
                     + std::to_string(stats_.lines)
                     + " lines: no Sysmon for Linux event (";
  std::string parts;
  auto add = [&](std::uint64_t n, const std::string &text) {
    if (n > 0)
      parts += (parts.empty() ? "" : ", ") + std::to_string(n) + " " + text;
  };
  add(stats_.other_lines - stats_.unrecognised,
      form_ == form::syslog ? "lines of other programs"
                            : "entries of other programs");
  add(stats_.unrecognised, form_ == form::syslog
                               ? "lines without a syslog header"
                               : "lines that are no journal entry");
  add(stats_.sysmon_text, "messages of sysmon's that hold no event");
  add(stats_.not_from_sysmon, "entries named sysmon that others sent");
  notes_.push_back(what + (parts.empty() ? "nothing else" : parts) + ")");
}

} // namespace proctrack
