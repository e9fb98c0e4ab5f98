#include "actors/ingest/sysmon_json_reader.hpp"

#include "actors/common/json_text.hpp"

#include <nlohmann/json.hpp>

namespace proctrack {

namespace {

using json = nlohmann::json;

// Decodes one line with nlohmann's SAX interface: no DOM is built, only the
// scalars that can matter are kept, in the order of the line. The contexts
// tracked are the top-level object, `winlog`, `winlog.event_data`,
// `event_data`, `host` and `EventData`; anything deeper is skipped.
class event_sax : public nlohmann::json_sax<json> {
public:
  enum ctx : std::uint8_t {
    top,
    winlog,
    winlog_event_data,
    event_data,
    host,
    event_data_obj, // Azure Monitor's EventData object
    other,
  };
  using fields = std::vector<std::pair<std::string, std::string>>;

  fields top_fields, wl_fields, wl_ed_fields, ed_fields, eventdata_fields;
  std::string host_name;
  bool is_object = false;
  bool has_winlog = false;
  bool has_event_data = false;
  std::string error;

  bool null() override {
    return true; // left out
  }
  bool boolean(bool v) override {
    return scalar(v ? "true" : "false");
  }
  bool number_integer(number_integer_t v) override {
    return scalar(std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    return scalar(std::to_string(v));
  }
  bool number_float(number_float_t, const string_t &s) override {
    return scalar(s);
  }
  bool string(string_t &s) override {
    return scalar(std::move(s));
  }
  bool binary(binary_t &) override {
    return true;
  }
  bool start_object(std::size_t) override {
    if (stack_.empty()) {
      is_object = true;
      stack_.push_back(top);
      return true;
    }
    ctx parent = stack_.back();
    ctx c = other;
    if (parent == top) {
      if (key_ == "winlog") {
        c = winlog;
        has_winlog = true;
      } else if (key_ == "event_data") {
        c = event_data;
        has_event_data = true;
      } else if (key_ == "host") {
        c = host;
      } else if (key_ == "EventData") {
        c = event_data_obj;
      }
    } else if (parent == winlog && key_ == "event_data") {
      c = winlog_event_data;
    }
    stack_.push_back(c);
    return true;
  }
  bool key(string_t &k) override {
    key_ = std::move(k);
    return true;
  }
  bool end_object() override {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t) override {
    stack_.push_back(other);
    return true;
  }
  bool end_array() override {
    stack_.pop_back();
    return true;
  }
  bool parse_error(std::size_t pos, const std::string &,
                   const nlohmann::detail::exception &) override {
    error = "not valid JSON (at byte " + std::to_string(pos) + ")";
    return false;
  }

private:
  bool scalar(std::string v) {
    if (stack_.empty())
      return true; // a bare scalar: not an object
    switch (stack_.back()) {
    case top:
      top_fields.emplace_back(key_, std::move(v));
      break;
    case winlog:
      wl_fields.emplace_back(key_, std::move(v));
      break;
    case winlog_event_data:
      wl_ed_fields.emplace_back(key_, std::move(v));
      break;
    case event_data:
      ed_fields.emplace_back(key_, std::move(v));
      break;
    case event_data_obj:
      eventdata_fields.emplace_back(key_, std::move(v));
      break;
    case host:
      if (key_ == "name")
        host_name = std::move(v);
      break;
    case other:
      break;
    }
    return true;
  }

  std::vector<ctx> stack_;
  std::string key_;
};

const std::string *lookup(const event_sax::fields &f, std::string_view k) {
  for (auto &kv : f)
    if (kv.first == k)
      return &kv.second;
  return nullptr;
}

std::string text(const event_sax::fields &f, std::string_view k) {
  auto v = lookup(f, k);
  return v != nullptr ? *v : std::string{};
}

std::int64_t event_id_of(const std::string *v) {
  if (v == nullptr || v->empty())
    return -1;
  char *end = nullptr;
  long long x = std::strtoll(v->c_str(), &end, 10);
  return *end == '\0' ? x : -1;
}

std::uint64_t number_of(const std::string *v) {
  return v == nullptr ? 0 : std::strtoull(v->c_str(), nullptr, 10);
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
                                     "port",
                                     "Version",
                                     "AccountName",
                                     "AccountType",
                                     "Domain",
                                     "UserID",
                                     "ProviderName",
                                     "Provider",
                                     "EventData"};
  for (auto key : keys)
    if (k == key)
      return true;
  return false;
}

} // namespace

bool parse_event_json(std::string_view line, sysmon_event &ev, std::string &why,
                      std::uint64_t *invalid_text) {
  ev.clear();
  // nlohmann rejects the whole line for one bad character: repair first.
  std::string repaired;
  std::size_t replaced = repair_json_text(line, repaired);
  if (replaced > 0)
    line = repaired;
  event_sax sax;
  if (!json::sax_parse(line.begin(), line.end(), &sax)) {
    why = sax.error.empty() ? "not valid JSON" : sax.error;
    return false;
  }
  if (!sax.is_object) {
    why = "not a JSON object";
    return false;
  }
  auto &top = sax.top_fields;
  if (sax.has_winlog) {
    // winlogbeat 7+ (ECS).
    auto &wl = sax.wl_fields;
    ev.event_id = event_id_of(lookup(wl, "event_id"));
    ev.provider = text(wl, "provider_name");
    ev.computer = text(wl, "computer_name");
    if (ev.computer.empty())
      ev.computer = sax.host_name;
    ev.record_number = number_of(lookup(wl, "record_id"));
    ev.fields = std::move(sax.wl_ed_fields);
  } else if (sax.has_event_data || lookup(top, "event_id") != nullptr) {
    // winlogbeat 6.
    ev.event_id = event_id_of(lookup(top, "event_id"));
    ev.provider = text(top, "source_name");
    if (ev.provider.empty())
      ev.provider = text(top, "provider_name");
    ev.computer = text(top, "computer_name");
    ev.record_number = number_of(lookup(top, "record_number"));
    ev.fields = std::move(sax.ed_fields);
  } else if (auto id = lookup(top, "EventID"); id != nullptr) {
    // Flat: the EventData fields sit at the top level beside the envelope.
    ev.event_id = event_id_of(id);
    ev.provider = text(top, "SourceName");
    if (ev.provider.empty())
      ev.provider = text(top, "ProviderName");
    if (ev.provider.empty())
      ev.provider = text(top, "Provider");
    ev.computer = text(top, "Hostname");
    if (ev.computer.empty())
      ev.computer = text(top, "Computer");
    ev.record_number = number_of(lookup(top, "RecordNumber"));
    if (ev.record_number == 0)
      ev.record_number = number_of(lookup(top, "EventRecordID"));
    ev.fields.reserve(top.size());
    for (auto &kv : top)
      if (!flat_envelope_key(kv.first))
        ev.fields.push_back(std::move(kv));
    // Azure Monitor's WindowsEvent: EventData as an object or a JSON string.
    for (auto &kv : sax.eventdata_fields)
      ev.set(std::move(kv.first), std::move(kv.second));
    if (auto s = lookup(top, "EventData"); s != nullptr) {
      event_sax inner;
      std::string fixed;
      std::string_view text = *s;
      if (auto n = repair_json_text(text, fixed); n > 0) {
        text = fixed;
        replaced += n;
      }
      if (json::sax_parse(text.begin(), text.end(), &inner) && inner.is_object)
        for (auto &kv : inner.top_fields)
          ev.set(std::move(kv.first), std::move(kv.second));
    }
  } else {
    why = "no EventID, event_id or winlog.event_id: not an event";
    return false;
  }
  if (ev.event_id < 0) {
    why = "EventID is not a number";
    return false;
  }
  if (invalid_text != nullptr)
    *invalid_text += replaced;
  return true;
}

bool may_hold_event(std::string_view line,
                    const std::vector<std::int64_t> &wanted,
                    std::int64_t &seen) {
  bool found = false;
  for (std::string_view key :
       {std::string_view{"\"EventID\""}, std::string_view{"\"event_id\""}}) {
    for (auto pos = line.find(key); pos != std::string_view::npos;
         pos = line.find(key, pos + 1)) {
      // Inside a JSON string a quote is escaped, so an unescaped "EventID"
      // followed by ':' is a key.
      auto i = pos + key.size();
      auto ws = [&] {
        while (i < line.size()
               && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'
                   || line[i] == '\n'))
          ++i;
      };
      ws();
      if (i >= line.size() || line[i] != ':')
        continue;
      ++i;
      ws();
      if (i < line.size() && line[i] == '"')
        ++i;
      std::int64_t v = 0;
      std::size_t digits = 0;
      while (i < line.size() && line[i] >= '0' && line[i] <= '9'
             && digits < 18) {
        v = v * 10 + (line[i] - '0');
        ++i;
        ++digits;
      }
      if (digits == 0 || (i < line.size() && line[i] >= '0' && line[i] <= '9'))
        return true; // cannot tell: parse it
      for (auto w : wanted)
        if (w == v)
          return true;
      if (!found)
        seen = v;
      found = true;
    }
  }
  return !found;
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
    if (!wanted_.empty()) {
      std::int64_t seen = -1;
      if (!may_hold_event(line_, wanted_, seen)) {
        ++stats_.filtered;
        ++stats_.filtered_by_event_id[seen];
        continue;
      }
    }
    std::string why;
    if (!parse_event_json(line_, ev, why, &stats_.invalid_text)) {
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
