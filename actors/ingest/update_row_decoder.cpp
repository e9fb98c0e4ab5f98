#include "actors/ingest/update_row_decoder.hpp"

#include "actors/cache/process_table.hpp"
#include "actors/common/json_scan.hpp"
#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

#include <algorithm>
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
  std::string buf, why;
  if (v.k == kind::string) {
    t = parse_time(json_scan::string_text(v, buf), &why);
  } else if (v.k == kind::number && !v.raw.empty() && v.raw[0] != '-') {
    // Unix seconds, integer or fractional.
    std::string num{v.raw};
    char *end = nullptr;
    double d = std::strtod(num.c_str(), &end);
    if (end && *end == '\0')
      t = from_unix_seconds(d);
  } else if (v.k == kind::null) {
    return unknown_time;
  }
  if (!t)
    throw field_error{"\"" + std::string{key}
                      + "\" is not a time: " + std::string{v.raw.substr(0, 64)}
                      + (why.empty() ? std::string{} : " (" + why + ")")};
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
  // The fields go to a scratch vector first and then into the record at
  // their exact count: growing the record's vector field by field took
  // five reallocations for a Sysmon row (~11% of a replay's decoding).
  // (A row that throws leaves them there; the next row clears them.)
  thread_local data_fields scratch;
  scratch.clear();
  auto flush = [&p] {
    p.data.reserve(p.data.size() + scratch.size());
    for (auto &f : scratch)
      p.data.push_back(std::move(f));
    scratch.clear();
    if (scratch.capacity() > 256)
      data_fields{}.swap(scratch); // a hostile row's size is not kept
  };
  while (sc.next_key(first, k, esc)) {
    value dv;
    if (!sc.scan(dv)) {
      flush();
      return;
    }
    if (k == "ProcessGuid" && dv.k == kind::string)
      p.guid = normalize_guid(json_scan::string_text(dv, buf));
    else if (k == "ParentProcessGuid" && dv.k == kind::string)
      p.parent_guid = normalize_guid(json_scan::string_text(dv, buf));
    scratch.push_back({key_text(k, esc), std::string{dv.raw}});
  }
  flush();
}

// Where a listing's processes resume after the first part: the scanner
// just before the next element (or key), in the line's own text.
struct listing_cursor {
  scanner sc{std::string_view{}};
  bool first = false;
  bool keyed = false;   ///< Velociraptor's `"data":{ID: entry}`
  bool entries = false; ///< entries restored as they are (keyed or a list)
  std::size_t index = 0;
};

// The keys of a row (or of one process of a sync), gathered in one pass.
struct row_fields {
  process_record rec;
  bool have_id = false;
  std::string id; ///< as given (pid, real id or GUID)
  value type, end_time, time, data;
  bool have_type = false, have_end = false, have_time = false;
  bool have_data = false; ///< top level: `data`, read once the type is known
  bool have_processes = false;
  bool restored = false; ///< a listed process carrying its cache entry
  std::vector<process_record> processes;
  std::string host; ///< the row's "host", when a string
  /// Listed processes kept in `processes`; the ones after are checked
  /// (decoded and dropped) and counted, and `rest` says where they begin.
  std::size_t part_rows = static_cast<std::size_t>(-1);
  std::size_t listed = 0; ///< processes in the listing, all of them
  listing_cursor rest;
};

// A parent as proctrack and Velociraptor write an entry's ParentId: a real
// id ("5-1609495200", "?-1609495200" for one without a pid) or an unknown
// parent ("5-?", "?-?" without a pid).
// Gives the pid ("" for "?") and keeps the exact form for a restore.
bool parent_text(const value &v, std::string &ppid, std::string &exact) {
  std::string buf;
  if (v.k != kind::string)
    return id_text(v, ppid);
  auto s = json_scan::string_text(v, buf);
  if (s.size() >= 2 && s.substr(s.size() - 2) == "-?") {
    auto pid = s.substr(0, s.size() - 2);
    if (pid != "?" && !valid_id(pid))
      return false;
    ppid = pid == "?" ? std::string{} : std::string{pid};
    exact.assign(s.data(), s.size());
    return true;
  }
  if (s.size() > 2 && s.substr(0, 2) == "?-"
      && valid_id("0" + std::string{s.substr(1)})) {
    ppid.clear(); // a parent without a pid, tracked by its GUID: "?-<start>"
    exact.assign(s.data(), s.size());
    return true;
  }
  if (!valid_id(s))
    return false;
  ppid.assign(s.data(), s.size());
  if (s.front() != '{' && s.find('-') != std::string_view::npos)
    exact.assign(s.data(), s.size());
  return true;
}

void read_object(scanner &sc, row_fields &f, bool top,
                 const std::string &where);

// A cache entry as proctrack writes it inside a sync row's process
// (`entry`): its EndTime, LastSyncTime and exact ParentId are the state to
// restore; the other keys repeat the row's.
void read_entry(scanner &sc, row_fields &f, const std::string &where) {
  if (sc.peek() != '{') {
    value v;
    if (sc.scan(v) && v.k != kind::null)
      throw field_error{where + ": \"entry\" must be an object"};
    return;
  }
  f.restored = true;
  bool first = true;
  sc.begin_object(first);
  std::string_view k;
  bool esc = false;
  std::string ppid, buf;
  while (sc.ok() && sc.next_key(first, k, esc)) {
    if (k == "Children" && sc.peek() == '[') {
      f.rec.keeps_children = true;
      bool efirst = true;
      sc.begin_array(efirst);
      while (sc.ok() && sc.next_element(efirst)) {
        value c;
        if (!sc.scan(c))
          return;
        if (c.k != kind::string)
          throw field_error{where + ": \"entry.Children\" must hold ids"};
        f.rec.children.emplace_back(json_scan::string_text(c, buf));
      }
      continue;
    }
    value v;
    if (!sc.scan(v))
      return;
    if (k == "Id" && v.k == kind::string)
      f.rec.real_id.assign(json_scan::string_text(v, buf));
    else if (k == "EndTime")
      f.rec.end_time = time_of(v, "entry.EndTime");
    else if (k == "LastSyncTime")
      f.rec.last_sync_time = time_of(v, "entry.LastSyncTime"),
      f.rec.keeps_last_sync = true;
    else if (k == "ParentId" && v.k != kind::null
             && !parent_text(v, ppid, f.rec.parent_real_id))
      throw field_error{where + ": \"entry.ParentId\" is not a real id"};
  }
}

// One process of a sync listing.
process_record read_listed(scanner &sc, const std::string &where,
                           std::string_view key_id = {}, bool restored = false);

// The next process of a listing (`processes` array, or Velociraptor's
// keyed or listed entries) into `rec`; false at its end (or an error:
// check sc.ok()).
bool next_listed(scanner &sc, bool &first, bool keyed, bool entries,
                 std::size_t i, process_record &rec) {
  if (!sc.ok())
    return false;
  if (!keyed) {
    if (!sc.next_element(first))
      return false;
    rec = read_listed(sc,
                      (entries ? "sync row: data[" : "sync row: processes[")
                          + std::to_string(i) + "]",
                      {}, entries);
    return true;
  }
  std::string_view k;
  bool esc = false;
  if (!sc.next_key(first, k, esc))
    return false;
  auto key = key_text(k, esc);
  rec = read_listed(sc, "sync row: data[\"" + key + "\"]", key, true);
  return true;
}

// Reads a listing's entries to its end (each one checked), keeping the
// first part_rows in f.processes and where the rest starts in f.rest.
// Returns how many entries were listed.
std::size_t read_listing(scanner &sc, bool &first, bool keyed, bool entries,
                         row_fields &f) {
  std::size_t i = 0;
  for (;; ++i) {
    if (i == f.part_rows)
      f.rest = {sc, first, keyed, entries, i};
    process_record rec;
    if (!next_listed(sc, first, keyed, entries, i, rec))
      return i;
    if (i < f.part_rows)
      f.processes.push_back(std::move(rec));
  }
}

// Velociraptor's own sync, `"data":{ID: entry, ...}` (or a list of
// entries): the whole cache, each entry restored as it is.
void read_keyed_listing(std::string_view raw, row_fields &f) {
  scanner sc{raw};
  bool first = true;
  bool keyed = sc.peek() != '[';
  if (keyed)
    sc.begin_object(first);
  else
    sc.begin_array(first);
  auto i = read_listing(sc, first, keyed, true, f);
  if (!sc.ok())
    throw field_error{"sync row: \"data\" is not valid JSON"};
  f.listed = i;
  f.have_processes = true;
}

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

process_record read_listed(scanner &sc, const std::string &where,
                           std::string_view key_id, bool restored) {
  if (sc.peek() != '{')
    throw field_error{where + " is not an object"};
  row_fields f;
  f.restored = restored;
  read_object(sc, f, false, where);
  if (!sc.ok())
    return {};
  if (!f.have_id && !key_id.empty() && valid_id(key_id))
    f.id.assign(key_id.data(), key_id.size()), f.have_id = true;
  if (!f.have_id)
    throw field_error{where + ": \"id\" must be a pid (number or string)"};
  if (f.restored && f.rec.real_id.empty() && !f.id.empty() && f.id[0] != '{'
      && f.id.find('-') != std::string::npos)
    f.rec.real_id = f.id; // Velociraptor's entry: `id` is the real id
  if (!f.restored) {      // a plain listing: parents resolved, synced now
    f.rec.parent_real_id.clear();
    f.rec.real_id.clear();
    f.rec.keeps_children = false;
    f.rec.children.clear();
    f.rec.keeps_last_sync = false;
    f.rec.last_sync_time = unknown_time;
  }
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
    if (top && k == "data") {
      // Its meaning depends on update_type, which may come later.
      if (!sc.scan(f.data))
        return;
      f.have_data = true;
      continue;
    }
    if (k == "data" || (!top && k == "Data")) {
      read_data(sc, f.rec, where);
      continue;
    }
    if (!top && k == "entry") {
      read_entry(sc, f, where);
      continue;
    }
    if (top && k == "processes" && sc.peek() == '[') {
      // A key given twice: the last one wins, as for Data.
      f.processes.clear();
      f.have_processes = true;
      bool efirst = true;
      sc.begin_array(efirst);
      f.listed = read_listing(sc, efirst, false, false, f);
      continue;
    }
    value v;
    if (!sc.scan(v))
      return;
    if (k == "id" || (!top && k == "Id")) {
      if (!id_text(v, f.id))
        throw field_error{where + ": \"id\" must be a pid (number or string)"};
      f.have_id = true;
    } else if (k == "parent_id" || (!top && k == "ParentId")) {
      std::string exact;
      if (v.k != kind::null && !parent_text(v, f.rec.ppid, exact))
        throw field_error{where
                          + ": \"parent_id\" must be a pid (number or string)"};
      if (f.rec.parent_real_id.empty() && !exact.empty())
        f.rec.parent_real_id = std::move(exact);
    } else if (k == "start_time" || (!top && k == "StartTime")) {
      f.rec.start_time = time_of(v, "start_time");
    } else if (!top && (k == "end_time" || k == "EndTime")) {
      f.rec.end_time = time_of(v, "end_time");
    } else if (!top && (k == "last_sync_time" || k == "LastSyncTime")) {
      f.rec.last_sync_time = time_of(v, "last_sync_time");
      f.rec.keeps_last_sync = true;
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

struct update_row_reader::cursor {
  std::string repaired; ///< the line with bad text replaced, when it had any
  listing_cursor rest;
  std::size_t listed = 0; ///< processes in the whole listing
  timestamp time = unknown_time;
  std::string host;
};

namespace {

row_result decode_valid_text(std::string_view line, process_update &out,
                             std::string &error, row_fields &f);

} // namespace

update_row_reader::update_row_reader(std::size_t part_rows)
    : part_rows_(part_rows == 0 ? 1 : part_rows),
      cur_(std::make_unique<cursor>()) {}

update_row_reader::~update_row_reader() = default;

row_result update_row_reader::decode(std::string_view line, process_update &out,
                                     std::string &error,
                                     std::int64_t *invalid_text) {
  more_ = false;
  // Bad text costs the text, not the row (docs/sources.md): repaired before
  // the strict scanner sees it, so data values stay valid JSON text.
  cur_->repaired.clear();
  auto replaced = repair_json_text(line, cur_->repaired);
  if (replaced > 0)
    line = cur_->repaired;
  else
    std::string{}.swap(cur_->repaired);
  row_fields f;
  f.part_rows = part_rows_;
  auto r = decode_valid_text(line, out, error, f);
  if (invalid_text != nullptr && r != row_result::error)
    *invalid_text += static_cast<std::int64_t>(replaced);
  if (r == row_result::update && out.kind == update_kind::sync
      && f.listed > part_rows_) {
    out.part = sync_part::first;
    cur_->rest = f.rest;
    cur_->listed = f.listed;
    cur_->time = out.time;
    cur_->host = out.host;
    more_ = true;
  }
  return r;
}

void update_row_reader::next_part(process_update &out) {
  out = process_update{};
  out.kind = update_kind::sync;
  out.time = cur_->time;
  out.host = cur_->host;
  out.part = sync_part::middle;
  auto &r = cur_->rest;
  if (more_) {
    out.processes.reserve(std::min(part_rows_, cur_->listed - r.index));
    try {
      for (std::size_t n = 0; n < part_rows_ && r.index < cur_->listed; ++n) {
        process_record rec;
        if (!next_listed(r.sc, r.first, r.keyed, r.entries, r.index, rec))
          break;
        out.processes.push_back(std::move(rec));
        ++r.index;
      }
    } catch (const field_error &) {
      // Cannot happen: decode() read the same text the same way and found
      // no error. Should it, the listing ends here rather than looping.
      r.index = cur_->listed;
    }
  }
  if (!more_ || r.index >= cur_->listed || !r.sc.ok()) {
    out.part = sync_part::last;
    more_ = false;
    std::string{}.swap(cur_->repaired);
  }
}

row_result decode_update_row(std::string_view line, process_update &out,
                             std::string &error, std::int64_t *invalid_text) {
  update_row_reader whole{static_cast<std::size_t>(-1)};
  return whole.decode(line, out, error, invalid_text);
}

namespace {

row_result decode_valid_text(std::string_view line, process_update &out,
                             std::string &error, row_fields &f) {
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
  // even when a field before the tear was wrong. A listing longer than
  // f.part_rows is checked whole here too (every process decoded, then
  // dropped), so a bad process anywhere rejects the row before any part of
  // it is applied.
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
    if (f.have_data && !(t == "sync" && !f.have_processes)) {
      scanner ds{f.data.raw};
      read_data(ds, f.rec, "row");
    }
    if (t == "start") {
      if (!f.have_id)
        throw field_error{"start row: \"id\" must be a pid (number or string)"};
      out.kind = update_kind::start;
      f.rec.parent_real_id.clear(); // a start's parent is resolved
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
      // An exit must say when: the unknown time would be made up into one.
      if (out.time == unknown_time)
        throw field_error{"exit row: \"end_time\" "
                          + std::string{f.end_time.raw.substr(0, 64)}
                          + " is the unknown time; an exit needs a known time"};
    } else if (t == "sync") {
      out.kind = update_kind::sync;
      bool keyed = false;
      if (!f.have_processes && f.have_data
          && (f.data.k == kind::object || f.data.k == kind::array)) {
        read_keyed_listing(f.data.raw, f);
        keyed = true;
      }
      // Velociraptor's keyed sync may carry no time: unknown then.
      if (!keyed && (!f.have_time || f.time.k == kind::null))
        throw field_error{"missing \"time\""};
      out.time = f.have_time ? time_of(f.time, "time") : unknown_time;
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
