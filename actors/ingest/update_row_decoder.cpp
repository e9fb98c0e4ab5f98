#include "actors/ingest/update_row_decoder.hpp"

#include "actors/cache/process_table.hpp"
#include "actors/common/json_scan.hpp"
#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

#include <cstdlib>

namespace proctrack {

namespace {

using json_scan::kind;
using json_scan::scanner;
using json_scan::value;

struct field_error {
  std::string message;
};

// A pid ("5"), a real id ("5-1609497000", also disambiguated "5-1609497000.1")
// or a GUID ("{...}").
bool valid_id(std::string_view s) {
  if (s.empty())
    return false;
  if (s.front() == '{')
    return s.back() == '}' && s.size() <= 64;
  auto dash = s.find('-');
  auto pid = s.substr(0, dash);
  if (pid.empty() || pid.size() > 19)
    return false;
  for (char c : pid)
    if (c < '0' || c > '9')
      return false;
  if (dash == std::string_view::npos)
    return true;
  for (std::size_t i = dash + 1; i < s.size(); ++i)
    if ((s[i] < '0' || s[i] > '9') && s[i] != '.')
      return false;
  return dash + 1 < s.size();
}

// An id as text: numbers (non-negative integers) and strings both work.
bool id_text(const value &v, std::string &out) {
  std::string buf;
  if (v.k == kind::number) {
    if (v.raw.empty() || v.raw.size() > 19)
      return false;
    for (char c : v.raw)
      if (c < '0' || c > '9')
        return false;
    out.assign(v.raw.data(), v.raw.size());
    return true;
  }
  if (v.k == kind::string) {
    auto t = json_scan::string_text(v, buf);
    if (!valid_id(t))
      return false;
    out.assign(t.data(), t.size());
    return true;
  }
  return false;
}

// For a start's `id` or a `parent_id`, a real id gives its pid.
void strip_to_pid(std::string &id) {
  if (id.empty() || id[0] == '{')
    return;
  auto pos = id.find('-');
  if (pos != std::string::npos)
    id.resize(pos);
}

timestamp time_of(const value &v, std::string_view key) {
  std::optional<timestamp> t;
  std::string buf;
  if (v.k == kind::string) {
    t = parse_time(json_scan::string_text(v, buf));
  } else if (v.k == kind::number && !v.raw.empty() && v.raw[0] != '-') {
    // Unix seconds, integer or fractional.
    std::string num{v.raw};
    char *end = nullptr;
    double d = std::strtod(num.c_str(), &end);
    if (end && *end == '\0' && d >= 0 && d < 1e11) {
      auto whole = static_cast<std::int64_t>(d);
      t = whole * ns_per_second
          + static_cast<timestamp>((d - static_cast<double>(whole))
                                   * ns_per_second);
    }
  } else if (v.k == kind::null) {
    return unknown_time;
  }
  if (!t)
    throw field_error{"\"" + std::string{key} + "\" is not a time: "
                      + std::string{v.raw.substr(0, 64)}};
  return *t;
}

std::string key_text(std::string_view raw_key, bool escaped) {
  if (!escaped)
    return std::string{raw_key};
  std::string out;
  std::string quoted = "\"" + std::string{raw_key} + "\"";
  json_scan::unescape(quoted, out);
  return out;
}

// The data object, read in place: every key with its raw JSON value, never
// re-serialised. The scanner validates each value as it goes.
void read_data(scanner &sc, process_record &p, const std::string &where) {
  if (sc.peek() != '{') {
    value v;
    if (!sc.scan(v))
      return;
    if (v.k != kind::null)
      throw field_error{where + ": \"data\" must be an object"};
    return;
  }
  bool first = true;
  sc.begin_object(first);
  std::string_view k;
  bool esc = false;
  std::string buf;
  while (sc.next_key(first, k, esc)) {
    value dv;
    if (!sc.scan(dv))
      return;
    if (k == "ProcessGuid" && dv.k == kind::string)
      p.guid = normalize_guid(json_scan::string_text(dv, buf));
    else if (k == "ParentProcessGuid" && dv.k == kind::string)
      p.parent_guid = normalize_guid(json_scan::string_text(dv, buf));
    p.data.push_back({key_text(k, esc), std::string{dv.raw}});
  }
}

// The keys of a row (or of one process of a sync), gathered in one pass.
struct row_fields {
  process_record rec;
  bool have_id = false;
  std::string id; ///< as given (pid, real id or GUID)
  value type, end_time, time;
  bool have_type = false, have_end = false, have_time = false;
  bool have_processes = false;
  std::vector<process_record> processes;
  std::string host; ///< the row's "host", when a string
};

void finish_record(row_fields &f, process_record &p) {
  p.pid = f.id;
  strip_to_pid(p.pid);
  strip_to_pid(p.ppid);
  // A pid given as a GUID links by GUID.
  if (!p.pid.empty() && p.pid.front() == '{') {
    p.guid = normalize_guid(p.pid);
    p.pid.clear();
  }
  if (!p.ppid.empty() && p.ppid.front() == '{') {
    p.parent_guid = normalize_guid(p.ppid);
    p.ppid.clear();
  }
}

void read_object(scanner &sc, row_fields &f, bool top,
                 const std::string &where);

// One process of a sync listing.
process_record read_listed(scanner &sc, const std::string &where) {
  if (sc.peek() != '{')
    throw field_error{where + " is not an object"};
  row_fields f;
  read_object(sc, f, false, where);
  if (!sc.ok())
    return {};
  if (!f.have_id)
    throw field_error{where + ": \"id\" must be a pid (number or string)"};
  finish_record(f, f.rec);
  return std::move(f.rec);
}

void read_object(scanner &sc, row_fields &f, bool top,
                 const std::string &where) {
  bool first = true;
  sc.begin_object(first);
  std::string_view k;
  bool esc = false;
  while (sc.ok() && sc.next_key(first, k, esc)) {
    if (k == "data") {
      read_data(sc, f.rec, where);
      continue;
    }
    if (top && k == "processes" && sc.peek() == '[') {
      f.have_processes = true;
      bool efirst = true;
      sc.begin_array(efirst);
      std::size_t i = 0;
      while (sc.ok() && sc.next_element(efirst))
        f.processes.push_back(read_listed(sc, "sync row: processes["
                                                  + std::to_string(i++) + "]"));
      continue;
    }
    value v;
    if (!sc.scan(v))
      return;
    if (k == "id") {
      if (!id_text(v, f.id))
        throw field_error{where + ": \"id\" must be a pid (number or string)"};
      f.have_id = true;
    } else if (k == "parent_id") {
      if (v.k != kind::null && !id_text(v, f.rec.ppid))
        throw field_error{where
                          + ": \"parent_id\" must be a pid (number or string)"};
    } else if (k == "start_time") {
      f.rec.start_time = time_of(v, "start_time");
    } else if (top && k == "update_type") {
      f.type = v, f.have_type = true;
    } else if (top && k == "end_time") {
      f.end_time = v, f.have_end = true;
    } else if (top && k == "time") {
      f.time = v, f.have_time = true;
    } else if (top && k == "host" && v.k == kind::string) {
      std::string buf;
      f.host = std::string{json_scan::string_text(v, buf)};
    } else if (top && k == "processes") {
      throw field_error{"sync row: \"processes\" must be an array"};
    }
  }
}

} // namespace

namespace {

row_result decode_valid_text(std::string_view line, process_update &out,
                             std::string &error);

} // namespace

row_result decode_update_row(std::string_view line, process_update &out,
                             std::string &error, std::int64_t *invalid_text) {
  // Bad text costs the text, not the row (docs/sources.md): repaired before
  // the strict scanner sees it, so data values stay valid JSON text.
  std::string repaired;
  auto replaced = repair_json_text(line, repaired);
  if (replaced > 0)
    line = repaired;
  auto r = decode_valid_text(line, out, error);
  if (invalid_text != nullptr && r != row_result::error)
    *invalid_text += static_cast<std::int64_t>(replaced);
  return r;
}

namespace {

row_result decode_valid_text(std::string_view line, process_update &out,
                             std::string &error) {
  scanner sc{line};
  if (!sc.skip_ws())
    return row_result::skip;
  if (sc.peek() != '{') {
    value v;
    error = sc.scan(v) && sc.at_end() ? "not a JSON object"
                                      : "not valid JSON (" + sc.error() + ")";
    return row_result::error;
  }
  // One pass: fields are checked as they are met, but a row is used only
  // when the whole line is valid JSON, and a torn line is reported as torn
  // even when a field before the tear was wrong.
  row_fields f;
  try {
    read_object(sc, f, true, "row");
  } catch (const field_error &e) {
    scanner whole{line};
    value rest;
    if (!whole.scan(rest) || !whole.at_end()) {
      error =
          "not valid JSON ("
          + (whole.ok() ? std::string{"text after the value"} : whole.error())
          + ")";
      return row_result::error;
    }
    error = e.message;
    return row_result::error;
  }
  if (!sc.ok() || !sc.at_end()) {
    error = "not valid JSON ("
            + (sc.ok() ? std::string{"text after the value"} : sc.error())
            + ")";
    return row_result::error;
  }
  try {
    if (!f.have_type || f.type.k != kind::string)
      throw field_error{"missing \"update_type\""};
    std::string tbuf;
    auto t = json_scan::string_text(f.type, tbuf);
    out = process_update{};
    if (t == "start") {
      if (!f.have_id)
        throw field_error{"start row: \"id\" must be a pid (number or string)"};
      out.kind = update_kind::start;
      finish_record(f, f.rec);
      out.process = std::move(f.rec);
    } else if (t == "exit") {
      out.kind = update_kind::exit;
      if (!f.have_id)
        throw field_error{"exit row: \"id\" must be a pid, real id or GUID"};
      out.target = std::move(f.id);
      if (!f.have_end || f.end_time.k == kind::null)
        throw field_error{"missing \"end_time\""};
      out.time = time_of(f.end_time, "end_time");
    } else if (t == "sync") {
      out.kind = update_kind::sync;
      if (!f.have_time || f.time.k == kind::null)
        throw field_error{"missing \"time\""};
      out.time = time_of(f.time, "time");
      if (!f.have_processes)
        throw field_error{"sync row: \"processes\" must be an array"};
      out.processes = std::move(f.processes);
    } else if (t == "stats") {
      return row_result::skip; // our own output stream replayed
    } else {
      throw field_error{"unknown update_type \"" + std::string{t} + "\""};
    }
  } catch (const field_error &e) {
    error = e.message;
    return row_result::error;
  }
  out.host = std::move(f.host);
  return row_result::update;
}

} // namespace

} // namespace proctrack
