// Restart-proof history and lookups that miss the cache (issue 17, items 2
// and "falls back to the store"): what an agent reloads from a real store
// file, how its first listing reconciles it (an orphan keeps its creator,
// a vanished process gets the last write time as its estimated end, a
// reused pid is another process), tree as of a time, and the query
// facade completing a lookup from the history once the cache evicted.
#include <boost/test/unit_test.hpp>

#include "actors/cache/cache.hpp"
#include "actors/cache/process_table.hpp"
#include "actors/common/time.hpp"
#include "actors/history/history.hpp"
#include "actors/history/history_store.hpp"
#include "actors/history/restore.hpp"
#include "actors/query_endpoint/query_facade.hpp"
#include "tests/support/actor_fixture.hpp"
#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

BOOST_AUTO_TEST_SUITE(history_restart_test)

using namespace proctrack;
using nlohmann::json;
using proctrack_test::actor_fixture;
using proctrack_test::temp_dir;

namespace {

timestamp t(const char *text) {
  return *parse_time(text);
}

// A Linux agent's records: exact starts (the kernel's start ticks).
process_record rec(int pid, int ppid, const char *start, std::string name,
                   record_identity how = record_identity::exact) {
  process_record p;
  p.pid = std::to_string(pid);
  p.ppid = std::to_string(ppid);
  p.start_time = t(start);
  p.data.push_back({"Name", "\"" + name + "\""});
  p.identity = how;
  return p;
}

process_update fork_of(int pid, int ppid, const char *when, std::string name) {
  process_update u;
  u.kind = update_kind::start;
  u.process = rec(pid, ppid, when, std::move(name), record_identity::exact_new);
  return u;
}

process_update exit_of(std::string id, const char *when) {
  process_update u;
  u.kind = update_kind::exit;
  u.target = std::move(id);
  u.time = t(when);
  return u;
}

process_update listing(const char *when, std::vector<process_record> ps) {
  process_update u;
  u.kind = update_kind::sync;
  u.time = t(when);
  u.processes = std::move(ps);
  return u;
}

// What the history actor writes: the table's noted changes as rows.
std::vector<history_row> rows_of(process_table &tab) {
  return tab.take_changes();
}

std::vector<std::string> chain_ids(process_table &tab, const std::string &id) {
  std::vector<std::string> out;
  for (auto *e : tab.callchain(id, 10))
    out.push_back(e->id.str());
  return out;
}

using ids = std::vector<std::string>;

std::unique_ptr<history_store> open_store(const temp_dir &dir) {
  std::string error;
  auto s = history_store::open((dir.path() / "h.db").string(),
                               history_store::mode::read_write, error);
  BOOST_REQUIRE_MESSAGE(s, error);
  return s;
}

// The agent before its restart: init (1) and a shell (50) listed; the
// shell starts a launcher (100) that starts a payload (101) that forks a
// daemon (102) and exits (the daemon's parent is now the reaper, 1); the
// launcher exits. 300 and 200 run. Everything written at `written`.
process_table before_restart(history_store &store, timestamp written) {
  process_table tab;
  tab.track_changes(true);
  tab.apply(listing("2021-01-01T10:00:00Z",
                    {rec(1, 0, "2021-01-01T09:00:00Z", "init"),
                     rec(50, 1, "2021-01-01T09:30:00Z", "bash"),
                     rec(200, 1, "2021-01-01T09:40:00Z", "cron"),
                     rec(300, 50, "2021-01-01T09:50:00Z", "vim")}));
  tab.apply(fork_of(100, 50, "2021-01-01T10:01:00Z", "launcher"));
  tab.apply(fork_of(101, 100, "2021-01-01T10:01:01Z", "payload"));
  tab.apply(fork_of(102, 101, "2021-01-01T10:01:02Z", "daemon"));
  tab.apply(exit_of("101", "2021-01-01T10:01:03Z"));
  tab.apply(exit_of("100", "2021-01-01T10:01:04Z"));
  auto daemon = rec(102, 1, "2021-01-01T10:01:02Z", "daemon");
  tab.apply(listing("2021-01-01T10:02:00Z",
                    {rec(1, 0, "2021-01-01T09:00:00Z", "init"),
                     rec(50, 1, "2021-01-01T09:30:00Z", "bash"),
                     rec(200, 1, "2021-01-01T09:40:00Z", "cron"),
                     rec(300, 50, "2021-01-01T09:50:00Z", "vim"), daemon}));
  std::string error;
  BOOST_REQUIRE_MESSAGE(store.write(rows_of(tab), written, error), error);
  return tab;
}

} // namespace

BOOST_AUTO_TEST_CASE(a_restart_keeps_an_orphans_creator_and_dates_what_ended) {
  temp_dir dir;
  auto store = open_store(dir);
  auto written = t("2021-01-01T10:02:30Z");
  auto old = before_restart(*store, written);
  BOOST_REQUIRE((chain_ids(old, "102")
                 == ids{"1-1609491600", "50-1609493400", "100-1609495260",
                        "101-1609495261", "102-1609495262"}));

  // The restart: the newest rows, the last write time.
  table_config cfg;
  auto rows = store->recent("", cfg.max_size, cfg.max_bytes);
  BOOST_TEST(rows.size() == 7u);
  BOOST_TEST(store->last_write("") == written);
  process_table tab{cfg};
  tab.restore_state(restore_state_from(rows, cfg, unknown_time), written);
  BOOST_TEST(tab.size() == 7u);
  // Before any listing: the chain as the agent left it.
  BOOST_TEST((chain_ids(tab, "102") == chain_ids(old, "102")));

  // The first listing, an hour later: the daemon still runs (its ppid is
  // the reaper), vim (300) is gone, cron's pid 200 is another process now.
  tab.apply(listing("2021-01-01T11:00:00Z",
                    {rec(1, 0, "2021-01-01T09:00:00Z", "init"),
                     rec(50, 1, "2021-01-01T09:30:00Z", "bash"),
                     rec(102, 1, "2021-01-01T10:01:02Z", "daemon"),
                     rec(200, 50, "2021-01-01T10:30:00Z", "python3")}));
  // The daemon's chain still names its launcher and the launcher's parent.
  BOOST_TEST((chain_ids(tab, "102") == chain_ids(old, "102")));
  auto *d = tab.find("102");
  BOOST_REQUIRE(d);
  BOOST_TEST(d->running());
  BOOST_TEST(!data_value(d->data, "EndTimeEstimated"));

  // vim ended while the agent was down: at the last write, marked so.
  auto *vim = tab.find("300-1609494600");
  BOOST_REQUIRE(vim);
  BOOST_TEST(vim->end_time == written);
  BOOST_TEST(vim->end_is_estimate);
  BOOST_TEST(data_value(vim->data, "EndTimeEstimated").value_or("") == "true");

  // pid 200: the new holder is a process of its own, running, unmarked;
  // the old cron ended (at the last write too), and bare pid 200 is the
  // new one.
  auto *cron = tab.find("200-1609494000");
  BOOST_REQUIRE(cron);
  BOOST_TEST(cron->end_time == written);
  BOOST_TEST(data_value(cron->data, "EndTimeEstimated").value_or("") == "true");
  auto *py = tab.find("200");
  BOOST_REQUIRE(py);
  BOOST_TEST(py->id == "200-1609497000");
  BOOST_TEST(py->running());
  BOOST_TEST(py->parent_id == "50-1609493400");
  BOOST_TEST(!data_value(py->data, "EndTimeEstimated"));

  // Only the first listing reconciles: a later one dates a vanished
  // process as always (this sync's time), unmarked.
  tab.apply(listing("2021-01-01T11:01:00Z",
                    {rec(1, 0, "2021-01-01T09:00:00Z", "init"),
                     rec(50, 1, "2021-01-01T09:30:00Z", "bash"),
                     rec(200, 50, "2021-01-01T10:30:00Z", "python3")}));
  auto *d2 = tab.find("102-1609495262");
  BOOST_REQUIRE(d2);
  BOOST_TEST(d2->end_time == t("2021-01-01T11:01:00Z"));
  BOOST_TEST(!data_value(d2->data, "EndTimeEstimated"));
}

// A process's Data goes to the history once, with its start: an exit, or a
// listing that finds it unchanged, is a row without Data (data_kept) that
// the store applies to what it has. Whether written apart or merged while
// pending, the store ends with the Data and the end.
BOOST_AUTO_TEST_CASE(data_goes_to_the_history_once_per_change) {
  process_table tab;
  tab.track_changes(true);
  tab.apply(fork_of(100, 1, "2021-01-01T10:00:00Z", "launcher"));
  tab.apply(fork_of(101, 1, "2021-01-01T10:00:01Z", "payload"));
  auto starts = tab.take_changes();
  BOOST_REQUIRE_EQUAL(starts.size(), 2u);
  for (auto &r : starts) {
    BOOST_TEST(!r.data_kept);
    BOOST_TEST(json::parse(r.data).contains("Name"));
  }
  tab.apply(exit_of("100", "2021-01-01T10:00:05Z"));
  auto exits = tab.take_changes();
  BOOST_REQUIRE_EQUAL(exits.size(), 1u);
  BOOST_TEST(exits[0].id == "100-1609495200");
  BOOST_TEST(exits[0].data_kept);
  BOOST_TEST(exits[0].data.empty());
  BOOST_TEST(exits[0].end_time == t("2021-01-01T10:00:05Z"));
  // A listing with the same Data: its LastSyncTime only. With other
  // Data: the Data again.
  tab.apply(listing("2021-01-01T10:01:00Z",
                    {rec(101, 1, "2021-01-01T10:00:01Z", "payload")}));
  auto same = tab.take_changes();
  auto payload = std::find_if(same.begin(), same.end(),
                              [](auto &r) { return r.id == "101-1609495201"; });
  BOOST_REQUIRE(payload != same.end());
  BOOST_TEST(payload->last_sync_time == t("2021-01-01T10:01:00Z"));
  BOOST_TEST(payload->data_kept);
  tab.apply(listing("2021-01-01T10:02:00Z",
                    {rec(101, 1, "2021-01-01T10:00:01Z", "renamed")}));
  auto changed = tab.take_changes();
  payload = std::find_if(changed.begin(), changed.end(),
                         [](auto &r) { return r.id == "101-1609495201"; });
  BOOST_REQUIRE(payload != changed.end());
  BOOST_TEST(!payload->data_kept);
  BOOST_TEST(json::parse(payload->data).at("Name") == "renamed");

  // Pending in the history: a start and its exit become one row with both.
  history_state hs;
  hs.add_pending(std::vector<history_row>{starts[0]});
  hs.add_pending(std::vector<history_row>{exits[0]});
  BOOST_REQUIRE_EQUAL(hs.pending.size(), 1u);
  BOOST_TEST(!hs.pending[0].data_kept);
  BOOST_TEST(hs.pending[0].data == starts[0].data);
  BOOST_TEST(hs.pending[0].end_time == t("2021-01-01T10:00:05Z"));

  // Written apart: the exit keeps the Data the start wrote.
  temp_dir dir;
  auto store = open_store(dir);
  std::string error;
  BOOST_REQUIRE_MESSAGE(store->write(starts, 1000, error), error);
  BOOST_REQUIRE_MESSAGE(store->write(exits, 2000, error), error);
  auto got = store->find("", "100-1609495200");
  BOOST_REQUIRE(got);
  BOOST_TEST(got->data == starts[0].data);
  BOOST_TEST(got->end_time == t("2021-01-01T10:00:05Z"));
}

BOOST_AUTO_TEST_CASE(a_restart_reloads_at_most_max_size_newest_first) {
  temp_dir dir;
  auto store = open_store(dir);
  // Five exited processes written one after the other, then a sixth
  // that runs.
  for (int i = 0; i < 6; ++i) {
    history_row r;
    r.id = std::to_string(10 + i) + "-1609495200";
    r.parent_id = "1-?";
    r.start_time = t("2021-01-01T10:00:00Z");
    r.end_time = i < 5 ? t("2021-01-01T10:00:05Z") : unknown_time;
    r.data = "{\"Name\":\"p" + std::to_string(i) + "\"}";
    std::string error;
    BOOST_REQUIRE(store->write({r}, t("2021-01-01T10:01:00Z") + i, error));
  }
  table_config cfg;
  cfg.max_size = 3;
  auto rows = store->recent("", cfg.max_size, cfg.max_bytes);
  BOOST_REQUIRE_EQUAL(rows.size(), 3u);
  BOOST_TEST(rows[0].id == "15-1609495200"); // the newest write first
  BOOST_TEST(rows[2].id == "13-1609495200");
  // max-bytes: only what fits.
  BOOST_TEST(store->recent("", 100, 30).size() == 2u);
  process_table tab{cfg};
  tab.restore_state(restore_state_from(rows, cfg, unknown_time),
                    store->last_write(""));
  BOOST_TEST(tab.size() == 3u);
  // The LRU goes on as it was: the oldest written exited one goes first.
  tab.apply(fork_of(99, 1, "2021-01-01T10:02:00Z", "new"));
  BOOST_TEST(!tab.peek("13-1609495200"));
  BOOST_TEST(tab.peek("14-1609495200"));
  // Exited longer ago than max-expiry: not reloaded at all.
  auto none = restore_state_from(rows, cfg, t("2021-01-01T10:00:06Z"));
  BOOST_REQUIRE_EQUAL(none.processes.size(), 1u);
  BOOST_TEST(none.processes[0].id == "15-1609495200");
}

BOOST_AUTO_TEST_CASE(tree_as_of_a_time_from_the_store) {
  temp_dir dir;
  auto store = open_store(dir);
  auto old = before_restart(*store, t("2021-01-01T10:02:30Z"));
  std::string error;
  auto now =
      store->answer(query{"tree", "50-1609493400", 1000}, unknown_time, error);
  BOOST_REQUIRE_MESSAGE(now, error);
  auto tree = json::parse(*now);
  BOOST_TEST(tree["name"] == "bash");
  BOOST_REQUIRE_EQUAL(tree["children"].size(), 2u); // vim, launcher
  BOOST_TEST(tree["children"][0]["id"] == "300-1609494600");
  BOOST_TEST(tree["children"][1]["id"] == "100-1609495260");
  BOOST_TEST(tree["children"][1]["children"][0]["children"][0]["id"]
             == "102-1609495262");
  // As of 10:01:01: the payload had started, the daemon not yet.
  auto then = json::parse(*store->answer(query{"tree", "50-1609493400", 1000},
                                         t("2021-01-01T10:01:01Z"), error));
  auto &launcher = then["children"][1];
  BOOST_TEST(launcher["id"] == "100-1609495260");
  BOOST_REQUIRE_EQUAL(launcher["children"].size(), 1u);
  BOOST_TEST(launcher["children"][0]["children"].size() == 0u);
  // As of a time before the shell: null. MAX caps the nodes.
  BOOST_TEST(*store->answer(query{"tree", "50-1609493400", 1000},
                            t("2021-01-01T09:00:00Z"), error)
             == "null");
  auto two = json::parse(
      *store->answer(query{"tree", "50-1609493400", 2}, unknown_time, error));
  BOOST_TEST(two["children"].size() == 1u);
  BOOST_TEST(two["children"][0]["children"].size() == 0u);
}

namespace {

process_update start(int pid, int ppid, const char *when, std::string name) {
  process_update u;
  u.kind = update_kind::start;
  u.process.pid = std::to_string(pid);
  u.process.ppid = std::to_string(ppid);
  u.process.start_time = t(when);
  u.process.data.push_back({"Name", "\"" + name + "\""});
  return u;
}

// A cache of four processes, its history and the agent's query facade.
struct fallback_fixture : actor_fixture {
  temp_dir dir;
  cache_actor cache;
  history_actor hist;
  query_api facade;

  fallback_fixture() {
    cache_config cc;
    cc.table.max_size = 4;
    cache = track(spawn_cache(sys, cc));
    history_config hc;
    hc.path = (dir.path() / "h.db").string();
    hc.cache = cc;
    std::string error;
    std::shared_ptr<history_store> store =
        history_store::open(hc.path, history_store::mode::read_write, error);
    BOOST_REQUIRE_MESSAGE(store, error);
    hist = track(
        sys.spawn(history, hc, store, cache, std::shared_ptr<history_store>{}));
    sched.run();
    facade =
        track(spawn_query_facade(sys, caf::actor_cast<query_api>(cache), hist));
  }

  void apply(std::vector<process_update> us) {
    update_batch b;
    b.updates = std::move(us);
    ask<std::uint64_t>(cache, b);
  }

  json via(const query &q, query_api to) {
    return json::parse(ask<std::string>(to, q));
  }
  json facade_answer(const query &q) {
    return via(q, facade);
  }
  json cache_answer(const query &q) {
    return via(q, caf::actor_cast<query_api>(cache));
  }
};

std::vector<std::string> entry_ids(const json &list) {
  std::vector<std::string> out;
  for (auto &e : list)
    out.push_back(e["Id"].get<std::string>());
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_CASE(a_lookup_that_misses_the_cache_asks_the_store,
                        fallback_fixture) {
  // A launcher (10) starts 11, which starts 12 and 13; all exit, the
  // launcher first (the oldest go first from the LRU).
  apply({start(10, 1, "2021-01-01T10:00:00Z", "launcher"),
         start(11, 10, "2021-01-01T10:00:01Z", "payload"),
         start(12, 11, "2021-01-01T10:00:02Z", "worker"),
         start(13, 11, "2021-01-01T10:00:04Z", "worker2"),
         exit_of("10", "2021-01-01T10:00:05Z"),
         exit_of("11", "2021-01-01T10:00:06Z"),
         exit_of("13", "2021-01-01T10:00:07Z"),
         exit_of("12", "2021-01-01T10:00:08Z")});
  // Three new processes: the cache (4) evicts 10, 11 and 13.
  apply({start(20, 1, "2021-01-01T10:01:00Z", "other"),
         start(21, 1, "2021-01-01T10:01:01Z", "other"),
         start(22, 1, "2021-01-01T10:01:02Z", "other")});
  BOOST_REQUIRE((cache_answer(query{"get", "10", 0}).is_null()));
  BOOST_REQUIRE((cache_answer(query{"get", "13", 0}).is_null()));
  BOOST_REQUIRE((entry_ids(cache_answer(query{"callchain", "12", 10}))
                 == ids{"12-1609495202"}));

  // get of an evicted process: the store's entry (FirstSeen says so).
  auto got = facade_answer(query{"get", "10-1609495200", 0});
  BOOST_REQUIRE(got.is_object());
  BOOST_TEST(got["Id"] == "10-1609495200");
  BOOST_TEST(got["Data"]["Name"] == "launcher");
  BOOST_TEST(got.contains("FirstSeen"));
  // callchain across the evicted ancestors: the cache's 12 under the
  // store's 10 and 11.
  auto chain = facade_answer(query{"callchain", "12", 10});
  BOOST_TEST((entry_ids(chain)
              == ids{"10-1609495200", "11-1609495201", "12-1609495202"}));
  BOOST_TEST(!chain[2].contains("FirstSeen")); // the cached one
  // MAX still counts the whole chain.
  BOOST_TEST((entry_ids(facade_answer(query{"callchain", "12", 2}))
              == ids{"11-1609495201", "12-1609495202"}));
  // children of an evicted process: from the store, 12 and 13 by start.
  BOOST_TEST((entry_ids(facade_answer(query{"children", "11-1609495201", 100}))
              == ids{"12-1609495202", "13-1609495204"}));
  // tree of an evicted process.
  auto tree = facade_answer(query{"tree", "10-1609495200", 1000});
  BOOST_TEST(tree["children"][0]["children"].size() == 2u);
  // What nobody knows stays unknown.
  BOOST_TEST(facade_answer(query{"get", "99", 0}).is_null());
  BOOST_TEST(facade_answer(query{"callchain", "99", 10}).empty());
  // The history counted the lookups.
  auto stats = ask<stats_report>(hist, atom::stats_v);
  std::int64_t lookups = 0;
  for (auto &c : stats.counters)
    if (c.name == "HistoryLookups")
      lookups = c.value;
  BOOST_TEST(lookups >= 5);
}

BOOST_FIXTURE_TEST_CASE(children_merge_the_cache_and_the_store,
                        fallback_fixture) {
  // 30 starts 31, 32, 33 (exited quickly) and 34 (running); the cache of
  // four evicts 31.
  apply({start(30, 1, "2021-01-01T10:00:00Z", "parent"),
         start(31, 30, "2021-01-01T10:00:01Z", "a"),
         exit_of("31", "2021-01-01T10:00:02Z"),
         start(32, 30, "2021-01-01T10:00:03Z", "b"),
         exit_of("32", "2021-01-01T10:00:04Z"),
         start(33, 30, "2021-01-01T10:00:05Z", "c"),
         exit_of("33", "2021-01-01T10:00:06Z"),
         start(34, 30, "2021-01-01T10:00:07Z", "d")});
  auto cached = cache_answer(query{"children", "30", 100});
  BOOST_REQUIRE(cached.size() < 4u);
  auto all = facade_answer(query{"children", "30", 100});
  BOOST_TEST((entry_ids(all)
              == ids{"31-1609495201", "32-1609495203", "33-1609495205",
                     "34-1609495207"}));
  BOOST_TEST((entry_ids(facade_answer(query{"children", "30", 2}))
              == ids{"31-1609495201", "32-1609495203"}));
}

// A query as of a time goes to the history alone (the facade's
// `query, timestamp`); a facade without a history says it keeps none.
BOOST_FIXTURE_TEST_CASE(as_of_queries_are_answered_by_the_history,
                        fallback_fixture) {
  // 10 starts 11 (ends at 10:00:30) and, later, 12.
  apply({start(10, 1, "2021-01-01T10:00:00Z", "launcher"),
         start(11, 10, "2021-01-01T10:00:01Z", "early"),
         exit_of("11", "2021-01-01T10:00:30Z"),
         start(12, 10, "2021-01-01T10:01:00Z", "late")});
  auto at = t("2021-01-01T10:00:10Z");
  auto then = json::parse(ask<std::string>(facade, query{"pslist", "", 0}, at));
  BOOST_TEST((entry_ids(then) == ids{"10-1609495200", "11-1609495201"}));
  BOOST_TEST((entry_ids(json::parse(ask<std::string>(
                  facade, query{"children", "10-1609495200", 100}, at)))
              == ids{"11-1609495201"}));
  BOOST_TEST(json::parse(ask<std::string>(facade, query{"get", "12", 0}, at))
                 .is_null());
  // Now (no time): the cache's answer, 12 included.
  BOOST_TEST(facade_answer(query{"children", "10-1609495200", 100}).size()
             == 2u);
  auto bare =
      track(spawn_query_facade(sys, caf::actor_cast<query_api>(cache), {}));
  auto error = std::make_shared<std::string>("(no answer)");
  sys.spawn([=](caf::event_based_actor *a) {
    a->request(bare, caf::infinite, query{"pslist", "", 0}, at)
        .then([=](std::string &) { *error = "answered"; },
              [=](caf::error &e) { *error = a->system().render(e); });
  });
  sched.run();
  BOOST_TEST(error->find("history.path") != std::string::npos, *error);
}

BOOST_AUTO_TEST_CASE(the_history_actor_reloads_the_cache_and_its_mirror) {
  actor_fixture f;
  temp_dir dir;
  auto path = (dir.path() / "h.db").string();
  auto written = t("2021-01-01T10:02:30Z");
  {
    std::string error;
    auto store =
        history_store::open(path, history_store::mode::read_write, error);
    BOOST_REQUIRE_MESSAGE(store, error);
    before_restart(*store, written);
  }
  cache_config cc;
  // Exited rows of 2021 are older than max-expiry: keep them all here.
  cc.table.max_expiry = timestamp{100} * 365 * 24 * 3600 * hns_per_second;
  auto cache = f.track(spawn_cache(f.sys, cc));
  history_config hc;
  hc.path = path;
  hc.cache = cc;
  hc.reload = true;
  std::string error;
  std::shared_ptr<history_store> store =
      history_store::open(path, history_store::mode::read_write, error);
  BOOST_REQUIRE(store);
  auto before = store->counters().rows_written;
  auto hist = f.track(
      f.sys.spawn(history, hc, store, cache, std::shared_ptr<history_store>{}));
  f.sched.run();
  auto chain =
      json::parse(f.ask<std::string>(cache, query{"callchain", "102", 10}));
  BOOST_TEST(chain.size() == 5u);
  BOOST_TEST(chain[2]["Data"]["Name"] == "launcher");
  // Nothing was rewritten by the reload itself.
  f.ask<std::uint64_t>(hist, atom::flush_v);
  BOOST_TEST(store->counters().rows_written == before);
  // The first listing: vim is gone; cache and store agree on its end.
  update_batch b;
  b.updates.push_back(listing("2021-01-01T11:00:00Z",
                              {rec(1, 0, "2021-01-01T09:00:00Z", "init"),
                               rec(50, 1, "2021-01-01T09:30:00Z", "bash"),
                               rec(200, 1, "2021-01-01T09:40:00Z", "cron"),
                               rec(102, 1, "2021-01-01T10:01:02Z", "daemon")}));
  f.ask<std::uint64_t>(cache, b);
  f.ask<std::uint64_t>(hist, atom::flush_v);
  auto vim =
      json::parse(f.ask<std::string>(cache, query{"get", "300-1609494600", 0}));
  BOOST_TEST(vim["EndTime"] == format_time(written));
  BOOST_TEST(vim["Data"]["EndTimeEstimated"] == true);
  auto stored = store->find("", "300-1609494600");
  BOOST_REQUIRE(stored);
  BOOST_TEST(stored->end_time == written);
  BOOST_TEST(stored->end_is_estimate);
  BOOST_TEST(json::parse(stored->data)["EndTimeEstimated"] == true);
  auto d = store->find("", "102-1609495262");
  BOOST_REQUIRE(d);
  BOOST_TEST(d->parent_id == "101-1609495261");
  BOOST_TEST(d->end_time == unknown_time);
}

BOOST_AUTO_TEST_SUITE_END()
