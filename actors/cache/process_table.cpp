#include "actors/cache/process_table.hpp"

#include "actors/common/text.hpp"

#include "actors/common/json_scan.hpp"
#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <unordered_set>

namespace proctrack {

namespace {

// What change tracking reports of an entry (process_table::take_changes).
// `data_kept`: the row goes without Data (history_row::data_kept).
history_row change_of(const process_entry &e, bool data_kept = false) {
  history_row p;
  p.id = e.id;
  p.parent_id = e.parent_id;
  p.guid = e.guid;
  p.start_time = e.start_time;
  p.end_time = e.end_time;
  p.last_sync_time = e.last_sync_time;
  if (data_kept)
    p.data_kept = true;
  else
    p.data = e.data;
  p.end_is_estimate = e.end_is_estimate;
  return p;
}

// A change as take_changes() reports it: Data only when it is new since
// the last report (most exits leave it alone: half of all rows).
history_row take_change_of(process_entry &e) {
  auto row = change_of(e, e.data_sent);
  e.data_sent = true;
  return row;
}

} // namespace

namespace {

constexpr timestamp rounding_slack = hns_per_second; // SPEC §1: at most 1 s

// "<ppid>-?": a parent recorded by pid only, never a cached process's id.
bool unknown_parent_id(std::string_view id) {
  return id.size() >= 2 && id.substr(id.size() - 2) == "-?";
}

bool is_digits(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (c < '0' || c > '9')
      return false;
  return true;
}

bool before_or_same(timestamp parent_start, timestamp child_start) {
  // An unknown start never proves a pid was reused.
  return parent_start == unknown_time || child_start == unknown_time
         || parent_start <= child_start;
}

// Two sources of one short-lived process (Sysmon's UtcTime and a 4688's
// TimeCreated) may date its start a few ms after the other's logged exit.
constexpr timestamp restated_start_slack = hns_per_second / 10; // 100 ms

// An end from an exit event: not an estimate, and not end time 1 ("ended,
// time not known").
bool logged_end(const process_entry &e) {
  return !e.running() && !e.end_is_estimate && e.end_time != 1;
}

// Whether a start at `start` comes more than `slack` after `e`'s logged
// end: then it may be the pid's next holder, not `e` seen again. Without
// overflow (the times span 1677..2262).
bool started_after_exit(const process_entry &e, timestamp start,
                        timestamp slack = 0) {
  return logged_end(e) && start != unknown_time && start > e.end_time
         && static_cast<std::uint64_t>(start)
                    - static_cast<std::uint64_t>(e.end_time)
                > static_cast<std::uint64_t>(slack);
}

// A listing at `sync_time` of a process that started at `start`: a
// process whose exit was logged before the listing is not the one listed
// (a listed process is alive), unless the listing gives its very start.
bool exited_before_listing(const process_entry &e, timestamp start,
                           timestamp sync_time) {
  return logged_end(e) && sync_time != unknown_time
         && e.start_time != unknown_time && start != e.start_time
         && e.end_time < sync_time;
}

// Without overflow: the times span 1677..2262, whose difference does not
// fit in an int64 (a 1677 start and a 2262 one were "within 1 s").
bool abs_within(timestamp a, timestamp b, timestamp slack) {
  auto hi = a > b ? a : b, lo = a > b ? b : a;
  return static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo)
         <= static_cast<std::uint64_t>(slack);
}

// The pid an exit names: its record's, else its target's (a pid, or a real
// id "<pid>-<second>"); empty for a GUID.
std::string_view exit_pid(std::string_view target, std::string_view pid) {
  if (!pid.empty())
    return pid;
  target = trim(target);
  if (is_digits(target))
    return target;
  auto dash = target.rfind('-');
  if (!target.empty() && target.front() != '{' && dash != std::string_view::npos
      && is_digits(target.substr(0, dash)))
    return target.substr(0, dash);
  return {};
}

// The GUID an exit names: its record's, else its target when a GUID.
std::string_view exit_guid(std::string_view target, std::string_view guid) {
  if (!guid.empty())
    return guid;
  target = trim(target);
  return !target.empty() && target.front() == '{' ? target : std::string_view{};
}

// The raw JSON value of `key` in a packed Data object, as a string.
std::optional<std::string> find_field(const std::string &packed,
                                      std::string_view key) {
  if (auto v = data_value(packed, key))
    return std::string{*v};
  return std::nullopt;
}

// Exactly one valid JSON object (nothing after it).
bool is_json_object(std::string_view text) {
  json_scan::scanner sc{text};
  json_scan::value v;
  return sc.peek() == '{' && sc.scan(v) && sc.at_end();
}

} // namespace

bool process_table::by_start(const process_entry *a, const process_entry *b) {
  if (a->start_time != b->start_time)
    return a->start_time < b->start_time;
  return a->id < b->id;
}

static std::string_view pid_of(std::string_view v) {
  auto pos = v.rfind('-');
  // Disambiguated ids ("5-1609497000.1") keep the pid before the last '-'.
  return pos == std::string_view::npos ? v : v.substr(0, pos);
}

std::string_view process_entry::pid() const {
  return pid_of(id);
}

std::string make_real_id(std::string_view pid, timestamp start) {
  std::string id;
  real_id_into(id, pid, start);
  return id;
}

void real_id_into(std::string &id, std::string_view pid, timestamp start) {
  if (pid.empty())
    pid = "?"; // no pid known (some Sysmon exports): the GUID tracks it
  // A start before 1970 gives "<pid>-0", as Velociraptor's GetRealId does
  // for a zero or pre-epoch start: an id never holds a second '-'.
  char digits[24];
  auto [end, ec] =
      std::to_chars(digits, digits + sizeof(digits),
                    std::max<std::int64_t>(0, whole_seconds(start)));
  id.clear();
  id.append(pid);
  id += '-';
  id.append(digits, end);
}

namespace {

// For each field, the index of the field whose value it takes: the last one
// with the same key (or npos when an earlier field already wrote that key).
// Quadratic for the usual handful of fields, a hash map for hostile ones.
std::vector<std::size_t> last_of_each_key(const data_fields &d) {
  constexpr auto skip = static_cast<std::size_t>(-1);
  std::vector<std::size_t> take(d.size());
  if (d.size() <= 32) {
    for (std::size_t i = 0; i < d.size(); ++i) {
      take[i] = i;
      for (std::size_t j = 0; j < i; ++j)
        if (take[j] != skip && d[j].key == d[i].key) {
          take[j] = i;
          take[i] = skip;
          break;
        }
    }
    return take;
  }
  std::unordered_map<std::string_view, std::size_t> first;
  first.reserve(d.size());
  for (std::size_t i = 0; i < d.size(); ++i) {
    auto [it, fresh] = first.emplace(d[i].key, i);
    take[i] = fresh ? i : skip;
    if (!fresh)
      take[it->second] = i;
  }
  return take;
}

bool has_duplicate_keys(const data_fields &d) {
  if (d.size() > 32)
    return true; // let last_of_each_key decide
  // Every stored row passes here: keys are compared by a cheap signature
  // first (length, first, middle and last byte: O(1) a key, where hashing
  // every byte took ~10% of the bare table's time), the text only when
  // two signatures agree.
  std::uint32_t h[32];
  for (std::size_t i = 0; i < d.size(); ++i) {
    auto &k = d[i].key;
    std::uint32_t x = static_cast<std::uint32_t>(k.size());
    if (!k.empty())
      x = (x << 24) ^ (static_cast<unsigned char>(k.front()) << 16)
          ^ (static_cast<unsigned char>(k[k.size() / 2]) << 8)
          ^ static_cast<unsigned char>(k.back());
    h[i] = x;
    for (std::size_t j = 0; j < i; ++j)
      if (h[j] == x && d[j].key == d[i].key)
        return true;
  }
  return false;
}

void append_field(std::string &out, bool &first, std::string_view key,
                  std::string_view json) {
  if (!first)
    out += ',';
  first = false;
  append_json_string(out, key);
  out += ':';
  // A nested object's keys become unique too ({"MD5":"1","MD5":"2"} in
  // Hashes): only objects and arrays are scanned, and copied only then.
  if (!json.empty() && (json.front() == '{' || json.front() == '[')) {
    thread_local std::string unique;
    if (json_scan::unique_keys(json, unique)) {
      out += unique;
      return;
    }
  }
  out += json.empty() ? std::string_view{"null"} : std::string_view{json};
}

} // namespace

// Every Data object is written here (start, merge, sync, snapshot, output
// stream), so this is where keys become unique: a duplicate key keeps the
// position of its first occurrence and the value of its last, as Go's
// ordereddict, Python's json and jq read such an object.
void append_packed_data(std::string &out, const data_fields &d) {
  out += '{';
  bool first = true;
  if (!has_duplicate_keys(d)) {
    for (auto &f : d)
      append_field(out, first, f.key, f.json);
  } else {
    auto take = last_of_each_key(d);
    for (std::size_t i = 0; i < d.size(); ++i)
      if (take[i] != static_cast<std::size_t>(-1))
        append_field(out, first, d[i].key, d[take[i]].json);
  }
  out += '}';
}

std::string pack_data(const data_fields &d) {
  std::string out;
  pack_data_into(out, d);
  return out;
}

// Room for `n` bytes in `out` (emptied): its buffer when it fits with
// little slack (at most n/32 + 48 bytes: malloc rounds to 16 anyway), else
// a new one of exactly that size. std::string's reserve would double a
// buffer that is too small, and a stored Data buffer keeps its slack while
// the process is cached: with n/4 + 64 allowed, the RSS after max-size
// grew by ~20% as reused buffers kept their old sizes (issue 16).
static void reserve_exact(std::string &out, std::size_t n) {
  out.clear();
  if (out.capacity() >= n && out.capacity() <= n + n / 32 + 48)
    return;
  std::string fresh;
  fresh.reserve(n);
  out.swap(fresh);
}

namespace {

// The exact size when no key needs escaping (the usual case), so a stored
// Data string carries no slack; escapes only grow it.
std::size_t packed_size(const data_fields &d) {
  std::size_t n = 2;
  for (auto &f : d)
    n += f.key.size() + 4 + (f.json.empty() ? 4 : f.json.size());
  return n;
}

// pack_data_into for fields whose keys are known to be unique (checked
// once by the caller, not again per field).
void pack_unique_into(std::string &out, const data_fields &d) {
  reserve_exact(out, packed_size(d));
  out += '{';
  bool first = true;
  for (auto &f : d)
    append_field(out, first, f.key, f.json);
  out += '}';
}

} // namespace

void pack_data_into(std::string &out, const data_fields &d) {
  reserve_exact(out, packed_size(d));
  append_packed_data(out, d);
}

data_fields unpack_data(std::string_view packed) {
  data_fields out;
  json_scan::scanner sc{packed};
  bool first = true;
  if (packed.empty() || !sc.begin_object(first))
    return out;
  std::string_view k;
  bool esc = false;
  std::string buf;
  while (sc.next_key(first, k, esc)) {
    json_scan::value v;
    if (!sc.scan(v))
      break;
    out.push_back(
        {std::string{json_scan::key_text(k, esc, buf)}, std::string{v.raw}});
  }
  return out;
}

std::optional<std::string_view> data_value(std::string_view packed,
                                           std::string_view key) {
  json_scan::scanner sc{packed};
  bool first = true;
  if (packed.empty() || !sc.begin_object(first))
    return std::nullopt;
  std::string_view k;
  bool esc = false;
  while (sc.next_key(first, k, esc)) {
    json_scan::value v;
    if (!sc.scan(v))
      break;
    if (!esc && k == key)
      return v.raw;
  }
  return std::nullopt;
}

// In place, and without work for the usual cases: empty, or already lower
// case from a decoder.
void normalize_guid_in_place(std::string &guid) {
  if (guid.empty())
    return;
  bool clean = guid.front() != ' ' && guid.back() != ' ';
  bool all_zero = true;
  for (char c : guid) {
    if (c >= 'A' && c <= 'Z')
      clean = false;
    if (c != '0' && c != '-' && c != '{' && c != '}')
      all_zero = false;
  }
  if (all_zero)
    guid.clear();
  else if (!clean)
    guid = normalize_guid(guid);
}

std::string normalize_guid(std::string_view guid) {
  guid = trim(guid);
  std::string out(guid);
  bool all_zero = true;
  for (auto &c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c != '0' && c != '-' && c != '{' && c != '}')
      all_zero = false;
  }
  if (all_zero)
    return {};
  return out;
}

namespace {

// The key names of a "Truncated" list (a JSON array of strings).
std::vector<std::string> truncated_names(std::string_view json) {
  std::vector<std::string> out;
  json_scan::scanner sc{json};
  bool first = true;
  if (sc.peek() != '[' || !sc.begin_array(first))
    return out;
  std::string buf;
  while (sc.next_element(first)) {
    json_scan::value v;
    if (!sc.scan(v))
      break;
    if (v.k == json_scan::kind::string)
      out.emplace_back(json_scan::string_text(v, buf));
  }
  return out;
}

} // namespace

bool cap_json_value(std::string &json, std::size_t max) {
  if (json.size() <= max)
    return false;
  if (json.size() < 2 || json.front() != '"' || max < 2) {
    json = "null";
    return true;
  }
  auto hex4 = [&](std::size_t at, unsigned &v) {
    if (at + 4 > json.size())
      return false;
    v = 0;
    for (std::size_t k = at; k < at + 4; ++k) {
      auto c = json[k];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= static_cast<unsigned>(c - 'A' + 10);
      else
        return false;
    }
    return true;
  };
  // Walk the characters (an escape, a surrogate pair's two escapes, or one
  // UTF-8 sequence each) and keep those that end within max - 1 bytes.
  std::size_t keep = 1;
  std::size_t i = 1;
  const std::size_t limit = max - 1; // room for the closing quote
  while (i < json.size() - 1) {
    std::size_t len = 1;
    auto c = static_cast<unsigned char>(json[i]);
    if (c == '\\') {
      len = 2;
      unsigned hi = 0, lo = 0;
      if (i + 1 < json.size() && json[i + 1] == 'u' && hex4(i + 2, hi)) {
        len = 6;
        if (hi >= 0xD800 && hi <= 0xDBFF && i + 7 < json.size()
            && json[i + 6] == '\\' && json[i + 7] == 'u' && hex4(i + 8, lo)
            && lo >= 0xDC00 && lo <= 0xDFFF)
          len = 12;
      }
    } else if (c >= 0xF0) {
      len = 4;
    } else if (c >= 0xE0) {
      len = 3;
    } else if (c >= 0xC0) {
      len = 2;
    }
    if (i + len > limit)
      break;
    i += len;
    keep = i;
  }
  json.resize(keep);
  json += '"';
  return true;
}

std::string process_table::stored_data(data_fields &&d,
                                       std::vector<std::string> cut) {
  std::string out;
  stored_data_into(out, std::move(d), std::move(cut));
  return out;
}

void process_table::stored_data_into(std::string &out, data_fields &&d,
                                     std::vector<std::string> cut) {
  // A key given twice keeps its last value (append_packed_data): only that
  // one is capped and listed, never a value that is not stored. After
  // this the keys are unique ("Truncated" is dropped and added once).
  if (has_duplicate_keys(d)) {
    auto take = last_of_each_key(d);
    data_fields unique;
    unique.reserve(d.size());
    for (std::size_t i = 0; i < d.size(); ++i)
      if (take[i] != static_cast<std::size_t>(-1))
        unique.push_back({std::move(d[i].key), std::move(d[take[i]].json)});
    d = std::move(unique);
  }
  // A "Truncated" list already in the data (our own output replayed, a
  // peer's state) is kept: its values were cut before.
  bool given = false;
  for (auto &f : d)
    if (f.key == "Truncated") {
      given = true;
      for (auto &n : truncated_names(f.json))
        cut.push_back(std::move(n));
    } else if (cap_json_value(f.json, cfg_.max_field_bytes)) {
      cut.push_back(f.key);
      ++counters_.truncated_fields;
    }
  if (given)
    d.erase(std::remove_if(d.begin(), d.end(),
                           [](auto &f) { return f.key == "Truncated"; }),
            d.end());
  if (!cut.empty()) {
    std::vector<std::string> names;
    for (auto &n : cut)
      if (std::find(names.begin(), names.end(), n) == names.end())
        names.push_back(std::move(n));
    std::string list = "[";
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i)
        list += ',';
      append_json_string(list, names[i]);
    }
    list += ']';
    d.push_back({"Truncated", std::move(list)});
  }
  pack_unique_into(out, d);
}

void process_table::set_data(process_entry &e, std::string data) {
  if (tracking_ && e.used)
    note_change(static_cast<std::uint32_t>(&e - slots_.data()));
  data_bytes_ -= std::min(data_bytes_, e.data.size());
  // A listing's Data is most often the one the process had.
  e.data_sent = e.data_sent && e.data == data;
  e.data = std::move(data);
  data_bytes_ += e.data.size();
}

process_table::process_table(table_config cfg)
    : cfg_(cfg), pending_exits_(cfg.max_pending_exits) {
  if (cfg_.max_size == 0)
    cfg_.max_size = 1;
  by_id_.reserve(std::min<std::size_t>(cfg_.max_size, 1u << 20) + 1);
  links_.reserve(std::min<std::size_t>(cfg_.max_size, 1u << 20) + 1);
}

// -- lookup -------------------------------------------------------------------

std::uint32_t process_table::lookup_real_id(std::string_view id) const {
  return by_id_.find(id, id_key());
}

std::uint32_t process_table::lookup_link(std::string_view pid) const {
  return links_.find(pid, pid_key());
}

std::uint32_t process_table::lookup_guid(std::string_view guid) const {
  if (guid.empty())
    return npos;
  return by_guid_.find(guid, guid_key());
}

std::uint32_t process_table::parent_of(std::uint32_t slot) const {
  auto &e = slots_[slot];
  if (e.parent_id.empty())
    return npos;
  // Ids are unique among cached processes (by_id_), so a used slot that
  // holds the parent's id is the one the index would give.
  auto h = e.parent_hint;
  if (h < slots_.size() && slots_[h].used && slots_[h].id == e.parent_id)
    return h;
  h = lookup_real_id(e.parent_id);
  e.parent_hint = h;
  return h;
}

std::uint32_t process_table::lookup(std::string_view raw) const {
  auto id = trim(raw);
  if (id.empty())
    return npos;
  if (id.front() == '{')
    return lookup_guid(normalize_guid(id));
  if (is_digits(id))
    return lookup_link(id);
  return lookup_real_id(id);
}

// -- LRU lists and tiers ------------------------------------------------------

std::uint8_t process_table::tier_of(const process_entry &e) const {
  if (e.live_children > 0)
    return 2;
  return e.running() ? 1 : 0;
}

void process_table::list_push_back(std::uint32_t slot) {
  auto &e = slots_[slot];
  auto &l = lists_[e.tier];
  e.prev = l.tail;
  e.next = npos;
  if (l.tail != npos)
    slots_[l.tail].next = slot;
  else
    l.head = slot;
  l.tail = slot;
  ++l.size;
}

void process_table::list_remove(std::uint32_t slot) {
  auto &e = slots_[slot];
  auto &l = lists_[e.tier];
  if (e.prev != npos)
    slots_[e.prev].next = e.next;
  else
    l.head = e.next;
  if (e.next != npos)
    slots_[e.next].prev = e.prev;
  else
    l.tail = e.prev;
  e.prev = e.next = npos;
  --l.size;
}

void process_table::touch(std::uint32_t slot) {
  if (lists_[slots_[slot].tier].tail == slot)
    return;
  list_remove(slot);
  list_push_back(slot);
}

// Recomputes the tier of `slot` and, when whether it counts as "live" for
// its parent changes, walks up the ancestors. Bounded by the table size, so
// a parent loop cannot make it spin.
void process_table::refresh_tier(std::uint32_t slot) {
  note_change(slot); // its end changed (set_end, revive), or its tier
  for (std::size_t steps = 0; slot != npos && steps <= slots_.size(); ++steps) {
    auto &e = slots_[slot];
    auto new_tier = tier_of(e);
    if (new_tier == e.tier)
      return;
    bool was_live = e.tier != 0;
    bool is_live = new_tier != 0;
    list_remove(slot);
    e.tier = new_tier;
    list_push_back(slot);
    if (was_live == is_live)
      return;
    auto parent = parent_of(slot);
    if (parent == npos) {
      count_orphan(e.parent_id, is_live ? 1 : -1);
      return;
    }
    if (parent == slot)
      return;
    auto &p = slots_[parent];
    if (is_live)
      ++p.live_children;
    else if (p.live_children > 0)
      --p.live_children;
    slot = parent;
  }
}

// Live children of a parent that is not cached (evicted, expired, or not
// seen yet under that real id): kept by the parent's real id so that when a
// process with that id is cached again, its count is exact from the start.
void process_table::count_orphan(std::string_view parent_id, int delta) {
  if (parent_id.empty() || unknown_parent_id(parent_id))
    return; // "<ppid>-?" never becomes a cached id
  if (delta <= 0 && orphan_live_.empty())
    return;
  key_buf_.assign(parent_id.data(), parent_id.size());
  auto it = orphan_live_.find(key_buf_);
  if (delta > 0) {
    if (it == orphan_live_.end())
      orphan_live_.emplace(key_buf_, static_cast<std::uint32_t>(delta));
    else
      it->second += static_cast<std::uint32_t>(delta);
  } else if (it != orphan_live_.end()) {
    auto d = static_cast<std::uint32_t>(-delta);
    if (it->second <= d)
      orphan_live_.erase(it);
    else
      it->second -= d;
  }
}

// -- insertion and removal ---------------------------------------------------

void process_table::note_suffix(std::string_view id) {
  auto dot = id.rfind('.');
  auto dash = id.rfind('-');
  if (dot == std::string::npos || (dash != std::string::npos && dot < dash))
    return;
  std::uint64_t n = 0;
  auto tail = id.substr(dot + 1);
  auto [end, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), n);
  // unique_id never gives more than max_size + 1; a larger one (a hostile
  // stream's) is not scanned for.
  if (ec == std::errc{} && end == tail.data() + tail.size()
      && n <= cfg_.max_size + 1)
    max_suffix_ = std::max(max_suffix_, n);
}

std::string process_table::unique_id(const std::string &base) {
  for (std::uint64_t n = 1;; ++n) {
    auto candidate = base + "." + std::to_string(n);
    if (lookup_real_id(candidate) == npos)
      return candidate;
  }
}

std::uint32_t process_table::lookup_exact(const std::string &pid,
                                          timestamp start) const {
  if (pid.empty() || start == unknown_time)
    return npos;
  auto &key = scratch_id_; // reused: no allocation per lookup
  real_id_into(key, pid, start);
  auto base = key.size();
  // Every ".N" ever given, gaps included: unique_id fills the first free
  // suffix, and an eviction leaves a hole below a process still cached
  // (stopping at the first hole missed it and created a second copy).
  for (std::uint64_t n = 0; n <= max_suffix_; ++n) {
    key.resize(base);
    if (n > 0) {
      char digits[24];
      auto r = std::to_chars(digits, digits + sizeof(digits), n);
      key += '.';
      key.append(digits, r.ptr);
    }
    auto s = lookup_real_id(key);
    if (s != npos && slots_[s].start_time == start)
      return s;
  }
  return npos;
}

void process_table::revive(std::uint32_t slot) {
  auto &e = slots_[slot];
  if (e.running())
    return;
  e.end_time = unknown_time;
  e.end_is_estimate = false;
  refresh_tier(slot);
  ++counters_.exits_revived;
}

std::uint32_t process_table::allocate_slot() {
  if (!free_slots_.empty()) {
    auto slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  slots_.emplace_back();
  return static_cast<std::uint32_t>(slots_.size() - 1);
}

std::uint32_t process_table::insert(std::string_view id, process_record &&p) {
  auto slot = allocate_slot();
  auto &e = slots_[slot];
  // Assigned into the slot's own buffers: a slot freed by an eviction is
  // reused with its capacity (remove()), so this allocates nothing then.
  e.id.assign(id);
  e.parent_id.clear();
  e.guid.assign(p.guid);
  e.start_time = p.start_time;
  e.end_time = unknown_time;
  e.last_sync_time = unknown_time;
  stored_data_into(e.data, std::move(p.data));
  e.data_sent = false;
  data_bytes_ += e.data.size();
  data_fields{}.swap(p.data); // taken: free the pieces now
  e.children.clear();
  e.live_children = 0;
  // Children that named this id as their parent before it was (re)cached.
  if (!orphan_live_.empty()) {
    key_buf_.assign(id.data(), id.size());
    if (auto o = orphan_live_.find(key_buf_); o != orphan_live_.end()) {
      e.live_children = o->second;
      orphan_live_.erase(o);
    }
  }
  e.seen_in_sync = 0;
  e.end_is_estimate = false;
  e.used = true;
  e.tier = tier_of(e);
  list_push_back(slot);
  note_change(slot);
  by_id_.insert(e.id, slot, id_key());
  note_suffix(e.id);
  if (!e.guid.empty())
    by_guid_.assign(e.guid, slot, guid_key());
  return slot;
}

void process_table::remove(std::uint32_t slot) {
  auto &e = slots_[slot];
  if (e.changed) {
    removed_changes_.push_back(take_change_of(e));
    e.changed = false;
  }
  e.data_sent = false;
  if (e.tier != 0) {
    auto parent = parent_of(slot);
    if (parent == npos)
      count_orphan(e.parent_id, -1);
    else if (parent != slot && slots_[parent].live_children > 0) {
      --slots_[parent].live_children;
      refresh_tier(parent);
    }
  }
  // Its live children stay live: they wait for this id to come back.
  if (e.live_children > 0)
    count_orphan(e.id, static_cast<int>(e.live_children));
  list_remove(slot);
  links_.erase(e.pid(), slot, pid_key());
  if (!e.guid.empty())
    by_guid_.erase(e.guid, slot, guid_key());
  by_id_.erase(e.id, slot, id_key());
  e.used = false;
  data_bytes_ -= std::min(data_bytes_, e.data.size());
  e.id.clear();
  e.parent_id.clear();
  e.guid.clear();
  e.data.clear();
  // A child list goes back whole: the next process in this slot is most
  // likely no parent, and a kept list's capacity would stay with it while
  // it is cached (the RSS after max-size grew so, issue 16).
  std::vector<id_text>{}.swap(e.children);
  // The next insert reuses a freed slot's Data buffer (evictions free one
  // slot per insert); reserve_exact() takes it only when it fits the new
  // Data within a little slack. Only a few are kept so: past that, or a
  // large buffer, the memory goes back (expiry may free many).
  if (free_slots_.size() >= kept_free_slots
      || e.data.capacity() > kept_data_capacity)
    std::string{}.swap(e.data);
  free_slots_.push_back(slot);
}

void process_table::evict_if_full() {
  while (by_id_.size() > cfg_.max_size || data_bytes_ > cfg_.max_bytes) {
    if (by_id_.size() <= cfg_.max_size)
      ++counters_.byte_evictions;
    std::uint32_t victim = npos;
    for (auto &l : lists_)
      if (l.head != npos) {
        victim = l.head;
        break;
      }
    if (victim == npos)
      return;
    remove(victim);
    ++counters_.evictions;
  }
}

void process_table::expire(timestamp now) {
  if (now == unknown_time || cfg_.max_expiry <= 0)
    return;
  last_expiry_run_ = now;
  auto cutoff = now - cfg_.max_expiry;
  // Only tier 0: an exited ancestor of a running process stays, so the call
  // chain of anything still running stays whole (docs/semantics.md).
  for (auto slot = lists_[0].head; slot != npos;) {
    auto next = slots_[slot].next;
    auto &e = slots_[slot];
    if (!e.running() && e.end_time < cutoff) {
      remove(slot);
      ++counters_.expired;
    }
    slot = next;
  }
}

void process_table::observe_time(timestamp t, std::string_view pid,
                                 std::string_view guid) {
  if (t == unknown_time || t <= now_)
    return;
  // "Now" must not be decided by one process (docs/semantics.md): a time
  // more than max_expiry ahead of the clock would expire every exited
  // process at once, and one process with a skewed clock has a start and
  // an exit that agree with each other. Such a time is held back (a clock
  // outlier) until events of clock_witnesses distinct processes (a listing
  // counts as one of its own) lie within max_expiry of the first candidate
  // — as the events after a real gap in a log do; the clock then moves to
  // the earliest of them. An event in range in between drops them, and one
  // far from the first candidate starts over from itself.
  if (now_ != unknown_time && cfg_.max_expiry > 0
      && !abs_within(t, now_, cfg_.max_expiry)) {
    if (!clock_candidates_.empty()
        && !abs_within(t, clock_candidates_.front().time, cfg_.max_expiry))
      clock_candidates_.clear();
    bool seen = false;
    for (auto &c : clock_candidates_)
      if ((!guid.empty() && c.guid == guid) || (!pid.empty() && c.pid == pid))
        seen = true;
    if (!seen)
      clock_candidates_.push_back({t, std::string{pid}, std::string{guid}});
    if (clock_candidates_.size() < clock_witnesses) {
      ++counters_.clock_outliers; // held back
      return;
    }
    for (auto &c : clock_candidates_)
      t = std::min(t, c.time);
  }
  clock_candidates_.clear();
  now_ = t;
  // Expire in steps of 1/64 of max_expiry (at least 1 s) of event time, so
  // a scan is not paid for on every update.
  auto step = std::max<timestamp>(hns_per_second, cfg_.max_expiry / 64);
  if (last_expiry_run_ == unknown_time) {
    last_expiry_run_ = now_;
  } else if (now_ - last_expiry_run_ >= step) {
    expire(now_);
  }
}

// -- data ---------------------------------------------------------------------

// merge_data without unpacking: the stored fields are copied as they are
// (the same bytes merge_data's unpack and pack give), the new values put in
// their place or after them, through a scratch buffer (no
// allocation once it is large enough). False, and nothing changed, when
// merge_data's other steps could apply: an escaped or "Truncated" key, a
// value to cut, a key given twice, a Data text that does not scan.
bool process_table::merge_packed(process_entry &e, const data_fields &fields) {
  if (fields.size() > 64 || has_duplicate_keys(fields))
    return false;
  for (auto &f : fields)
    if (f.key == "Truncated" || f.json.size() > cfg_.max_field_bytes)
      return false;
  json_scan::scanner sc{e.data};
  bool first = true;
  if (e.data.empty() || !sc.begin_object(first))
    return false;
  auto &out = merge_buf_; // scratch: grows to the largest merge, then stays
  out.clear();
  out += '{';
  bool out_first = true;
  std::uint64_t placed = 0; // bit i: fields[i] replaced a stored value
  std::string_view k;
  bool esc = false;
  while (sc.next_key(first, k, esc)) {
    json_scan::value v;
    if (!sc.scan(v) || esc || k == "Truncated"
        || v.raw.size() > cfg_.max_field_bytes)
      return false;
    std::size_t i = 0;
    while (i < fields.size() && fields[i].key != k)
      ++i;
    if (i < fields.size()) {
      append_field(out, out_first, fields[i].key, fields[i].json);
      placed |= std::uint64_t{1} << i;
    } else {
      append_field(out, out_first, k, v.raw);
    }
  }
  for (std::size_t i = 0; i < fields.size(); ++i)
    if (!(placed & (std::uint64_t{1} << i)))
      append_field(out, out_first, fields[i].key, fields[i].json);
  out += '}';
  if (tracking_ && e.used)
    note_change(static_cast<std::uint32_t>(&e - slots_.data()));
  data_bytes_ -= std::min(data_bytes_, e.data.size());
  // Copied into the entry's own buffer when it fits: exact, no allocation.
  e.data_sent = e.data_sent && e.data == out;
  reserve_exact(e.data, out.size());
  e.data.append(out);
  data_bytes_ += e.data.size();
  if (out.capacity() > kept_data_capacity)
    std::string{}.swap(out);
  return true;
}

void process_table::merge_data(process_entry &e, data_fields &&fields) {
  if (merge_packed(e, fields))
    return;
  // The general case: unpack, merge, pack again.
  auto have = unpack_data(e.data);
  // The cut keys stay listed unless a new value replaces them.
  std::vector<std::string> cut;
  for (auto it = have.begin(); it != have.end(); ++it)
    if (it->key == "Truncated") {
      cut = truncated_names(it->json);
      have.erase(it);
      break;
    }
  for (auto &f : fields) {
    if (f.key != "Truncated")
      cut.erase(std::remove(cut.begin(), cut.end(), f.key), cut.end());
    bool found = false;
    for (auto &g : have)
      if (g.key == f.key) {
        g.json = std::move(f.json);
        found = true;
        break;
      }
    if (!found)
      have.push_back(std::move(f));
  }
  set_data(e, stored_data(std::move(have), std::move(cut)));
}

// A listing row of a known process (exact identity) keeps what only the
// process's own events knew: Data.Ppid is its creator (the listing's parent
// goes to CurrentPpid when it differs), ParentSource and ExecName stay.
static void keep_creator_fields(const std::string &old, data_fields &fresh,
                                timestamp listed_at) {
  auto put = [&](const char *key, std::string_view v) {
    for (auto &f : fresh)
      if (f.key == key) {
        f.json = std::string{v};
        return;
      }
    fresh.push_back({key, std::string{v}});
  };
  auto drop = [&](const char *key) {
    fresh.erase(
        std::remove_if(fresh.begin(), fresh.end(),
                       [&](const data_field &f) { return f.key == key; }),
        fresh.end());
  };
  if (auto ppid = data_value(old, "Ppid")) {
    std::optional<std::string> listed;
    for (auto &f : fresh)
      if (f.key == "Ppid")
        listed = f.json;
    if (listed && *listed != *ppid)
      put("CurrentPpid", *listed);
    else
      drop("CurrentPpid");
    put("Ppid", *ppid);
  }
  for (auto key : {"ParentSource", "ExecName", "ImageTime"})
    if (auto v = data_value(old, key))
      put(key, *v);
  // An exec or rename after the listing began is newer than the listing's
  // read: its image stays (the sync's row may show the one before).
  auto image_time = data_value(old, "ImageTime");
  if (!image_time || image_time->size() < 2)
    return;
  auto t = parse_time(image_time->substr(1, image_time->size() - 2));
  if (!t || *t < listed_at)
    return;
  for (auto key : {"Name", "Exe", "CommandLine"}) {
    if (auto v = data_value(old, key))
      put(key, *v);
    else
      drop(key);
  }
}

void process_table::refresh_data(process_entry &e, std::string fresh) {
  // The version information of an unchanged Exe stays (SPEC §7: every
  // process with an Exe has it; a listing does not carry it).
  auto vi = data_value(e.data, "VersionInformation");
  if (!vi) {
    set_data(e, std::move(fresh));
    return;
  }
  auto old_exe = data_value(e.data, "Exe");
  auto new_exe = data_value(fresh, "Exe");
  if (!old_exe || !new_exe || *old_exe != *new_exe) {
    set_data(e, std::move(fresh));
    return;
  }
  data_fields keep{{"VersionInformation", std::string{*vi}}};
  auto fresh_of = data_value(fresh, "OriginalFilename");
  auto old_of = data_value(e.data, "OriginalFilename");
  if (old_of
      && (!fresh_of || *fresh_of == "\"-\"" || *fresh_of == "\"\""
          || *fresh_of == "null"))
    keep.push_back({"OriginalFilename", std::string{*old_of}});
  // Reported again only when the listing changed it (take_changes).
  std::string before;
  bool was_sent = e.data_sent;
  if (was_sent)
    before = e.data;
  set_data(e, std::move(fresh));
  merge_data(e, std::move(keep));
  e.data_sent = was_sent && e.data == before;
}

void process_table::set_end(std::uint32_t slot, timestamp end, bool estimate) {
  auto &e = slots_[slot];
  e.end_time = end == unknown_time ? 1 : end; // an exit is never "unknown"
  e.end_is_estimate = estimate;
  refresh_tier(slot);
}

// -- parent resolution and links -------------------------------------------

void process_table::resolve_parent(std::uint32_t child, const std::string &ppid,
                                   const std::string &parent_guid,
                                   std::uint32_t parent_hint) {
  auto start = slots_[child].start_time;
  std::uint32_t parent = parent_hint;
  if (parent == npos && !parent_guid.empty()) {
    // A GUID links exactly. An unknown GUID falls back to the pid only for
    // a holder without a GUID (known from a listing, which carries none),
    // never for a holder whose own GUID is another process's.
    parent = lookup_guid(parent_guid);
    if (parent == npos && !ppid.empty()) {
      parent = lookup_link(ppid);
      if (parent != npos
          && (!slots_[parent].guid.empty() || !held_pid_at(parent, start)))
        parent = npos;
    }
  } else if (parent == npos && !ppid.empty()) {
    parent = lookup_link(ppid);
    if (parent != npos && !before_or_same(slots_[parent].start_time, start))
      parent = npos; // the pid's holder started after the child: reused pid
    else if (parent != npos && ended_before(slots_[parent], start))
      parent = npos; // it had exited: an earlier holder of the pid
  }
  if (parent == child)
    parent = npos;
  if (parent != npos && is_ancestor(child, parent)) {
    // A process cannot be its own ancestor: one of the links is wrong
    // (possible with equal start seconds). Refused, so parent links never
    // loop and exited loops cannot keep each other "live" (eviction tiers).
    ++counters_.parent_loops;
    parent = npos;
  }
  auto &e = slots_[child];
  note_change(child);
  if (parent == npos) {
    e.parent_id = (ppid.empty() ? std::string{"?"} : ppid) + "-?";
    ++counters_.unknown_parents;
    return;
  }
  e.parent_id = slots_[parent].id;
  e.parent_hint = parent;
  auto &p = slots_[parent];
  if (std::find(p.children.begin(), p.children.end(), e.id)
      == p.children.end()) {
    if (p.children.size() < cfg_.max_children)
      p.children.push_back(e.id); // inline: no block of its own
    else
      ++counters_.children_dropped;
  }
  if (e.tier != 0) {
    ++p.live_children;
    refresh_tier(parent);
  }
  touch(parent);
}

void process_table::unlink_parent(std::uint32_t child) {
  auto &e = slots_[child];
  auto parent = parent_of(child);
  if (parent == npos) {
    if (e.tier != 0)
      count_orphan(e.parent_id, -1);
  } else if (parent != child) {
    auto &p = slots_[parent];
    auto it = std::find(p.children.begin(), p.children.end(), e.id);
    if (it != p.children.end())
      p.children.erase(it);
    note_change(parent);
    if (e.tier != 0 && p.live_children > 0) {
      --p.live_children;
      refresh_tier(parent);
    }
  }
  e.parent_hint = npos;
}

bool process_table::ended_before(const process_entry &holder, timestamp start) {
  // end_time 1: ended at a time not known. The slack: a source may give
  // the exit in whole seconds and the child's start with its fraction.
  return !holder.running() && holder.end_time != 1 && start != unknown_time
         && start - holder.end_time > rounding_slack;
}

bool process_table::held_pid_at(std::uint32_t holder, timestamp start) const {
  auto &q = slots_[holder];
  if (!before_or_same(q.start_time, start))
    return false; // started after the child: a later holder
  // Known to have ended before the child started: an earlier holder.
  return q.running() || start == unknown_time || q.end_time >= start;
}

// Whether `ancestor` is `slot` or one of its ancestors: a walk up from
// `slot`. It cannot stop early at a process that started before `ancestor`:
// an unknown start passes every start check and a GUID link checks none, so
// a chain may climb back to later starts above it (a loop through an
// unknown-start process was missed that way).
bool process_table::is_ancestor(std::uint32_t ancestor,
                                std::uint32_t slot) const {
  // Longer chains than this cannot be checked cheaply on every link (a
  // hostile log could make each start walk the whole table): the link is
  // then refused as if it looped. Real process trees are far shallower (a
  // 500-deep chain is linked whole: cache_actor_test).
  constexpr std::size_t max_walk = 1024;
  for (std::size_t steps = 0; slot != npos; ++steps) {
    if (slot == ancestor || steps >= max_walk)
      return true;
    auto &e = slots_[slot];
    if (e.parent_id.empty())
      return false;
    slot = parent_of(slot);
  }
  return false;
}

// `slot` becomes the newest holder of `pid`. A previous holder that is still
// running cannot hold the pid too: it ended when the new one started.
void process_table::take_link(std::uint32_t slot, const std::string &pid,
                              timestamp holder_end) {
  // A row matched by GUID may carry another pid than the process's own
  // (a garbled or hostile log): a bare-pid lookup must never answer a
  // process of another pid.
  if (pid.empty() || slots_[slot].pid() != pid)
    return;
  auto old = links_.insert(pid, slot, pid_key());
  if (old == slot)
    return;
  auto &o = slots_[old];
  auto start = slots_[slot].start_time;
  if (!before_or_same(o.start_time, start)) {
    // Out-of-order input: the newer holder keeps the link and this older
    // process must have ended by the time the newer one started.
    if (slots_[slot].running())
      set_end(slot, o.start_time, true);
    return;
  }
  if (o.running()) {
    set_end(old, holder_end, true);
    ++counters_.pid_reuses;
  }
  links_.assign(pid, slot, pid_key());
}

namespace {

// `exact` is `base` or `base` with a ".N" suffix: an id the table itself
// could have given this pid and start.
bool restorable_id(const std::string &exact, const std::string &base) {
  if (exact.size() < base.size() || exact.compare(0, base.size(), base) != 0)
    return false;
  if (exact.size() == base.size())
    return true;
  return exact.size() > base.size() + 1 && exact[base.size()] == '.'
         && is_digits(std::string_view{exact}.substr(base.size() + 1));
}

} // namespace

bool process_table::restore_parent(std::uint32_t slot,
                                   const process_record &p) {
  auto &rid = p.parent_real_id;
  if (rid.empty())
    return false;
  note_change(slot);
  auto &e = slots_[slot];
  if (rid.size() >= 2 && rid.compare(rid.size() - 2, 2, "-?") == 0) {
    e.parent_id = rid; // unknown then, unknown now
    ++counters_.unknown_parents;
    return true;
  }
  auto parent = lookup_real_id(rid);
  if (parent == npos) {
    // Not in the listing (evicted before the stream was written): the
    // entry keeps naming it, as the original did, and counts as its live
    // child should a process with that id be cached again.
    e.parent_id = rid;
    if (e.tier != 0)
      count_orphan(rid, 1);
    return true;
  }
  // (A row naming itself as its parent gets an unknown parent here.)
  resolve_parent(slot, std::string{slots_[parent].pid()}, {}, parent);
  return true;
}

void process_table::restore_end(std::uint32_t slot, const process_record &p) {
  note_change(slot);
  auto &e = slots_[slot];
  if (p.keeps_last_sync)
    e.last_sync_time = p.last_sync_time;
  // The stored list as it was (order, and ids of children evicted since),
  // within max-children.
  if (p.keeps_children) {
    e.children.assign(p.children.begin(),
                      p.children.begin()
                          + std::min(p.children.size(), cfg_.max_children));
  }
  // Like an exit row: overrides an estimate, not an earlier explicit end.
  if (p.end_time != unknown_time && (e.running() || e.end_is_estimate))
    set_end(slot, p.end_time, false);
}

void process_table::apply_pending_exit(std::uint32_t slot,
                                       const std::string &pid) {
  if (pending_exits_.empty())
    return;
  auto &e = slots_[slot];
  auto hit = pending_exits_.find(e.guid.view());
  if (hit == pending_exits::npos)
    hit = pending_exits_.find(e.id.view());
  if (hit == pending_exits::npos) {
    auto h = pending_exits_.find(pid);
    if (h != pending_exits::npos && pending_exits_.end(h) >= e.start_time)
      hit = h;
  }
  if (hit == pending_exits::npos)
    return;
  auto end = pending_exits_.end(hit);
  // By GUID or real id an end before the start is wrong (as in apply_exit);
  // by bare pid it was never taken (the test above).
  bool refused = e.start_time != unknown_time && end < e.start_time;
  pending_exits_.erase(hit);
  if (refused) {
    ++counters_.exits_refused;
    return;
  }
  set_end(slot, end, false);
  ++counters_.late_exits;
}

// -- updates -----------------------------------------------------------------

const process_entry *process_table::apply(process_update &&u) {
  // Parts of one listing come together; any other update first finishes
  // one left open (docs/semantics.md, sync).
  if (u.kind != update_kind::sync)
    end_sync();
  switch (u.kind) {
  case update_kind::start: {
    ++counters_.starts;
    normalize_guid_in_place(u.process.guid);
    observe_time(u.process.start_time, u.process.pid, u.process.guid);
    auto slot = apply_start(std::move(u.process));
    return slot != npos && slots_[slot].used ? &slots_[slot] : nullptr;
  }
  case update_kind::exit:
    ++counters_.exits;
    if (u.time == unknown_time) {
      // An exit that cannot say when is not an exit (nothing is made up).
      ++counters_.exits_refused;
      break;
    }
    {
      normalize_guid_in_place(u.process.guid);
      std::string target_guid; // an exit naming a GUID as its target
      std::string_view guid = u.process.guid;
      if (guid.empty()) {
        target_guid = normalize_guid(exit_guid(u.target, {}));
        guid = target_guid;
      }
      observe_time(u.time, exit_pid(u.target, u.process.pid), guid);
      apply_exit(u.target, u.process, u.time);
    }
    break;
  case update_kind::sync:
    // A new listing, or a part with no listing open (one lost before it):
    // a listing of its own. An unfinished one is finished first.
    if (u.part == sync_part::whole || u.part == sync_part::first
        || !sync_.open) {
      end_sync();
      begin_sync(u.time);
    }
    sync_rows(std::move(u.processes));
    if (u.part == sync_part::whole || u.part == sync_part::last)
      end_sync();
    break;
  }
  return nullptr;
}

namespace {

// The plain text of an Exe value (raw JSON text); "" unless a string.
std::string exe_text(std::string_view raw) {
  json_scan::scanner sc(raw);
  json_scan::value v;
  if (!sc.scan(v) || v.k != json_scan::kind::string)
    return {};
  std::string buf;
  return std::string(json_scan::string_text(v, buf));
}

} // namespace

apply_report process_table::apply(update_batch &&b, const batch_options &opt) {
  apply_report r;
  if (opt.keep_applied)
    r.applied = b; // before the table moves the data out
  // Listed processes are looked at once the whole batch is in: one the
  // listing kept with its version information needs none.
  std::vector<std::pair<std::string, std::string>> listed;
  for (auto &u : b.updates) {
    if (opt.report_created && u.kind == update_kind::sync)
      for (auto &p : u.processes)
        for (auto &f : p.data)
          if (f.key == "Exe") {
            if (auto path = exe_text(f.json); !path.empty())
              listed.emplace_back(make_real_id(p.pid, p.start_time),
                                  std::move(path));
            break;
          }
    auto *e = apply(std::move(u));
    ++r.updates;
    if (opt.report_created && e)
      if (auto raw = data_value(e->data, "Exe"))
        if (auto path = exe_text(*raw); !path.empty())
          r.to_enrich.emplace_back(std::string(std::string_view(e->id)),
                                   std::move(path));
  }
  for (auto &[id, path] : listed)
    if (auto *e = peek(id); e && !data_value(e->data, "VersionInformation"))
      r.to_enrich.emplace_back(std::move(id), std::move(path));
  for (auto &pe : b.enrichments)
    apply_enrichment(pe);
  if (opt.remembered) {
    // What is known already is merged now, and only the rest is reported.
    std::vector<std::pair<std::string, std::string>> unknown;
    for (auto &item : r.to_enrich) {
      auto *known = opt.remembered(item.second);
      if (!known)
        unknown.push_back(std::move(item));
      else if (apply_enrichment(item.first, *known) && r.applied)
        r.applied->enrichments.push_back({item.first, *known});
    }
    r.to_enrich = std::move(unknown);
  }
  if (b.expire_at != unknown_time)
    expire(b.expire_at);
  return r;
}

namespace {

// The file name of an Exe given as JSON text ("C:\\Windows\\cmd.exe"),
// lower-cased: a listing and an event may spell the directory otherwise
// (a device path, another case).
std::string exe_name_of(std::string_view raw) {
  if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"')
    raw = raw.substr(1, raw.size() - 2);
  auto cut = raw.find_last_of("\\/");
  if (cut != std::string_view::npos)
    raw.remove_prefix(cut + 1);
  std::string out{raw};
  for (auto &c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

} // namespace

bool process_table::other_process(const process_entry &h,
                                  const process_record &p) const {
  const std::string *exe = nullptr; // the last one given: the one stored
  for (auto &f : p.data)
    if (f.key == "Exe")
      exe = &f.json;
  if (exe && *exe != "null") {
    // An Exe given empty ("") names nothing: compared only when both do.
    auto held = data_value(h.data, "Exe");
    auto mine = exe_name_of(*exe);
    if (held && *held != "null" && !mine.empty()) {
      auto theirs = exe_name_of(*held);
      if (!theirs.empty() && theirs != mine)
        return true;
    }
  }
  // A listing's parent may be a reaper (Linux): only a start event's
  // parent is the creator.
  std::string_view held = h.parent_id;
  if (h.last_sync_time != unknown_time || !is_digits(p.ppid)
      || held.find('-') == std::string_view::npos)
    return false;
  auto creator = pid_of(held);
  return !creator.empty() && creator != p.ppid;
}

std::uint32_t process_table::apply_start(process_record &&p) {
  normalize_guid_in_place(p.guid);
  normalize_guid_in_place(p.parent_guid);
  auto parent_guid = std::move(p.parent_guid);
  // An exact start (Linux agent) is the process with this pid and exactly
  // this start; a fork's (exact_new) only while it runs (docs/semantics.md).
  const bool exact = p.identity != record_identity::approximate
                     && p.start_time != unknown_time && !p.pid.empty();
  const bool fresh = exact && p.identity == record_identity::exact_new;
  std::uint32_t same = lookup_guid(p.guid);
  bool collision = false;
  auto &id = new_id_; // reused: no allocation per start
  real_id_into(id, p.pid, p.start_time);
  if (same == npos && exact) {
    auto holder = lookup_link(p.pid);
    if (holder == npos || slots_[holder].start_time != p.start_time)
      holder = lookup_exact(p.pid, p.start_time);
    if (holder != npos && (!fresh || slots_[holder].running()))
      same = holder;
    else if (lookup_real_id(id) != npos) {
      collision = true; // same pid and second, another process
      ++counters_.same_second_pids;
    }
    if (same != npos && !fresh)
      revive(same); // an exec or rename proves it alive
  } else if (same == npos && !p.pid.empty()) {
    auto holder = lookup_link(p.pid);
    if (holder != npos) {
      auto &h = slots_[holder];
      bool guids_agree = p.guid.empty() || h.guid.empty() || p.guid == h.guid;
      bool times_agree =
          p.start_time == unknown_time || h.start_time == unknown_time
          || abs_within(h.start_time, p.start_time, rounding_slack);
      // Without GUIDs, a start within the slack of a running holder
      // whose image or creator differs is the pid's next process (its
      // exit not logged), not the holder seen again.
      bool reused = p.guid.empty() && h.guid.empty() && h.running()
                    && p.start_time != unknown_time
                    && h.start_time != unknown_time && times_agree
                    && other_process(h, p);
      if (reused) {
        if (lookup_real_id(id) != npos) {
          collision = true; // the same second: "<pid>-<seconds>.N"
          ++counters_.same_second_pids;
        }
      } else if (guids_agree && times_agree && h.running())
        same = holder;
      else if (guids_agree && !h.running() && p.start_time != unknown_time
               && h.start_time == p.start_time)
        same = holder;
    }
  }
  bool guid_collision = false;
  if (same == npos && !exact && !collision) {
    auto exact = lookup_real_id(id);
    if (exact != npos) {
      auto &x = slots_[exact];
      if (!p.guid.empty() && !x.guid.empty() && x.guid != p.guid) {
        // Same pid and second, different GUIDs: two processes.
        collision = guid_collision = true;
      } else if (started_after_exit(x, p.start_time)
                 && (started_after_exit(x, p.start_time, restated_start_slack)
                     || other_process(x, p))) {
        // Same pid and second, started after the other's logged exit: well
        // after it, or as another image or creator (a second source of a
        // short-lived process may date its start just after the exit).
        collision = true;
        ++counters_.same_second_pids;
      } else {
        same = exact;
      }
    }
  }
  if (same != npos) {
    auto &e = slots_[same];
    if (e.guid.empty() && !p.guid.empty()) {
      e.guid = p.guid;
      by_guid_.assign(e.guid, same, guid_key());
    }
    // A fork names the creator. A listing applied before it (the event
    // overtaken by a sync between its flush and its read of /proc, the
    // creator gone and the child listed under the reaper) named the
    // reaper: the creator replaces that parent, and only that one.
    bool creator_known = false;
    if (fresh && is_digits(p.ppid)) {
      auto source = data_value(e.data, "ParentSource");
      creator_known =
          source && *source == "\"listing\"" && pid_of(e.parent_id) != p.ppid;
    }
    merge_data(e, std::move(p.data));
    if (creator_known) {
      unlink_parent(same);
      resolve_parent(same, p.ppid, parent_guid, npos);
    }
    ++counters_.start_merges;
    touch(same);
    evict_if_full(); // the merged data may be larger
    return same;
  }
  if (collision) {
    id = unique_id(id);
    if (guid_collision)
      ++counters_.guid_collisions;
  }
  auto slot = insert(id, std::move(p)); // takes only p's guid and data
  resolve_parent(slot, p.ppid, parent_guid, npos);
  take_link(slot, p.pid, slots_[slot].start_time);
  apply_pending_exit(slot, p.pid);
  evict_if_full();
  return slot;
}

void process_table::apply_exit(std::string_view target, const process_record &p,
                               timestamp end) {
  std::uint32_t slot = npos;
  std::string_view guid = p.guid; // normalised by apply()
  if (!guid.empty())
    slot = lookup_guid(guid);
  // An exact exit (Linux agent) ends only the process with its pid and
  // start, never the pid's next holder.
  const bool exact = p.identity != record_identity::approximate
                     && p.start_time != unknown_time && !p.pid.empty();
  std::string exact_key;
  if (slot == npos && exact) {
    slot = lookup_link(p.pid);
    if (slot == npos || slots_[slot].start_time != p.start_time)
      slot = lookup_exact(p.pid, p.start_time);
    if (slot == npos) {
      exact_key = make_real_id(p.pid, p.start_time); // the pending exit's key
      target = exact_key;
    }
  } else if (slot == npos && !target.empty())
    slot = lookup(target);
  if (slot == npos && !p.pid.empty() && guid.empty() && !exact)
    slot = lookup_link(p.pid);
  if (slot != npos) {
    auto &e = slots_[slot];
    bool by_pid = !exact && guid.empty() && is_digits(trim(target));
    if (end != unknown_time && e.start_time != unknown_time
        && end < e.start_time) {
      if (by_pid) {
        slot = npos; // the exit of an older holder of that pid
      } else {
        // The process named exactly cannot have ended before it started:
        // the exit's time is wrong, so it changes nothing.
        ++counters_.exits_refused;
        return;
      }
    }
  }
  if (slot == npos) {
    ++counters_.unknown_exits;
    // Remember it: with out-of-order logs the start may still come, and it
    // must then not stay a phantom running process.
    std::string key =
        !guid.empty() ? std::string{guid} : std::string{trim(target)};
    if (key.empty())
      key = p.pid;
    pending_exits_.add(key, end);
    return;
  }
  auto &e = slots_[slot];
  if (e.running() || e.end_is_estimate)
    set_end(slot, end, false);
  touch(slot);
}

void process_table::begin_sync(timestamp time) {
  ++counters_.syncs;
  observe_time(time);
  sync_ = open_sync{};
  sync_.open = true;
  sync_.gen = ++sync_generation_;
  sync_.time = time;
  counters_.last_sync_time = time;
  counters_.last_sync_size = 0;
}

// A placed entry still speaks for its process: not evicted since, and no
// later row of this sync listed the same process (last row wins).
bool process_table::sync_current(std::size_t i) const {
  auto &e = slots_[sync_.placed[i].slot];
  return e.used && e.seen_in_sync == sync_.gen && e.sync_row == i;
}

void process_table::compact_sync() {
  auto &placed = sync_.placed;
  std::size_t n = 0;
  for (std::size_t i = 0; i < placed.size(); ++i)
    if (sync_current(i)) {
      slots_[placed[i].slot].sync_row = n;
      if (n != i)
        placed[n] = std::move(placed[i]);
      ++n;
    }
  placed.resize(n);
}

void process_table::sync_rows(std::vector<process_record> &&listing) {
  // Memory follows max-size, not the listing's length: each row is applied
  // (and its data released) as it comes, the table evicts as it goes, and
  // what the end of the sync needs of a row (its ids, ppid, restored state:
  // no Data) is remembered only while its process is cached (`placed`,
  // compacted as processes are evicted). A listing may come in parts
  // (sync_part); nothing here depends on where a part ends.
  auto gen = sync_.gen;
  auto time = sync_.time;
  auto &slots = sync_.placed;
  counters_.last_sync_size += static_cast<std::int64_t>(listing.size());
  auto place = [&](std::uint32_t slot, process_record &&row, bool created) {
    if (slots.size() >= 2 * cfg_.max_size + 64)
      compact_sync();
    data_fields{}.swap(row.data);
    if (row.children.size() > cfg_.max_children)
      row.children.resize(cfg_.max_children);
    slots_[slot].sync_row = slots.size();
    slots.push_back({slot, std::move(row), created});
  };
  // Pass 1: find or create every listed process.
  for (std::size_t row = 0; row < listing.size(); ++row) {
    auto &p = listing[row];
    normalize_guid_in_place(p.guid);
    std::uint32_t slot = lookup_guid(p.guid);
    bool after_exit = false; // the pid's holder exited before this listing
    const bool exact =
        p.identity != record_identity::approximate && !p.pid.empty();
    if (slot == npos && exact) {
      // Exact starts (Linux agent): the same pid and start, nothing else.
      slot = lookup_link(p.pid);
      if (slot == npos || slots_[slot].start_time != p.start_time)
        slot = lookup_exact(p.pid, p.start_time);
    } else if (slot == npos && !p.pid.empty()) {
      auto holder = lookup_link(p.pid);
      if (holder != npos) {
        auto &h = slots_[holder];
        bool guids_agree = p.guid.empty() || h.guid.empty() || p.guid == h.guid;
        after_exit = exited_before_listing(h, p.start_time, time);
        if (guids_agree && !after_exit
            && (p.start_time == unknown_time || h.start_time == unknown_time
                || abs_within(h.start_time, p.start_time, rounding_slack)))
          slot = holder;
      }
    }
    if (slot == npos && p.guid.empty() && !exact) {
      slot = lookup_real_id(make_real_id(p.pid, p.start_time));
      if (slot != npos
          && exited_before_listing(slots_[slot], p.start_time, time)) {
        slot = npos; // listed, so running: the pid's next holder
        after_exit = true;
      }
    }
    if (slot != npos && exact)
      keep_creator_fields(slots_[slot].data, p.data, time);
    if (slot != npos && slots_[slot].seen_in_sync == gen) {
      // Listed twice: the same process, never a second one. The last row
      // wins (its data here, its ppid in pass 2); the earlier row is skipped.
      bool created = slots[slots_[slot].sync_row].created;
      refresh_data(slots_[slot], stored_data(std::move(p.data)));
      touch(slot);
      place(slot, std::move(p), created);
      continue;
    }
    if (slot != npos) {
      auto &e = slots_[slot];
      refresh_data(
          e, stored_data(std::move(p.data))); // the fresh listing replaces data
      e.last_sync_time = time;
      e.seen_in_sync = gen;
      if (!e.running() && e.end_is_estimate && e.end_time <= time)
        e.end_time = unknown_time, e.end_is_estimate = false,
        refresh_tier(slot); // listed, so alive after all
      else if (exact && !e.running() && e.end_time < time)
        revive(slot); // an exit applied to it before this listing was wrong
      touch(slot);
      place(slot, std::move(p), false);
    } else {
      auto id = make_real_id(p.pid, p.start_time);
      if (restorable_id(p.real_id, id) && lookup_real_id(p.real_id) == npos)
        id = p.real_id; // a replayed output stream names its exact id
      else if (lookup_real_id(id) != npos) {
        // Same pid and second: another GUID, another start (exact), or
        // listed after the other's logged exit.
        id = unique_id(id);
        if (after_exit)
          ++counters_.same_second_pids;
      }
      process_record rec;
      rec.pid = p.pid;
      rec.ppid = p.ppid;
      rec.guid = p.guid;
      rec.parent_guid = p.parent_guid;
      rec.start_time = p.start_time;
      rec.data = std::move(p.data);
      auto s = insert(std::move(id), std::move(rec));
      slots_[s].last_sync_time = time;
      slots_[s].seen_in_sync = gen;
      place(s, std::move(p), true);
      // Room for the next row: the least valuable process goes now (a
      // process not listed yet is older in its tier than the ones listed).
      evict_if_full();
    }
  }
}

void process_table::end_sync() {
  if (!sync_.open)
    return;
  compact_sync();
  auto gen = sync_.gen;
  auto time = sync_.time;
  auto &slots = sync_.placed;
  // Pass 2: parents, within the listing first, then known entries.
  // (After compact(): one entry per listed process still cached.)
  std::unordered_map<std::string, std::uint32_t> listed_pid;
  listed_pid.reserve(slots.size());
  for (auto &pl : slots)
    if (!pl.row.pid.empty())
      listed_pid.emplace(pl.row.pid, pl.slot);
  for (std::size_t i = 0; i < slots.size(); ++i) {
    auto slot = slots[i].slot;
    auto &e = slots_[slot];
    bool unknown_parent = e.parent_id.empty() || unknown_parent_id(e.parent_id);
    if (!slots[i].created && !unknown_parent)
      continue; // a known parent/child relation is never rewritten
    auto &p = slots[i].row;
    if (slots[i].created && restore_parent(slot, p))
      continue;
    if (slots[i].created) {
      std::uint32_t hint = npos;
      auto lp = listed_pid.find(p.ppid);
      if (lp != listed_pid.end() && lp->second != slot
          && before_or_same(slots_[lp->second].start_time, e.start_time))
        hint = lp->second;
      resolve_parent(slot, p.ppid, normalize_guid(p.parent_guid), hint);
      continue;
    }
    // A known process with an unknown parent: only the process that held
    // the *recorded* ppid when the child started may fill it in. The
    // listing's ppid may be a reaper (Linux re-parents orphans to init or a
    // subreaper after a double fork), which never started the child.
    std::string recorded;
    if (e.parent_id.size() > 2)
      recorded = e.parent_id.view().substr(0, e.parent_id.size() - 2);
    if (recorded.empty() || recorded == "?")
      continue; // no pid was recorded: nothing to match
    auto started_it = [&](std::uint32_t c) {
      return c != npos && c != slot && slots_[c].pid() == recorded
             && held_pid_at(c, e.start_time);
    };
    std::uint32_t hint = npos;
    auto lp = listed_pid.find(recorded);
    if (lp != listed_pid.end() && started_it(lp->second))
      hint = lp->second;
    if (hint == npos) {
      auto known = normalize_guid(p.parent_guid);
      auto cand = !known.empty() ? lookup_guid(known) : lookup_link(recorded);
      if (cand == npos && !known.empty()) {
        // An unknown GUID: the pid's holder, if it has no GUID (as above).
        cand = lookup_link(recorded);
        if (cand != npos && !slots_[cand].guid.empty())
          cand = npos;
      }
      if (!started_it(cand))
        continue; // still unknown: leave it as it was
      hint = cand;
    }
    --counters_.unknown_parents; // it was counted when it was unknown
    resolve_parent(slot, recorded, {}, hint);
  }
  // Pass 2b: ends and LastSyncTime a replayed output stream states; before
  // the links, so an exited holder is not taken for a pid reuse.
  for (auto &pl : slots)
    if (slots_[pl.slot].used)
      restore_end(pl.slot, pl.row);
  // Pass 3: links. The listed process is the pid's holder now. Between two
  // restored processes of one pid (a replayed output stream, which states
  // every end) the link only moves, never ends one: the running one holds
  // it, else the later start, as in the cache that wrote the stream (an
  // exited holder listed after a running one with an unknown start would
  // otherwise end it).
  auto restored = [](const process_record &r) {
    return !r.real_id.empty() || !r.parent_real_id.empty() || r.keeps_last_sync
           || r.keeps_children;
  };
  for (auto &pl : slots) {
    if (!pl.created || !slots_[pl.slot].used)
      continue;
    auto held = restored(pl.row) ? lookup_link(pl.row.pid) : npos;
    if (held != npos && held != pl.slot && slots_[held].seen_in_sync == gen
        && restored(slots[slots_[held].sync_row].row)
        && slots_[pl.slot].pid() == pl.row.pid) {
      auto &n = slots_[pl.slot];
      auto &o = slots_[held];
      bool take = n.running() != o.running()
                      ? n.running()
                      : before_or_same(o.start_time, n.start_time);
      if (take)
        links_.assign(pl.row.pid, pl.slot, pid_key());
      continue;
    }
    take_link(pl.slot, pl.row.pid, time);
  }
  // Pass 4: a running process that is not listed has exited; the end is
  // estimated as this sync's time (docs/semantics.md).
  // Walked in eviction order (running processes are in tiers 1 and 2), not
  // slot order: the order the ends are set in decides the lists' order, and
  // it must not depend on memory layout, or a mirror built from
  // export_state() would drift from its host.
  // A listing with no known time cannot say when the others ended: it ends
  // none (nothing is made up), and says so in UntimedSyncs.
  if (time == unknown_time)
    ++counters_.untimed_syncs;
  std::vector<std::uint32_t> gone;
  for (int tier = 1; tier <= 2 && time != unknown_time; ++tier)
    for (auto s = lists_[tier].head; s != npos; s = slots_[s].next) {
      auto &e = slots_[s];
      if (e.running() && e.seen_in_sync != gen
          && before_or_same(e.start_time, time))
        gone.push_back(s);
    }
  for (auto s : gone) {
    set_end(s, time, true);
    ++counters_.sync_exits;
  }
  if (!restored_running_.empty())
    reconcile_restored(gen);
  sync_ = open_sync{};
  evict_if_full();
}

void process_table::reconcile_restored(std::uint64_t gen) {
  for (auto &id : restored_running_) {
    auto slot = lookup_real_id(id);
    if (slot == npos)
      continue;
    auto &e = slots_[slot];
    // Ended by this listing (not listed, or its pid reused), not by an
    // exit event: it ended while the agent was down.
    if (e.running() || !e.end_is_estimate || e.seen_in_sync == gen)
      continue;
    auto end = std::max({restored_alive_, e.start_time, e.last_sync_time});
    if (end != unknown_time && end < e.end_time)
      set_end(slot, end, true);
    data_fields mark;
    mark.push_back({"EndTimeEstimated", "true"});
    merge_data(e, std::move(mark));
  }
  restored_running_.clear();
  restored_running_.shrink_to_fit();
}

void process_table::merge_enrichment(process_entry &e, const enrichment &en) {
  data_fields add;
  add.push_back({"VersionInformation", en.version_info_json});
  auto of = find_field(e.data, "OriginalFilename");
  if ((!of || *of == "\"-\"" || *of == "\"\"" || *of == "null")
      && !en.original_filename.empty())
    add.push_back({"OriginalFilename", json_string(en.original_filename)});
  merge_data(e, std::move(add));
}

std::size_t process_table::apply_enrichment(const enrichment &en) {
  if (!en.ok)
    return 0;
  std::size_t n = 0;
  auto path_json = json_string(en.path);
  for (auto &e : slots_) {
    if (!e.used)
      continue;
    auto exe = find_field(e.data, "Exe");
    if (!exe || *exe != path_json)
      continue;
    merge_enrichment(e, en);
    ++n;
  }
  evict_if_full(); // the version information counts in max_bytes too
  return n;
}

const process_entry *process_table::peek(std::string_view real_id) const {
  auto slot = lookup_real_id(real_id);
  return slot == npos ? nullptr : &slots_[slot];
}

bool process_table::apply_enrichment(std::string_view id,
                                     const enrichment &en) {
  auto slot = lookup_real_id(id);
  if (slot == npos || !en.ok)
    return false;
  merge_enrichment(slots_[slot], en);
  evict_if_full();
  return true;
}

std::size_t process_table::apply_enrichment(const process_enrichment &pe) {
  if (pe.id.empty())
    return apply_enrichment(pe.info);
  return apply_enrichment(pe.id, pe.info) ? 1 : 0;
}

// -- state transfer
// ------------------------------------------------------------

void process_table::track_changes(bool on) {
  if (!on && tracking_) {
    for (auto slot : changed_)
      slots_[slot].changed = false;
    changed_.clear();
    removed_changes_.clear();
  }
  tracking_ = on;
}

std::vector<history_row> process_table::rows() const {
  std::vector<history_row> out;
  out.reserve(by_id_.size());
  for (auto &l : lists_)
    for (auto slot = l.head; slot != npos; slot = slots_[slot].next)
      out.push_back(change_of(slots_[slot]));
  return out;
}

std::vector<history_row> process_table::take_changes() {
  auto out = std::move(removed_changes_);
  removed_changes_.clear();
  out.reserve(out.size() + changed_.size());
  for (auto slot : changed_) {
    auto &e = slots_[slot];
    if (!e.changed)
      continue; // removed since (in removed_changes_), or listed twice
    e.changed = false;
    out.push_back(take_change_of(e));
  }
  changed_.clear();
  return out;
}

table_state process_table::export_state() const {
  table_state s;
  s.now = now_;
  s.last_expiry_run = last_expiry_run_;
  // The earliest candidate only: a mirror counts it as one witness
  // (table_state holds one time).
  if (!clock_candidates_.empty())
    s.clock_candidate = clock_candidates_.front().time;
  s.pending_exits.reserve(pending_exits_.size());
  pending_exits_.for_each([&](const std::string &key, timestamp end) {
    s.pending_exits.push_back({key, end});
  });
  s.processes.reserve(by_id_.size());
  for (auto &l : lists_)
    for (auto slot = l.head; slot != npos; slot = slots_[slot].next) {
      auto &e = slots_[slot];
      process_state p;
      p.id = e.id;
      p.parent_id = e.parent_id;
      p.guid = e.guid;
      p.start_time = e.start_time;
      p.end_time = e.end_time;
      p.last_sync_time = e.last_sync_time;
      p.data = e.data;
      p.children.assign(e.children.begin(), e.children.end());
      p.live_children = e.live_children;
      p.end_is_estimate = e.end_is_estimate;
      p.holds_pid = lookup_link(e.pid()) == slot;
      p.holds_guid = !e.guid.empty() && lookup_guid(e.guid) == slot;
      s.processes.push_back(std::move(p));
    }
  return s;
}

std::size_t process_table::import_state(table_state &&s) {
  sync_ = open_sync{}; // a state replaces a listing left unfinished
  if (s.now > now_)
    now_ = s.now;
  if (s.last_expiry_run != unknown_time)
    last_expiry_run_ = s.last_expiry_run;
  if (s.clock_candidate != unknown_time)
    clock_candidates_.assign(1, clock_witness{s.clock_candidate, {}, {}});
  for (auto &pe : s.pending_exits)
    pending_exits_.add(pe.key, pe.time);
  std::size_t skipped = 0;
  // In eviction order: each goes to the back of its tier's list, so the
  // lists come out in the order they had.
  for (auto &p : s.processes) {
    if (p.id.empty() || lookup_real_id(p.id) != npos) {
      ++skipped;
      continue;
    }
    auto slot = allocate_slot();
    auto &e = slots_[slot];
    e.id = std::move(p.id);
    e.parent_id = std::move(p.parent_id);
    e.guid = std::move(p.guid);
    e.start_time = p.start_time;
    e.end_time = p.end_time;
    e.last_sync_time = p.last_sync_time;
    // Answers splice Data unchanged, so it must be one JSON object; packed
    // again so a peer's duplicate keys become one (append_packed_data).
    e.data.clear();
    set_data(e, is_json_object(p.data) ? stored_data(unpack_data(p.data))
                                       : std::string{"{}"});
    e.children.assign(p.children.begin(),
                      p.children.begin()
                          + std::min(p.children.size(), cfg_.max_children));
    e.live_children = p.live_children;
    e.seen_in_sync = 0;
    e.end_is_estimate = p.end_is_estimate;
    e.used = true;
    e.tier = tier_of(e);
    list_push_back(slot);
    note_change(slot);
    by_id_.insert(e.id, slot, id_key());
    note_suffix(e.id);
    if (p.holds_pid)
      links_.assign(e.pid(), slot, pid_key());
    if (p.holds_guid && !e.guid.empty())
      by_guid_.assign(e.guid, slot, guid_key());
    evict_if_full();
  }
  // Live children whose parent is not cached, from scratch: the imported
  // counts are the exporter's, and its orphans are not part of the state.
  orphan_live_.clear();
  by_id_.for_each([this](std::uint32_t slot) {
    auto &e = slots_[slot];
    if (e.tier != 0 && lookup_real_id(e.parent_id) == npos)
      count_orphan(e.parent_id, 1);
  });
  return skipped;
}

std::size_t process_table::restore_state(table_state &&s,
                                         timestamp last_alive) {
  std::vector<std::string> running;
  for (auto &p : s.processes)
    if (p.end_time == unknown_time && !p.id.empty()
        && lookup_real_id(p.id) == npos)
      running.push_back(p.id);
  auto skipped = import_state(std::move(s));
  for (auto &id : running)
    restored_running_.push_back(std::move(id));
  restored_alive_ = last_alive;
  return skipped;
}

// -- queries -----------------------------------------------------------------

const process_entry *process_table::find(std::string_view id) {
  auto slot = lookup(id);
  if (slot == npos) {
    ++counters_.misses;
    return nullptr;
  }
  ++counters_.hits;
  touch(slot);
  return &slots_[slot];
}

std::vector<const process_entry *> process_table::callchain(std::string_view id,
                                                            std::size_t max) {
  std::vector<const process_entry *> chain;
  auto slot = lookup(id);
  if (slot == npos) {
    ++counters_.misses;
    return chain;
  }
  ++counters_.hits;
  touch(slot);
  std::unordered_set<std::uint32_t> seen;
  while (slot != npos && chain.size() < max && seen.insert(slot).second) {
    chain.push_back(&slots_[slot]);
    slot = parent_of(slot);
  }
  std::reverse(chain.begin(), chain.end());
  return chain;
}

std::vector<const process_entry *> process_table::children(std::string_view id,
                                                           std::size_t max) {
  std::vector<const process_entry *> out;
  auto e = find(id);
  if (!e)
    return out;
  for (auto &c : e->children) {
    auto s = lookup_real_id(c);
    if (s != npos)
      out.push_back(&slots_[s]);
  }
  std::sort(out.begin(), out.end(), by_start);
  if (out.size() > max)
    out.resize(max);
  return out;
}

std::vector<const process_entry *> process_table::entries() const {
  std::vector<const process_entry *> out;
  out.reserve(by_id_.size());
  for (auto &e : slots_)
    if (e.used)
      out.push_back(&e);
  std::sort(out.begin(), out.end(), by_start);
  return out;
}

std::vector<counter> process_table::counter_list() const {
  auto &c = counters_;
  return {
      {"Length", static_cast<std::int64_t>(size())},
      {"Capacity", static_cast<std::int64_t>(cfg_.max_size)},
      {"Links", static_cast<std::int64_t>(links_.size())},
      {"Evictions", c.evictions},
      {"Expired", c.expired},
      {"Hits", c.hits},
      {"Misses", c.misses},
      {"StartUpdates", c.starts},
      {"ExitUpdates", c.exits},
      {"SyncUpdates", c.syncs},
      {"StartMerges", c.start_merges},
      {"UnknownParents", c.unknown_parents},
      {"PidReuses", c.pid_reuses},
      {"UnknownExits", c.unknown_exits},
      {"LateExits", c.late_exits},
      {"ChildrenDropped", c.children_dropped},
      {"GuidCollisions", c.guid_collisions},
      {"SyncExits", c.sync_exits},
      {"ParentLoops", c.parent_loops},
      {"DataBytes", static_cast<std::int64_t>(data_bytes_)},
      {"MaxBytes", static_cast<std::int64_t>(cfg_.max_bytes)},
      {"TruncatedFields", c.truncated_fields},
      {"ByteEvictions", c.byte_evictions},
      {"ClockOutliers", c.clock_outliers},
      {"ExitsRefused", c.exits_refused},
      {"UntimedSyncs", c.untimed_syncs},
      {"ExitsRevived", c.exits_revived},
      {"SameSecondPids", c.same_second_pids},
      {"LastSyncSize", c.last_sync_size},
      {"LastSyncTime", c.last_sync_time},
  };
}

} // namespace proctrack
