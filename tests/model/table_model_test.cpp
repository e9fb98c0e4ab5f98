// Property test: the process table against a simple model of its rules.
//
// The model (below) is docs/semantics.md written as plainly as possible:
// every process in one std::map keyed by real id, the pid links and GUID
// index as maps, no slots, no LRU lists, no incremental tier counts: a
// process's tier is computed from scratch by walking its children. Random
// update streams (starts, exits and syncs over a few pids, GUIDs and
// times, with pid reuse, out-of-order exits, unknown and far times, small
// caches) go to both; after every update the table's exported state
// (export_state: entries, links, GUID index, pending exits, clock) must
// equal the model's.
//
// Two choices are the table's to make and the model only checks them:
// which process of the lowest tier goes first when the cache is full (LRU
// order, which depends on lookups too), and when housekeeping runs expiry.
// So the model learns from the table's counters that an eviction or an
// expiry happened, checks that each process that went was allowed to go
// (a running process only when no exited process without a running
// descendant was left; an expired one exited more than max-expiry before
// now), and then drops the same processes.
#include <boost/test/unit_test.hpp>

#include "actors/cache/process_table.hpp"
#include "actors/common/time.hpp"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>

BOOST_AUTO_TEST_SUITE(table_model_test)

using namespace proctrack;

namespace {

constexpr timestamp sec = ns_per_second;

bool before_or_same(timestamp parent, timestamp child) {
  return parent == unknown_time || child == unknown_time || parent <= child;
}

bool within_1s(timestamp a, timestamp b) {
  return a == unknown_time || b == unknown_time
         || (a > b ? a - b : b - a) <= sec;
}

bool digits(const std::string &s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return c >= '0' && c <= '9';
  });
}

std::string pid_of(const std::string &id) {
  return id.substr(0, id.rfind('-'));
}

bool unknown_parent(const std::string &parent_id) {
  return parent_id.size() >= 2
         && parent_id.compare(parent_id.size() - 2, 2, "-?") == 0;
}

struct model {
  struct proc {
    std::string id, parent_id, guid, name;
    timestamp start = unknown_time, end = unknown_time,
              last_sync = unknown_time;
    bool estimate = false;
    std::vector<std::string> children;
    std::uint64_t seen = 0;
    bool running() const {
      return end == unknown_time;
    }
  };

  table_config cfg;
  std::map<std::string, proc> procs;
  std::map<std::string, std::string> links;              // pid -> id
  std::map<std::string, std::string> guids;              // guid -> id
  std::deque<std::pair<std::string, timestamp>> pending; // oldest first
  timestamp now = unknown_time;
  std::uint64_t gen = 0;

  proc *get(const std::string &id) {
    auto i = procs.find(id);
    return i == procs.end() ? nullptr : &i->second;
  }
  proc *by_link(const std::string &pid) {
    auto i = links.find(pid);
    return i == links.end() ? nullptr : get(i->second);
  }
  proc *by_guid(const std::string &g) {
    if (g.empty())
      return nullptr;
    auto i = guids.find(g);
    return i == guids.end() ? nullptr : get(i->second);
  }
  proc *lookup(const std::string &id) {
    if (id.empty())
      return nullptr;
    if (id[0] == '{')
      return by_guid(normalize_guid(id));
    if (digits(id))
      return by_link(id);
    return get(id);
  }

  // A process is "live" for eviction when it runs or has a running
  // descendant; tier 2 = has a live child, 1 = running, 0 = the rest.
  bool live(const proc &p, std::set<std::string> &seen) {
    if (p.running())
      return true;
    return live_children(p, seen) > 0;
  }
  int live_children(const proc &p, std::set<std::string> &seen) {
    if (!seen.insert(p.id).second)
      return 0;
    int n = 0;
    for (auto &[id, c] : procs)
      if (c.parent_id == p.id && id != p.id) {
        std::set<std::string> s = seen;
        if (live(c, s))
          ++n;
      }
    return n;
  }
  int tier(const proc &p) {
    std::set<std::string> seen;
    if (live_children(p, seen) > 0)
      return 2;
    return p.running() ? 1 : 0;
  }

  std::string unique(const std::string &base) {
    for (int n = 1;; ++n) {
      auto c = base + "." + std::to_string(n);
      if (!procs.count(c))
        return c;
    }
  }

  void set_end(proc &p, timestamp end, bool est) {
    p.end = end == unknown_time ? 1 : end;
    p.estimate = est;
  }

  void observe(timestamp t) {
    if (t != unknown_time && t > now)
      now = t;
  }

  void link_child(proc &parent, proc &child) {
    child.parent_id = parent.id;
    if (std::find(parent.children.begin(), parent.children.end(), child.id)
            == parent.children.end()
        && parent.children.size() < cfg.max_children)
      parent.children.push_back(child.id);
  }

  void resolve_parent(proc &c, const std::string &ppid,
                      const std::string &pguid, proc *hint) {
    proc *parent = hint;
    if (!parent && !pguid.empty()) {
      parent = by_guid(pguid);
    } else if (!parent && !ppid.empty()) {
      parent = by_link(ppid);
      if (parent && !before_or_same(parent->start, c.start))
        parent = nullptr;
    }
    if (parent == &c)
      parent = nullptr;
    if (!parent) {
      c.parent_id = (ppid.empty() ? std::string{"?"} : ppid) + "-?";
      return;
    }
    link_child(*parent, c);
  }

  void take_link(proc &p, const std::string &pid, timestamp holder_end) {
    if (pid.empty() || pid_of(p.id) != pid)
      return; // a bare pid only ever finds a process of that pid
    auto old = by_link(pid);
    if (!old) {
      links[pid] = p.id;
      return;
    }
    if (old == &p)
      return;
    if (!before_or_same(old->start, p.start)) {
      if (p.running())
        set_end(p, old->start, true);
      return;
    }
    if (old->running())
      set_end(*old, holder_end, true);
    links[pid] = p.id;
  }

  void apply_pending(proc &p, const std::string &pid) {
    auto find = [&](const std::string &k) {
      return std::find_if(pending.begin(), pending.end(),
                          [&](auto &e) { return e.first == k; });
    };
    auto hit = pending.end();
    if (!p.guid.empty())
      hit = find(p.guid);
    if (hit == pending.end())
      hit = find(p.id);
    if (hit == pending.end() && !pid.empty()) {
      auto h = find(pid);
      if (h != pending.end() && h->second >= p.start)
        hit = h;
    }
    if (hit == pending.end())
      return;
    auto end = hit->second;
    pending.erase(hit);
    set_end(p, end, false);
  }

  proc &insert(std::string id, const process_record &r) {
    auto &p = procs[id];
    p = proc{};
    p.id = id;
    p.guid = r.guid;
    p.start = r.start_time;
    p.name = r.data.empty() ? "" : r.data.back().json;
    if (!p.guid.empty())
      guids[p.guid] = id;
    return p;
  }

  void start(process_record r) {
    r.guid = normalize_guid(r.guid);
    r.parent_guid = normalize_guid(r.parent_guid);
    proc *same = by_guid(r.guid);
    if (!same && !r.pid.empty()) {
      if (auto h = by_link(r.pid)) {
        bool guids_agree =
            r.guid.empty() || h->guid.empty() || r.guid == h->guid;
        if (guids_agree && h->running() && within_1s(h->start, r.start_time))
          same = h;
        else if (guids_agree && !h->running() && r.start_time != unknown_time
                 && h->start == r.start_time)
          same = h;
      }
    }
    auto id = make_real_id(r.pid, r.start_time);
    bool collision = false;
    if (!same) {
      if (auto x = get(id)) {
        if (r.guid.empty() || x->guid.empty() || x->guid == r.guid)
          same = x;
        else
          collision = true;
      }
    }
    if (same) {
      if (same->guid.empty() && !r.guid.empty()) {
        same->guid = r.guid;
        guids[r.guid] = same->id;
      }
      if (!r.data.empty())
        same->name = r.data.back().json;
      return;
    }
    if (collision)
      id = unique(id);
    auto &p = insert(id, r);
    resolve_parent(p, r.ppid, r.parent_guid, nullptr);
    take_link(p, r.pid, p.start);
    apply_pending(p, r.pid);
  }

  void exit(const std::string &target, const process_record &r, timestamp end) {
    auto g = normalize_guid(r.guid);
    proc *p = by_guid(g);
    if (!p && !target.empty())
      p = lookup(target);
    if (!p && !r.pid.empty() && g.empty())
      p = by_link(r.pid);
    if (p && g.empty() && digits(target) && end != unknown_time
        && p->start != unknown_time && end < p->start)
      p = nullptr;
    if (!p) {
      std::string key = !g.empty() ? g : target;
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
  }

  void sync(timestamp time, std::vector<process_record> rows) {
    ++gen;
    struct placed {
      std::string id;
      bool created;
      bool superseded = false;
    };
    std::vector<placed> placed_rows;
    std::map<std::string, std::size_t> row_of;
    for (auto &r : rows) {
      r.guid = normalize_guid(r.guid);
      proc *p = by_guid(r.guid);
      if (!p && !r.pid.empty())
        if (auto h = by_link(r.pid)) {
          bool guids_agree =
              r.guid.empty() || h->guid.empty() || r.guid == h->guid;
          if (guids_agree && within_1s(h->start, r.start_time))
            p = h;
        }
      if (!p && r.guid.empty())
        p = get(make_real_id(r.pid, r.start_time));
      std::string name = r.data.empty() ? "" : r.data.back().json;
      if (p && p->seen == gen) {
        auto &earlier = placed_rows[row_of[p->id]];
        earlier.superseded = true;
        p->name = name;
        row_of[p->id] = placed_rows.size();
        placed_rows.push_back({p->id, earlier.created});
        continue;
      }
      if (p) {
        p->name = name;
        p->last_sync = time;
        p->seen = gen;
        if (!p->running() && p->estimate && p->end <= time)
          p->end = unknown_time, p->estimate = false;
        row_of[p->id] = placed_rows.size();
        placed_rows.push_back({p->id, false});
      } else {
        auto id = make_real_id(r.pid, r.start_time);
        if (procs.count(id))
          id = unique(id);
        auto &n = insert(id, r);
        n.last_sync = time;
        n.seen = gen;
        row_of[id] = placed_rows.size();
        placed_rows.push_back({id, true});
      }
    }
    std::map<std::string, std::string> listed_pid;
    for (std::size_t i = 0; i < rows.size(); ++i)
      if (!rows[i].pid.empty() && !placed_rows[i].superseded)
        listed_pid.emplace(rows[i].pid, placed_rows[i].id);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (placed_rows[i].superseded)
        continue;
      auto &e = procs.at(placed_rows[i].id);
      bool unknown = e.parent_id.empty() || unknown_parent(e.parent_id);
      if (!placed_rows[i].created && !unknown)
        continue;
      auto &r = rows[i];
      if (placed_rows[i].created) {
        proc *hint = nullptr;
        auto lp = listed_pid.find(r.ppid);
        if (lp != listed_pid.end() && lp->second != e.id
            && before_or_same(procs.at(lp->second).start, e.start))
          hint = &procs.at(lp->second);
        resolve_parent(e, r.ppid, normalize_guid(r.parent_guid), hint);
        continue;
      }
      std::string recorded = e.parent_id.size() > 2
                                 ? e.parent_id.substr(0, e.parent_id.size() - 2)
                                 : "";
      if (recorded.empty() || recorded == "?")
        continue;
      auto started_it = [&](proc *q) {
        if (!q || q == &e || pid_of(q->id) != recorded
            || !before_or_same(q->start, e.start))
          return false;
        return q->running() || e.start == unknown_time || q->end >= e.start;
      };
      proc *hint = nullptr;
      auto lp = listed_pid.find(recorded);
      if (lp != listed_pid.end() && started_it(&procs.at(lp->second)))
        hint = &procs.at(lp->second);
      if (!hint) {
        auto known = normalize_guid(r.parent_guid);
        proc *cand = !known.empty() ? by_guid(known) : by_link(recorded);
        if (!started_it(cand))
          continue;
        hint = cand;
      }
      link_child(*hint, e);
    }
    for (std::size_t i = 0; i < rows.size(); ++i)
      if (placed_rows[i].created && !placed_rows[i].superseded)
        take_link(procs.at(placed_rows[i].id), rows[i].pid, time);
    for (auto &[id, p] : procs)
      if (p.running() && p.seen != gen && before_or_same(p.start, time))
        set_end(p, time, true);
  }

  void remove(const std::string &id) {
    auto &p = procs.at(id);
    auto pid = pid_of(id);
    if (auto l = links.find(pid); l != links.end() && l->second == id)
      links.erase(l);
    if (!p.guid.empty())
      if (auto g = guids.find(p.guid); g != guids.end() && g->second == id)
        guids.erase(g);
    procs.erase(id);
  }
};

// -- random streams -----------------------------------------------------------

struct generator {
  std::mt19937_64 rng;
  explicit generator(std::uint64_t seed) : rng(seed) {}

  int pick(int n) {
    return static_cast<int>(rng() % static_cast<std::uint64_t>(n));
  }
  bool chance(int percent) {
    return pick(100) < percent;
  }

  static constexpr timestamp base = 1'609'459'200 * sec; // 2021-01-01
  timestamp time() {
    switch (pick(20)) {
    case 0:
      return unknown_time;
    case 1:
      return 7'258'118'400 * sec; // 2200-01-01: far ahead of the stream
    case 2:
      return 86'400 * sec; // 1970-01-02: far behind
    default:
      // A few seconds apart, often the same second (sub-second offsets).
      return base + pick(12) * sec + (chance(30) ? pick(3) * 300'000'000 : 0);
    }
  }
  std::string pid() {
    return std::to_string(1 + pick(6));
  }
  std::string guid() {
    if (!chance(25))
      return {};
    if (chance(10))
      return "{00000000-0000-0000-0000-000000000000}";
    auto g =
        "{aaaaaaaa-0000-0000-0000-00000000000" + std::to_string(pick(8)) + "}";
    if (chance(20))
      std::transform(g.begin(), g.end(), g.begin(), ::toupper);
    return g;
  }
  process_record record() {
    process_record r;
    r.pid = chance(3) ? "" : pid();
    r.ppid = chance(5) ? "" : pid();
    r.guid = guid();
    r.parent_guid = chance(50) ? guid() : "";
    r.start_time = time();
    r.data.push_back({"Name", "\"n" + std::to_string(pick(1000)) + "\""});
    return r;
  }
  process_update update() {
    process_update u;
    int k = pick(10);
    if (k < 5) {
      u.kind = update_kind::start;
      u.process = record();
    } else if (k < 8) {
      u.kind = update_kind::exit;
      u.time = time();
      switch (pick(4)) {
      case 0:
        u.target = pid();
        break;
      case 1:
        u.target = make_real_id(pid(), time());
        break;
      case 2:
        u.process.guid = guid();
        u.target = u.process.guid;
        break;
      default:
        u.process.pid = pid();
        u.target = u.process.pid;
        break;
      }
    } else {
      u.kind = update_kind::sync;
      u.time = time();
      if (u.time == unknown_time)
        u.time = base + 20 * sec;
      int n = pick(6);
      for (int i = 0; i < n; ++i) {
        auto r = record();
        if (chance(70) && r.start_time != unknown_time && r.start_time > u.time)
          r.start_time = u.time; // listed processes started before the listing
        u.processes.push_back(std::move(r));
      }
      if (!u.processes.empty() && chance(10))
        u.processes.push_back(u.processes.front()); // listed twice
    }
    return u;
  }
};

std::string describe(const process_update &u) {
  std::ostringstream o;
  auto rec = [&](const process_record &r) {
    o << "{pid=" << r.pid << " ppid=" << r.ppid << " guid=" << r.guid
      << " pguid=" << r.parent_guid << " start=" << r.start_time << "}";
  };
  switch (u.kind) {
  case update_kind::start:
    o << "start ";
    rec(u.process);
    break;
  case update_kind::exit:
    o << "exit target=" << u.target << " guid=" << u.process.guid
      << " pid=" << u.process.pid << " time=" << u.time;
    break;
  case update_kind::sync:
    o << "sync time=" << u.time << " rows=";
    for (auto &r : u.processes)
      rec(r);
    break;
  }
  return o.str();
}

// The first difference between the table's state and the model's, or "".
std::string compare(const table_state &s, model &m) {
  std::ostringstream o;
  if (s.now != m.now)
    o << "now: table " << s.now << " model " << m.now << "; ";
  if (s.processes.size() != m.procs.size())
    o << "size: table " << s.processes.size() << " model " << m.procs.size()
      << "; ";
  std::set<std::string> table_links, model_links, table_guids, model_guids;
  for (auto &p : s.processes) {
    auto *q = m.get(p.id);
    if (!q) {
      o << "extra process " << p.id << "; ";
      continue;
    }
    std::set<std::string> seen;
    int live = m.live_children(*q, seen);
    auto name = data_value(p.data, "Name");
    if (p.parent_id != q->parent_id)
      o << p.id << " parent: table " << p.parent_id << " model " << q->parent_id
        << "; ";
    if (p.guid != q->guid)
      o << p.id << " guid: table " << p.guid << " model " << q->guid << "; ";
    if (p.start_time != q->start)
      o << p.id << " start; ";
    if (p.end_time != q->end)
      o << p.id << " end: table " << p.end_time << " model " << q->end << "; ";
    if (p.end_time != unknown_time && p.end_is_estimate != q->estimate)
      o << p.id << " estimate flag; ";
    if (p.last_sync_time != q->last_sync)
      o << p.id << " last sync; ";
    if (std::string{name.value_or("")} != q->name)
      o << p.id << " name: table " << name.value_or("") << " model " << q->name
        << "; ";
    if (p.children != q->children)
      o << p.id << " children differ; ";
    if ((p.live_children > 0) != (live > 0))
      o << p.id << " live children: table " << p.live_children << " model "
        << live << "; ";
    if (p.holds_pid)
      table_links.insert(std::string{pid_of(p.id)} + "=" + p.id);
    if (p.holds_guid)
      table_guids.insert(p.guid + "=" + p.id);
  }
  for (auto &[pid, id] : m.links)
    model_links.insert(pid + "=" + id);
  for (auto &[g, id] : m.guids)
    model_guids.insert(g + "=" + id);
  if (table_links != model_links) {
    o << "pid links differ: table";
    for (auto &l : table_links)
      o << " " << l;
    o << ", model";
    for (auto &l : model_links)
      o << " " << l;
    o << "; ";
  }
  if (table_guids != model_guids)
    o << "guid index differs; ";
  std::vector<std::pair<std::string, timestamp>> tp;
  for (auto &e : s.pending_exits)
    tp.emplace_back(e.key, e.time);
  if (tp
      != std::vector<std::pair<std::string, timestamp>>(m.pending.begin(),
                                                        m.pending.end()))
    o << "pending exits differ; ";
  return o.str();
}

struct run_result {
  std::string failure; // empty: the table agreed with the model throughout
  std::int64_t evictions = 0, expired = 0, updates = 0;
};

run_result run_stream(std::uint64_t seed) {
  generator g{seed};
  table_config cfg;
  cfg.max_size = 3 + static_cast<std::size_t>(g.pick(8));
  cfg.max_children = 1 + static_cast<std::size_t>(g.pick(4));
  cfg.max_expiry = g.chance(50) ? 5 * sec : 24 * 3600 * sec;
  cfg.max_pending_exits = 1 + static_cast<std::size_t>(g.pick(4));
  process_table table{cfg};
  model m;
  m.cfg = cfg;
  run_result res;
  int n = 5 + g.pick(40);
  std::vector<std::string> history;
  for (int i = 0; i < n; ++i) {
    auto u = g.update();
    history.push_back(describe(u));
    auto before = table.counters();
    // Expiry runs before the update is applied (when event time advances);
    // eviction after it.
    timestamp t = u.kind == update_kind::start ? u.process.start_time : u.time;
    m.observe(t);
    table.apply(process_update{u});
    auto after = table.counters();
    auto state = table.export_state();
    std::set<std::string> in_table;
    for (auto &p : state.processes)
      in_table.insert(p.id);
    auto fail = [&](const std::string &why) {
      std::ostringstream o;
      o << "seed " << seed << " (max_size " << cfg.max_size << ", max_children "
        << cfg.max_children << ", max_expiry " << cfg.max_expiry / sec
        << " s, pending " << cfg.max_pending_exits << ") after update " << i
        << ": " << why << "\n";
      for (auto &h : history)
        o << "  " << h << "\n";
      res.failure = o.str();
      return res;
    };
    if (after.expired > before.expired) {
      // expire(now): every exited process with no running descendant that
      // ended more than max_expiry before now.
      auto cutoff = m.now - cfg.max_expiry;
      std::vector<std::string> gone;
      for (auto &[id, p] : m.procs)
        if (!p.running() && p.end < cutoff && m.tier(p) == 0)
          gone.push_back(id);
      if (static_cast<std::int64_t>(gone.size())
          != after.expired - before.expired)
        return fail("expired " + std::to_string(after.expired - before.expired)
                    + ", model expects " + std::to_string(gone.size()));
      for (auto &id : gone)
        m.remove(id);
    }
    switch (u.kind) {
    case update_kind::start:
      m.start(u.process);
      break;
    case update_kind::exit:
      m.exit(u.target, u.process, u.time);
      break;
    case update_kind::sync:
      m.sync(u.time, u.processes);
      break;
    }
    auto evicted = after.evictions - before.evictions;
    if (evicted > 0) {
      std::vector<std::string> victims;
      for (auto &[id, p] : m.procs)
        if (!in_table.count(id))
          victims.push_back(id);
      if (static_cast<std::int64_t>(victims.size()) != evicted)
        return fail("evicted " + std::to_string(evicted) + ", model misses "
                    + std::to_string(victims.size()));
      // A running process goes only when no exited process without a
      // running descendant is left in the cache.
      bool tier0_left = false;
      for (auto &[id, p] : m.procs)
        if (in_table.count(id) && m.tier(p) == 0)
          tier0_left = true;
      for (auto &id : victims)
        if (m.procs.at(id).running() && tier0_left)
          return fail("running " + id
                      + " evicted while an exited process was left");
      for (auto &id : victims)
        m.remove(id);
    }
    if (state.processes.size() > cfg.max_size)
      return fail("size " + std::to_string(state.processes.size())
                  + " > max_size");
    auto diff = compare(state, m);
    if (!diff.empty())
      return fail(diff);
  }
  res.evictions = table.counters().evictions;
  res.expired = table.counters().expired;
  res.updates = n;
  return res;
}

} // namespace

// The count is the issue's: at least 100,000 streams in CI. PROCTRACK_MODEL_
// STREAMS and PROCTRACK_MODEL_SEED change them (to reproduce a failure:
// the message names its seed).
BOOST_AUTO_TEST_CASE(table_equals_model_on_random_streams) {
  std::uint64_t streams = 100'000;
  std::uint64_t first = 1;
  if (auto *s = std::getenv("PROCTRACK_MODEL_STREAMS"))
    streams = std::strtoull(s, nullptr, 10);
  if (auto *s = std::getenv("PROCTRACK_MODEL_SEED"))
    first = std::strtoull(s, nullptr, 10);
  std::int64_t updates = 0, evictions = 0, expired = 0;
  std::uint64_t failures = 0;
  for (std::uint64_t seed = first; seed < first + streams; ++seed) {
    auto r = run_stream(seed);
    if (!r.failure.empty()) {
      if (++failures <= 3)
        BOOST_ERROR(r.failure);
      else if (std::getenv("PROCTRACK_MODEL_VERBOSE"))
        BOOST_TEST_MESSAGE(r.failure.substr(0, r.failure.find('\n')));
      continue;
    }
    updates += r.updates;
    evictions += r.evictions;
    expired += r.expired;
  }
  BOOST_TEST_MESSAGE("table_model: "
                     << streams << " streams, " << updates << " updates, "
                     << evictions << " evictions, " << expired << " expired, "
                     << failures << " differences");
  BOOST_TEST(failures == 0u);
  // The streams must exercise what they are for.
  BOOST_TEST(evictions > 0);
  BOOST_TEST(expired > 0);
}

BOOST_AUTO_TEST_SUITE_END()
