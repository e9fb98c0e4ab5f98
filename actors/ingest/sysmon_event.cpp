#include "actors/ingest/sysmon_event.hpp"

#include "actors/common/text.hpp"

#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

#include <cctype>

namespace proctrack {

void sysmon_event::clear() {
  provider.clear();
  event_id = -1;
  computer.clear();
  record_number = 0;
  time_created.clear();
  fields.clear();
}

void sysmon_event::set(std::string name, std::string value) {
  for (auto &kv : fields)
    if (kv.first == name) {
      kv.second = std::move(value);
      return;
    }
  fields.emplace_back(std::move(name), std::move(value));
}

const std::string *sysmon_event::find(std::string_view name) const {
  // The last of duplicate fields (<Data> twice in one event), as set() and
  // the JSON forms keep it (docs/sources.md).
  for (auto it = fields.rbegin(); it != fields.rend(); ++it)
    if (it->first == name)
      return &it->second;
  return nullptr;
}

std::string lower_guid(std::string_view guid) {
  std::string out(guid);
  for (auto &c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_null_guid(std::string_view guid) {
  if (guid.size() >= 2 && guid.front() == '{' && guid.back() == '}')
    guid = guid.substr(1, guid.size() - 2);
  if (guid.size() != 36)
    return false;
  for (char c : guid)
    if (c != '0' && c != '-')
      return false;
  return true;
}

std::string_view base_name(std::string_view path) {
  auto pos = path.find_last_of("\\/");
  return pos == std::string_view::npos ? path : path.substr(pos + 1);
}

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i]))
        != std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

// A decimal number that fits a JSON integer (no sign, no leading zeros
// beyond "0", at most 19 digits).
bool is_plain_number(std::string_view s) {
  if (s.empty() || s.size() > 19)
    return false;
  for (char c : s)
    if (c < '0' || c > '9')
      return false;
  return s.size() == 1 || s[0] != '0';
}

void add_field(data_fields &data, std::string key, std::string json) {
  data.push_back(data_field{std::move(key), std::move(json)});
}

void add_string(data_fields &data, const sysmon_event &ev, const char *from,
                const char *to) {
  if (auto v = ev.find(from)) {
    std::string j;
    append_json_string(j, *v);
    add_field(data, to, std::move(j));
  }
}

void add_number(data_fields &data, const std::string *v, const char *key) {
  if (v == nullptr)
    return;
  auto t = trim(*v);
  if (is_plain_number(t))
    add_field(data, key, std::string(t));
  else
    add_field(data, key, json_string(*v));
}

// A usable GUID: present, not empty, not all zero.
const std::string *usable_guid(const sysmon_event &ev, std::string_view key) {
  auto v = ev.find(key);
  if (v == nullptr || trim(*v).empty() || is_null_guid(trim(*v)))
    return nullptr;
  return v;
}

std::string pid_text(const std::string *v) {
  return v == nullptr ? std::string{} : std::string(trim(*v));
}

} // namespace

std::string hashes_json(std::string_view hashes) {
  std::vector<std::pair<std::string_view, std::string_view>> pairs;
  std::string_view rest = hashes;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    auto item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view{}
                                           : rest.substr(comma + 1);
    auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0)
      continue;
    pairs.emplace_back(trim(item.substr(0, eq)), trim(item.substr(eq + 1)));
  }
  if (pairs.empty())
    return json_string(hashes);
  std::string out = "{";
  bool first = true;
  auto emit = [&](std::string_view k, std::string_view v) {
    if (!first)
      out += ',';
    first = false;
    append_json_string(out, k);
    out += ':';
    append_json_string(out, v);
  };
  static constexpr std::string_view preferred[] = {"SHA256", "MD5", "IMPHASH"};
  for (auto name : preferred)
    for (auto &[k, v] : pairs)
      if (iequals(k, name)) {
        emit(name, v);
        break;
      }
  for (auto &[k, v] : pairs) {
    bool seen = false;
    for (auto name : preferred)
      seen = seen || iequals(k, name);
    // Keep the first occurrence of any other algorithm only.
    for (auto &[k2, v2] : pairs) {
      if (&k2 == &k)
        break;
      seen = seen || k2 == k;
    }
    if (!seen)
      emit(k, v);
  }
  out += '}';
  return out;
}

namespace {

// "0x1f4" (how the Security log writes pids) as decimal text; "" when it
// is not a hex number that fits 64 bits.
std::string hex_pid(const std::string *v) {
  if (v == nullptr)
    return {};
  auto t = trim(*v);
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'))
    t.remove_prefix(2);
  if (t.empty() || t.size() > 16)
    return {};
  std::uint64_t x = 0;
  for (char c : t) {
    int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
            : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
            : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                        : -1;
    if (d < 0)
      return {};
    x = x * 16 + static_cast<std::uint64_t>(d);
  }
  return std::to_string(x);
}

// MandatoryLabel's SID (S-1-16-<RID>, the token's integrity level) as the
// name Sysmon's IntegrityLevel uses; "" for a SID that is not a label.
std::string integrity_level(std::string_view sid) {
  sid = trim(sid);
  static constexpr std::pair<std::string_view, std::string_view> levels[] = {
      {"S-1-16-0", "Untrusted"},    {"S-1-16-4096", "Low"},
      {"S-1-16-8192", "Medium"},    {"S-1-16-8448", "MediumPlus"},
      {"S-1-16-12288", "High"},     {"S-1-16-16384", "System"},
      {"S-1-16-20480", "Protected"}};
  for (auto &[k, v] : levels)
    if (iequals(sid, k))
      return std::string(v);
  return {};
}

// TokenElevationType as logged (%%1936..%%1938, the message table's
// insertion strings; rendered exports may give "TokenElevationTypeFull (2)")
// as UAC's name of the token: Default (type 1, UAC off or a built-in
// account), Full (type 2, elevated), Limited (type 3, filtered).
std::string elevation(std::string_view type) {
  type = trim(type);
  if (type == "%%1936" || type.find("(1)") != std::string_view::npos)
    return "Default";
  if (type == "%%1937" || type.find("(2)") != std::string_view::npos)
    return "Full";
  if (type == "%%1938" || type.find("(3)") != std::string_view::npos)
    return "Limited";
  return {};
}

// Security 4688 / 4689: pids in hex, no GUID, the time is TimeCreated.
std::optional<process_update> security_update(const sysmon_event &ev,
                                              std::string &why_not) {
  auto when = parse_time(ev.time_created);
  if (!when) {
    why_not = "EventID " + std::to_string(ev.event_id)
              + " without a valid TimeCreated";
    return std::nullopt;
  }
  process_update u;
  auto &p = u.process;
  if (ev.event_id == 4689) {
    p.pid = hex_pid(ev.find("ProcessId"));
    if (p.pid.empty()) {
      why_not = "EventID 4689 without a hex ProcessId";
      return std::nullopt;
    }
    u.kind = update_kind::exit;
    u.target = p.pid;
    u.time = *when;
    return u;
  }
  p.pid = hex_pid(ev.find("NewProcessId"));
  if (p.pid.empty()) {
    why_not = "EventID 4688 without a hex NewProcessId";
    return std::nullopt;
  }
  p.ppid = hex_pid(ev.find("ProcessId"));
  p.start_time = *when;
  u.kind = update_kind::start;
  auto &d = p.data;
  add_field(d, "Pid", p.pid);
  if (!p.ppid.empty())
    add_field(d, "Ppid", p.ppid);
  auto image = ev.find("NewProcessName");
  if (image != nullptr)
    add_field(d, "Name", json_string(base_name(*image)));
  std::string t;
  append_time_json(t, *when);
  add_field(d, "StartTime", std::move(t));
  // The new process's account: Target* (Windows 10 / Server 2016 and
  // later, "-" when it is the creator's own), else the creator's Subject*.
  auto account = [&](const char *user_key, const char *domain_key) {
    auto user = ev.find(user_key);
    if (user == nullptr || trim(*user).empty() || trim(*user) == "-")
      return std::string{};
    auto domain = ev.find(domain_key);
    return domain != nullptr && !trim(*domain).empty() && trim(*domain) != "-"
               ? *domain + "\\" + *user
               : *user;
  };
  auto name = account("TargetUserName", "TargetDomainName");
  if (name.empty())
    name = account("SubjectUserName", "SubjectDomainName");
  if (!name.empty())
    add_field(d, "Username", json_string(name));
  add_string(d, ev, "NewProcessName", "Exe");
  add_string(d, ev, "CommandLine", "CommandLine");
  add_string(d, ev, "ParentProcessName", "ParentImage");
  if (auto label = ev.find("MandatoryLabel")) {
    if (auto level = integrity_level(*label); !level.empty())
      add_field(d, "IntegrityLevel", json_string(level));
  }
  add_string(d, ev, "SubjectUserName", "SubjectUserName");
  add_string(d, ev, "SubjectDomainName", "SubjectDomainName");
  add_string(d, ev, "TargetUserName", "TargetUserName");
  add_string(d, ev, "TargetDomainName", "TargetDomainName");
  add_string(d, ev, "MandatoryLabel", "MandatoryLabel");
  if (auto type = ev.find("TokenElevationType")) {
    add_field(d, "TokenElevationType", json_string(*type));
    if (auto e = elevation(*type); !e.empty())
      add_field(d, "Elevation", json_string(e));
  }
  if (!ev.computer.empty())
    add_field(d, "Computer", json_string(ev.computer));
  return u;
}

} // namespace

bool is_sysmon_provider(std::string_view provider) {
  return provider.empty() || iequals(provider, sysmon_provider)
         || iequals(provider, linux_sysmon_provider);
}

bool is_process_event(const sysmon_event &ev) {
  if (!ev.provider.empty() && iequals(ev.provider, security_provider))
    return ev.event_id == 4688 || ev.event_id == 4689;
  return is_sysmon_provider(ev.provider)
         && (ev.event_id == 1 || ev.event_id == 5);
}

namespace {
std::optional<process_update> to_update_on(const sysmon_event &ev,
                                           std::string &why_not);
} // namespace

std::optional<process_update> to_update(const sysmon_event &ev,
                                        std::string &why_not, bool security) {
  if (!security && !ev.provider.empty()
      && iequals(ev.provider, security_provider)) {
    why_not = "provider " + ev.provider + " is not Sysmon";
    return std::nullopt;
  }
  auto u = to_update_on(ev, why_not);
  if (u)
    u->host = ev.computer;
  return u;
}

namespace {

std::optional<process_update> to_update_on(const sysmon_event &ev,
                                           std::string &why_not) {
  if (!ev.provider.empty() && iequals(ev.provider, security_provider)
      && (ev.event_id == 4688 || ev.event_id == 4689))
    return security_update(ev, why_not);
  if (!is_sysmon_provider(ev.provider)) {
    why_not = "provider " + ev.provider + " is not Sysmon";
    return std::nullopt;
  }
  if (ev.event_id != 1 && ev.event_id != 5) {
    why_not = "EventID " + std::to_string(ev.event_id) + " is not 1 or 5";
    return std::nullopt;
  }
  auto pid = ev.find("ProcessId");
  auto guid = usable_guid(ev, "ProcessGuid");
  if (pid == nullptr && guid == nullptr) {
    why_not = "EventID " + std::to_string(ev.event_id)
              + " without ProcessId or ProcessGuid";
    if (ev.find("RuleTitle") != nullptr)
      // Hayabusa's (and similar) detection timelines: a rule's summary of
      // the event in abbreviated keys, not the event.
      why_not += ": a detection timeline line (RuleTitle), not an event "
                 "export; replay the .evtx files it was made from";
    return std::nullopt;
  }
  std::optional<timestamp> when;
  std::string bad_time; // a UtcTime that is there but not a time
  if (auto utc = ev.find("UtcTime")) {
    std::string why;
    when = parse_time(*utc, &why);
    if (!when)
      bad_time =
          "UtcTime \"" + utc->substr(0, 64) + "\" is not a time (" + why + ")";
  }

  process_update u;
  auto &p = u.process;
  p.pid = pid_text(pid);
  if (guid != nullptr)
    p.guid = lower_guid(trim(*guid));

  if (ev.event_id == 5) {
    if (!when) {
      why_not = bad_time.empty() ? "EventID 5 without a valid UtcTime"
                                 : "EventID 5: " + bad_time;
      return std::nullopt;
    }
    if (*when == unknown_time) { // 0001-01-01: an exit must say when
      why_not = "EventID 5: UtcTime \"" + ev.find("UtcTime")->substr(0, 64)
                + "\" is the unknown time; an exit needs a known time";
      return std::nullopt;
    }
    u.kind = update_kind::exit;
    u.target = !p.guid.empty() ? p.guid : p.pid;
    u.time = *when;
    return u;
  }

  u.kind = update_kind::start;
  auto ppid = ev.find("ParentProcessId");
  p.ppid = pid_text(ppid);
  if (auto pg = usable_guid(ev, "ParentProcessGuid"))
    p.parent_guid = lower_guid(trim(*pg));
  p.start_time = when.value_or(unknown_time);

  auto &d = p.data;
  d.reserve(24);
  add_number(d, pid, "Pid");
  add_number(d, ppid, "Ppid");
  if (auto image = ev.find("Image"))
    add_field(d, "Name", json_string(base_name(*image)));
  if (when) {
    std::string t;
    append_time_json(t, *when);
    add_field(d, "StartTime", std::move(t));
  }
  add_string(d, ev, "User", "Username");
  add_string(d, ev, "Image", "Exe");
  add_string(d, ev, "CommandLine", "CommandLine");
  add_string(d, ev, "CurrentDirectory", "CurrentDirectory");
  add_string(d, ev, "FileVersion", "FileVersion");
  add_string(d, ev, "Description", "Description");
  add_string(d, ev, "Company", "Company");
  add_string(d, ev, "Product", "Product");
  add_string(d, ev, "ParentImage", "ParentImage");
  add_string(d, ev, "ParentCommandLine", "ParentCommandLine");
  add_number(d, ev.find("TerminalSessionId"), "TerminalSessionId");
  add_string(d, ev, "IntegrityLevel", "IntegrityLevel");
  if (auto h = ev.find("Hashes"))
    add_field(d, "Hashes", hashes_json(*h));
  add_string(d, ev, "ProcessGuid", "ProcessGuid");
  add_string(d, ev, "ParentProcessGuid", "ParentProcessGuid");
  add_string(d, ev, "OriginalFileName", "OriginalFilename");
  if (!ev.computer.empty())
    add_field(d, "Computer", json_string(ev.computer));
  // The process is real even when its time is not: kept with an unknown
  // start, and the bad field is still reported (and counted) by the caller.
  if (!bad_time.empty())
    why_not = "EventID 1: " + bad_time + "; start time kept unknown";
  return u;
}

} // namespace

} // namespace proctrack
