#include "actors/ingest/sysmon_json_reader.hpp"

#include <nlohmann/json.hpp>

namespace proctrack {

namespace {

using json = nlohmann::json;

// A field value as text: strings as they are, numbers and booleans printed,
// objects and arrays as JSON. False for null (the field is left out).
bool to_text(const json &v, std::string &out) {
  switch (v.type()) {
  case json::value_t::string:
    out = v.get_ref<const std::string &>();
    return true;
  case json::value_t::number_unsigned:
    out = std::to_string(v.get<std::uint64_t>());
    return true;
  case json::value_t::number_integer:
    out = std::to_string(v.get<std::int64_t>());
    return true;
  case json::value_t::boolean:
    out = v.get<bool>() ? "true" : "false";
    return true;
  case json::value_t::null:
  case json::value_t::discarded:
    return false;
  default:
    out = v.dump(-1, ' ', false, json::error_handler_t::replace);
    return true;
  }
}

const json *member(const json &obj, const char *key) {
  if (!obj.is_object())
    return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string text_of(const json *v) {
  std::string s;
  if (v != nullptr)
    to_text(*v, s);
  return s;
}

std::int64_t event_id_of(const json *v) {
  if (v == nullptr)
    return -1;
  if (v->is_number_integer() || v->is_number_unsigned())
    return v->get<std::int64_t>();
  if (v->is_string()) {
    const auto &s = v->get_ref<const std::string &>();
    char *end = nullptr;
    long long x = std::strtoll(s.c_str(), &end, 10);
    if (!s.empty() && end != s.c_str() && *end == '\0')
      return x;
  }
  return -1;
}

std::uint64_t number_of(const json *v) {
  if (v == nullptr)
    return 0;
  if (v->is_number_unsigned() || v->is_number_integer())
    return v->get<std::uint64_t>();
  if (v->is_string())
    return std::strtoull(v->get_ref<const std::string &>().c_str(), nullptr,
                         10);
  return 0;
}

void copy_fields(const json &obj, sysmon_event &ev) {
  ev.fields.reserve(obj.size());
  std::string s;
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (to_text(it.value(), s))
      ev.fields.emplace_back(it.key(), s);
}

// The envelope keys of the flat forms, which are not EventData fields.
bool flat_envelope_key(const std::string &k) {
  static const char *const keys[] = {"EventID",
                                     "SourceName",
                                     "Hostname",
                                     "Computer",
                                     "RecordNumber",
                                     "EventRecordID",
                                     "Message",
                                     "@timestamp",
                                     "@version",
                                     "ProviderGuid",
                                     "Channel",
                                     "Keywords",
                                     "Level",
                                     "Task",
                                     "Opcode",
                                     "OpcodeValue",
                                     "Severity",
                                     "SeverityValue",
                                     "EventType",
                                     "EventTime",
                                     "EventReceivedTime",
                                     "SourceModuleName",
                                     "SourceModuleType",
                                     "ExecutionProcessID",
                                     "ThreadID",
                                     "Category",
                                     "TimeCreated",
                                     "host",
                                     "port",
                                     "tags",
                                     "Version",
                                     "AccountName",
                                     "AccountType",
                                     "Domain",
                                     "UserID",
                                     "ProviderName",
                                     "Provider"};
  for (auto key : keys)
    if (k == key)
      return true;
  return false;
}

} // namespace

bool parse_event_json(std::string_view line, sysmon_event &ev,
                      std::string &why) {
  ev.clear();
  json j = json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded()) {
    why = "not valid JSON";
    return false;
  }
  if (!j.is_object()) {
    why = "not a JSON object";
    return false;
  }
  if (auto wl = member(j, "winlog"); wl != nullptr && wl->is_object()) {
    // winlogbeat 7+ (ECS).
    ev.event_id = event_id_of(member(*wl, "event_id"));
    ev.provider = text_of(member(*wl, "provider_name"));
    ev.computer = text_of(member(*wl, "computer_name"));
    if (ev.computer.empty())
      if (auto h = member(j, "host"))
        ev.computer = text_of(member(*h, "name"));
    ev.record_number = number_of(member(*wl, "record_id"));
    if (auto ed = member(*wl, "event_data"); ed != nullptr && ed->is_object())
      copy_fields(*ed, ev);
  } else if (auto ed = member(j, "event_data");
             (ed != nullptr && ed->is_object())
             || member(j, "event_id") != nullptr) {
    // winlogbeat 6.
    ev.event_id = event_id_of(member(j, "event_id"));
    ev.provider = text_of(member(j, "source_name"));
    if (ev.provider.empty())
      ev.provider = text_of(member(j, "provider_name"));
    ev.computer = text_of(member(j, "computer_name"));
    ev.record_number = number_of(member(j, "record_number"));
    if (ed != nullptr && ed->is_object())
      copy_fields(*ed, ev);
  } else if (auto id = member(j, "EventID"); id != nullptr) {
    // Flat: the EventData fields sit at the top level beside the envelope.
    ev.event_id = event_id_of(id);
    ev.provider = text_of(member(j, "SourceName"));
    if (ev.provider.empty())
      ev.provider = text_of(member(j, "ProviderName"));
    if (ev.provider.empty()) {
      auto p = member(j, "Provider");
      if (p != nullptr && p->is_string())
        ev.provider = p->get<std::string>();
    }
    ev.computer = text_of(member(j, "Hostname"));
    if (ev.computer.empty())
      ev.computer = text_of(member(j, "Computer"));
    ev.record_number = number_of(member(j, "RecordNumber"));
    if (ev.record_number == 0)
      ev.record_number = number_of(member(j, "EventRecordID"));
    ev.fields.reserve(j.size());
    std::string s;
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!flat_envelope_key(it.key()) && to_text(it.value(), s))
        ev.fields.emplace_back(it.key(), s);
    // Azure Monitor's WindowsEvent: EventData as an object or JSON string.
    if (auto ed2 = member(j, "EventData")) {
      json inner =
          ed2->is_string()
              ? json::parse(ed2->get_ref<const std::string &>(), nullptr, false)
              : *ed2;
      if (inner.is_object())
        for (auto it = inner.begin(); it != inner.end(); ++it)
          if (to_text(it.value(), s))
            ev.set(it.key(), s);
    }
  } else {
    why = "no EventID, event_id or winlog.event_id: not an event";
    return false;
  }
  if (ev.event_id < 0) {
    why = "EventID is not a number";
    return false;
  }
  return true;
}

sysmon_json_reader::sysmon_json_reader(std::string path)
    : lines_(std::move(path)) {}

bool sysmon_json_reader::open(std::string &error) {
  return lines_.open(error);
}

void sysmon_json_reader::error(std::uint64_t line, std::string msg) {
  if (errors_.size() < 10000)
    errors_.push_back(lines_.path() + ":" + std::to_string(line) + ": "
                      + std::move(msg));
}

std::vector<std::string> sysmon_json_reader::take_errors() {
  std::vector<std::string> out;
  out.swap(errors_);
  return out;
}

bool sysmon_json_reader::next(sysmon_event &ev) {
  for (;;) {
    auto st = lines_.next(line_);
    if (st == line_reader::status::eof) {
      if (!lines_.last_error().empty() && stats_.read_errors == 0) {
        ++stats_.read_errors;
        if (errors_.size() < 10000)
          errors_.push_back(lines_.last_error());
      }
      return false;
    }
    ++stats_.lines;
    auto n = lines_.line_number();
    if (st == line_reader::status::too_long) {
      ++stats_.bad_lines;
      error(n, "line longer than the limit, skipped");
      continue;
    }
    if (line_.find_first_not_of(" \t\r") == std::string::npos)
      continue; // blank line
    std::string why;
    if (!parse_event_json(line_, ev, why)) {
      ++stats_.bad_lines;
      error(n, why);
      continue;
    }
    if (ev.record_number == 0)
      ev.record_number = n;
    ++stats_.records;
    return true;
  }
}

} // namespace proctrack
