#include "actors/ingest/update_row_decoder.hpp"

#include "actors/cache/process_table.hpp"
#include "actors/common/time.hpp"
#include "actors/ingest/json_scan.hpp"

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

// The data object: every key with its raw JSON value, never re-serialised.
void read_data(const value &v, process_record &p, const std::string &where) {
  if (v.k == kind::null)
    return;
  if (v.k != kind::object)
    throw field_error{where + ": \"data\" must be an object"};
  scanner ds{v.raw};
  ds.begin_object();
  std::string_view k;
  bool esc = false;
  std::string buf;
  while (ds.next_key(k, esc)) {
    value dv;
    ds.scan(dv);
    if (k == "ProcessGuid" && dv.k == kind::string)
      p.guid = normalize_guid(json_scan::string_text(dv, buf));
    else if (k == "ParentProcessGuid" && dv.k == kind::string)
      p.parent_guid = normalize_guid(json_scan::string_text(dv, buf));
    p.data.push_back({key_text(k, esc), std::string{dv.raw}});
  }
}

// One process of a start row or a sync listing, from a scanned object.
process_record record_of(const value &obj, const std::string &where) {
  if (obj.k != kind::object)
    throw field_error{where + " is not an object"};
  process_record p;
  scanner sc{obj.raw};
  sc.begin_object();
  std::string_view k;
  bool esc = false;
  bool have_id = false;
  value data;
  while (sc.next_key(k, esc)) {
    value v;
    sc.scan(v);
    if (k == "id") {
      if (!id_text(v, p.pid))
        throw field_error{where + ": \"id\" must be a pid (number or string)"};
      have_id = true;
    } else if (k == "parent_id") {
      if (v.k != kind::null && !id_text(v, p.ppid))
        throw field_error{where
                          + ": \"parent_id\" must be a pid (number or string)"};
    } else if (k == "start_time") {
      p.start_time = time_of(v, "start_time");
    } else if (k == "data") {
      data = v;
    }
  }
  if (!have_id)
    throw field_error{where + ": \"id\" must be a pid (number or string)"};
  strip_to_pid(p.pid);
  strip_to_pid(p.ppid);
  read_data(data, p, where);
  // A pid given as a GUID links by GUID.
  if (!p.pid.empty() && p.pid.front() == '{') {
    p.guid = normalize_guid(p.pid);
    p.pid.clear();
  }
  if (!p.ppid.empty() && p.ppid.front() == '{') {
    p.parent_guid = normalize_guid(p.ppid);
    p.ppid.clear();
  }
  return p;
}

} // namespace

row_result decode_update_row(std::string_view line, process_update &out,
                             std::string &error) {
  scanner sc{line};
  if (!sc.skip_ws())
    return row_result::skip;
  // One validating pass over the whole line first: a torn line is rejected
  // before anything of it is used.
  value row;
  if (!sc.scan(row) || !sc.at_end()) {
    error = "not valid JSON (" + (sc.ok() ? "text after the value" : sc.error())
            + ")";
    return row_result::error;
  }
  if (row.k != kind::object) {
    error = "not a JSON object";
    return row_result::error;
  }
  try {
    scanner fields{row.raw};
    fields.begin_object();
    std::string_view k;
    bool esc = false;
    value type, id, end_time, time, processes;
    bool have_type = false, have_id = false, have_end = false,
         have_time = false, have_processes = false;
    while (fields.next_key(k, esc)) {
      value v;
      fields.scan(v);
      if (k == "update_type")
        type = v, have_type = true;
      else if (k == "id")
        id = v, have_id = true;
      else if (k == "end_time")
        end_time = v, have_end = true;
      else if (k == "time")
        time = v, have_time = true;
      else if (k == "processes")
        processes = v, have_processes = true;
    }
    if (!have_type || type.k != kind::string)
      throw field_error{"missing \"update_type\""};
    std::string tbuf;
    auto t = json_scan::string_text(type, tbuf);
    out = process_update{};
    if (t == "start") {
      out.kind = update_kind::start;
      out.process = record_of(row, "start row");
    } else if (t == "exit") {
      out.kind = update_kind::exit;
      if (!have_id || !id_text(id, out.target))
        throw field_error{"exit row: \"id\" must be a pid, real id or GUID"};
      if (!have_end || end_time.k == kind::null)
        throw field_error{"missing \"end_time\""};
      out.time = time_of(end_time, "end_time");
    } else if (t == "sync") {
      out.kind = update_kind::sync;
      if (!have_time || time.k == kind::null)
        throw field_error{"missing \"time\""};
      out.time = time_of(time, "time");
      if (!have_processes || processes.k != kind::array)
        throw field_error{"sync row: \"processes\" must be an array"};
      scanner ps{processes.raw};
      ps.begin_array();
      std::size_t i = 0;
      while (ps.next_element()) {
        value el;
        ps.scan(el);
        out.processes.push_back(
            record_of(el, "sync row: processes[" + std::to_string(i++) + "]"));
      }
    } else if (t == "stats") {
      return row_result::skip; // our own output stream replayed
    } else {
      throw field_error{"unknown update_type \"" + std::string{t} + "\""};
    }
  } catch (const field_error &e) {
    error = e.message;
    return row_result::error;
  }
  return row_result::update;
}

} // namespace proctrack
