// Property test: the process table against a plain model of its rules.
//
// The model (struct model) is docs/semantics.md written as plainly as
// possible, without the table's helpers for any decision it checks: every
// process in one std::map keyed by real id, pid links and the GUID index as
// maps, a process's eviction tier computed from scratch by a fixpoint over
// the parent links, and LRU order as one "last used" stamp per process (a
// touch, an insert or a change of tier stamps it; the victim is the lowest
// tier, then the oldest stamp). Random update streams go to both, and after
// every update the table's exported state (export_state: processes in
// eviction order with their Data text, links, GUID index, pending exits,
// clock) and its counters must equal the model's.
//
// The streams cover: pid reuse (six pids), syncs (duplicate rows, rows that
// restore our own output stream's entries: exact Id, ParentId, EndTime,
// LastSyncTime, Children), out-of-order exits (pending exits, older
// holders), evictions (max-size 3-10, and a byte budget of a few hundred
// bytes with a small per-field cap, so Data.Truncated is exercised), unknown
// times, pre-1970 times and the ends of the range (years 0000, 9999),
// far-future outliers and real gaps (ClockOutliers), GUID and GUID-less parents
// (the pid fallback of an unknown ParentProcessGuid), parent loops, and the
// Linux agent's exact identities (forks, execs, exact exits and listings) in
// streams of their own.
//
// A difference is reported with the seed, the limits and a shrunk stream:
// updates (and sync rows) are removed while the difference persists, so the
// message is the smallest stream found that still shows it.
#include <boost/test/unit_test.hpp>

#include "actors/cache/process_table.hpp"
#include "actors/common/time.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <unordered_map>

BOOST_AUTO_TEST_SUITE(table_model_test)

using namespace proctrack;

namespace {

constexpr timestamp sec = hns_per_second;

// -- plain rules
// ----------------------------------------------------------------

bool known(timestamp t) {
  return t != unknown_time;
}

// "Started at or before": an unknown start on either side passes.
bool before_or_same(timestamp parent, timestamp child) {
  return !known(parent) || !known(child) || parent <= child;
}

// Within 1 s either side (or unknown on either side). In 128 bits, so the
// model needs no reasoning about the range (0000..9999).
bool within_1s(timestamp a, timestamp b) {
  if (!known(a) || !known(b))
    return true;
  __int128 d = static_cast<__int128>(a) - static_cast<__int128>(b);
  return (d < 0 ? -d : d) <= sec;
}

bool digits(const std::string &s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
}

// Floor of the seconds, as an id shows them: 0 before 1970 (docs: Identity).
std::string real_id(const std::string &pid, timestamp start) {
  std::int64_t s = start / sec;
  if (start % sec != 0 && start < 0)
    --s;
  return (pid.empty() ? "?" : pid) + "-" + std::to_string(s < 0 ? 0 : s);
}

std::string pid_of(const std::string &id) {
  auto dash = id.rfind('-');
  return dash == std::string::npos ? id : id.substr(0, dash);
}

bool ends_unknown(const std::string &parent_id) {
  return parent_id.size() >= 2
         && parent_id.compare(parent_id.size() - 2, 2, "-?") == 0;
}

std::string lower_guid(std::string g) {
  for (auto &c : g)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (g.find_first_not_of("0-{}") == std::string::npos)
    return {}; // the all-zero GUID (or none) means "none"
  return g;
}

std::string trimmed(const std::string &s) {
  const char *ws = " \t\n\r\v\f";
  auto b = s.find_first_not_of(ws);
  if (b == std::string::npos)
    return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// The process an exit names, for the clock's witnesses: its pid (given, a
// bare pid, or a real id's) and its GUID.
std::string exit_pid(const process_update &u) {
  if (!u.process.pid.empty())
    return u.process.pid;
  auto t = trimmed(u.target);
  if (digits(t))
    return t;
  auto dash = t.rfind('-');
  if (!t.empty() && t[0] != '{' && dash != std::string::npos
      && digits(t.substr(0, dash)))
    return t.substr(0, dash);
  return {};
}

std::string exit_guid(const process_update &u) {
  if (!u.process.guid.empty())
    return lower_guid(trimmed(u.process.guid));
  auto t = trimmed(u.target);
  return !t.empty() && t[0] == '{' ? lower_guid(t) : std::string{};
}

// "<id>" or "<id>.N": an id the table could have given this pid and start.
bool restorable(const std::string &exact, const std::string &base) {
  if (exact == base)
    return true;
  return exact.size() > base.size() + 1
         && exact.compare(0, base.size(), base) == 0
         && exact[base.size()] == '.' && digits(exact.substr(base.size() + 1));
}

using fields = std::vector<std::pair<std::string, std::string>>;

// The names in a Truncated list as the generator writes them (["A","B"]).
std::vector<std::string> list_names(const std::string &json) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while ((i = json.find('"', i)) != std::string::npos) {
    auto j = json.find('"', i + 1);
    out.push_back(json.substr(i + 1, j - i - 1));
    i = j + 1;
  }
  return out;
}

// One JSON value cut to `max` bytes (docs: Cache, 32 KiB per value): a
// string keeps the whole characters that fit and is closed again, anything
// else becomes null.
std::string cut_value(const std::string &v, std::size_t max) {
  if (v.size() < 2 || v.front() != '"')
    return "null";
  std::vector<std::string> chars; // the string's characters, as written
  for (std::size_t i = 1; i + 1 < v.size();) {
    std::size_t n = 1;
    auto c = static_cast<unsigned char>(v[i]);
    if (c == '\\')
      n = v[i + 1] == 'u' ? 6 : 2;
    else if (c >= 0xF0)
      n = 4;
    else if (c >= 0xE0)
      n = 3;
    else if (c >= 0xC0)
      n = 2;
    chars.push_back(v.substr(i, n));
    i += n;
  }
  std::string out = "\"";
  for (auto &c : chars) {
    if (out.size() + c.size() + 1 > max)
      break;
    out += c;
  }
  return out + "\"";
}

struct counts {
  std::int64_t evictions = 0, byte_evictions = 0, expired = 0,
               clock_outliers = 0, parent_loops = 0, truncated_fields = 0,
               unknown_exits = 0, late_exits = 0, sync_exits = 0,
               pid_reuses = 0, exits_revived = 0, same_second_pids = 0,
               guid_collisions = 0, start_merges = 0, children_dropped = 0,
               unknown_parents = 0, exits_refused = 0, untimed_syncs = 0;
};

// -- the model ----------------------------------------------------------------

struct model {
  struct proc {
    std::string id, parent_id, guid;
    timestamp start = unknown_time, end = unknown_time,
              last_sync = unknown_time;
    bool estimate = false;
    fields data;
    std::vector<std::string> children;
    std::uint64_t seen = 0;   // the last sync that listed it
    std::size_t sync_row = 0; // its entry in that sync's placed rows
    std::uint64_t stamp = 0;  // LRU: when last touched or re-tiered
    int tier = 0;             // the tier it was last stamped in
    std::string text;         // Data as the table writes it
    // Scratch for tiers().
    proc *up = nullptr;
    bool live = false;
    int now_tier = 0;
    bool running() const {
      return end == unknown_time;
    }
  };

  table_config cfg;
  std::unordered_map<std::string, proc> procs;           // order never matters
  std::map<std::string, std::string> links;              // pid -> id
  std::map<std::string, std::string> guids;              // guid -> id
  std::deque<std::pair<std::string, timestamp>> pending; // oldest first
  timestamp now = unknown_time, last_run = unknown_time;
  struct witness {
    timestamp time;
    std::string pid, guid;
  };
  std::vector<witness> candidates; // clock outliers held back, in order
  std::uint64_t gen = 0, clock = 0;
  counts n;

  proc *get(const std::string &id) {
    auto i = procs.find(id);
    return i == procs.end() ? nullptr : &i->second;
  }
  proc *by_link(const std::string &pid) {
    auto i = links.find(pid);
    return i == links.end() ? nullptr : get(i->second);
  }
  proc *by_guid(const std::string &g) {
    auto i = g.empty() ? guids.end() : guids.find(g);
    return i == guids.end() ? nullptr : get(i->second);
  }
  proc *lookup(std::string id) {
    while (!id.empty() && id.front() == ' ')
      id.erase(0, 1);
    while (!id.empty() && id.back() == ' ')
      id.pop_back();
    if (id.empty())
      return nullptr;
    if (id[0] == '{')
      return by_guid(lower_guid(id));
    if (digits(id))
      return by_link(id);
    return get(id);
  }
  // The process with this pid and exactly this start: the pid's holder if
  // it is one, else the lowest ".N".
  proc *exact(const std::string &pid, timestamp start) {
    if (auto h = by_link(pid); h && h->start == start)
      return h;
    if (pid.empty() || !known(start))
      return nullptr;
    proc *best = nullptr;
    for (auto &[id, p] : procs)
      if (pid_of(id) == pid && p.start == start
          && (!best || id.size() < best->id.size()
              || (id.size() == best->id.size() && id < best->id)))
        best = &p;
    return best;
  }

  // -- Data: first position, last value, capped, Truncated last --------------

  std::string text(const fields &d) const {
    std::string out = "{";
    for (auto &[k, v] : d)
      out += (out.size() > 1 ? ",\"" : "\"") + k + "\":" + v;
    return out + "}";
  }
  std::size_t bytes() const {
    std::size_t b = 0;
    for (auto &[id, p] : procs)
      b += p.text.size();
    return b;
  }
  void set_data(proc &p, fields d) {
    p.data = std::move(d);
    p.text = text(p.data);
  }
  // Sets key k to v: a key given again keeps its place and takes the last
  // value (duplicate Data keys, docs/semantics.md).
  static void put(fields &d, const std::string &k, const std::string &v) {
    auto at =
        std::find_if(d.begin(), d.end(), [&](auto &f) { return f.first == k; });
    if (at != d.end())
      at->second = v;
    else
      d.emplace_back(k, v);
  }
  fields store(const fields &in, std::vector<std::string> cut = {}) {
    fields d;
    for (auto &[k, v] : in) {
      put(d, k, v);
    }
    fields out;
    for (auto &[k, v] : d) {
      if (k == "Truncated") {
        for (auto &name : list_names(v))
          cut.push_back(name);
        continue;
      }
      out.emplace_back(k, v);
      if (v.size() > cfg.max_field_bytes) {
        out.back().second = cut_value(v, cfg.max_field_bytes);
        cut.push_back(k);
        ++n.truncated_fields;
      }
    }
    std::vector<std::string> names;
    for (auto &c : cut)
      if (std::find(names.begin(), names.end(), c) == names.end())
        names.push_back(c);
    if (!names.empty()) {
      std::string list = "[";
      for (auto &name : names)
        list += (list.size() > 1 ? ",\"" : "\"") + name + "\"";
      out.emplace_back("Truncated", list + "]");
    }
    return out;
  }
  // A second start's Data: key by key, later wins; a key given again leaves
  // the Truncated list unless cut again.
  fields merged(const fields &have, const fields &add) {
    fields d;
    std::vector<std::string> cut;
    for (auto &f : have)
      if (f.first == "Truncated")
        cut = list_names(f.second);
      else
        d.push_back(f);
    for (auto &[k, v] : add) {
      if (k != "Truncated")
        cut.erase(std::remove(cut.begin(), cut.end(), k), cut.end());
      put(d, k, v);
    }
    return store(d, cut);
  }

  // -- tiers and LRU ---------------------------------------------------------

  // Tier 2: a child (a process naming it as parent) runs or has a running
  // descendant; 1: runs; 0: the rest. From scratch, as a fixpoint; the
  // result is each process's now_tier.
  void tiers() {
    for (auto &[id, p] : procs) {
      p.up = p.parent_id == id ? nullptr : get(p.parent_id);
      p.live = p.running();
      p.now_tier = p.running() ? 1 : 0;
    }
    for (bool grew = true; grew;) {
      grew = false;
      for (auto &[id, p] : procs)
        if (p.live && p.up && !p.up->live)
          p.up->live = grew = true;
    }
    for (auto &[id, p] : procs)
      if (p.live && p.up)
        p.up->now_tier = 2;
  }
  int depth(const proc &p) {
    std::set<std::string> seen;
    int d = 0;
    for (auto *q = &p; q && seen.insert(q->id).second; q = get(q->parent_id))
      ++d;
    return d;
  }
  // After each change: every process whose tier changed moves to the end of
  // its new tier, a child before its parent.
  void settle() {
    tiers();
    std::vector<std::pair<int, proc *>> moved;
    for (auto &[id, p] : procs)
      if (p.tier != p.now_tier)
        moved.emplace_back(-depth(p), &p);
    std::stable_sort(moved.begin(), moved.end(),
                     [](auto &a, auto &b) { return a.first < b.first; });
    for (auto &[d, p] : moved) {
      p->tier = p->now_tier;
      p->stamp = ++clock;
    }
  }
  void touch(proc &p) {
    p.stamp = ++clock;
  }
  std::vector<proc *> eviction_order() {
    std::vector<proc *> v;
    for (auto &[id, p] : procs)
      v.push_back(&p);
    std::sort(v.begin(), v.end(), [](proc *a, proc *b) {
      return a->tier != b->tier ? a->tier < b->tier : a->stamp < b->stamp;
    });
    return v;
  }

  void remove(const std::string &id) {
    auto &p = procs.at(id);
    if (auto l = links.find(pid_of(id)); l != links.end() && l->second == id)
      links.erase(l);
    if (auto g = guids.find(p.guid); g != guids.end() && g->second == id)
      guids.erase(g);
    procs.erase(id);
    settle();
  }
  void evict() {
    while (procs.size() > cfg.max_size || bytes() > cfg.max_bytes) {
      if (procs.size() <= cfg.max_size)
        ++n.byte_evictions;
      remove(eviction_order().front()->id);
      ++n.evictions;
    }
  }

  // -- clock and expiry
  // --------------------------------------------------------

  void expire_now() {
    last_run = now;
    auto cutoff = now - cfg.max_expiry;
    std::vector<std::string> gone;
    for (auto &[id, p] : procs)
      if (p.tier == 0 && !p.running() && p.end < cutoff)
        gone.push_back(id);
    for (auto &id : gone) {
      remove(id);
      ++n.expired;
    }
  }
  // "Now" is the newest event time, but one more than max-expiry ahead is
  // held back until events of 3 distinct processes (same pid or same GUID:
  // the same process; a listing is one of its own), all within max-expiry
  // of the first, confirm the jump (docs: Clock outliers); expiry runs every
  // max-expiry/64 (>= 1 s).
  void observe(timestamp t, const std::string &pid = {},
               const std::string &guid = {}) {
    if (!known(t) || t <= now)
      return;
    if (known(now) && cfg.max_expiry > 0 && !within(t, now, cfg.max_expiry)) {
      if (!candidates.empty()
          && !within(t, candidates.front().time, cfg.max_expiry))
        candidates.clear();
      bool seen = false;
      for (auto &c : candidates)
        seen = seen || (!guid.empty() && c.guid == guid)
               || (!pid.empty() && c.pid == pid);
      if (!seen)
        candidates.push_back({t, pid, guid});
      if (candidates.size() < 3) {
        ++n.clock_outliers;
        return;
      }
      for (auto &c : candidates)
        t = std::min(t, c.time);
    }
    candidates.clear();
    now = t;
    auto step = std::max<timestamp>(sec, cfg.max_expiry / 64);
    if (!known(last_run))
      last_run = now;
    else if (now - last_run >= step && cfg.max_expiry > 0)
      expire_now();
  }
  static bool within(timestamp a, timestamp b, timestamp slack) {
    __int128 d = static_cast<__int128>(a) - static_cast<__int128>(b);
    return (d < 0 ? -d : d) <= slack;
  }

  // -- building blocks
  // ---------------------------------------------------------

  void set_end(proc &p, timestamp end, bool est) {
    p.end = known(end) ? end : 1; // an exit is never "unknown"
    p.estimate = est;
    settle();
  }
  void revive(proc &p) {
    if (p.running())
      return;
    p.end = unknown_time;
    p.estimate = false;
    ++n.exits_revived;
    settle();
  }
  std::string unique(const std::string &base) {
    for (int k = 1;; ++k)
      if (!procs.count(base + "." + std::to_string(k)))
        return base + "." + std::to_string(k);
  }
  proc &insert(const std::string &id, const process_record &r) {
    auto &p = procs[id];
    p.id = id;
    p.guid = lower_guid(r.guid);
    p.start = r.start_time;
    set_data(p, store(to_fields(r.data)));
    p.stamp = ++clock;
    p.tier = 1; // new: running, with live children only if some name it
    if (std::any_of(procs.begin(), procs.end(),
                    [&](auto &q) { return q.second.parent_id == id; })) {
      tiers();
      p.tier = p.now_tier;
    }
    if (!p.guid.empty())
      guids[p.guid] = id;
    return p;
  }
  static fields to_fields(const data_fields &d) {
    fields f;
    for (auto &x : d)
      f.emplace_back(x.key, x.json);
    return f;
  }
  // Whether `anc` is `p` or one of its ancestors (a plain walk).
  bool is_ancestor(const proc &anc, const proc *p) {
    std::set<std::string> seen;
    for (; p && seen.insert(p->id).second; p = get(p->parent_id))
      if (p->id == anc.id)
        return true;
    return false;
  }
  // Held the pid when a child started at `start`: started at or before it
  // and not known to have ended before it.
  // Exited more than 1 s before `start` (an end at an unknown time, 1,
  // proves nothing): not the parent of a process started then.
  static bool exited_before(const proc &h, timestamp start) {
    return !h.running() && h.end != 1 && known(start)
           && static_cast<__int128>(start) - h.end > sec;
  }
  // The Exe's file name, lower-cased ("" when there is none).
  static std::string exe_file(const fields &f) {
    std::string exe;
    for (auto &[k, v] : f)
      if (k == "Exe" && v != "null")
        exe = v;
    auto cut = exe.find_last_of("\\/");
    if (cut != std::string::npos)
      exe = exe.substr(cut + 1);
    for (auto &c : exe)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!exe.empty() && exe.back() == '"')
      exe.pop_back();
    if (!exe.empty() && exe.front() == '"')
      exe.erase(0, 1);
    return exe;
  }
  // docs/semantics.md "Pid reused within the second, no GUIDs": another
  // process when the Exe names differ, or the creators do (the holder's
  // parent as a start gave it: never listed).
  static bool other_process(const proc &h, const process_record &r) {
    auto a = exe_file(h.data), b = exe_file(to_fields(r.data));
    if (!a.empty() && !b.empty() && a != b)
      return true;
    if (known(h.last_sync) || !digits(r.ppid))
      return false;
    auto dash = h.parent_id.find('-');
    return dash != std::string::npos && dash > 0
           && h.parent_id.substr(0, dash) != r.ppid;
  }
  static bool held_at(const proc &h, timestamp start) {
    return before_or_same(h.start, start)
           && (h.running() || !known(start) || h.end >= start);
  }
  void link(proc &c, proc *parent, const std::string &ppid) {
    if (parent == &c)
      parent = nullptr;
    if (parent && is_ancestor(c, parent)) {
      ++n.parent_loops;
      parent = nullptr;
    }
    if (!parent) {
      c.parent_id = (ppid.empty() ? std::string{"?"} : ppid) + "-?";
      ++n.unknown_parents;
      return;
    }
    c.parent_id = parent->id;
    if (std::find(parent->children.begin(), parent->children.end(), c.id)
        == parent->children.end()) {
      if (parent->children.size() < cfg.max_children)
        parent->children.push_back(c.id);
      else
        ++n.children_dropped;
    }
    settle();
    touch(*parent);
  }
  // The parent of a new process (docs: start / Parent).
  void find_parent(proc &c, const std::string &ppid, const std::string &pguid) {
    proc *parent = nullptr;
    if (!pguid.empty()) {
      parent = by_guid(pguid);
      if (!parent && !ppid.empty()) {
        auto h = by_link(ppid);
        if (h && h->guid.empty() && held_at(*h, c.start))
          parent = h;
      }
    } else if (!ppid.empty()) {
      auto h = by_link(ppid);
      if (h && before_or_same(h->start, c.start) && !exited_before(*h, c.start))
        parent = h;
    }
    link(c, parent, ppid);
  }
  // The pid's newest holder (docs: start, a previous holder still running).
  void take_link(proc &p, const std::string &pid, timestamp holder_end) {
    if (pid.empty() || pid_of(p.id) != pid)
      return;
    auto old = by_link(pid);
    if (old == &p)
      return;
    if (old && !before_or_same(old->start, p.start)) {
      if (p.running())
        set_end(p, old->start, true);
      return;
    }
    if (old && old->running()) {
      set_end(*old, holder_end, true);
      ++n.pid_reuses;
    }
    links[pid] = p.id;
  }
  void take_pending(proc &p, const std::string &pid) {
    auto at = [&](const std::string &k) {
      return std::find_if(pending.begin(), pending.end(),
                          [&](auto &e) { return e.first == k; });
    };
    auto hit = pending.end();
    if (!p.guid.empty())
      hit = at(p.guid);
    if (hit == pending.end())
      hit = at(p.id);
    if (hit == pending.end() && !pid.empty()) {
      auto h = at(pid);
      if (h != pending.end() && h->second >= p.start)
        hit = h;
    }
    if (hit == pending.end())
      return;
    auto end = hit->second;
    pending.erase(hit);
    if (known(p.start) && end < p.start) { // by GUID or id: a wrong time
      ++n.exits_refused;
      return;
    }
    set_end(p, end, false);
    ++n.late_exits;
  }

  // -- updates
  // -------------------------------------------------------------------

  void start(const process_record &r) {
    auto guid = lower_guid(r.guid);
    bool exact_id = r.identity != record_identity::approximate
                    && known(r.start_time) && !r.pid.empty();
    bool fork = exact_id && r.identity == record_identity::exact_new;
    auto id = real_id(r.pid, r.start_time);
    proc *same = by_guid(guid);
    bool collision = false;
    if (!same && exact_id) {
      // The same pid and exactly the same start; a fork never merges into
      // a process that already ended.
      auto h = exact(r.pid, r.start_time);
      if (h && (!fork || h->running()))
        same = h;
      else if (procs.count(id)) {
        collision = true;
        ++n.same_second_pids;
      }
      if (same && !fork)
        revive(*same);
    } else if (!same && !r.pid.empty()) {
      if (auto h = by_link(r.pid)) {
        bool agree = guid.empty() || h->guid.empty() || guid == h->guid;
        bool reused = guid.empty() && h->guid.empty() && h->running()
                      && known(h->start) && known(r.start_time)
                      && within_1s(h->start, r.start_time)
                      && other_process(*h, r);
        if (reused) {
          if (procs.count(id)) {
            collision = true;
            ++n.same_second_pids;
          }
        } else if (agree && h->running() && within_1s(h->start, r.start_time))
          same = h;
        else if (agree && !h->running() && known(r.start_time)
                 && h->start == r.start_time)
          same = h;
      }
    }
    bool guid_collision = false;
    if (!same && !exact_id && !collision) {
      if (auto x = get(id)) {
        if (!guid.empty() && !x->guid.empty() && x->guid != guid) {
          collision = guid_collision = true;
        } else if (!x->running() && !x->estimate && x->end != 1
                   && known(r.start_time) && r.start_time > x->end
                   && (static_cast<std::uint64_t>(r.start_time)
                               - static_cast<std::uint64_t>(x->end)
                           > static_cast<std::uint64_t>(hns_per_second / 10)
                       || other_process(*x, r))) {
          // docs/semantics.md: started after the other's logged exit
          // (more than 100 ms after, or as another image or creator).
          collision = true;
          ++n.same_second_pids;
        } else {
          same = x;
        }
      }
    }
    if (same) {
      if (same->guid.empty() && !guid.empty()) {
        same->guid = guid;
        guids[guid] = same->id;
      }
      set_data(*same, merged(same->data, to_fields(r.data)));
      ++n.start_merges;
      touch(*same);
      evict();
      return;
    }
    if (collision) {
      id = unique(id);
      if (guid_collision)
        ++n.guid_collisions;
    }
    auto &p = insert(id, r);
    find_parent(p, r.ppid, lower_guid(r.parent_guid));
    take_link(p, r.pid, p.start);
    take_pending(p, r.pid);
    evict();
  }

  void exit(std::string target, const process_record &r, timestamp end) {
    auto guid = lower_guid(r.guid);
    bool exact_id = r.identity != record_identity::approximate
                    && known(r.start_time) && !r.pid.empty();
    proc *p = by_guid(guid);
    if (!p && exact_id) {
      p = exact(r.pid, r.start_time);
      if (!p)
        target = real_id(r.pid, r.start_time); // waits under its real id
    } else if (!p) {
      p = lookup(target);
    }
    if (!p && !r.pid.empty() && guid.empty() && !exact_id)
      p = by_link(r.pid);
    while (!target.empty() && target.front() == ' ')
      target.erase(0, 1);
    while (!target.empty() && target.back() == ' ')
      target.pop_back();
    // An exit by bare pid older than the holder's start is an earlier
    // holder's.
    if (p && known(end) && known(p->start) && end < p->start) {
      if (!exact_id && guid.empty() && digits(target)) {
        p = nullptr;
      } else { // named exactly: the exit's time is wrong
        ++n.exits_refused;
        return;
      }
    }
    if (!p) {
      ++n.unknown_exits;
      auto key = !guid.empty() ? guid : target;
      if (key.empty())
        key = r.pid;
      if (!key.empty() && cfg.max_pending_exits > 0
          && std::none_of(pending.begin(), pending.end(),
                          [&](auto &e) { return e.first == key; })) {
        pending.emplace_back(key, end);
        while (pending.size() > cfg.max_pending_exits)
          pending.pop_front();
      }
      return;
    }
    if (p->running() || p->estimate)
      set_end(*p, end, false);
    touch(*p);
  }

  void sync(timestamp time, const std::vector<process_record> &rows) {
    ++gen;
    struct placed {
      std::string id;
      std::size_t row;
      bool created;
    };
    std::vector<placed> pl;
    auto current = [&](std::size_t i) {
      auto *p = get(pl[i].id);
      return p && p->seen == gen && p->sync_row == i;
    };
    // Pass 1: find or create each listed process, evicting as rows come.
    for (std::size_t row = 0; row < rows.size(); ++row) {
      auto &r = rows[row];
      auto guid = lower_guid(r.guid);
      bool exact_id =
          r.identity != record_identity::approximate && !r.pid.empty();
      proc *p = by_guid(guid);
      // docs/semantics.md: a process whose exit was logged before this
      // listing, with another start, is not the one listed.
      auto exited = [&](const proc &h) {
        return !h.running() && !h.estimate && h.end != 1 && known(time)
               && known(h.start) && h.start != r.start_time && h.end < time;
      };
      bool after_exit = false;
      if (!p && exact_id) {
        p = exact(r.pid, r.start_time);
      } else if (!p && !r.pid.empty()) {
        if (auto h = by_link(r.pid)) {
          bool agree = guid.empty() || h->guid.empty() || guid == h->guid;
          after_exit = exited(*h);
          if (agree && !after_exit && within_1s(h->start, r.start_time))
            p = h;
        }
      }
      if (!p && guid.empty() && !exact_id) {
        p = get(real_id(r.pid, r.start_time));
        if (p && exited(*p)) {
          p = nullptr;
          after_exit = true;
        }
      }
      if (p && p->seen == gen) {
        // Listed twice: one process, the last row wins.
        bool created = pl[p->sync_row].created;
        set_data(*p, store(to_fields(r.data)));
        touch(*p);
        p->sync_row = pl.size();
        pl.push_back({p->id, row, created});
        continue;
      }
      if (p) {
        set_data(*p, store(to_fields(r.data)));
        p->last_sync = time;
        p->seen = gen;
        if (!p->running() && p->estimate && p->end <= time) {
          p->end = unknown_time; // listed, so alive after all
          p->estimate = false;
          settle();
        } else if (exact_id && !p->running() && p->end < time) {
          revive(*p);
        }
        touch(*p);
        p->sync_row = pl.size();
        pl.push_back({p->id, row, false});
        continue;
      }
      auto id = real_id(r.pid, r.start_time);
      if (restorable(r.real_id, id) && !procs.count(r.real_id))
        id = r.real_id; // our own output stream names its exact id
      else if (procs.count(id)) {
        id = unique(id);
        if (after_exit)
          ++n.same_second_pids;
      }
      auto &c = insert(id, r);
      c.last_sync = time;
      c.seen = gen;
      c.sync_row = pl.size();
      pl.push_back({id, row, true});
      evict();
    }
    std::vector<placed> listed;
    for (std::size_t i = 0; i < pl.size(); ++i)
      if (current(i))
        listed.push_back(pl[i]);
    // Pass 2: parents; within the listing first.
    std::map<std::string, std::string> listed_pid;
    for (auto &x : listed)
      if (!rows[x.row].pid.empty())
        listed_pid.emplace(rows[x.row].pid, x.id);
    auto listed_holder = [&](const std::string &pid) -> proc * {
      auto i = listed_pid.find(pid);
      return i == listed_pid.end() ? nullptr : get(i->second);
    };
    for (auto &x : listed) {
      auto &e = procs.at(x.id);
      auto &r = rows[x.row];
      bool unknown = e.parent_id.empty() || ends_unknown(e.parent_id);
      if (!x.created && !unknown)
        continue; // a known parent is never rewritten
      if (x.created && !r.parent_real_id.empty()) {
        // Restored: the entry's ParentId as it was.
        auto *q = get(r.parent_real_id);
        if (ends_unknown(r.parent_real_id)) {
          e.parent_id = r.parent_real_id;
          ++n.unknown_parents;
        } else if (!q) {
          e.parent_id = r.parent_real_id;
          settle();
        } else {
          link(e, q, pid_of(q->id));
        }
        continue;
      }
      if (x.created) {
        auto *h = listed_holder(r.ppid);
        if (h && h != &e && before_or_same(h->start, e.start))
          link(e, h, r.ppid);
        else
          find_parent(e, r.ppid, lower_guid(r.parent_guid));
        continue;
      }
      // Filled in only by the process that held the recorded ppid when the
      // child started.
      auto recorded = e.parent_id.size() > 2
                          ? e.parent_id.substr(0, e.parent_id.size() - 2)
                          : std::string{};
      if (recorded.empty() || recorded == "?")
        continue;
      auto started_it = [&](proc *q) {
        return q && q != &e && pid_of(q->id) == recorded
               && held_at(*q, e.start);
      };
      proc *parent = listed_holder(recorded);
      if (!started_it(parent)) {
        auto pguid = lower_guid(r.parent_guid);
        parent = pguid.empty() ? by_link(recorded) : by_guid(pguid);
        if (!parent && !pguid.empty()) {
          parent = by_link(recorded);
          if (parent && !parent->guid.empty())
            parent = nullptr;
        }
        if (!started_it(parent))
          continue;
      }
      --n.unknown_parents;
      link(e, parent, recorded);
    }
    // Pass 2b: what a restored row states of itself.
    for (auto &x : listed) {
      auto *e = get(x.id);
      if (!e)
        continue;
      auto &r = rows[x.row];
      if (r.keeps_last_sync)
        e->last_sync = r.last_sync_time;
      if (r.keeps_children) {
        e->children = r.children;
        if (e->children.size() > cfg.max_children)
          e->children.resize(cfg.max_children);
      }
      if (known(r.end_time) && (e->running() || e->estimate))
        set_end(*e, r.end_time, false);
    }
    // Pass 3: the listed new processes hold their pids. Between two
    // restored rows of one pid the link only moves (running one first, else
    // the later start) and ends no one: a replayed stream states the ends.
    auto restored = [](const process_record &r) {
      return !r.real_id.empty() || !r.parent_real_id.empty()
             || r.keeps_last_sync || r.keeps_children;
    };
    for (auto &x : listed) {
      if (!x.created || !get(x.id))
        continue;
      auto &r = rows[x.row];
      auto &p = procs.at(x.id);
      proc *old = restored(r) ? by_link(r.pid) : nullptr;
      if (old && old != &p && old->seen == gen
          && restored(rows[pl[old->sync_row].row]) && pid_of(p.id) == r.pid) {
        bool take = p.running() != old->running()
                        ? p.running()
                        : before_or_same(old->start, p.start);
        if (take)
          links[r.pid] = p.id;
        continue;
      }
      take_link(p, r.pid, time);
    }
    // Pass 4: a running process not listed (and started by then) is gone;
    // a listing without a time ends none.
    std::vector<std::string> gone;
    if (!known(time))
      ++n.untimed_syncs;
    for (auto *p : known(time) ? eviction_order() : std::vector<proc *>{})
      if (p->running() && p->seen != gen && before_or_same(p->start, time))
        gone.push_back(p->id);
    for (auto &id : gone) {
      set_end(procs.at(id), time, true);
      ++n.sync_exits;
    }
    evict();
  }

  void apply(const process_update &u) {
    switch (u.kind) {
    case update_kind::start:
      observe(u.process.start_time, u.process.pid, lower_guid(u.process.guid));
      start(u.process);
      break;
    case update_kind::exit:
      if (!known(u.time)) {
        ++n.exits_refused;
        break;
      }
      observe(u.time, exit_pid(u), exit_guid(u));
      exit(u.target, u.process, u.time);
      break;
    case update_kind::sync:
      observe(u.time);
      sync(u.time, u.processes);
      break;
    }
  }
};

// -- random streams
// -------------------------------------------------------------

struct stream {
  table_config cfg;
  bool exact = false; // the Linux agent's records
  std::vector<process_update> updates;
};

struct generator {
  std::mt19937_64 rng;
  bool exact = false;
  explicit generator(std::uint64_t seed) : rng(seed) {}

  int pick(int n) {
    return static_cast<int>(rng() % static_cast<std::uint64_t>(n));
  }
  bool chance(int percent) {
    return pick(100) < percent;
  }

  static constexpr timestamp base = 1'609'459'200 * sec; // 2021-01-01
  timestamp time() {
    if (exact) // /proc ticks: 10 ms, a few seconds
      return base + pick(6) * sec + pick(3) * (sec / 100);
    switch (pick(40)) {
    case 0:
    case 1:
      return unknown_time; // missing, or 0001-01-01 read back
    case 2:
      return 7'258'118'400 * sec; // 2200-01-01: a skewed clock
    case 3:
      return max_time; // 9999-12-31: the last time the formats say
    case 4:
      return -86'400 * sec - pick(2) * (sec / 2); // 1969-12-31
    case 5:
      return min_time; // 0000-01-01: the first time the formats say
    case 6:
      return 86'400 * sec; // 1970-01-02: far behind
    case 7:
    case 8:
      return base + 3 * 86'400 * sec + pick(3) * sec; // after a 3-day gap
    default:
      // A few seconds apart, often the same second (sub-second offsets).
      return base + pick(12) * sec
             + (chance(30) ? pick(3) * (sec * 3 / 10) : 0);
    }
  }
  std::string pid() {
    return std::to_string(1 + pick(6));
  }
  std::string guid() {
    if (exact || !chance(30))
      return {};
    if (chance(10))
      return "{00000000-0000-0000-0000-000000000000}";
    auto g =
        "{aaaaaaaa-0000-0000-0000-00000000000" + std::to_string(pick(8)) + "}";
    if (chance(20))
      std::transform(g.begin(), g.end(), g.begin(), ::toupper);
    return g;
  }
  // A long value: one kind of character (ASCII, 2-byte UTF-8, an escape).
  std::string long_value() {
    static const char *units[] = {"a", "\xC3\xA9", "\\n", "\\u00e9"};
    auto u = units[pick(4)];
    if (chance(15))
      return "{\"a\":\"" + std::string(40 + pick(40), 'x') + "\"}";
    std::string v = "\"";
    for (int i = 0, n = 10 + pick(40); i < n; ++i)
      v += u;
    return v + "\"";
  }
  data_fields data() {
    data_fields d;
    d.push_back({"Name", "\"n" + std::to_string(pick(100)) + "\""});
    if (chance(25))
      d.push_back(
          {"CommandLine",
           chance(60) ? long_value() : "\"c" + std::to_string(pick(9)) + "\""});
    if (chance(10))
      d.push_back({chance(50) ? "Name" : "CommandLine", long_value()});
    if (chance(4))
      d.push_back({"Truncated", "[\"CommandLine\"]"});
    return d;
  }
  process_record record() {
    process_record r;
    r.pid = !exact && chance(3) ? "" : pid();
    r.ppid = chance(5) ? "" : pid();
    r.guid = guid();
    r.parent_guid = chance(50) ? guid() : "";
    r.start_time = time();
    r.data = data();
    return r;
  }
  process_update update() {
    process_update u;
    int k = pick(10);
    if (k < 5) {
      u.kind = update_kind::start;
      u.process = record();
      if (exact)
        u.process.identity =
            chance(75) ? record_identity::exact_new : record_identity::exact;
    } else if (k < 8) {
      u.kind = update_kind::exit;
      u.time = time();
      if (exact) {
        u.target = pid();
        u.process.pid = u.target;
        if (chance(85)) {
          u.process.start_time = time();
          u.process.identity = record_identity::exact;
        }
        return u;
      }
      switch (pick(5)) {
      case 0:
        u.target = pid();
        break;
      case 1:
        u.target = real_id(pid(), time()) + (chance(20) ? ".1" : "");
        break;
      case 2:
        u.process.guid = guid();
        u.target = u.process.guid;
        break;
      case 3:
        u.target = " " + pid() + " ";
        break;
      default:
        u.process.pid = pid();
        u.target = u.process.pid;
        break;
      }
    } else {
      u.kind = update_kind::sync;
      u.time = time();
      if (u.time == unknown_time && chance(50))
        u.time = base + 20 * sec;
      bool restored = !exact && chance(20);
      int n = pick(7);
      for (int i = 0; i < n; ++i) {
        auto r = record();
        if (exact)
          r.identity = record_identity::exact;
        if (chance(70) && r.start_time != unknown_time && r.start_time > u.time
            && u.time != unknown_time)
          r.start_time = u.time; // listed processes started before the listing
        if (restored)
          restore(r);
        else if (chance(5))
          r.end_time = time(); // a plain listing row may carry end_time
        u.processes.push_back(std::move(r));
      }
      if (!u.processes.empty() && chance(15))
        u.processes.push_back(u.processes[pick(n)]); // listed twice
      if (!u.processes.empty() && chance(10)) {
        auto again = u.processes[pick(n)];
        again.data = data(); // listed twice, another read
        u.processes.push_back(std::move(again));
      }
    }
    return u;
  }
  // Our own output stream's row: the entry's Id, ParentId, EndTime,
  // LastSyncTime and Children.
  void restore(process_record &r) {
    auto base_id = real_id(r.pid, r.start_time);
    switch (pick(4)) {
    case 0:
      r.real_id = base_id;
      break;
    case 1:
      r.real_id = base_id + "." + std::to_string(1 + pick(2));
      break;
    case 2:
      r.real_id = real_id(pid(), time()); // not this pid and start: ignored
      break;
    default:
      break;
    }
    switch (pick(4)) {
    case 0:
      r.parent_real_id = pid() + "-?";
      break;
    case 1:
    case 2:
      r.parent_real_id = real_id(pid(), time());
      break;
    default:
      break;
    }
    if (chance(30))
      r.end_time = time();
    if (chance(50)) {
      r.keeps_last_sync = true;
      r.last_sync_time = time();
    }
    if (chance(30)) {
      r.keeps_children = true;
      for (int i = 0, n = pick(4); i < n; ++i)
        r.children.push_back(real_id(pid(), time()));
    }
  }
};

stream make_stream(std::uint64_t seed) {
  generator g{seed};
  stream s;
  s.exact = g.chance(25);
  g.exact = s.exact;
  s.cfg.max_size = 3 + static_cast<std::size_t>(g.pick(8));
  s.cfg.max_children = 1 + static_cast<std::size_t>(g.pick(4));
  switch (g.pick(3)) {
  case 0:
    s.cfg.max_expiry = 5 * sec;
    break;
  case 1:
    s.cfg.max_expiry = 24 * 3600 * sec;
    break;
  default:
    s.cfg.max_expiry = 0; // expiry off: no outliers either
    break;
  }
  s.cfg.max_pending_exits = 1 + static_cast<std::size_t>(g.pick(4));
  if (g.chance(30))
    s.cfg.max_bytes = 150 + static_cast<std::size_t>(g.pick(400));
  if (g.chance(50))
    s.cfg.max_field_bytes = 16 + static_cast<std::size_t>(g.pick(48));
  for (int i = 0, n = 5 + g.pick(40); i < n; ++i)
    s.updates.push_back(g.update());
  return s;
}

// -- comparing
// ------------------------------------------------------------------

std::string describe(const process_update &u) {
  std::ostringstream o;
  auto t = [](timestamp x) { return format_time(x); };
  auto rec = [&](const process_record &r) {
    o << "{pid=" << r.pid;
    if (!r.ppid.empty())
      o << " ppid=" << r.ppid;
    if (!r.guid.empty())
      o << " guid=" << r.guid;
    if (!r.parent_guid.empty())
      o << " pguid=" << r.parent_guid;
    o << " start=" << t(r.start_time);
    if (r.identity != record_identity::approximate)
      o << (r.identity == record_identity::exact ? " exact" : " exact_new");
    if (!r.real_id.empty())
      o << " Id=" << r.real_id;
    if (!r.parent_real_id.empty())
      o << " ParentId=" << r.parent_real_id;
    if (known(r.end_time))
      o << " end=" << t(r.end_time);
    if (r.keeps_last_sync)
      o << " LastSyncTime=" << t(r.last_sync_time);
    if (r.keeps_children) {
      o << " Children=[";
      for (auto &c : r.children)
        o << c << (&c == &r.children.back() ? "" : ",");
      o << "]";
    }
    o << " data=" << pack_data(r.data) << "}";
  };
  switch (u.kind) {
  case update_kind::start:
    o << "start ";
    rec(u.process);
    break;
  case update_kind::exit:
    o << "exit target='" << u.target << "'";
    if (!u.process.guid.empty())
      o << " guid=" << u.process.guid;
    if (!u.process.pid.empty())
      o << " pid=" << u.process.pid;
    if (u.process.identity != record_identity::approximate)
      o << " exact start=" << t(u.process.start_time);
    o << " time=" << t(u.time);
    break;
  case update_kind::sync:
    o << "sync time=" << t(u.time) << " rows:";
    if (u.processes.empty())
      o << " none";
    for (auto &r : u.processes) {
      o << "\n      ";
      rec(r);
    }
    break;
  }
  return o.str();
}

// The differences between the table and the model, or "".
std::string compare(const process_table &table, model &m) {
  auto s = table.export_state();
  std::ostringstream o;
  auto t = [](timestamp x) { return format_time(x); };
  if (s.now != m.now)
    o << "now: table " << t(s.now) << " model " << t(m.now) << "; ";
  auto first_candidate =
      m.candidates.empty() ? unknown_time : m.candidates.front().time;
  if (s.clock_candidate != first_candidate)
    o << "clock candidate: table " << t(s.clock_candidate) << " model "
      << t(first_candidate) << "; ";
  if (s.last_expiry_run != m.last_run)
    o << "last expiry run: table " << t(s.last_expiry_run) << " model "
      << t(m.last_run) << "; ";
  std::string table_order, model_order;
  for (auto &p : s.processes)
    table_order += " " + p.id;
  m.tiers();
  for (auto *p : m.eviction_order())
    model_order += " " + p->id + (p->tier != p->now_tier ? "(stale)" : "");
  if (table_order != model_order)
    o << "eviction order: table" << table_order << ", model" << model_order
      << "; ";
  std::set<std::string> table_links, model_links, table_guids, model_guids;
  for (auto &p : s.processes) {
    auto *q = m.get(p.id);
    if (!q)
      continue;
    auto who = p.id + " ";
    if (p.parent_id != q->parent_id)
      o << who << "ParentId: table " << p.parent_id << " model " << q->parent_id
        << "; ";
    if (p.guid != q->guid)
      o << who << "guid: table " << p.guid << " model " << q->guid << "; ";
    if (p.start_time != q->start)
      o << who << "StartTime: table " << t(p.start_time) << " model "
        << t(q->start) << "; ";
    if (p.end_time != q->end)
      o << who << "EndTime: table " << t(p.end_time) << " model " << t(q->end)
        << "; ";
    if (p.end_time != unknown_time && p.end_is_estimate != q->estimate)
      o << who << "end estimate: table " << p.end_is_estimate << "; ";
    if (p.last_sync_time != q->last_sync)
      o << who << "LastSyncTime: table " << t(p.last_sync_time) << " model "
        << t(q->last_sync) << "; ";
    if (p.data != q->text)
      o << who << "Data: table " << p.data << " model " << q->text << "; ";
    if (p.children != q->children)
      o << who << "Children differ; ";
    if ((p.live_children > 0) != (q->now_tier == 2))
      o << who << "live children: table " << p.live_children << " model tier "
        << q->now_tier << "; ";
    if (p.holds_pid)
      table_links.insert(pid_of(p.id) + "=" + p.id);
    if (p.holds_guid)
      table_guids.insert(p.guid + "=" + p.id);
    if (m.is_ancestor(*q, m.get(q->parent_id)))
      o << who << "is its own ancestor; ";
  }
  for (auto &[pid, id] : m.links)
    model_links.insert(pid + "=" + id);
  for (auto &[g, id] : m.guids)
    model_guids.insert(g + "=" + id);
  auto list = [&](const std::set<std::string> &v) {
    std::string r;
    for (auto &x : v)
      r += " " + x;
    return r;
  };
  if (table_links != model_links)
    o << "pid links: table" << list(table_links) << ", model"
      << list(model_links) << "; ";
  if (table_guids != model_guids)
    o << "guid index: table" << list(table_guids) << ", model"
      << list(model_guids) << "; ";
  std::string tp, mp;
  for (auto &e : s.pending_exits)
    tp += " " + e.key + "@" + t(e.time);
  for (auto &e : m.pending)
    mp += " " + e.first + "@" + t(e.second);
  if (tp != mp)
    o << "pending exits: table" << tp << ", model" << mp << "; ";
  if (table.data_bytes() != m.bytes())
    o << "DataBytes: table " << table.data_bytes() << " model " << m.bytes()
      << "; ";
  auto &c = table.counters();
  auto cmp = [&](const char *name, std::int64_t a, std::int64_t b) {
    if (a != b)
      o << name << ": table " << a << " model " << b << "; ";
  };
  cmp("Evictions", c.evictions, m.n.evictions);
  cmp("ByteEvictions", c.byte_evictions, m.n.byte_evictions);
  cmp("Expired", c.expired, m.n.expired);
  cmp("ClockOutliers", c.clock_outliers, m.n.clock_outliers);
  cmp("ExitsRefused", c.exits_refused, m.n.exits_refused);
  cmp("UntimedSyncs", c.untimed_syncs, m.n.untimed_syncs);
  cmp("ParentLoops", c.parent_loops, m.n.parent_loops);
  cmp("TruncatedFields", c.truncated_fields, m.n.truncated_fields);
  cmp("UnknownExits", c.unknown_exits, m.n.unknown_exits);
  cmp("LateExits", c.late_exits, m.n.late_exits);
  cmp("SyncExits", c.sync_exits, m.n.sync_exits);
  cmp("PidReuses", c.pid_reuses, m.n.pid_reuses);
  cmp("ExitsRevived", c.exits_revived, m.n.exits_revived);
  cmp("SameSecondPids", c.same_second_pids, m.n.same_second_pids);
  cmp("GuidCollisions", c.guid_collisions, m.n.guid_collisions);
  cmp("StartMerges", c.start_merges, m.n.start_merges);
  cmp("ChildrenDropped", c.children_dropped, m.n.children_dropped);
  cmp("UnknownParents", c.unknown_parents, m.n.unknown_parents);
  return o.str();
}

struct outcome {
  std::string difference; // "" when the table agreed throughout
  std::size_t at = 0;     // the update after which it showed
  counts n;
};

outcome run(const stream &s) {
  process_table table{s.cfg};
  model m;
  m.cfg = s.cfg;
  outcome out;
  for (std::size_t i = 0; i < s.updates.size(); ++i) {
    table.apply(s.updates[i]);
    m.apply(s.updates[i]);
    auto d = compare(table, m);
    if (!d.empty()) {
      out.difference = d;
      out.at = i;
      return out;
    }
    if (table.size() > s.cfg.max_size) {
      out.difference = "size past max_size";
      out.at = i;
      return out;
    }
  }
  out.n = m.n;
  return out;
}

// The smallest stream found that still differs: updates, then sync rows,
// removed one at a time while a difference remains.
stream shrink(stream s) {
  for (bool smaller = true; smaller;) {
    smaller = false;
    for (std::size_t i = s.updates.size(); i-- > 0;) {
      auto t = s;
      t.updates.erase(t.updates.begin() + static_cast<std::ptrdiff_t>(i));
      if (!run(t).difference.empty()) {
        s = std::move(t);
        smaller = true;
      }
    }
    for (std::size_t i = 0; i < s.updates.size(); ++i)
      for (std::size_t j = s.updates[i].processes.size(); j-- > 0;) {
        auto t = s;
        auto &rows = t.updates[i].processes;
        rows.erase(rows.begin() + static_cast<std::ptrdiff_t>(j));
        if (!run(t).difference.empty()) {
          s = std::move(t);
          smaller = true;
        }
      }
  }
  return s;
}

std::string report(std::uint64_t seed, const stream &original) {
  auto s = shrink(original);
  auto r = run(s);
  std::ostringstream o;
  o << "seed " << seed << " (" << (s.exact ? "exact" : "approximate")
    << " identities; max_size " << s.cfg.max_size << ", max_children "
    << s.cfg.max_children << ", max_expiry " << s.cfg.max_expiry / sec
    << " s, pending " << s.cfg.max_pending_exits << ", max_bytes "
    << s.cfg.max_bytes << ", max_field_bytes " << s.cfg.max_field_bytes
    << "): shrunk from " << original.updates.size() << " to "
    << s.updates.size() << " updates; after update " << r.at << ": "
    << r.difference << "\n";
  for (std::size_t i = 0; i < s.updates.size(); ++i)
    o << "  " << i << ": " << describe(s.updates[i]) << "\n";
  return o.str();
}

} // namespace

// The count is the issue's: at least 100,000 streams in CI. PROCTRACK_MODEL_
// STREAMS and PROCTRACK_MODEL_SEED change them (a failure names its seed:
// PROCTRACK_MODEL_SEED=<seed> PROCTRACK_MODEL_STREAMS=1 reproduces it);
// PROCTRACK_MODEL_VERBOSE=1 reports every difference, not only the first 3.
BOOST_AUTO_TEST_CASE(table_equals_model_on_random_streams) {
  std::uint64_t streams = 100'000;
  std::uint64_t first = 1;
  if (auto *v = std::getenv("PROCTRACK_MODEL_STREAMS"))
    streams = std::strtoull(v, nullptr, 10);
  if (auto *v = std::getenv("PROCTRACK_MODEL_SEED"))
    first = std::strtoull(v, nullptr, 10);
  bool verbose = std::getenv("PROCTRACK_MODEL_VERBOSE") != nullptr;
  auto t0 = std::chrono::steady_clock::now();
  counts total;
  std::uint64_t updates = 0, failures = 0, exact_streams = 0;
  for (std::uint64_t seed = first; seed < first + streams; ++seed) {
    auto s = make_stream(seed);
    auto r = run(s);
    if (!r.difference.empty()) {
      if (++failures <= 3 || verbose)
        BOOST_ERROR(report(seed, s));
      continue;
    }
    updates += s.updates.size();
    exact_streams += s.exact;
    total.evictions += r.n.evictions;
    total.byte_evictions += r.n.byte_evictions;
    total.expired += r.n.expired;
    total.clock_outliers += r.n.clock_outliers;
    total.parent_loops += r.n.parent_loops;
    total.truncated_fields += r.n.truncated_fields;
    total.late_exits += r.n.late_exits;
    total.pid_reuses += r.n.pid_reuses;
    total.exits_revived += r.n.exits_revived;
    total.same_second_pids += r.n.same_second_pids;
    total.guid_collisions += r.n.guid_collisions;
  }
  auto secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  BOOST_TEST_MESSAGE("table_model: "
                     << streams << " streams (" << exact_streams << " exact), "
                     << updates << " updates in " << secs << " s; evictions "
                     << total.evictions << " (bytes " << total.byte_evictions
                     << "), expired " << total.expired << ", clock outliers "
                     << total.clock_outliers << ", parent loops "
                     << total.parent_loops << ", truncated "
                     << total.truncated_fields << ", late exits "
                     << total.late_exits << ", pid reuses " << total.pid_reuses
                     << ", revived " << total.exits_revived
                     << ", same-second pids " << total.same_second_pids
                     << ", GUID collisions " << total.guid_collisions << "; "
                     << failures << " differences");
  BOOST_TEST(failures == 0u);
  // The streams must exercise what they are for (checked on the full run).
  if (streams >= 10'000) {
    BOOST_TEST(total.evictions > 0);
    BOOST_TEST(total.byte_evictions > 0);
    BOOST_TEST(total.expired > 0);
    BOOST_TEST(total.clock_outliers > 0);
    BOOST_TEST(total.parent_loops > 0);
    BOOST_TEST(total.truncated_fields > 0);
    BOOST_TEST(total.late_exits > 0);
    BOOST_TEST(total.pid_reuses > 0);
    BOOST_TEST(total.exits_revived > 0);
    BOOST_TEST(total.same_second_pids > 0);
    BOOST_TEST(total.guid_collisions > 0);
  }
}

BOOST_AUTO_TEST_SUITE_END()
