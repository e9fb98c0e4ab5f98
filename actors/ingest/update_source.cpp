#include "actors/ingest/update_source.hpp"

#include "actors/common/time.hpp"
#include "actors/ingest/evtx_reader.hpp"
#include "actors/ingest/line_reader.hpp"
#include "actors/ingest/security_twins.hpp"
#include "actors/ingest/sysmon_json_reader.hpp"
#include "actors/ingest/sysmon_linux_reader.hpp"
#include "actors/ingest/update_row_decoder.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <pthread.h>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace proctrack {

void add_counter(std::vector<counter> &out, const std::string &name,
                 std::int64_t value) {
  for (auto &c : out)
    if (c.name == name) {
      c.value += value;
      return;
    }
  out.push_back({name, value});
}

bool parse_input_format(const std::string &text, input_format &out) {
  if (text == "auto")
    out = input_format::unknown;
  else if (text == "updates")
    out = input_format::updates;
  else if (text == "sysmon-json")
    out = input_format::sysmon_json;
  else if (text == "evtx")
    out = input_format::evtx;
  else if (text == "sysmon-linux")
    out = input_format::sysmon_linux;
  else
    return false;
  return true;
}

namespace {

// Update rows, one JSON object a line.
class update_rows_source : public update_source {
public:
  update_rows_source(std::string path, std::size_t max_line)
      : lines_(std::move(path),
               std::max(max_line, line_reader::default_max_line)) {}

  bool open(std::string &error) {
    return lines_.open(error);
  }

  // A batch holds about `max` updates, a sync's listed processes counted
  // one by one (at most max - 1 plus one part): a long listing goes out in
  // parts over several batches (update_row_reader), so the batches in
  // flight hold a few parts, never the whole listing.
  bool read(std::vector<process_update> &out, std::size_t max) override {
    std::size_t bytes = 0;
    for (std::size_t n = 0; n < max && bytes < max_batch_bytes;) {
      if (rows_.more()) {
        process_update u;
        rows_.next_part(u);
        bytes += update_data_bytes(u);
        n += std::max<std::size_t>(1, u.processes.size());
        out.push_back(std::move(u));
        continue;
      }
      auto st = lines_.next(line_);
      if (st == line_reader::status::eof) {
        if (!lines_.last_error().empty()) {
          ++read_errors_;
          errors_.push_back(lines_.last_error());
        }
        return false;
      }
      ++lines_read_;
      bytes_ += line_.size() + 1;
      if (st == line_reader::status::too_long) {
        // Never a part of it: a sync row cut short would mark the
        // processes of its unread rest exited.
        bad(lines_.line_number(),
            "line too long (over " + std::to_string(lines_.max_line())
                + " bytes, from tracker.max-size and tracker.max-bytes): "
                  "skipped whole; a sync row is not applied, nothing is "
                  "marked exited");
        continue;
      }
      process_update u;
      std::string why;
      switch (rows_.decode(line_, u, why, &invalid_text_)) {
      case row_result::update:
        bytes += update_data_bytes(u);
        n += std::max<std::size_t>(1, u.processes.size());
        out.push_back(std::move(u));
        break;
      case row_result::skip:
        break;
      case row_result::error:
        bad(lines_.line_number(), why);
        break;
      }
    }
    return true;
  }

  std::vector<std::string> take_errors() override {
    return std::exchange(errors_, {});
  }

  void add_counters(std::vector<counter> &out) const override {
    add_counter(out, "InputLines", lines_read_);
    add_counter(out, "InputErrors", bad_lines_ + read_errors_);
    add_counter(out, "InvalidTextReplaced", invalid_text_);
  }

  std::uint64_t position() const override {
    return bytes_;
  }

private:
  void bad(std::uint64_t line, const std::string &why) {
    ++bad_lines_;
    errors_.push_back(lines_.path() + ":" + std::to_string(line) + ": " + why);
  }

  line_reader lines_;
  /// The reader's buffer: the line stays there while rows_ hands out a
  /// listing's parts (the next line is read only after the last part).
  std::string_view line_;
  update_row_reader rows_;
  std::vector<std::string> errors_;
  std::int64_t lines_read_ = 0;
  std::int64_t bad_lines_ = 0;
  std::int64_t read_errors_ = 0;
  std::int64_t invalid_text_ = 0; ///< replaced by U+FFFD, rows kept
  std::uint64_t bytes_ = 0;
};

// What a reader says beyond its events: nothing, but for the Sysmon for
// Linux reader, which tells how many lines were other programs'.
template <class Reader>
void reader_notes(Reader &, std::vector<std::string> &) {}
template <class Reader>
void reader_counters(const Reader &, std::vector<counter> &) {}

void reader_notes(sysmon_linux_reader &r, std::vector<std::string> &out) {
  for (auto &n : r.take_notes())
    out.push_back(std::move(n));
}

void reader_counters(const sysmon_linux_reader &r, std::vector<counter> &out) {
  auto &s = r.stats();
  add_counter(out, "InputLines", static_cast<std::int64_t>(s.lines));
  add_counter(out, "SyslogOtherLines",
              static_cast<std::int64_t>(s.other_lines));
  add_counter(out, "SysmonLinuxEvents",
              static_cast<std::int64_t>(s.records + s.filtered));
  if (s.sysmon_text > 0)
    add_counter(out, "SysmonLinuxTextMessages",
                static_cast<std::int64_t>(s.sysmon_text));
  if (s.not_from_sysmon > 0)
    add_counter(out, "SysmonLinuxNotFromSysmon",
                static_cast<std::int64_t>(s.not_from_sysmon));
}

// Windows events (EVTX or JSON lines): Sysmon EID 1 -> start, 5 -> exit;
// Security 4688 -> start, 4689 -> exit; other events are skipped and counted
// by EventID. A 4688 that Sysmon's EID 1 of the same file already gives is
// dropped (security_twins), and Security times are put on Sysmon's clock.
template <class Reader>
class sysmon_source : public update_source {
public:
  explicit sysmon_source(std::string path)
      : path_(path), reader_(std::move(path)) {}

  bool open(std::string &error) {
    if constexpr (std::is_same_v<Reader, evtx_reader>)
      reader_.fields_only_for({1, 5, 4688, 4689}); // is_process_event()'s
    return reader_.open(error);
  }

  bool read(std::vector<process_update> &out, std::size_t max) override {
    std::size_t bytes = 0;
    for (std::size_t n = 0; n < max && bytes < max_batch_bytes;) {
      if (!reader_.next(event_)) {
        note_if_nothing_read();
        note_what_was_read();
        return false;
      }
      ++events_;
      std::string why;
      bool wanted = is_process_event(event_);
      bool security = wanted && is_security(event_);
      if (security)
        to_sysmon_clock(event_);
      auto u = wanted ? to_update(event_, why, true)
                      : std::optional<process_update>{};
      if (!u) {
        if (wanted) {
          ++unusable_;
          errors_.push_back(path_ + ": record "
                            + std::to_string(event_.record_number) + ": "
                            + why);
        } else {
          count_skipped(event_);
        }
        continue;
      }
      if (security && !keep_security(*u))
        continue;
      if (!security && u->kind == update_kind::start)
        remember_image(u->host, u->process.pid, event_.find("Image"));
      bytes += update_data_bytes(*u);
      if (!why.empty()) { // kept, but a field was bad: counted and said
        ++unusable_;
        errors_.push_back(path_ + ": record "
                          + std::to_string(event_.record_number) + ": " + why);
      }
      if (security)
        ++(u->kind == update_kind::start ? security_starts_ : security_exits_);
      out.push_back(std::move(*u));
      ++n;
    }
    return true;
  }

  std::vector<std::string> take_errors() override {
    take_reader_errors();
    auto errs = std::exchange(reader_taken_, {});
    for (auto &e : errors_)
      errs.push_back(std::move(e));
    errors_.clear();
    return errs;
  }

  std::vector<std::string> take_notes() override {
    reader_notes(reader_, notes_);
    return std::exchange(notes_, {});
  }

  void add_counters(std::vector<counter> &out) const override {
    reader_counters(reader_, out);
    add_counter(out, "InputEvents",
                events_ + static_cast<std::int64_t>(reader_.stats().filtered));
    add_counter(out, "InputErrors", reader_problems() + unusable_);
    add_counter(out, "InvalidTextReplaced",
                static_cast<std::int64_t>(reader_.stats().invalid_text));
    std::int64_t skipped = 0;
    for (auto &[id, n] : skipped_) {
      add_counter(out, "SkippedEventID" + std::to_string(id), n);
      skipped += n;
    }
    add_counter(out, "SkippedEvents", skipped + other_providers_);
    add_counter(out, "SkippedOtherProviders", other_providers_);
    for (auto &[kind, n] : others_)
      if (kind.first == security_provider)
        add_counter(out, "SkippedSecurityEventID" + std::to_string(kind.second),
                    n);
    if (security_starts_ + security_exits_ > 0) {
      add_counter(out, "SecurityProcessEvents",
                  security_starts_ + security_exits_);
      add_counter(out, "SecurityStarts", security_starts_);
      add_counter(out, "SecurityExits", security_exits_);
    }
    if (twins_dropped_ > 0)
      add_counter(out, "SecurityStartsSysmonHad", twins_dropped_);
    if (exits_mismatched_ > 0)
      add_counter(out, "SecurityExitsOtherImage", exits_mismatched_);
    if (shifted_ > 0)
      add_counter(out, "SecurityTimesShifted", shifted_);
    if (noted_)
      add_counter(out, "FilesWithoutProcessEvents", 1);
  }

private:
  std::int64_t input_errors() const;

  // Each error the reader names is one problem: a damage it reports without
  // a counter of its own (libevtx calling the file corrupted, a bad file
  // header checksum) counts too. Its counters stay the floor, since it keeps
  // at most 10,000 messages between two takes.
  std::int64_t reader_problems() const {
    return std::max(input_errors(), reader_errors_);
  }

  void take_reader_errors() {
    for (auto &e : reader_.take_errors()) {
      reader_taken_.push_back(std::move(e));
      ++reader_errors_;
    }
  }

  // A damaged EVTX file: say how much of it was read, after the damage.
  void note_what_was_read() {
    if constexpr (std::is_same_v<Reader, evtx_reader>) {
      take_reader_errors(); // counted before they are logged
      if (reader_problems() > 0 && !damage_noted_) {
        damage_noted_ = true;
        notes_.push_back(
            path_ + ": read "
            + std::to_string(reader_.stats().records + reader_.stats().filtered)
            + " records despite the damage reported (InputErrors "
            + std::to_string(reader_problems() + unusable_)
            + "); the messages before name what was lost");
      }
    }
  }

  static bool is_security(const sysmon_event &ev) {
    return ev.event_id == 4688 || ev.event_id == 4689;
  }

  // An event that is no process event: counted per EventID (Sysmon or no
  // provider) or per provider and EventID (others, at most 64 kinds).
  void count_skipped(const sysmon_event &ev) {
    if (!is_sysmon_provider(ev.provider)) {
      ++other_providers_;
      auto kind = std::make_pair(ev.provider, ev.event_id);
      if (auto it = others_.find(kind); it != others_.end())
        ++it->second;
      else if (others_.size() < 64)
        others_.emplace(std::move(kind), 1);
      else
        ++other_kinds_dropped_;
    } else {
      ++skipped_[ev.event_id];
      (ev.provider == linux_sysmon_provider ? linux_skipped_
                                            : windows_skipped_) = true;
    }
  }

  // Reads the file's Sysmon side once, at its first Security process event
  // (a Sysmon-only file never pays for it): EID 1/5 only, through the
  // reader's EventID filter.
  void prepare_twins() {
    twins_ready_ = true;
    if (path_ == "-") {
      notes_.push_back("standard input: Security 4688/4689 read as given: a "
                       "stream cannot be read twice, so they are not matched "
                       "against Sysmon's events nor put on its clock");
      return;
    }
    Reader scan(path_);
    std::string error;
    if (!scan.open(error))
      return; // the main pass reports what is wrong with the file
    scan.only_event_ids({1, 5});
    if constexpr (std::is_same_v<Reader, evtx_reader>)
      scan.fields_only_for({1, 5});
    sysmon_event ev;
    while (scan.next(ev))
      twins_.add(ev);
    twins_.finish();
    if (twins_.full())
      notes_.push_back(path_ + ": more than "
                       + std::to_string(security_twins::max_creations)
                       + " Sysmon process creations: later Security 4688 "
                         "are not matched against them (may count twice)");
  }

  // Moves a Security event's TimeCreated by the whole quarter hours its
  // export is off from Sysmon's UtcTime on this host (0 for EVTX and
  // correct exports); said once per host.
  void to_sysmon_clock(sysmon_event &ev) {
    if (!twins_ready_)
      prepare_twins();
    std::size_t samples = 0;
    auto off = twins_.offset(ev.computer, &samples);
    if (off == 0)
      return;
    auto t = parse_time(ev.time_created);
    if (!t || *t == unknown_time)
      return;
    ev.time_created = format_time(*t + off);
    ++shifted_;
    if (shift_noted_.size() < 16 && shift_noted_.insert(ev.computer).second) {
      auto mins = off / (60 * hns_per_second);
      auto a = mins < 0 ? -mins : mins;
      char text[32];
      std::snprintf(text, sizeof text, "%c%lldh%02lldm", mins < 0 ? '-' : '+',
                    static_cast<long long>(a / 60),
                    static_cast<long long>(a % 60));
      notes_.push_back(path_ + ": host " + ev.computer
                       + ": Security event times moved by " + text
                       + " onto Sysmon's UtcTime (" + std::to_string(samples)
                       + " Sysmon events of the file agree)");
    }
  }

  // A 4688 that Sysmon's EID 1 already gives is dropped (Sysmon's GUID
  // lineage stands); a 4689 whose ProcessName is not the image of the
  // process this file last started with that pid is not applied (it would
  // end that process). True to keep the update.
  bool keep_security(process_update &u) {
    if (u.kind == update_kind::start) {
      auto image = event_.find("NewProcessName");
      std::string_view img = image != nullptr ? std::string_view{*image} : "";
      remember_image(u.host, u.process.pid, image);
      if (twins_.claim(u.host, u.process.pid, u.process.start_time, img)) {
        ++twins_dropped_;
        return false;
      }
      return true;
    }
    auto name = event_.find("ProcessName");
    auto it = images_.find(pid_hash(u.host, u.process.pid));
    if (name == nullptr || it == images_.end()
        || it->second == image_key(*name))
      return true;
    ++exits_mismatched_;
    if (exits_mismatched_ <= 10)
      notes_.push_back(
          path_ + ": record " + std::to_string(event_.record_number)
          + ": Security 4689 of pid " + u.process.pid + " (" + *name
          + ") does not name the image this log last started "
            "that pid with: exit not applied (that process's "
            "start is missing, or comes later in the file)");
    return false;
  }

  static std::uint64_t pid_hash(const std::string &host,
                                const std::string &pid) {
    return std::hash<std::string>{}(host + '\n' + pid);
  }

  // The image of the process this file last started with this pid (at most
  // 1,000,000 pids; the map starts over past that).
  void remember_image(const std::string &host, const std::string &pid,
                      const std::string *image) {
    if (pid.empty())
      return;
    if (images_.size() >= 1'000'000)
      images_.clear();
    if (image == nullptr)
      images_.erase(pid_hash(host, pid));
    else
      images_[pid_hash(host, pid)] = image_key(*image);
  }

  // A file of events none of which is a process event replays to an empty
  // cache: say so, with what it held.
  void note_if_nothing_read() {
    if (events_ == 0 || events_ != other_providers_ + skipped_count() || noted_)
      return;
    noted_ = true;
    // The providers met, to name the log.
    std::set<std::string> providers;
    for (auto &kv : others_)
      providers.insert(kv.first.first);
    if (skipped_count() > 0 && windows_skipped_)
      providers.insert(std::string{sysmon_provider});
    if (skipped_count() > 0 && linux_skipped_)
      providers.insert(std::string{linux_sysmon_provider});
    std::string kind =
        providers.size() == 1 && *providers.begin() == security_provider
            ? "Security log"
        : providers.size() == 1 && *providers.begin() == sysmon_provider
            ? "Sysmon log"
        : providers.size() == 1 && *providers.begin() == linux_sysmon_provider
            ? "Sysmon for Linux log"
            : "event log";
    // Event ids by count, most first; a provider other than the log's own
    // is named.
    std::vector<std::pair<std::int64_t, std::string>> ids;
    for (auto &[k, n] : others_)
      ids.emplace_back(n, (providers.size() > 1 ? k.first + " " : "")
                              + std::to_string(k.second));
    for (auto &[id, n] : skipped_)
      ids.emplace_back(
          n, (providers.size() > 1 ? std::string{sysmon_provider} + " " : "")
                 + std::to_string(id));
    std::stable_sort(ids.begin(), ids.end(),
                     [](auto &a, auto &b) { return a.first > b.first; });
    std::string what;
    std::size_t shown = 0;
    for (auto &[n, id] : ids) {
      if (shown++ == 12) {
        what += ", ...";
        break;
      }
      what += (what.empty() ? "" : ", ") + id + "\xc3\x97" + std::to_string(n);
    }
    notes_.push_back(path_ + ": " + kind + ": 0 process events of "
                     + std::to_string(events_) + " records; event ids " + what
                     + " (process events: Sysmon 1/5, Security 4688/4689)");
  }

  std::int64_t skipped_count() const {
    std::int64_t n = 0;
    for (auto &kv : skipped_)
      n += kv.second;
    return n;
  }

  std::string path_;
  Reader reader_;
  sysmon_event event_;
  std::vector<std::string> errors_;
  std::int64_t events_ = 0;
  std::int64_t unusable_ = 0;
  std::int64_t reader_errors_ = 0;        ///< messages taken from the reader
  std::vector<std::string> reader_taken_; ///< taken, not yet handed on
  bool damage_noted_ = false;
  std::int64_t other_providers_ = 0;
  std::int64_t other_kinds_dropped_ = 0;
  std::int64_t security_starts_ = 0; ///< 4688 read as starts
  std::int64_t security_exits_ = 0;  ///< 4689 read as exits
  std::int64_t twins_dropped_ = 0;   ///< 4688 that Sysmon's EID 1 had
  std::int64_t exits_mismatched_ = 0;
  std::int64_t shifted_ = 0;
  std::map<std::int64_t, std::int64_t> skipped_;
  /// (provider, EventID) -> count, at most 64 kinds
  std::map<std::pair<std::string, std::int64_t>, std::int64_t> others_;
  std::vector<std::string> notes_;
  bool noted_ = false;
  bool linux_skipped_ = false;   ///< skipped_ holds Sysmon for Linux events
  bool windows_skipped_ = false; ///< skipped_ holds Windows Sysmon events
  bool twins_ready_ = false;
  security_twins twins_;
  std::set<std::string> shift_noted_;
  std::unordered_map<std::uint64_t, std::uint32_t> images_;
};

template <>
std::int64_t sysmon_source<evtx_reader>::input_errors() const {
  auto &s = reader_.stats();
  return static_cast<std::int64_t>(s.corrupt_records + s.damaged_chunks);
}

template <>
std::int64_t sysmon_source<sysmon_json_reader>::input_errors() const {
  auto &s = reader_.stats();
  return static_cast<std::int64_t>(s.bad_lines + s.read_errors);
}

template <>
std::int64_t sysmon_source<sysmon_linux_reader>::input_errors() const {
  auto &s = reader_.stats();
  return static_cast<std::int64_t>(s.bad_lines + s.read_errors);
}

template <class Source>
std::unique_ptr<update_source> open_as(const std::string &path,
                                       std::string &error) {
  auto src = std::make_unique<Source>(path);
  if (!src->open(error))
    return nullptr;
  return src;
}

// The time an update happened at, for merging sources in time order.
timestamp time_of(const process_update &u) {
  return u.kind == update_kind::start ? u.process.start_time : u.time;
}

// Merges several sources by event time: each source keeps its own order
// (a log's out-of-order events stay where they are) and the merge always
// takes the source whose next update is the oldest. Memory: one small
// look-ahead per source.
class time_merged_source : public update_source {
public:
  explicit time_merged_source(
      std::vector<std::unique_ptr<update_source>> sources)
      : inputs_(sources.size()) {
    for (std::size_t i = 0; i < sources.size(); ++i)
      inputs_[i].src = std::move(sources[i]);
  }

  bool read(std::vector<process_update> &out, std::size_t max) override {
    for (std::size_t n = 0; n < max; ++n) {
      input *best = nullptr;
      if (open_ != nullptr && fill(*open_)) {
        best = open_; // a listing's parts stay together
      } else {
        for (auto &in : inputs_) {
          if (!fill(in))
            continue;
          if (!best || time_of(in.buf[in.pos]) < time_of(best->buf[best->pos]))
            best = &in;
        }
      }
      if (!best)
        return false;
      auto &u = best->buf[best->pos++];
      bool opens =
          u.kind == update_kind::sync
          && (u.part == sync_part::first || u.part == sync_part::middle);
      open_ = opens ? best : nullptr;
      out.push_back(std::move(u));
    }
    return true;
  }

  std::vector<std::string> take_errors() override {
    std::vector<std::string> all;
    for (auto &in : inputs_)
      for (auto &e : in.src->take_errors())
        all.push_back(std::move(e));
    return all;
  }

  std::vector<std::string> take_notes() override {
    std::vector<std::string> all;
    for (auto &in : inputs_)
      for (auto &e : in.src->take_notes())
        all.push_back(std::move(e));
    return all;
  }

  void add_counters(std::vector<counter> &out) const override {
    for (auto &in : inputs_)
      in.src->add_counters(out);
  }

  std::uint64_t position() const override {
    std::uint64_t p = 0;
    for (auto &in : inputs_)
      p += in.src->position();
    return p;
  }

private:
  static constexpr std::size_t lookahead = 64;

  struct input {
    std::unique_ptr<update_source> src;
    std::vector<process_update> buf;
    std::size_t pos = 0;
    bool more = true;
  };

  // True when `in` has an update ready.
  static bool fill(input &in) {
    if (in.pos < in.buf.size())
      return true;
    in.buf.clear();
    in.pos = 0;
    while (in.more && in.buf.empty())
      in.more = in.src->read(in.buf, lookahead);
    return !in.buf.empty();
  }

  std::vector<input> inputs_;
  input *open_ = nullptr; ///< the input whose sync listing is in parts
};

// One source read in a thread of its own (read_ahead()).
class read_ahead_source : public update_source {
public:
  read_ahead_source(std::unique_ptr<update_source> src, std::size_t batch,
                    std::size_t depth)
      : src_(std::move(src)), batch_(batch),
        depth_(std::max<std::size_t>(1, depth)) {
    src_->add_counters(seen_counters_);
    thread_ = std::thread([this] { run(); });
  }

  ~read_ahead_source() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  bool read(std::vector<process_update> &out, std::size_t) override {
    piece p;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [this] { return !queue_.empty(); });
      p = std::move(queue_.front());
      queue_.pop_front();
      seen_counters_ = std::move(p.counters);
      seen_position_ = p.position;
    }
    changed_.notify_all();
    for (auto &u : p.updates)
      out.push_back(std::move(u));
    for (auto &e : p.errors)
      errors_.push_back(std::move(e));
    for (auto &n : p.notes)
      notes_.push_back(std::move(n));
    return p.more;
  }

  std::vector<std::string> take_errors() override {
    return std::exchange(errors_, {});
  }

  std::vector<std::string> take_notes() override {
    return std::exchange(notes_, {});
  }

  // The counters as of the last read handed over (the source's own while
  // it reads ahead would count what the caller has not seen yet).
  void add_counters(std::vector<counter> &out) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto &c : seen_counters_)
      add_counter(out, c.name, c.value);
  }

  std::uint64_t position() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return seen_position_;
  }

private:
  struct piece {
    std::vector<process_update> updates;
    std::vector<std::string> errors, notes;
    std::vector<counter> counters;
    std::uint64_t position = 0;
    bool more = true;
  };

  void run() {
    pthread_setname_np(pthread_self(), "proctrack.read");
    for (bool more = true; more;) {
      piece p;
      try {
        more = p.more = src_->read(p.updates, batch_);
      } catch (const std::exception &e) {
        more = p.more = false;
        p.errors.push_back(std::string("reading stopped: ") + e.what());
      }
      p.errors = merge(std::move(p.errors), src_->take_errors());
      p.notes = src_->take_notes();
      src_->add_counters(p.counters);
      p.position = src_->position();
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [this] { return stop_ || queue_.size() < depth_; });
      if (stop_)
        return;
      queue_.push_back(std::move(p));
      changed_.notify_all();
    }
  }

  static std::vector<std::string> merge(std::vector<std::string> a,
                                        std::vector<std::string> b) {
    for (auto &s : b)
      a.push_back(std::move(s));
    return a;
  }

  std::unique_ptr<update_source> src_; ///< used by the thread only
  std::size_t batch_, depth_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<piece> queue_;
  bool stop_ = false;
  std::vector<counter> seen_counters_;
  std::uint64_t seen_position_ = 0;
  std::vector<std::string> errors_, notes_;
  std::thread thread_;
};

} // namespace

std::unique_ptr<update_source> read_ahead(std::unique_ptr<update_source> src,
                                          std::size_t batch,
                                          std::size_t depth) {
  return std::make_unique<read_ahead_source>(std::move(src), batch, depth);
}

std::unique_ptr<update_source>
merge_by_time(std::vector<std::unique_ptr<update_source>> sources) {
  return std::make_unique<time_merged_source>(std::move(sources));
}

std::size_t update_data_bytes(const process_update &u) {
  auto of = [](const process_record &p) {
    std::size_t n = 0;
    for (auto &f : p.data)
      n += f.key.size() + f.json.size();
    return n;
  };
  auto n = of(u.process);
  for (auto &p : u.processes)
    n += of(p);
  return n;
}

std::unique_ptr<update_source> open_update_source(const std::string &path,
                                                  input_format format,
                                                  std::string &error,
                                                  std::size_t max_line) {
  if (format == input_format::unknown && path == "-")
    format = input_format::updates;
  if (format == input_format::unknown) {
    format = sniff_format(path, error);
    if (format == input_format::unknown) {
      if (error.empty())
        error = path + ": unknown input format (use --format=...)";
      return nullptr;
    }
  }
  switch (format) {
  case input_format::updates: {
    auto src = std::make_unique<update_rows_source>(path, max_line);
    if (!src->open(error))
      return nullptr;
    return src;
  }
  case input_format::sysmon_json:
    return open_as<sysmon_source<sysmon_json_reader>>(path, error);
  case input_format::evtx:
    return open_as<sysmon_source<evtx_reader>>(path, error);
  case input_format::sysmon_linux:
    return open_as<sysmon_source<sysmon_linux_reader>>(path, error);
  case input_format::unknown:
    break;
  }
  error = path + ": unknown input format";
  return nullptr;
}

} // namespace proctrack
