// The update-row decoder as it was before commit 309f8c2 (a DOM parse with
// nlohmann/json, then field extraction), kept in bench/ so the parser
// comparison of issue 6 can put nlohmann/json, proctrack's own scanner
// (decode_update_row) and simdjson side by side on the same rows.
#include "bench/nlohmann_decoder.hpp"

#include "actors/cache/process_table.hpp"
#include "actors/common/time.hpp"

#include <nlohmann/json.hpp>

namespace proctrack::bench {

namespace {

using json = nlohmann::json;

struct field_error {
  std::string message;
};

// A pid ("5"), a real id ("5-1609497000", also disambiguated "5-1609497000.1")
// or a GUID ("{...}").
bool valid_id(const std::string &s) {
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
  if (dash == std::string::npos)
    return true;
  for (std::size_t i = dash + 1; i < s.size(); ++i)
    if ((s[i] < '0' || s[i] > '9') && s[i] != '.')
      return false;
  return dash + 1 < s.size();
}

// An id as text: numbers and strings both work. For a start's `id` or a
// `parent_id`, a real id ("5-1609497000") gives its pid.
bool id_text(const json &v, std::string &out) {
  if (v.is_number_unsigned()) {
    out = std::to_string(v.get<std::uint64_t>());
    return true;
  }
  if (v.is_number_integer()) {
    auto n = v.get<std::int64_t>();
    if (n < 0)
      return false;
    out = std::to_string(n);
    return true;
  }
  if (v.is_string()) {
    out = v.get<std::string>();
    return valid_id(out);
  }
  return false;
}

std::string bare_pid(std::string id) {
  if (!id.empty() && id.front() == '{')
    return id;
  auto pos = id.find('-');
  if (pos != std::string::npos)
    id.resize(pos);
  return id;
}

timestamp time_field(const json &row, const char *key, bool required) {
  auto i = row.find(key);
  if (i == row.end() || i->is_null()) {
    if (required)
      throw field_error{std::string{"missing \""} + key + "\""};
    return unknown_time;
  }
  std::optional<timestamp> t;
  if (i->is_string())
    t = parse_time(i->get_ref<const std::string &>());
  else if (i->is_number_integer() && i->get<std::int64_t>() >= 0)
    t = i->get<std::int64_t>() * hns_per_second;
  else if (i->is_number_float() && i->get<double>() >= 0)
    t = static_cast<timestamp>(i->get<double>() * hns_per_second);
  if (!t)
    throw field_error{std::string{"\""} + key
                      + "\" is not a time: " + i->dump()};
  return *t;
}

std::string string_of(const json &v) {
  return v.is_string() ? v.get<std::string>() : std::string{};
}

// One process of a start row or a sync listing.
process_record record_of(const json &row, const char *where) {
  if (!row.is_object())
    throw field_error{std::string{where} + " is not an object"};
  process_record p;
  auto id = row.find("id");
  if (id == row.end() || !id_text(*id, p.pid))
    throw field_error{std::string{where}
                      + ": \"id\" must be a pid (number "
                        "or string)"};
  p.pid = bare_pid(std::move(p.pid));
  auto parent = row.find("parent_id");
  if (parent != row.end() && !parent->is_null()) {
    if (!id_text(*parent, p.ppid))
      throw field_error{std::string{where}
                        + ": \"parent_id\" must be a pid (number or string)"};
    p.ppid = bare_pid(std::move(p.ppid));
  }
  p.start_time = time_field(row, "start_time", false);
  auto data = row.find("data");
  if (data != row.end() && !data->is_null()) {
    if (!data->is_object())
      throw field_error{std::string{where} + ": \"data\" must be an object"};
    p.data.reserve(data->size());
    for (auto &[k, v] : data->items()) {
      if (k == "ProcessGuid")
        p.guid = normalize_guid(string_of(v));
      else if (k == "ParentProcessGuid")
        p.parent_guid = normalize_guid(string_of(v));
      p.data.push_back(
          {k, v.dump(-1, ' ', false, json::error_handler_t::replace)});
    }
  }
  // A pid given as a GUID links by GUID.
  if (!p.pid.empty() && p.pid.front() == '{') {
    p.guid = normalize_guid(p.pid);
    p.pid.clear();
  }
  return p;
}

} // namespace

row_result decode_update_row_nlohmann(std::string_view line,
                                      process_update &out, std::string &error) {
  auto first = line.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos)
    return row_result::skip;
  json row = json::parse(line.begin(), line.end(), nullptr, false);
  if (row.is_discarded()) {
    error = "not valid JSON";
    return row_result::error;
  }
  if (!row.is_object()) {
    error = "not a JSON object";
    return row_result::error;
  }
  try {
    auto type = row.find("update_type");
    if (type == row.end() || !type->is_string())
      throw field_error{"missing \"update_type\""};
    auto &t = type->get_ref<const std::string &>();
    out = process_update{};
    if (t == "start") {
      out.kind = update_kind::start;
      out.process = record_of(row, "start row");
    } else if (t == "exit") {
      out.kind = update_kind::exit;
      auto id = row.find("id");
      if (id == row.end() || !id_text(*id, out.target))
        throw field_error{"exit row: \"id\" must be a pid, real id or GUID"};
      out.time = time_field(row, "end_time", true);
    } else if (t == "sync") {
      out.kind = update_kind::sync;
      out.time = time_field(row, "time", true);
      auto ps = row.find("processes");
      if (ps == row.end() || !ps->is_array())
        throw field_error{"sync row: \"processes\" must be an array"};
      out.processes.reserve(ps->size());
      std::size_t i = 0;
      for (auto &p : *ps) {
        auto where = "sync row: processes[" + std::to_string(i++) + "]";
        out.processes.push_back(record_of(p, where.c_str()));
      }
    } else if (t == "stats") {
      return row_result::skip; // our own output stream replayed
    } else {
      throw field_error{"unknown update_type \"" + t + "\""};
    }
  } catch (const field_error &e) {
    error = e.message;
    return row_result::error;
  } catch (const json::exception &e) {
    error = e.what();
    return row_result::error;
  }
  return row_result::update;
}

} // namespace proctrack::bench
