#include "actors/ingest/sysmon_json_reader.hpp"

#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"
#include "actors/ingest/evtx_reader.hpp"

#include <nlohmann/json.hpp>

#include <unordered_map>

namespace proctrack {

namespace {

using json = nlohmann::json;

// Decodes one line with nlohmann's SAX interface: no DOM is built, only the
// scalars that can matter are kept, each under its dotted path
// ("winlog.event_data.Image", "process.parent.pid"), in the order of the
// line. Objects are followed below the top level only under the roots the
// forms use (winlog, event_data, host, EventData, process, user, Event,
// System, event), at most five levels deep; anything else is skipped. A
// top-level key that holds dots itself (a flattened ECS document) reads the
// same.
class event_sax : public nlohmann::json_sax<json> {
public:
  using fields = std::vector<std::pair<std::string, std::string>>;

  fields top; ///< the top-level scalars, by key
  fields all; ///< the kept nested scalars, by dotted path
  bool is_object = false;
  std::string error;

  bool null() override {
    // Left out; a null given after a value of the same key drops it (the
    // last one wins, as JSON readers keep it).
    if (!stack_.empty() && stack_.back().keep)
      drop(stack_.back().path);
    return true;
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
      stack_.push_back({std::string{}, true});
      return true;
    }
    auto &parent = stack_.back();
    frame f;
    f.keep = parent.keep && stack_.size() < 6
             && (stack_.size() > 1 || kept_root(key_));
    if (f.keep)
      f.path = parent.path.empty() ? key_ : parent.path + "." + key_;
    stack_.push_back(std::move(f));
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
    stack_.push_back({std::string{}, false});
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
  struct frame {
    std::string path;
    bool keep = false;
  };

  static bool kept_root(const std::string &k) {
    // "event" for ECS's event.code, the EventID when winlog has none.
    static const char *const roots[] = {"winlog",    "event_data", "host",
                                        "EventData", "process",    "user",
                                        "Event",     "System",     "event"};
    for (auto r : roots)
      if (k == r)
        return true;
    return false;
  }

  // A key given twice: the last value wins, in place of the first (what
  // JSON readers such as jq and Python's json keep). Indexed, so a line of
  // many keys costs no quadratic scan.
  bool scalar(std::string v) {
    if (stack_.empty() || !stack_.back().keep)
      return true; // a bare scalar, or somewhere not kept
    auto &f = stack_.back();
    bool at_top = f.path.empty();
    auto &into = at_top ? top : all;
    auto &index = at_top ? top_index_ : all_index_;
    std::string name = at_top ? key_ : f.path + "." + key_;
    auto [it, fresh] = index.emplace(name, into.size());
    if (fresh)
      into.emplace_back(std::move(name), std::move(v));
    else
      into[it->second].second = std::move(v);
    return true;
  }

  void drop(const std::string &path) {
    bool at_top = path.empty();
    auto &into = at_top ? top : all;
    auto &index = at_top ? top_index_ : all_index_;
    auto it = index.find(at_top ? key_ : path + "." + key_);
    if (it == index.end())
      return;
    // Out of the lookups, in place: the positions of the others stay.
    into[it->second].first.clear();
    into[it->second].first.push_back('\0');
    index.erase(it);
  }

  std::vector<frame> stack_;
  std::string key_;
  std::unordered_map<std::string, std::size_t> top_index_, all_index_;
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

// nxlog's EventTime is the collector's local time without a zone; its
// EventReceivedTime is the same clock when the event arrived, and Logstash's
// @timestamp that arrival in UTC. Their difference rounded to 15 minutes is
// the zone's offset (OTRF's files: 4 h, with 0-10 s of transport left over),
// so EventTime plus it is the event's UTC time, to the second. Without both,
// EventTime is returned as it is.
std::string nxlog_event_time(const std::string &event_time,
                             const std::string &received_local,
                             const std::string &received_utc) {
  if (event_time.empty() || received_local.empty() || received_utc.empty())
    return event_time;
  auto t = parse_time(event_time);
  auto local = parse_time(received_local);
  auto utc = parse_time(received_utc);
  if (!t || !local || !utc || *t == unknown_time || *local == unknown_time
      || *utc == unknown_time)
    return event_time;
  constexpr timestamp quarter = 900 * hns_per_second;
  auto diff = *utc - *local;
  // Round to the nearest quarter hour; zones run from -12 h to +14 h.
  auto q = (diff >= 0 ? diff + quarter / 2 : diff - quarter / 2) / quarter;
  if (q < -12 * 4 || q > 14 * 4)
    return event_time;
  return format_time(*t + q * quarter);
}

// The envelope keys of the flat forms, which are not EventData fields.
bool flat_envelope_key(const std::string &k) {
  static const char *const keys[] = {
      "EventID", "SourceName", "Hostname", "Computer", "RecordNumber",
      "EventRecordID", "Message", "@timestamp", "@version", "ProviderGuid",
      "Channel", "Keywords", "Level", "Task", "Opcode", "OpcodeValue",
      "Severity", "SeverityValue", "EventType", "EventTime",
      "EventReceivedTime", "SourceModuleName", "SourceModuleType",
      "ExecutionProcessID", "ThreadID", "Category", "TimeCreated", "port",
      "Version", "AccountName", "AccountType", "Domain", "UserID",
      "ProviderName", "Provider", "EventData",
      // Log Analytics / Sentinel columns
      // (SecurityEvent, Event, WindowsEvent)
      "TimeGenerated", "EventSourceName", "TenantId", "SourceSystem",
      "Activity", "Type", "ManagementGroupName", "EventOriginId", "MG",
      "EventLevel", "EventLevelName", "EventLog", "RenderedDescription",
      "_ResourceId", "_ItemId"};
  for (auto key : keys)
    if (k == key)
      return true;
  return false;
}

} // namespace

namespace {

// A nested path, or (for a flattened document) the same text as a top-level
// key.
const std::string *path_value(const event_sax &sax, std::string_view path) {
  if (auto v = lookup(sax.all, path))
    return v;
  return lookup(sax.top, path);
}

std::string path_text(const event_sax &sax, std::string_view path) {
  auto v = path_value(sax, path);
  return v != nullptr ? *v : std::string{};
}

bool has_prefix(const event_sax::fields &f, std::string_view prefix) {
  for (auto &kv : f)
    if (kv.first.size() > prefix.size()
        && kv.first.compare(0, prefix.size(), prefix) == 0)
      return true;
  return false;
}

// The fields directly below `prefix` ("winlog.event_data."), named by the
// rest of their path.
void take_below(event_sax &sax, std::string_view prefix, sysmon_event &ev) {
  for (auto *f : {&sax.all, &sax.top})
    for (auto &kv : *f)
      if (kv.first.size() > prefix.size()
          && kv.first.compare(0, prefix.size(), prefix) == 0
          && kv.first.find('.', prefix.size()) == std::string::npos)
        ev.set(kv.first.substr(prefix.size()), std::move(kv.second));
}

// ECS (winlogbeat 7/8 with the Sysmon module) moves the process fields out
// of winlog.event_data into process.*, user.* and @timestamp. Puts them
// back under their Sysmon names where event_data does not have them.
void fill_from_ecs(const event_sax &sax, sysmon_event &ev) {
  auto fill = [&](const char *name, std::string_view path) {
    if (ev.find(name) != nullptr)
      return;
    if (auto v = path_value(sax, path))
      ev.set(name, *v);
  };
  fill("ProcessId", "process.pid");
  fill("ProcessGuid", "process.entity_id");
  fill("Image", "process.executable");
  fill("CommandLine", "process.command_line");
  fill("CurrentDirectory", "process.working_directory");
  fill("ParentProcessId", "process.parent.pid");
  fill("ParentProcessGuid", "process.parent.entity_id");
  fill("ParentImage", "process.parent.executable");
  fill("ParentCommandLine", "process.parent.command_line");
  fill("OriginalFileName", "process.pe.original_file_name");
  fill("Company", "process.pe.company");
  fill("Description", "process.pe.description");
  fill("FileVersion", "process.pe.file_version");
  fill("Product", "process.pe.product");
  fill("UtcTime", "@timestamp");
  if (ev.find("User") == nullptr) {
    auto name = path_text(sax, "user.name");
    auto domain = path_text(sax, "user.domain");
    if (!name.empty())
      ev.set("User", domain.empty() ? name : domain + "\\" + name);
  }
  if (ev.find("Hashes") == nullptr) {
    // Sysmon's own text: SHA1=..,MD5=..,SHA256=..,IMPHASH=..
    std::string hashes;
    auto add = [&](const char *alg, std::string_view path) {
      if (auto v = path_value(sax, path); v != nullptr && !v->empty()) {
        if (!hashes.empty())
          hashes += ',';
        hashes += alg;
        hashes += '=';
        hashes += *v;
      }
    };
    add("SHA1", "process.hash.sha1");
    add("MD5", "process.hash.md5");
    add("SHA256", "process.hash.sha256");
    add("IMPHASH", "process.pe.imphash");
    if (!hashes.empty())
      ev.set("Hashes", std::move(hashes));
  }
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
  auto &top = sax.top;
  std::uint64_t xml_replaced = 0; // counted by parse_event_data_xml
  std::string sys; // "Event." (evtx_dump) or "" (Velociraptor parse_evtx)
  bool evtx_json = false;
  if (has_prefix(sax.all, "Event.System.")) {
    evtx_json = true;
    sys = "Event.";
  } else if (has_prefix(sax.all, "System.")) {
    evtx_json = true;
  }
  if (has_prefix(sax.all, "winlog.") || has_prefix(top, "winlog.")) {
    // winlogbeat 7/8 (ECS); a flattened document (dotted top-level keys)
    // reads the same.
    ev.event_id = event_id_of(path_value(sax, "winlog.event_id"));
    if (ev.event_id < 0)
      ev.event_id = event_id_of(path_value(sax, "event.code"));
    ev.provider = path_text(sax, "winlog.provider_name");
    ev.computer = path_text(sax, "winlog.computer_name");
    if (ev.computer.empty())
      ev.computer = path_text(sax, "host.name");
    if (ev.computer.empty())
      ev.computer = path_text(sax, "host.hostname");
    ev.record_number = number_of(path_value(sax, "winlog.record_id"));
    ev.time_created = path_text(sax, "@timestamp");
    take_below(sax, "winlog.event_data.", ev);
    fill_from_ecs(sax, ev);
  } else if (evtx_json) {
    // The event's XML as JSON: evtx_dump -o jsonl ({"Event":{"System":..,
    // "EventData":..}}, attributes under "#attributes") or Velociraptor's
    // parse_evtx ({"System":..,"EventData":..}, EventID.Value).
    auto s = sys + "System.";
    auto id = path_value(sax, s + "EventID");
    if (id == nullptr)
      id = path_value(sax, s + "EventID.#text");
    if (id == nullptr)
      id = path_value(sax, s + "EventID.Value");
    ev.event_id = event_id_of(id);
    for (auto p : {"Provider.#attributes.Name", "Provider_attributes.Name",
                   "Provider.Name"})
      if (ev.provider.empty())
        ev.provider = path_text(sax, s + p);
    ev.computer = path_text(sax, s + "Computer");
    ev.record_number = number_of(path_value(sax, s + "EventRecordID"));
    ev.time_created = path_text(sax, s + "TimeCreated.#attributes.SystemTime");
    if (ev.time_created.empty())
      ev.time_created = path_text(sax, s + "TimeCreated.SystemTime");
    take_below(sax, sys + "EventData.", ev);
  } else if (has_prefix(sax.all, "event_data.")
             || lookup(top, "event_id") != nullptr) {
    // winlogbeat 6.
    ev.event_id = event_id_of(lookup(top, "event_id"));
    ev.provider = text(top, "source_name");
    if (ev.provider.empty())
      ev.provider = text(top, "provider_name");
    ev.computer = text(top, "computer_name");
    ev.record_number = number_of(lookup(top, "record_number"));
    ev.time_created = text(top, "@timestamp");
    take_below(sax, "event_data.", ev);
  } else if (auto id = lookup(top, "EventID"); id != nullptr) {
    // Flat: the EventData fields sit at the top level beside the envelope.
    ev.event_id = event_id_of(id);
    ev.provider = text(top, "SourceName");
    if (ev.provider.empty())
      ev.provider = text(top, "ProviderName");
    if (ev.provider.empty())
      ev.provider = text(top, "Provider");
    if (ev.provider.empty())
      ev.provider = text(top, "Source"); // Log Analytics' Event table
    if (ev.provider.empty())             // Log Analytics' SecurityEvent table
      ev.provider = text(top, "EventSourceName");
    ev.computer = text(top, "Hostname");
    if (ev.computer.empty())
      ev.computer = text(top, "Computer");
    ev.record_number = number_of(lookup(top, "RecordNumber"));
    if (ev.record_number == 0)
      ev.record_number = number_of(lookup(top, "EventRecordID"));
    ev.time_created = text(top, "TimeCreated");
    if (ev.time_created.empty()) // Log Analytics: when the event was logged
      ev.time_created = text(top, "TimeGenerated");
    if (ev.time_created.empty())
      ev.time_created = nxlog_event_time(text(top, "EventTime"),
                                         text(top, "EventReceivedTime"),
                                         text(top, "@timestamp"));
    ev.fields.reserve(top.size());
    for (auto &kv : top)
      if (!flat_envelope_key(kv.first))
        ev.fields.push_back(std::move(kv));
    // Azure Monitor's WindowsEvent: EventData as an object or a JSON string;
    // Log Analytics' Event table: an XML string (<DataItem><EventData>).
    take_below(sax, "EventData.", ev);
    auto s = lookup(top, "EventData");
    auto xml_at = s != nullptr ? s->find_first_not_of(" \t\r\n") : 0;
    if (s != nullptr && xml_at != std::string::npos && (*s)[xml_at] == '<') {
      std::string bad;
      if (!parse_event_data_xml(std::string_view{*s}.substr(xml_at), ev, bad,
                                &xml_replaced)) {
        // Its fields are lost: say why rather than "without ProcessId".
        why = "EventData is an XML string that cannot be read: " + bad;
        return false;
      }
    } else if (s != nullptr) {
      event_sax inner;
      std::string fixed;
      std::string_view text = *s;
      if (auto n = repair_json_text(text, fixed); n > 0) {
        text = fixed;
        replaced += n;
      }
      if (json::sax_parse(text.begin(), text.end(), &inner) && inner.is_object)
        for (auto &kv : inner.top)
          ev.set(std::move(kv.first), std::move(kv.second));
    }
  } else {
    why = "no EventID, event_id, winlog.event_id or System.EventID: not an "
          "event";
    return false;
  }
  if (ev.event_id < 0) {
    why = "EventID is not a number";
    return false;
  }
  if (invalid_text != nullptr)
    *invalid_text += replaced + xml_replaced;
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
  // Long lines in pieces: event XML may be one line of a whole log
  // (wevtutil); a JSON line over the bound is still skipped, in next().
  lines_.pieces(true);
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
    xml_event_gatherer::event x;
    if (xml_.pop(x)) {
      std::string why;
      // <e:System>: parse_event_xml looks elements up by local name.
      strip_element_prefixes(x.xml);
      if (!parse_event_xml(x.xml.data(), x.xml.size(), ev, why,
                           &stats_.invalid_text)) {
        ++stats_.bad_lines;
        error(x.line, why);
        continue;
      }
      if (ev.event_id < 0) {
        // Never a silent skip: an event without a readable EventID.
        ++stats_.bad_lines;
        error(x.line, "an <Event> without a numeric <System><EventID>");
        continue;
      }
      if (ev.record_number == 0)
        ev.record_number = x.line;
      ++stats_.records;
      return true;
    }
    auto st = lines_.next(line_);
    if (st == line_reader::status::eof) {
      if (auto open = xml_.finish(); !open.empty()) {
        ++stats_.bad_lines;
        error(lines_.line_number(), open);
      }
      if (!lines_.last_error().empty() && stats_.read_errors == 0) {
        ++stats_.read_errors;
        if (errors_.size() < 10000)
          errors_.push_back(lines_.last_error());
      }
      return false;
    }
    bool piece = st == line_reader::status::piece;
    if (!in_long_line_)
      ++stats_.lines;
    auto n = lines_.line_number();
    if (in_long_line_ && skip_long_line_) {
      // The rest of a JSON line over the bound.
      in_long_line_ = piece;
      continue;
    }
    auto first = line_.find_first_not_of(" \t\r");
    if (!in_long_line_ && first != std::string::npos && line_[first] == '<')
      xml_seen_ = true;
    if (xml_.inside() || (in_long_line_ && !skip_long_line_)
        || (first != std::string::npos && xml_seen_ && line_[first] != '{')) {
      // Event XML: Splunk's XmlWinEventLog (one <Event> a line), wevtutil
      // and Event Viewer exports (several a line, or one over many lines,
      // in an <Events> wrapper; a whole log may be one line, read in
      // pieces). Never filtered by the line's text: a line may be part of
      // an event. Once a file has given XML, a line that is not a JSON
      // object is text outside an event.
      xml_.feed(line_, n, xml_errors_, piece);
      in_long_line_ = piece;
      skip_long_line_ = false;
      for (auto &e : xml_errors_) {
        ++stats_.bad_lines;
        error(n, std::move(e));
      }
      xml_errors_.clear();
      continue;
    }
    if (piece) {
      // A JSON line over the bound: skipped, as the line reader used to.
      in_long_line_ = true;
      skip_long_line_ = true;
      ++stats_.bad_lines;
      error(n, "line longer than the limit, skipped");
      continue;
    }
    in_long_line_ = false;
    if (first == std::string::npos)
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
