// End-to-end scenarios through the real binary: update rows written to a
// temp file, `proctrack replay FILE --query=...`, and assertions on what a
// user sees (exact ids and times). SPEC §1-§6; the choices SPEC leaves open
// are those of docs/semantics.md.
#include <boost/test/unit_test.hpp>

#include "support/run_binary.hpp"

#include <functional>
#include <set>

BOOST_AUTO_TEST_SUITE(replay_scenarios_test)

using nlohmann::json;
using namespace proctrack_test;

namespace {

// 2021-01-01T00:00:00Z
constexpr long long day0 = 1609459200;

// "2021-01-01T" + hh:mm:ss + "Z" as Unix seconds.
long long at(int h, int m, int s = 0) {
  return day0 + h * 3600 + m * 60 + s;
}

std::string rfc3339(long long secs) {
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string rid(long long pid, long long start) {
  return std::to_string(pid) + "-" + std::to_string(start);
}

json proc(long long pid, long long ppid, const json &start,
          const std::string &name, json data = json::object()) {
  data["Name"] = name;
  return json{
      {"id", pid}, {"parent_id", ppid}, {"start_time", start}, {"data", data}};
}

std::string start_row(long long pid, long long ppid, const json &start,
                      const std::string &name, json data = json::object()) {
  auto r = proc(pid, ppid, start, name, std::move(data));
  r["update_type"] = "start";
  return r.dump();
}

std::string start_row(long long pid, long long ppid, long long start,
                      const std::string &name, json data = json::object()) {
  return start_row(pid, ppid, json(rfc3339(start)), name, std::move(data));
}

std::string exit_row(const json &id, long long end) {
  return json{{"update_type", "exit"}, {"id", id}, {"end_time", rfc3339(end)}}
      .dump();
}

std::string sync_row(long long time, const std::vector<json> &procs) {
  return json{
      {"update_type", "sync"}, {"time", rfc3339(time)}, {"processes", procs}}
      .dump();
}

std::set<std::string> id_set(const json &entries) {
  auto v = ids(entries);
  return {v.begin(), v.end()};
}

// Nodes of a tree result, counted recursively; `depth` gets the deepest
// level (root = 0); `check` sees every node.
std::size_t count_nodes(const json &node, std::size_t level, std::size_t &depth,
                        const std::function<void(const json &)> &check = {}) {
  if (node.is_null())
    return 0;
  depth = std::max(depth, level);
  if (check)
    check(node);
  std::size_t n = 1;
  for (auto &c : node.at("children"))
    n += count_nodes(c, level + 1, depth, check);
  return n;
}

} // namespace

// 1. A parent that exits by an update stays cached with its EndTime; its
// child still names it as parent.
BOOST_AUTO_TEST_CASE(parent_exits_by_update) {
  temp_dir dir;
  auto file = dir.write_lines("updates.jsonl",
                              {
                                  start_row(1, 0, at(10, 0), "parent.exe"),
                                  start_row(2, 1, at(10, 30), "child.exe"),
                                  exit_row(1, at(11, 0)),
                              });
  auto r = replay(
      file, {"get:1", "get:2", "pslist", "callchain:2", "children:1", "stats"});
  auto parent = rid(1, at(10, 0)), child = rid(2, at(10, 30));
  BOOST_TEST(r[0].at("Id") == parent);
  BOOST_TEST(r[0].at("EndTime") == "2021-01-01T11:00:00Z");
  BOOST_TEST(r[0].at("StartTime") == "2021-01-01T10:00:00Z");
  BOOST_TEST(r[0].at("Children") == json::array({child}));
  BOOST_TEST(r[1].at("Id") == child);
  BOOST_TEST(r[1].at("ParentId") == parent);
  BOOST_TEST(r[1].at("EndTime") == zero_time);
  BOOST_TEST(r[2].size() == 2u);
  BOOST_TEST(entry(r[2], parent).at("EndTime") == "2021-01-01T11:00:00Z");
  BOOST_TEST(ids(r[3]) == (std::vector<std::string>{parent, child}));
  BOOST_TEST(ids(r[4]) == (std::vector<std::string>{child}));
  BOOST_TEST(counter_of(r[5], "StartUpdates") == 2);
  BOOST_TEST(counter_of(r[5], "ExitUpdates") == 1);
  BOOST_TEST(counter_of(r[5], "Length") == 2);
}

// 2. A new process by update: found by bare pid and by real id.
BOOST_AUTO_TEST_CASE(new_process_by_update) {
  temp_dir dir;
  auto file = dir.write_lines(
      "updates.jsonl",
      {R"({"update_type":"start","id":5,"parent_id":4,"start_time":"2021-01-01T10:30:00Z","data":{"Name":"cmd.exe","CommandLine":"cmd.exe /c whoami"}})",
       // string ids and a time without seconds work too
       R"({"update_type":"start","id":"6","parent_id":"5","start_time":"2021-01-01T10:31Z","data":{"Name":"whoami.exe"}})"});
  auto r = replay(file, {"get:5", "get:5-1609497000", "get:6", "get:7",
                         "get:5-1609497001"});
  for (int i : {0, 1}) {
    BOOST_TEST(r[i].at("Id") == "5-1609497000");
    BOOST_TEST(r[i].at("ParentId") == "4-?");
    BOOST_TEST(r[i].at("StartTime") == "2021-01-01T10:30:00Z");
    BOOST_TEST(r[i].at("EndTime") == zero_time);
    BOOST_TEST(r[i].at("Data").at("Name") == "cmd.exe");
    BOOST_TEST(r[i].at("Data").at("CommandLine") == "cmd.exe /c whoami");
    BOOST_TEST(r[i].at("Children") == json::array({"6-1609497060"}));
  }
  BOOST_TEST(r[2].at("Id") == "6-1609497060");
  BOOST_TEST(r[2].at("ParentId") == "5-1609497000");
  BOOST_TEST(r[2].at("StartTime") == "2021-01-01T10:31:00Z");
  BOOST_TEST(r[3].is_null());
  BOOST_TEST(r[4].is_null());
}

// 3. Start, then exit.
BOOST_AUTO_TEST_CASE(start_then_exit) {
  temp_dir dir;
  auto file =
      dir.write_lines("updates.jsonl", {start_row(7, 1, at(10, 0), "job.exe"),
                                        exit_row("7", at(10, 5))});
  auto r = replay(file, {"get:7", "pslist", "stats"});
  BOOST_TEST(r[0].at("Id") == rid(7, at(10, 0)));
  BOOST_TEST(r[0].at("StartTime") == "2021-01-01T10:00:00Z");
  BOOST_TEST(r[0].at("EndTime") == "2021-01-01T10:05:00Z");
  BOOST_TEST(ids(r[1]) == (std::vector<std::string>{rid(7, at(10, 0))}));
  BOOST_TEST(counter_of(r[2], "StartUpdates") == 1);
  BOOST_TEST(counter_of(r[2], "ExitUpdates") == 1);
  BOOST_TEST(counter_of(r[2], "UnknownExits") == 0);
}

// 4. A parent that vanishes from the next pslist has exited; its end is the
// later sync's time (docs/semantics.md: the upper bound), and the child
// keeps it as parent.
BOOST_AUTO_TEST_CASE(parent_vanishes_from_sync) {
  temp_dir dir;
  auto a = proc(10, 1, rfc3339(at(9, 0)), "parent.exe");
  auto b = proc(11, 10, rfc3339(at(9, 30)), "child.exe");
  auto file = dir.write_lines(
      "updates.jsonl", {sync_row(at(10, 0), {a, b}), sync_row(at(11, 0), {b})});
  auto r = replay(file, {"get:10", "get:11", "callchain:11", "stats"});
  auto parent = rid(10, at(9, 0)), child = rid(11, at(9, 30));
  BOOST_TEST(r[0].at("Id") == parent);
  BOOST_TEST(r[0].at("EndTime") == "2021-01-01T11:00:00Z");
  BOOST_TEST(r[0].at("LastSyncTime") == "2021-01-01T10:00:00Z");
  BOOST_TEST(r[1].at("Id") == child);
  BOOST_TEST(r[1].at("ParentId") == parent);
  BOOST_TEST(r[1].at("EndTime") == zero_time);
  BOOST_TEST(r[1].at("LastSyncTime") == "2021-01-01T11:00:00Z");
  BOOST_TEST(ids(r[2]) == (std::vector<std::string>{parent, child}));
  BOOST_TEST(counter_of(r[3], "SyncExits") == 1);
  BOOST_TEST(counter_of(r[3], "SyncUpdates") == 2);
}

// 5. Pid reuse across two syncs: the child is not moved under the new holder
// of its parent's pid; a child of the new holder, first listed in the same
// sync, goes under the new holder.
BOOST_AUTO_TEST_CASE(pid_reuse_across_syncs) {
  temp_dir dir;
  auto old_parent = proc(20, 1, rfc3339(at(9, 0)), "old.exe");
  auto child = proc(21, 20, rfc3339(at(9, 30)), "child.exe");
  auto new_holder = proc(20, 1, rfc3339(at(10, 30)), "new.exe");
  auto new_child = proc(22, 20, rfc3339(at(10, 40)), "newchild.exe");
  auto file = dir.write_lines(
      "updates.jsonl", {sync_row(at(10, 0), {old_parent, child}),
                        sync_row(at(11, 0), {child, new_child, new_holder})});
  auto r = replay(file, {"callchain:21", "get:20", "get:20-1609491600",
                         "children:20", "get:21", "pslist", "callchain:22"});
  auto old_id = rid(20, at(9, 0)), new_id = rid(20, at(10, 30)),
       child_id = rid(21, at(9, 30)), new_child_id = rid(22, at(10, 40));
  BOOST_TEST(ids(r[0]) == (std::vector<std::string>{old_id, child_id}));
  BOOST_TEST(r[1].at("Id") == new_id);
  BOOST_TEST(r[1].at("Data").at("Name") == "new.exe");
  BOOST_TEST(r[1].at("Children") == json::array({new_child_id}));
  BOOST_TEST(r[1].at("EndTime") == zero_time);
  BOOST_TEST(r[2].at("Id") == old_id);
  // Gone: not listed by the 11:00 sync, its pid held by another process.
  BOOST_TEST(r[2].at("EndTime") == "2021-01-01T11:00:00Z");
  BOOST_TEST(r[2].at("Children") == json::array({child_id}));
  BOOST_TEST(ids(r[3]) == (std::vector<std::string>{new_child_id}));
  BOOST_TEST(r[4].at("ParentId") == old_id);
  BOOST_TEST(r[4].at("EndTime") == zero_time);
  BOOST_TEST(r[5].size() == 4u);
  BOOST_TEST(ids(r[6]) == (std::vector<std::string>{new_id, new_child_id}));
}

// 6. A start that reuses a running pid: the old holder ends at the new
// start time; the bare pid now names the new holder.
BOOST_AUTO_TEST_CASE(start_reuses_running_pid) {
  temp_dir dir;
  auto file = dir.write_lines("updates.jsonl",
                              {start_row(30, 1, at(10, 0), "first.exe"),
                               start_row(30, 1, at(11, 0), "second.exe"),
                               start_row(31, 30, at(11, 5), "grandchild.exe"),
                               // a bare pid names the newest holder
                               exit_row(30, at(11, 30))});
  auto r = replay(file,
                  {"get:30", "get:30-1609495200", "pslist", "stats", "get:31"});
  BOOST_TEST(r[0].at("Id") == rid(30, at(11, 0)));
  BOOST_TEST(r[0].at("Data").at("Name") == "second.exe");
  BOOST_TEST(r[0].at("EndTime") == "2021-01-01T11:30:00Z");
  BOOST_TEST(r[0].at("Children") == json::array({rid(31, at(11, 5))}));
  BOOST_TEST(r[4].at("ParentId") == rid(30, at(11, 0)));
  BOOST_TEST(r[1].at("Id") == rid(30, at(10, 0)));
  BOOST_TEST(r[1].at("Data").at("Name") == "first.exe");
  BOOST_TEST(r[1].at("EndTime") == "2021-01-01T11:00:00Z");
  BOOST_TEST(r[1].at("Children").empty());
  BOOST_TEST(r[2].size() == 3u);
  BOOST_TEST(counter_of(r[3], "PidReuses") == 1);
}

// 7. Overflow: 25 processes into max-size 10. Short-lived processes with no
// running descendant go first; the exited ancestors of a running process
// stay, so its call chain is whole.
BOOST_AUTO_TEST_CASE(cache_overflow_keeps_running_chain) {
  temp_dir dir;
  std::vector<std::string> rows{
      start_row(100, 1, at(9, 0), "root.exe"),
      start_row(101, 100, at(9, 1), "middle.exe"),
      start_row(102, 101, at(9, 2), "leaf.exe"),
      exit_row(100, at(9, 10)),
      exit_row(101, at(9, 11)),
  };
  for (int i = 0; i < 22; ++i) {
    rows.push_back(start_row(200 + i, 1, at(10, i), "short.exe"));
    rows.push_back(exit_row(200 + i, at(10, i, 30)));
  }
  auto file = dir.write_lines("updates.jsonl", rows);
  auto r = replay(file, {"pslist", "stats", "callchain:102"},
                  {"--tracker.max-size=10"});
  std::set<std::string> want{rid(100, at(9, 0)), rid(101, at(9, 1)),
                             rid(102, at(9, 2))};
  for (int i = 15; i < 22; ++i)
    want.insert(rid(200 + i, at(10, i)));
  BOOST_TEST(r[0].size() == 10u);
  BOOST_TEST(id_set(r[0]) == want);
  BOOST_TEST(counter_of(r[1], "Length") == 10);
  BOOST_TEST(counter_of(r[1], "Capacity") == 10);
  BOOST_TEST(counter_of(r[1], "Evictions") == 15);
  BOOST_TEST(ids(r[2])
             == (std::vector<std::string>{
                 rid(100, at(9, 0)), rid(101, at(9, 1)), rid(102, at(9, 2))}));
  BOOST_TEST(r[2][0].at("EndTime") == "2021-01-01T09:10:00Z");
}

// 8. Fork bomb: 3 children per process, 8 levels below a root.
BOOST_AUTO_TEST_CASE(fork_bomb_tree_is_bounded) {
  temp_dir dir;
  const long long t0 = at(0, 0);
  std::vector<std::string> rows{start_row(1, 0, t0, "bomb.exe")};
  // Breadth first: pids and start seconds increase level by level, so a
  // parent always starts before its children.
  std::vector<long long> level{1};
  long long next_pid = 2;
  for (int depth = 1; depth <= 8; ++depth) {
    std::vector<long long> next;
    for (auto parent : level)
      for (int k = 0; k < 3; ++k) {
        auto pid = next_pid++;
        rows.push_back(start_row(pid, parent, t0 + pid, "bomb.exe"));
        next.push_back(pid);
      }
    level = std::move(next);
  }
  BOOST_REQUIRE(rows.size() == 9841u);
  auto file = dir.write_lines("bomb.jsonl", rows);
  auto root = rid(1, t0);
  auto r = replay(
      file,
      {"stats", "tree:" + root, "tree:1:50", "get:1", "get:9841", "children:1"},
      {"--tracker.max-size=20000"});
  BOOST_TEST(counter_of(r[0], "Length") == 9841);
  BOOST_TEST(counter_of(r[0], "Evictions") == 0);
  BOOST_TEST(counter_of(r[0], "ChildrenDropped") == 0);

  auto sorted_children = [](const json &node) {
    auto &kids = node.at("children");
    for (std::size_t i = 1; i < kids.size(); ++i)
      BOOST_TEST(kids[i - 1].at("start_time").get<std::string>()
                 <= kids[i].at("start_time").get<std::string>());
    BOOST_TEST(kids.size() <= 3u);
  };
  std::size_t depth = 0;
  BOOST_TEST(r[1].at("id") == root);
  BOOST_TEST(r[1].at("name") == "bomb.exe");
  BOOST_TEST(count_nodes(r[1], 0, depth, sorted_children) == 1000u);
  BOOST_TEST(depth <= 20u);
  BOOST_TEST(r[1].at("children").size() == 3u);
  depth = 0;
  BOOST_TEST(count_nodes(r[2], 0, depth, sorted_children) == 50u);

  BOOST_TEST(r[3].at("Children").size() == 3u);
  BOOST_TEST(r[3].at("Children")
             == json::array({rid(2, t0 + 2), rid(3, t0 + 3), rid(4, t0 + 4)}));
  BOOST_TEST(r[4].at("Id") == rid(9841, t0 + 9841));
  BOOST_TEST(ids(r[5])
             == (std::vector<std::string>{rid(2, t0 + 2), rid(3, t0 + 3),
                                          rid(4, t0 + 4)}));
}

// 2b. Times in update rows: RFC 3339 with a fraction, Sysmon's form, Unix
// seconds and an offset all give UTC output with Z; the real id uses whole
// seconds.
BOOST_AUTO_TEST_CASE(time_formats_in_update_rows) {
  temp_dir dir;
  auto file =
      dir.write_lines("updates.jsonl",
                      {start_row(90, 1, json("2021-01-01T10:00:00.400Z"), "a"),
                       start_row(91, 1, json("2021-01-01 10:00:02.123"), "b"),
                       start_row(92, 1, json(1609495203), "c"),
                       start_row(93, 1, json("2021-01-01T11:00:04+01:00"), "d"),
                       start_row(94, 1, json("2021-01-01T10:01Z"), "e")});
  auto r = replay(file, {"get:90", "get:91", "get:92", "get:93", "get:94"});
  BOOST_TEST(r[0].at("Id") == "90-1609495200");
  BOOST_TEST(r[0].at("StartTime") == "2021-01-01T10:00:00.4Z");
  BOOST_TEST(r[1].at("Id") == "91-1609495202");
  BOOST_TEST(r[1].at("StartTime") == "2021-01-01T10:00:02.123Z");
  BOOST_TEST(r[2].at("Id") == "92-1609495203");
  BOOST_TEST(r[2].at("StartTime") == "2021-01-01T10:00:03Z");
  BOOST_TEST(r[3].at("Id") == "93-1609495204");
  BOOST_TEST(r[3].at("StartTime") == "2021-01-01T10:00:04Z");
  BOOST_TEST(r[4].at("Id") == "94-1609495260");
}

// 7b. A fork bomb into a small cache (3 children per process, 8 levels,
// spawned depth first as a recursive bomb does): memory stays bounded, every
// cached process's parent link still resolves (a running process's
// ancestors are evicted last), and the newest process's chain is whole.
BOOST_AUTO_TEST_CASE(fork_bomb_under_pressure_keeps_chain) {
  temp_dir dir;
  const long long t0 = at(0, 0);
  std::vector<std::string> rows;
  std::vector<long long> parent_of(9842, 0);
  long long next_pid = 1;
  std::function<void(long long, int)> spawn = [&](long long parent, int depth) {
    auto pid = next_pid++;
    parent_of[pid] = parent;
    rows.push_back(start_row(pid, parent, t0 + pid, "bomb.exe"));
    if (depth < 8)
      for (int k = 0; k < 3; ++k)
        spawn(pid, depth + 1);
  };
  spawn(0, 0);
  BOOST_REQUIRE(rows.size() == 9841u);
  auto file = dir.write_lines("bomb.jsonl", rows);
  auto r = replay(file, {"stats", "callchain:9841", "pslist"},
                  {"--tracker.max-size=1000"});
  BOOST_TEST(counter_of(r[0], "Length") == 1000);
  BOOST_TEST(counter_of(r[0], "Evictions") == 9841 - 1000);
  std::vector<std::string> want;
  for (long long pid = 9841; pid != 0; pid = parent_of[pid])
    want.insert(want.begin(), rid(pid, t0 + pid));
  BOOST_TEST(want.size() == 9u);
  BOOST_TEST(ids(r[1]) == want);
  BOOST_TEST(r[2].size() == 1000u);
  auto cached = id_set(r[2]);
  for (auto &e : r[2]) {
    auto parent = e.at("ParentId").get<std::string>();
    bool unknown =
        parent.size() >= 2 && parent.substr(parent.size() - 2) == "-?";
    BOOST_TEST((unknown || cached.count(parent) == 1),
               e.at("Id") << " has parent " << parent << ", not cached");
  }
}

// 8c. More children than tracker.max-children: the first ones are stored,
// the rest counted.
BOOST_AUTO_TEST_CASE(max_children_caps_stored_children) {
  temp_dir dir;
  std::vector<std::string> rows{start_row(1, 0, at(9, 0), "parent")};
  for (int i = 0; i < 5; ++i)
    rows.push_back(start_row(10 + i, 1, at(9, 1 + i), "kid"));
  auto file = dir.write_lines("updates.jsonl", rows);
  auto r =
      replay(file, {"get:1", "stats", "get:14"}, {"--tracker.max-children=2"});
  BOOST_TEST(r[0].at("Children")
             == json::array({rid(10, at(9, 1)), rid(11, at(9, 2))}));
  BOOST_TEST(counter_of(r[1], "ChildrenDropped") == 3);
  BOOST_TEST(counter_of(r[1], "Length") == 6);
  BOOST_TEST(r[2].at("ParentId") == rid(1, at(9, 0))); // still linked up
}

// 8b. The tree is at most 20 levels deep below its root, however deep the
// chain.
BOOST_AUTO_TEST_CASE(tree_depth_is_bounded_at_20) {
  temp_dir dir;
  std::vector<std::string> rows{start_row(1, 0, at(0, 0), "sh")};
  for (int pid = 2; pid <= 40; ++pid)
    rows.push_back(start_row(pid, pid - 1, at(0, 0) + pid, "sh"));
  auto file = dir.write_lines("chain.jsonl", rows);
  auto r = replay(file, {"tree:1", "callchain:40", "callchain:40:50"});
  std::size_t depth = 0;
  BOOST_TEST(count_nodes(r[0], 0, depth) == 21u);
  BOOST_TEST(depth == 20u);
  BOOST_TEST(r[1].size() == 10u); // callchain's default MAX
  BOOST_TEST(r[1].back().at("Id") == rid(40, at(0, 0) + 40));
  BOOST_TEST(r[2].size() == 40u);
  BOOST_TEST(r[2].front().at("Id") == rid(1, at(0, 0)));
}

// 9. Parent loops end: every process once in a call chain, and the tree
// stops.
BOOST_AUTO_TEST_CASE(parent_loop_terminates) {
  temp_dir dir;
  // Unknown start times (null): nothing proves either is older.
  json a{{"id", 40},
         {"parent_id", 41},
         {"start_time", nullptr},
         {"data", {{"Name", "a.exe"}}}};
  json b{{"id", 41},
         {"parent_id", 40},
         {"start_time", nullptr},
         {"data", {{"Name", "b.exe"}}}};
  // Equal start times.
  auto c = proc(42, 43, rfc3339(at(9, 0)), "c.exe");
  auto d = proc(43, 42, rfc3339(at(9, 0)), "d.exe");
  // Its own parent.
  auto e = proc(44, 44, rfc3339(at(9, 0)), "e.exe");
  auto file =
      dir.write_lines("updates.jsonl", {sync_row(at(10, 0), {a, b, c, d, e})});
  std::vector<std::string> qs{"callchain:40", "callchain:41", "callchain:42",
                              "callchain:43", "callchain:44", "tree:40",
                              "tree:42",      "tree:44",      "get:40"};
  replay_output r;
  BOOST_REQUIRE_NO_THROW(r = replay(file, qs));
  for (int i = 0; i < 5; ++i) {
    auto chain = ids(r[i]);
    std::set<std::string> unique{chain.begin(), chain.end()};
    BOOST_TEST(unique.size() == chain.size(), qs[i] << ": " << r[i].dump());
    BOOST_TEST(!chain.empty());
  }
  // The link that would close a loop is refused (docs/semantics.md): the
  // first row's parent is linked, the second's stays unknown.
  BOOST_TEST(ids(r[0]) == (std::vector<std::string>{"41-0", "40-0"}));
  BOOST_TEST(ids(r[1]) == (std::vector<std::string>{"41-0"}));
  BOOST_TEST(r[1][0].at("ParentId") == "40-?");
  BOOST_TEST(r[2].size() == 2u);
  BOOST_TEST(r[2].back().at("Id") == rid(42, at(9, 0)));
  BOOST_TEST(r[3].size() == 1u);
  BOOST_TEST(r[3][0].at("ParentId") == "42-?");
  BOOST_TEST(ids(r[4]) == (std::vector<std::string>{rid(44, at(9, 0))}));
  BOOST_TEST(r[4][0].at("ParentId") == "44-?");
  std::size_t depth = 0;
  BOOST_TEST(count_nodes(r[5], 0, depth) == 1u);
  depth = 0;
  BOOST_TEST(count_nodes(r[6], 0, depth) == 1u);
  depth = 0;
  BOOST_TEST(count_nodes(r[7], 0, depth) == 1u);
  BOOST_TEST(r[8].at("Id") == "40-0");
  BOOST_TEST(r[8].at("StartTime") == zero_time);
}

// 10. Torn and mistyped lines are skipped, counted and named (file:line);
// every valid line around them is applied.
BOOST_AUTO_TEST_CASE(bad_lines_are_skipped_counted_and_named) {
  temp_dir dir;
  std::vector<std::string> lines{
      start_row(50, 1, at(10, 0), "ok.exe"),                        // 1
      R"({"update_type":"start","id":51,"parent_id":50,"start_ti)", // 2 torn
      start_row(52, 50, at(10, 1), "ok2.exe"),                      // 3
      R"({"update_type":"start","id":"abc","parent_id":50,"start_time":"2021-01-01T10:02:00Z","data":{}})", // 4
      start_row(53, 50, at(10, 3), "ok3.exe"), // 5
      R"({"update_type":"start","id":54,"parent_id":50,"start_time":"yesterday","data":{}})", // 6
      R"([1,2,3])", // 7
      R"({"update_type":"restart","id":55,"parent_id":50,"start_time":"2021-01-01T10:05:00Z","data":{}})", // 8
      R"({"update_type":"start","id":56,"parent_id":50,"start_time":"2021-01-01T10:06:00Z","data":"notepad.exe"})", // 9
      exit_row(52, at(10, 7)),                 // 10
      start_row(57, 50, at(10, 8), "ok4.exe"), // 11
  };
  auto file = dir.write_lines("mixed.jsonl", lines);
  auto r = replay(file, {"pslist", "stats", "get:52", "get:50"});
  BOOST_TEST(
      id_set(r[0])
      == (std::set<std::string>{rid(50, at(10, 0)), rid(52, at(10, 1)),
                                rid(53, at(10, 3)), rid(57, at(10, 8))}));
  BOOST_TEST(counter_of(r[1], "InputErrors") == 6);
  BOOST_TEST(counter_of(r[1], "StartUpdates") == 4);
  BOOST_TEST(counter_of(r[1], "ExitUpdates") == 1);
  BOOST_TEST(r[2].at("EndTime") == "2021-01-01T10:07:00Z");
  BOOST_TEST(r[3].at("Children").size() == 3u);
  auto &err = r.run.err;
  for (int line : {2, 4, 6, 7, 8, 9})
    BOOST_TEST(err.find(file + ":" + std::to_string(line) + ":")
                   != std::string::npos,
               "stderr names " << file << ":" << line << "\n"
                               << err);
  for (int line : {1, 3, 5, 10, 11})
    BOOST_TEST(err.find(file + ":" + std::to_string(line) + ":")
                   == std::string::npos,
               "stderr does not blame good line " << line);
}

// 11a. An exit for a process never seen: counted, no phantom.
BOOST_AUTO_TEST_CASE(exit_for_unknown_pid) {
  temp_dir dir;
  auto file = dir.write_lines(
      "updates.jsonl",
      {start_row(60, 1, at(10, 0), "known.exe"), exit_row(61, at(10, 5))});
  auto r = replay(file, {"stats", "pslist", "get:61"});
  BOOST_TEST(counter_of(r[0], "UnknownExits") == 1);
  BOOST_TEST(counter_of(r[0], "Length") == 1);
  BOOST_TEST(ids(r[1]) == (std::vector<std::string>{rid(60, at(10, 0))}));
  BOOST_TEST(r[1][0].at("EndTime") == zero_time);
  BOOST_TEST(r[2].is_null());
}

// 11b. An exit that arrives before its start (out-of-order logs): the
// process appears ended, not running.
BOOST_AUTO_TEST_CASE(exit_before_start_is_not_a_phantom) {
  temp_dir dir;
  auto file = dir.write_lines(
      "updates.jsonl",
      {exit_row(62, at(10, 5)), start_row(62, 1, at(10, 0), "late.exe")});
  auto r = replay(file, {"get:62", "pslist", "stats"});
  BOOST_TEST(r[0].at("Id") == rid(62, at(10, 0)));
  BOOST_TEST(r[0].at("EndTime") == "2021-01-01T10:05:00Z");
  BOOST_TEST(r[1].size() == 1u);
  BOOST_TEST(counter_of(r[2], "LateExits") == 1);
}

// 12. GUID lineage: ProcessGuid / ParentProcessGuid link exactly, and GUID
// lookups ignore case.
BOOST_AUTO_TEST_CASE(guid_lineage_and_case_insensitive_lookup) {
  temp_dir dir;
  const std::string g_parent = "{ABCDEF01-1111-2222-3333-444455556666}";
  const std::string g_parent_lc = "{abcdef01-1111-2222-3333-444455556666}";
  const std::string g_child = "{ABCDEF01-1111-2222-3333-000000000002}";
  const std::string g_orphan = "{abcdef01-1111-2222-3333-000000000003}";
  auto file = dir.write_lines(
      "updates.jsonl",
      {start_row(70, 1, at(10, 0), "parent.exe", {{"ProcessGuid", g_parent}}),
       start_row(
           72, 70, at(10, 1), "child.exe",
           {{"ProcessGuid", g_child}, {"ParentProcessGuid", g_parent_lc}}),
       // The pid says 4242; the GUID names the parent exactly.
       start_row(73, 4242, at(10, 2), "other.exe",
                 {{"ProcessGuid", g_orphan}, {"ParentProcessGuid", g_parent}}),
       // an exit may name the process by its GUID, in either case
       exit_row("{abcdef01-1111-2222-3333-000000000002}", at(10, 30))});
  auto parent = rid(70, at(10, 0)), child = rid(72, at(10, 1)),
       other = rid(73, at(10, 2));
  auto r = replay(file, {"get:" + g_parent, "get:" + g_parent_lc,
                         "callchain:{abcdef01-1111-2222-3333-000000000002}",
                         "get:{ABCDEF01-1111-2222-3333-000000000003}",
                         "children:" + g_parent,
                         "get:{ABCDEF01-1111-2222-3333-999999999999}"});
  BOOST_TEST(r[0].at("Id") == parent);
  BOOST_TEST(r[1].at("Id") == parent);
  BOOST_TEST(ids(r[2]) == (std::vector<std::string>{parent, child}));
  BOOST_TEST(r[2][1].at("EndTime") == "2021-01-01T10:30:00Z");
  BOOST_TEST(r[2][0].at("EndTime") == zero_time);
  BOOST_TEST(r[3].at("Id") == other);
  BOOST_TEST(r[3].at("ParentId") == parent);
  BOOST_TEST(ids(r[4]) == (std::vector<std::string>{child, other}));
  BOOST_TEST(r[5].is_null());
}

// 12b. Same pid and start second, different GUIDs: two processes, two ids.
BOOST_AUTO_TEST_CASE(same_pid_and_second_different_guids_stay_two) {
  temp_dir dir;
  const std::string g1 = "{00000000-aaaa-0000-0000-000000000001}";
  const std::string g2 = "{00000000-aaaa-0000-0000-000000000002}";
  auto file = dir.write_lines(
      "updates.jsonl", {start_row(80, 1, json("2021-01-01T10:00:00.100Z"),
                                  "one.exe", {{"ProcessGuid", g1}}),
                        start_row(80, 1, json("2021-01-01T10:00:00.600Z"),
                                  "two.exe", {{"ProcessGuid", g2}})});
  auto r = replay(file, {"pslist", "get:" + g1, "get:" + g2});
  BOOST_TEST(r[0].size() == 2u);
  auto id1 = r[1].at("Id").get<std::string>();
  auto id2 = r[2].at("Id").get<std::string>();
  BOOST_TEST(id1 == rid(80, at(10, 0)));
  BOOST_TEST(id2 != id1);
  BOOST_TEST(id2.rfind(rid(80, at(10, 0)), 0) == 0u);
  BOOST_TEST(r[1].at("Data").at("Name") == "one.exe");
  BOOST_TEST(r[2].at("Data").at("Name") == "two.exe");
}

// 13. Two sources, one process: a start at 10:00:00.400 and a pslist that
// rounds it to 10:00:01 are one process with one real id (the first one).
BOOST_AUTO_TEST_CASE(two_sources_within_a_second_are_one_process) {
  temp_dir dir;
  auto file = dir.write_lines(
      "updates.jsonl",
      {// start first, then the sync
       start_row(90, 1, json("2021-01-01T10:00:00.400Z"), "event.exe",
                 {{"CommandLine", "event.exe --from-sysmon"}}),
       sync_row(at(10, 5), {proc(90, 1, rfc3339(at(10, 0, 1)), "listed.exe"),
                            proc(91, 1, rfc3339(at(10, 0, 1)), "listed.exe")}),
       // sync first, then the start
       start_row(91, 1, json("2021-01-01T10:00:00.400Z"), "event.exe",
                 {{"CommandLine", "event.exe --late-event"}})});
  auto r = replay(file, {"pslist", "get:90", "get:91", "stats"});
  BOOST_TEST(r[0].size() == 2u);
  BOOST_TEST(r[1].at("Id") == rid(90, at(10, 0)));
  BOOST_TEST(r[1].at("LastSyncTime") == "2021-01-01T10:05:00Z");
  BOOST_TEST(r[1].at("Data").at("Name") == "listed.exe"); // sync replaces
  BOOST_TEST(r[1].at("EndTime") == zero_time);
  BOOST_TEST(r[2].at("Id") == rid(91, at(10, 0, 1)));
  BOOST_TEST(r[2].at("Data").at("CommandLine") == "event.exe --late-event");
  BOOST_TEST(r[2].at("EndTime") == zero_time);
  BOOST_TEST(counter_of(r[3], "StartMerges") == 1);
  BOOST_TEST(counter_of(r[3], "PidReuses") == 0);
  BOOST_TEST(counter_of(r[3], "Length") == 2);
}

// 14. Expiry: a process that exited more than max-expiry before the newest
// event time is dropped; running ones and recent exits stay.
BOOST_AUTO_TEST_CASE(expiry_follows_event_time) {
  temp_dir dir;
  auto file = dir.write_lines("updates.jsonl",
                              {
                                  start_row(100, 1, at(10, 0), "old.exe"),
                                  start_row(101, 1, at(10, 5), "running.exe"),
                                  exit_row(100, at(10, 10)),
                                  start_row(103, 1, at(10, 50), "recent.exe"),
                                  exit_row(103, at(11, 0)),
                                  start_row(102, 1, at(11, 20), "late.exe"),
                                  start_row(104, 1, at(11, 25), "later.exe"),
                              });
  auto r =
      replay(file, {"pslist", "stats", "get:100"}, {"--tracker.max-expiry=1h"});
  BOOST_TEST(
      id_set(r[0])
      == (std::set<std::string>{rid(101, at(10, 5)), rid(103, at(10, 50)),
                                rid(102, at(11, 20)), rid(104, at(11, 25))}));
  BOOST_TEST(counter_of(r[1], "Expired") >= 1);
  BOOST_TEST(r[2].is_null());
}

// The shipped example (examples/updates/velociraptor_scenario.jsonl) gives
// the answers its queries file promises.
BOOST_AUTO_TEST_CASE(shipped_example) {
  const char *src = std::getenv("PROCTRACK_SOURCE");
  BOOST_REQUIRE(src);
  auto file =
      std::string{src} + "/examples/updates/velociraptor_scenario.jsonl";
  auto r = replay(
      file, {"callchain:3", "get:5", "get:5-1609497000", "get:900", "stats"});
  BOOST_TEST(ids(r[0])
             == (std::vector<std::string>{"1200-1609491900", "5-1609497000",
                                          "2-1609504200", "3-1609504260"}));
  BOOST_TEST(r[0][0].at("Data").at("Name") == "explorer.exe");
  BOOST_TEST(r[0][3].at("Data").at("Name") == "whoami.exe");
  BOOST_TEST(r[1].at("Id") == "5-1609509600");
  BOOST_TEST(r[1].at("Data").at("Name") == "notepad.exe");
  BOOST_TEST(r[2].at("Data").at("Name") == "cmd.exe");
  BOOST_TEST(r[2].at("EndTime") == "2021-01-01T13:00:00Z");
  BOOST_TEST(r[3].at("EndTime") == "2021-01-01T13:05:00Z"); // gone by sync
  BOOST_TEST(counter_of(r[4], "Length") == 9);
  BOOST_TEST(counter_of(r[4], "InputErrors") == 0);
}

// --- issue 15: Data fidelity ------------------------------------------------

std::string cases_dir() {
  const char *src = std::getenv("PROCTRACK_SOURCE");
  return std::string{src ? src : "."} + "/../shared/cases";
}

// How often `needle` occurs in `text`.
std::size_t occurrences(const std::string &text, const std::string &needle) {
  std::size_t n = 0;
  for (auto p = text.find(needle); p != std::string::npos;
       p = text.find(needle, p + 1))
    ++n;
  return n;
}

// The outsiders' case: {"Name":"a","Name":"b"} is stored and answered as
// {"Name":"b"}, and the tree's name is "b" (what a JSON reader sees).
BOOST_AUTO_TEST_CASE(duplicate_data_keys_case) {
  auto r = replay(cases_dir() + "/replay/duplicate_data_keys.jsonl",
                  {"get:7", "tree:7"});
  auto lines = r.run.out;
  BOOST_TEST(
      lines.find(
          R"({"query":"get:7","result":{"Id":"7-1609495200","ParentId":"1-?",)"
          R"("StartTime":"2021-01-01T10:00:00Z","EndTime":"0001-01-01T00:00:00Z",)"
          R"("LastSyncTime":"0001-01-01T00:00:00Z","Data":{"Name":"b"},"Children":[]}})")
      != std::string::npos);
  BOOST_TEST(
      lines.find(
          R"({"query":"tree:7","result":{"name":"b","id":"7-1609495200",)"
          R"("start_time":"2021-01-01T10:00:00Z","end_time":"0001-01-01T00:00:00Z",)"
          R"("data":{"Name":"b"},"children":[]}})")
      != std::string::npos);
  BOOST_TEST(occurrences(lines, "\"Name\"") == 2u);
}

// Every answer and the output stream write each key once, last value, first
// place: get, callchain, children, tree, pslist, sync rows and forwarded
// updates alike.
BOOST_AUTO_TEST_CASE(duplicate_data_keys_in_every_answer) {
  temp_dir dir;
  auto file = dir.write_lines(
      "dups.jsonl",
      {R"({"update_type":"start","id":1,"parent_id":0,"start_time":"2021-01-01T10:00:00Z","data":{"Name":"a","Exe":"e","Name":"p"}})",
       R"({"update_type":"start","id":2,"parent_id":1,"start_time":"2021-01-01T10:01:00Z","data":{"Name":"a","Name":"c","Name":"d"}})",
       R"({"update_type":"sync","time":"2021-01-01T10:02:00Z","processes":[{"id":1,"parent_id":0,"start_time":"2021-01-01T10:00:00Z","data":{"Name":"a","Exe":"e","Name":"p"}},{"id":2,"parent_id":1,"start_time":"2021-01-01T10:01:00Z","data":{"Name":"a","Name":"d"}}]})"});
  std::vector<std::string> qs{"get:2", "callchain:2", "children:1", "tree:1",
                              "pslist"};
  auto r = replay(file, qs);
  auto rows = json_lines(r.run.out);
  BOOST_REQUIRE(rows.size() == qs.size());
  BOOST_TEST(r.run.out.find("\"Name\":\"a\"") == std::string::npos);
  BOOST_TEST(r.run.out.find("{\"Name\":\"p\",\"Exe\":\"e\"}")
             != std::string::npos);
  BOOST_TEST(r[0].at("Data") == json({{"Name", "d"}}));
  BOOST_TEST(r[1].at(0).at("Data").at("Name") == "p");
  BOOST_TEST(r[1].at(1).at("Data").at("Name") == "d");
  BOOST_TEST(r[2].at(0).at("Data").at("Name") == "d");
  BOOST_TEST(r[3].at("name") == "p");
  BOOST_TEST(r[3].at("children").at(0).at("name") == "d");
  BOOST_TEST(r[4].size() == 2u);
  // One "Name" a Data: get 1 + callchain 2 + children 1 + tree 2 + pslist 2.
  BOOST_TEST(occurrences(r.run.out, "\"Name\"") == 8u);
  // The output stream: the first sync row, then each update as applied.
  auto stream =
      proctrack({"replay", file, "--tracker.also-forward-updates=true"});
  BOOST_REQUIRE(stream.status == 0);
  BOOST_TEST(stream.out.find("\"Name\":\"a\"") == std::string::npos);
  BOOST_TEST(occurrences(stream.out, "\"data\":{\"Name\":\"d\"}") == 2u);
  auto full = proctrack({"replay", file});
  BOOST_REQUIRE(full.status == 0);
  BOOST_TEST(full.out.find("\"Name\":\"a\"") == std::string::npos);
  BOOST_TEST(occurrences(full.out, "{\"Name\":\"d\"}") == 2u); // entry + data
}

// A key repeated inside a Data value (an object, objects in an array) is
// one key too, at every depth, in answers and in the output stream: the
// first place, the last value, the other values' text unchanged.
BOOST_AUTO_TEST_CASE(duplicate_keys_nested_in_data_values) {
  temp_dir dir;
  auto file = dir.write_lines(
      "nested.jsonl",
      {R"({"update_type":"start","id":7,"parent_id":1,"start_time":"2021-01-01T10:00:00Z","data":{"Name":"a","Hashes":{"MD5":"1","SHA256":"x","MD5":"2"},"Args":[{"k":1,"k":2.50},{"k":{"\u006b":3,"k":4}}]}})",
       R"({"update_type":"sync","time":"2021-01-01T11:00:00Z","processes":[{"id":8,"parent_id":1,"start_time":"2021-01-01T09:00:00Z","data":{"Name":"b","VersionInformation":{"CompanyName":"Real","CompanyName":"Fake"}}}]})"});
  auto r = replay(file, {"get:7", "get:8"});
  BOOST_TEST(
      r[0].at("Data").dump()
      == R"({"Args":[{"k":2.5},{"k":{"k":4}}],"Hashes":{"MD5":"2","SHA256":"x"},"Name":"a"})");
  BOOST_TEST(r.run.out.find(R"("Hashes":{"MD5":"2","SHA256":"x"})")
                 != std::string::npos,
             r.run.out);
  BOOST_TEST(r.run.out.find(R"("Args":[{"k":2.50},{"k":{"\u006b":4}}])")
                 != std::string::npos,
             r.run.out);
  BOOST_TEST(r[1].at("Data").at("VersionInformation")
             == json({{"CompanyName", "Fake"}}));
  BOOST_TEST(occurrences(r.run.out, "CompanyName") == 1u);
  auto stream =
      proctrack({"replay", file, "--tracker.also-forward-updates=true"});
  BOOST_REQUIRE(stream.status == 0);
  BOOST_TEST(stream.out.find("\"MD5\":\"1\"") == std::string::npos);
  BOOST_TEST(stream.out.find("Real") == std::string::npos);
}

// Pid reuse within a second, no GUIDs, the first process's exit not
// logged (Sysmon without GUIDs, Security 4688): a start whose image and
// creator differ from the pid's running holder is the pid's next process
// (".1" in the same second), and the holder ended then; the holder's
// children keep their parent.
BOOST_AUTO_TEST_CASE(pid_reused_within_a_second_without_guids_is_two) {
  temp_dir dir;
  auto sysmon = dir.write_lines(
      "sysmon.jsonl",
      {R"({"EventID": 1, "SourceName": "Microsoft-Windows-Sysmon", "Hostname": "ws1", "UtcTime": "2022-03-01 10:00:00.100", "ProcessId": "4096", "ParentProcessId": "512", "Image": "C:\\Windows\\System32\\cmd.exe", "CommandLine": "cmd /c evil"})",
       R"({"EventID": 1, "SourceName": "Microsoft-Windows-Sysmon", "Hostname": "ws1", "UtcTime": "2022-03-01 10:00:00.200", "ProcessId": "4352", "ParentProcessId": "4096", "Image": "C:\\Windows\\System32\\whoami.exe", "CommandLine": "whoami"})",
       R"({"EventID": 1, "SourceName": "Microsoft-Windows-Sysmon", "Hostname": "ws1", "UtcTime": "2022-03-01 10:00:00.700", "ProcessId": "4096", "ParentProcessId": "768", "Image": "C:\\Windows\\System32\\conhost.exe", "CommandLine": "conhost.exe 0xffffffff"})"});
  auto security = dir.write_lines(
      "security.jsonl",
      {R"({"EventID":4688,"SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"ws1","TimeCreated":"2022-03-01T10:00:00.100Z","NewProcessId":"0x1000","ProcessId":"0x200","NewProcessName":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd /c evil","SubjectUserName":"bob","SubjectDomainName":"CORP","RecordNumber":1})",
       R"({"EventID":4688,"SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"ws1","TimeCreated":"2022-03-01T10:00:00.200Z","NewProcessId":"0x1100","ProcessId":"0x1000","NewProcessName":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami","SubjectUserName":"bob","SubjectDomainName":"CORP","RecordNumber":2})",
       R"({"EventID":4688,"SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"ws1","TimeCreated":"2022-03-01T10:00:00.700Z","NewProcessId":"0x1000","ProcessId":"0x300","NewProcessName":"C:\\Windows\\System32\\conhost.exe","CommandLine":"conhost.exe 0xffffffff","SubjectUserName":"bob","SubjectDomainName":"CORP","RecordNumber":3})"});
  for (auto &file : {sysmon, security}) {
    auto r = replay(
        file, {"pslist", "get:4096", "callchain:4352", "get:4096-1646128800"});
    BOOST_TEST_CONTEXT(file) {
      BOOST_TEST(r[0].size() == 3u);
      BOOST_TEST(r[1].at("Id") == "4096-1646128800.1");
      BOOST_TEST(r[1].at("Data").at("Name") == "conhost.exe");
      BOOST_TEST(r[1].at("ParentId") == "768-?");
      BOOST_TEST(r[1].at("EndTime") == zero_time);
      BOOST_REQUIRE(r[2].size() == 2u);
      BOOST_TEST(r[2].at(0).at("Id") == "4096-1646128800");
      BOOST_TEST(r[2].at(0).at("Data").at("Name") == "cmd.exe");
      BOOST_TEST(r[3].at("Data").at("CommandLine") == "cmd /c evil");
      BOOST_TEST(r[3].at("ParentId") == "512-?");
      BOOST_TEST(r[3].at("EndTime") == "2022-03-01T10:00:00.7Z");
    }
  }
}

// The same, with the first holder's exit logged (helper-42): a start, or a
// listing, after that exit is the pid's next process, even with the same
// image and creator (an exit proves the holder gone). Before, it merged
// into the dead entry: conhost's Name over cmd's command line, shown
// exited, with conhost's children.
BOOST_AUTO_TEST_CASE(a_start_after_a_logged_exit_is_the_pids_next_process) {
  temp_dir dir;
  auto security = dir.write_lines(
      "security.jsonl",
      {R"({"EventID":4688,"SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"ws1","TimeCreated":"2021-01-01T10:05:00.100Z","NewProcessId":"0x1000","ProcessId":"0x3e8","NewProcessName":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd /c whoami"})",
       R"({"EventID":4688,"SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"ws1","TimeCreated":"2021-01-01T10:05:00.200Z","NewProcessId":"0x1004","ProcessId":"0x1000","NewProcessName":"C:\\Windows\\System32\\whoami.exe","CommandLine":"whoami"})",
       R"({"EventID":4689,"SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"ws1","TimeCreated":"2021-01-01T10:05:00.500Z","ProcessId":"0x1000","ProcessName":"C:\\Windows\\System32\\cmd.exe"})",
       R"({"EventID":4688,"SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"ws1","TimeCreated":"2021-01-01T10:05:00.700Z","NewProcessId":"0x1000","ProcessId":"0x3e8","NewProcessName":"C:\\Windows\\System32\\conhost.exe","CommandLine":"conhost.exe 0x4"})",
       R"({"EventID":4688,"SourceName":"Microsoft-Windows-Security-Auditing","Hostname":"ws1","TimeCreated":"2021-01-01T10:05:00.800Z","NewProcessId":"0x1008","ProcessId":"0x1000","NewProcessName":"C:\\Windows\\System32\\net.exe","CommandLine":"net user"})"});
  auto r =
      replay(security, {"get:4096-1609495500", "get:4096", "callchain:4104",
                        "children:4096-1609495500", "stats"});
  BOOST_TEST(r[0].at("Data").at("Name") == "cmd.exe");
  BOOST_TEST(r[0].at("Data").at("CommandLine") == "cmd /c whoami");
  BOOST_TEST(r[0].at("EndTime") == "2021-01-01T10:05:00.5Z");
  BOOST_TEST(r[1].at("Id") == "4096-1609495500.1");
  BOOST_TEST(r[1].at("Data").at("Name") == "conhost.exe");
  BOOST_TEST(r[1].at("EndTime") == zero_time);
  BOOST_REQUIRE(r[2].size() == 2u);
  BOOST_TEST(r[2].at(0).at("Id") == "4096-1609495500.1");
  BOOST_TEST(ids(r[3]) == std::vector<std::string>{"4100-1609495500"});
  BOOST_TEST(counter_of(r[4], "SameSecondPids") == 1);
  BOOST_TEST(counter_of(r[4], "GuidCollisions") == 0);
  BOOST_TEST(counter_of(r[4], "StartMerges") == 0);

  // A process that lived 5 ms, from two sources without GUIDs (a replay
  // pairs Sysmon with 4688 itself; other sources, here update rows, reach
  // the table as two starts): the second is dated after the first's exit,
  // with the same image and creator. One process, not two.
  auto both = dir.write_lines(
      "both.jsonl",
      {R"({"update_type":"start","id":4200,"parent_id":1000,"start_time":"2021-01-01T10:05:00.100Z","data":{"Name":"cmd.exe","Exe":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd /c exit"}})",
       R"({"update_type":"exit","id":4200,"end_time":"2021-01-01T10:05:00.105Z"})",
       R"({"update_type":"start","id":4200,"parent_id":1000,"start_time":"2021-01-01T10:05:00.110Z","data":{"Exe":"C:\\Windows\\System32\\CMD.EXE","Username":"CORP\\bob"}})"});
  auto one = replay(both, {"pslist", "stats"});
  BOOST_REQUIRE(one[0].size() == 1u);
  BOOST_TEST(one[0].at(0).at("Id") == "4200-1609495500");
  BOOST_TEST(one[0].at(0).at("EndTime") == "2021-01-01T10:05:00.105Z");
  BOOST_TEST(one[0].at(0).at("Data").at("Username") == "CORP\\bob");
  BOOST_TEST(counter_of(one[1], "StartMerges") == 1);

  // Update rows, the same image and parent twice, and a listing after a
  // logged exit (in the next second, and in the same one).
  auto rows = dir.write_lines(
      "rows.jsonl",
      {R"({"update_type":"start","id":4096,"parent_id":1000,"start_time":"2021-01-01T10:05:00.1Z","data":{"Name":"cmd.exe","CommandLine":"cmd /c one"}})",
       R"({"update_type":"exit","id":4096,"end_time":"2021-01-01T10:05:00.5Z"})",
       R"({"update_type":"start","id":4096,"parent_id":1000,"start_time":"2021-01-01T10:05:00.7Z","data":{"Name":"cmd.exe","CommandLine":"cmd /c two"}})",
       R"({"update_type":"start","id":5000,"parent_id":1000,"start_time":"2021-01-01T10:06:00.9Z","data":{"Name":"cmd.exe"}})",
       R"({"update_type":"exit","id":5000,"end_time":"2021-01-01T10:06:01.0Z"})",
       R"({"update_type":"start","id":6000,"parent_id":1000,"start_time":"2021-01-01T10:07:00.2Z","data":{"Name":"a.exe"}})",
       R"({"update_type":"exit","id":6000,"end_time":"2021-01-01T10:07:00.4Z"})",
       R"({"update_type":"sync","time":"2021-01-01T10:07:02Z","processes":[{"id":4096,"parent_id":1000,"start_time":"2021-01-01T10:05:00.7Z","data":{"Name":"cmd.exe","CommandLine":"cmd /c two"}},{"id":5000,"parent_id":1000,"start_time":"2021-01-01T10:06:01.2Z","data":{"Name":"conhost.exe"}},{"id":6000,"parent_id":1000,"start_time":"2021-01-01T10:07:00.6Z","data":{"Name":"b.exe"}}]})",
       // A second source restating a process after its exit gives its
       // own start: the process seen again.
       R"({"update_type":"start","id":7000,"parent_id":1000,"start_time":"2021-01-01T10:08:00.1Z","data":{"Name":"c.exe"}})",
       R"({"update_type":"exit","id":7000,"end_time":"2021-01-01T10:08:00.6Z"})",
       R"({"update_type":"start","id":7000,"parent_id":1000,"start_time":"2021-01-01T10:08:00.1Z","data":{"CommandLine":"c.exe /x"}})"});
  auto o = replay(rows, {"pslist", "stats"});
  std::vector<std::string> got;
  for (auto &e : o[0])
    got.push_back(e.at("Id").get<std::string>() + " "
                  + e.at("Data").value("Name", std::string{"-"}) + " "
                  + (e.at("EndTime") == zero_time ? "running" : "ended"));
  BOOST_TEST(
      got
          == (std::vector<std::string>{"4096-1609495500 cmd.exe ended",
                                       "4096-1609495500.1 cmd.exe running",
                                       "5000-1609495560 cmd.exe ended",
                                       "5000-1609495561 conhost.exe running",
                                       "6000-1609495620 a.exe ended",
                                       "6000-1609495620.1 b.exe running",
                                       "7000-1609495680 c.exe ended"}),
      o.run.err);
  BOOST_TEST(entry(o[0], "4096-1609495500").at("Data").at("CommandLine")
             == "cmd /c one");
  BOOST_TEST(entry(o[0], "7000-1609495680").at("Data").at("CommandLine")
             == "c.exe /x");
  BOOST_TEST(counter_of(o[1], "SameSecondPids") == 2);
  BOOST_TEST(counter_of(o[1], "GuidCollisions") == 0);
}

// The same process from a second source within the second stays one: an
// Exe given empty names nothing, and another spelling of the directory
// (a device path, another case) is the same file name.
BOOST_AUTO_TEST_CASE(a_second_source_with_an_empty_or_respelled_exe_merges) {
  temp_dir dir;
  auto file = dir.write_lines(
      "two.jsonl",
      {R"({"update_type":"start","id":50,"parent_id":4,"start_time":"2021-01-01T10:00:00.100Z","data":{"Name":"cmd.exe","Exe":"C:\\Windows\\System32\\cmd.exe"}})",
       R"({"update_type":"start","id":50,"parent_id":4,"start_time":"2021-01-01T10:00:00.300Z","data":{"Exe":"","CommandLine":"cmd /c x"}})",
       R"({"update_type":"start","id":50,"parent_id":4,"start_time":"2021-01-01T10:00:00.500Z","data":{"Exe":"\\Device\\HarddiskVolume2\\Windows\\System32\\CMD.EXE"}})"});
  auto r = replay(file, {"pslist", "stats"});
  BOOST_TEST(r[0].size() == 1u);
  BOOST_TEST(counter_of(r[1], "StartMerges") == 2);
  BOOST_TEST(r[0].at(0).at("Data").at("CommandLine") == "cmd /c x");
}

// A process without a Name is named by its Id in the tree.
BOOST_AUTO_TEST_CASE(tree_name_is_the_id_without_a_name) {
  temp_dir dir;
  auto file = dir.write_lines(
      "noname.jsonl",
      {R"({"update_type":"start","id":1,"parent_id":0,"start_time":"2021-01-01T10:00:00Z","data":{"Exe":"/sbin/init"}})",
       R"({"update_type":"start","id":2,"parent_id":1,"start_time":"2021-01-01T10:01:00Z","data":{"Name":"sh"}})"});
  auto r = replay(file, {"tree:1"});
  BOOST_TEST(r[0].at("name") == rid(1, at(10, 0)));
  BOOST_TEST(r[0].at("children").at(0).at("name") == "sh");
}

// The outsiders' case: a lone surrogate escape and a raw Latin-1 byte in
// Sysmon JSON lines cost the text (U+FFFD, counted), not the event.
BOOST_AUTO_TEST_CASE(bad_unicode_keeps_every_event) {
  const std::string fffd = "\xEF\xBF\xBD";
  auto r = replay(cases_dir() + "/sources/bad_unicode_drops_event.jsonl",
                  {"stats", "pslist"});
  BOOST_TEST(counter_of(r[0], "InputEvents") == 3);
  BOOST_TEST(counter_of(r[0], "InputErrors") == 0);
  BOOST_TEST(counter_of(r[0], "InvalidTextReplaced") == 2);
  BOOST_TEST(counter_of(r[0], "Length") == 3);
  BOOST_TEST(ids(r[1])
             == (std::vector<std::string>{"1001-1764314881", "1002-1764314882",
                                          "1003-1764314883"}));
  BOOST_TEST(r[1][1].at("Data").at("CommandLine")
             == "cmd.exe /c echo " + fffd + " lone surrogate");
  BOOST_TEST(r[1][2].at("Data").at("Username") == "HOSTA\\Jos" + fffd);
  BOOST_TEST(r.run.err.find("bad_unicode") == std::string::npos);
}

// The same for update rows: the row is applied, its text repaired, counted.
BOOST_AUTO_TEST_CASE(bad_unicode_in_update_rows_keeps_the_row) {
  const std::string fffd = "\xEF\xBF\xBD";
  temp_dir dir;
  auto file = dir.write(
      "bad.jsonl",
      "{\"update_type\":\"start\",\"id\":1,\"parent_id\":0,\"start_time\":"
      "\"2021-01-01T10:00:00Z\",\"data\":{\"Name\":\"a\\ud800\"}}\n"
      "{\"update_type\":\"sync\",\"time\":\"2021-01-01T10:02:00Z\","
      "\"processes\":[{\"id\":2,\"parent_id\":1,\"start_time\":"
      "\"2021-01-01T10:01:00Z\",\"data\":{\"Name\":\"b\xe9\xe9\"}}]}\n");
  auto r = replay(file, {"stats", "get:1", "get:2", "tree:1"});
  BOOST_TEST(counter_of(r[0], "InputErrors") == 0);
  BOOST_TEST(counter_of(r[0], "InvalidTextReplaced") == 3);
  BOOST_TEST(r[1].at("Data").at("Name") == "a" + fffd);
  BOOST_TEST(r[2].at("Data").at("Name") == "b" + fffd + fffd);
  BOOST_TEST(r[3].at("name") == "a" + fffd);
}

// --- issue 15: Syncs --------------------------------------------------------

// The outsiders' case: a sync listing pid 7 twice is one process, running;
// no phantom ".1", and get:7 answers the real one.
BOOST_AUTO_TEST_CASE(sync_duplicate_row_is_one_process) {
  auto r = replay(cases_dir() + "/replay/sync_duplicate_row_phantom.jsonl",
                  {"pslist", "get:7"});
  BOOST_TEST(ids(r[0]) == (std::vector<std::string>{"7-1609491600"}));
  BOOST_TEST(r[0].at(0).at("EndTime") == zero_time);
  BOOST_TEST(r[0].at(0).at("ParentId") == "1-?");
  BOOST_TEST(r[1].at("Id") == "7-1609491600");
  BOOST_TEST(r[1].at("EndTime") == zero_time);
  BOOST_TEST(r[1].at("LastSyncTime") == "2021-01-01T10:00:00Z");
}

// The same with a process already known from a start; the last row's data
// wins and the parent link stays.
BOOST_AUTO_TEST_CASE(sync_duplicate_row_of_a_known_process_last_row_wins) {
  temp_dir dir;
  auto file = dir.write_lines(
      "dup_known.jsonl",
      {start_row(1, 0, at(8, 0), "init"), start_row(7, 1, at(9, 0), "a"),
       R"({"update_type":"sync","time":"2021-01-01T10:00:00Z","processes":[{"id":1,"parent_id":0,"start_time":"2021-01-01T08:00:00Z","data":{"Name":"init"}},{"id":7,"parent_id":1,"start_time":"2021-01-01T09:00:00Z","data":{"Name":"b"}},{"id":7,"parent_id":1,"start_time":"2021-01-01T09:00:00Z","data":{"Name":"c"}}]})"});
  auto r = replay(file, {"pslist", "children:1"});
  BOOST_TEST(ids(r[0]).size() == 2u);
  auto e = entry(r[0], rid(7, at(9, 0)));
  BOOST_REQUIRE(!e.is_null());
  BOOST_TEST(e.at("EndTime") == zero_time);
  BOOST_TEST(e.at("ParentId") == rid(1, at(8, 0)));
  BOOST_TEST(e.at("Data") == json({{"Name", "c"}}));
  BOOST_TEST(entry(r[0], rid(7, at(9, 0)) + ".1").is_null());
  BOOST_TEST(ids(r[1]) == (std::vector<std::string>{rid(7, at(9, 0))}));
}

// The outsiders' case: a double fork re-parents the payload to systemd; the
// sync must not rewrite the recorded creator pid 8.
BOOST_AUTO_TEST_CASE(unknown_parent_is_not_rewritten_by_the_reaper) {
  auto r =
      replay(cases_dir() + "/replay/unknown_parent_rewritten_by_reaper.jsonl",
             {"callchain:7", "children:1"});
  BOOST_TEST(ids(r[0]) == (std::vector<std::string>{"7-1609495260"}));
  BOOST_TEST(r[0].at(0).at("ParentId") == "8-?");
  BOOST_TEST(r[0].at(0).at("EndTime") == zero_time);
  BOOST_TEST(r[1].empty());
}

// A holder of the parent's pid that exited minutes before the child
// started cannot have started it (the pid's next holder did, unseen): the
// parent is "<ppid>-?", the old holder gets no child. Within the 1 s
// rounding slack (an exit in whole seconds) it still is the parent.
BOOST_AUTO_TEST_CASE(a_parent_that_had_exited_is_not_the_parent) {
  temp_dir dir;
  auto file = dir.write_lines(
      "dead.jsonl",
      {R"({"update_type":"start","id":8,"parent_id":1,"start_time":"2021-01-01T09:50:00Z","data":{"Name":"old-8"}})",
       R"({"update_type":"exit","id":8,"end_time":"2021-01-01T09:55:00Z"})",
       R"({"update_type":"start","id":7,"parent_id":8,"start_time":"2021-01-01T10:01:00Z","data":{"Name":"payload"}})",
       R"({"update_type":"start","id":9,"parent_id":1,"start_time":"2021-01-01T10:02:00Z","data":{"Name":"quick"}})",
       R"({"update_type":"exit","id":9,"end_time":"2021-01-01T10:02:01Z"})",
       R"({"update_type":"start","id":10,"parent_id":9,"start_time":"2021-01-01T10:02:01.600Z","data":{"Name":"its-child"}})"});
  auto r = replay(file, {"callchain:7", "children:8", "get:10", "stats"});
  BOOST_TEST(ids(r[0]) == (std::vector<std::string>{"7-1609495260"}));
  BOOST_TEST(r[0].at(0).at("ParentId") == "8-?");
  BOOST_TEST(r[1].empty());
  BOOST_TEST(r[2].at("ParentId") == "9-1609495320");
}

// --- issue 15: a Sysmon child of a pslist parent ----------------------------

// The outsiders' case: explorer is known from pslist only (no GUID); cmd.exe
// names it by a ParentProcessGuid nobody saw and exits before the next
// sync. It is linked by pid (the holder has no GUID and started before it).
BOOST_AUTO_TEST_CASE(guid_child_of_pslist_parent_is_linked_by_pid) {
  auto r = replay(cases_dir() + "/replay/guid_child_of_pslist_parent.jsonl",
                  {"callchain:2000", "children:1000"});
  BOOST_TEST(
      ids(r[0])
      == (std::vector<std::string>{"1000-1609488000", "2000-1609495500"}));
  BOOST_TEST(r[0].at(0).at("Data").at("Name") == "explorer.exe");
  BOOST_TEST(r[0].at(1).at("ParentId") == "1000-1609488000");
  BOOST_TEST(r[0].at(1).at("EndTime") == "2021-01-01T10:05:30Z");
  BOOST_TEST(ids(r[1]) == (std::vector<std::string>{"2000-1609495500"}));
  BOOST_TEST(r[1].at(0).at("Data").at("Name") == "cmd.exe");
}

BOOST_AUTO_TEST_SUITE_END() // replay_scenarios_test
