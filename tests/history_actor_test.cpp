// The history actor with a real cache and a real store file, on CAF's
// deterministic scheduler: it keeps what the cache evicts, writes on its
// timer, and sees exits, syncs and enrichment-free updates as the cache
// applied them.
#include <boost/test/unit_test.hpp>

#include "actors/cache/cache.hpp"
#include "actors/common/time.hpp"
#include "actors/history/history.hpp"
#include "tests/support/actor_fixture.hpp"
#include "tests/support/run_binary.hpp"

BOOST_AUTO_TEST_SUITE(history_actor_test)

using namespace proctrack;
using proctrack_test::actor_fixture;
using proctrack_test::temp_dir;

namespace {

process_update start(int pid, int ppid, const char *when, std::string name) {
  process_update u;
  u.kind = update_kind::start;
  u.process.pid = std::to_string(pid);
  u.process.ppid = std::to_string(ppid);
  u.process.start_time = *parse_time(when);
  u.process.data.push_back({"Name", "\"" + name + "\""});
  return u;
}

process_update exit_of(int pid, const char *when) {
  process_update u;
  u.kind = update_kind::exit;
  u.target = std::to_string(pid);
  u.time = *parse_time(when);
  return u;
}

struct fixture : actor_fixture {
  temp_dir dir;
  std::shared_ptr<history_store> store;
  cache_actor cache;
  history_actor hist;

  explicit fixture(std::size_t max_size = 3) {
    cache_config cc;
    cc.table.max_size = max_size;
    cache = track(spawn_cache(sys, cc));
    history_config hc;
    hc.path = (dir.path() / "h.db").string();
    hc.cache = cc;
    BOOST_REQUIRE(hc.validate().empty());
    std::string error;
    store =
        history_store::open(hc.path, history_store::mode::read_write, error);
    BOOST_REQUIRE_MESSAGE(store, error);
    hist = track(
        sys.spawn(history, hc, store, cache, std::shared_ptr<history_store>{}));
    sched.run(); // the snapshot
  }

  void apply(std::vector<process_update> us) {
    update_batch b;
    b.updates = std::move(us);
    ask<std::uint64_t>(cache, b);
    sched.run(); // the batch reaches the history
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(keeps_what_the_cache_evicts) {
  fixture f{3};
  std::vector<process_update> us;
  for (int pid = 10; pid < 20; ++pid)
    us.push_back(
        start(pid, 1, "2021-01-01T10:00:00Z", "p" + std::to_string(pid)));
  f.apply(std::move(us));
  // The cache holds 3; the history all 10, after one write.
  auto pslist = f.ask<std::string>(f.cache, query{"pslist", "", 0});
  BOOST_TEST(nlohmann::json::parse(pslist).size() == 3u);
  auto written = f.ask<std::uint64_t>(f.hist, atom::flush_v);
  BOOST_TEST(written == 10u);
  BOOST_TEST(f.store->row_count() == 10);
  BOOST_TEST(f.store->counters().transactions == 1);
  auto first = f.store->find("", "10-1609495200");
  BOOST_REQUIRE(first);
  BOOST_TEST(first->data == "{\"Name\":\"p10\"}");
  BOOST_TEST(first->parent_id == "1-?");
}

BOOST_AUTO_TEST_CASE(writes_on_its_timer_and_records_exits) {
  fixture f{100};
  f.apply({start(5, 1, "2021-01-01T10:00:00Z", "a"),
           start(6, 5, "2021-01-01T10:01:00Z", "b")});
  BOOST_TEST(f.store->row_count() == 0); // not yet: the timer writes
  f.sched.advance_time(std::chrono::seconds(1));
  f.sched.run();
  BOOST_TEST(f.store->row_count() == 2);
  auto b = f.store->find("", "6");
  BOOST_REQUIRE(b);
  BOOST_TEST(b->parent_id == "5-1609495200");
  BOOST_TEST(b->end_time == unknown_time);
  f.apply({exit_of(6, "2021-01-01T10:05:00Z")});
  f.sched.advance_time(std::chrono::seconds(1));
  f.sched.run();
  b = f.store->find("", "6");
  BOOST_REQUIRE(b);
  BOOST_TEST(b->end_time == *parse_time("2021-01-01T10:05:00Z"));
  // Only the changed process was written again.
  BOOST_TEST(f.store->counters().rows_written == 3);
  auto stats = f.ask<stats_report>(f.hist, atom::stats_v);
  bool found = false;
  for (auto &c : stats.counters)
    if (c.name == "HistoryRowsWritten") {
      found = true;
      BOOST_TEST(c.value == 3);
    }
  BOOST_TEST(found);
}

BOOST_AUTO_TEST_CASE(
    a_sync_writes_vanished_processes_with_their_estimated_end) {
  fixture f{100};
  f.apply({start(5, 1, "2021-01-01T10:00:00Z", "a"),
           start(6, 5, "2021-01-01T10:01:00Z", "b")});
  // A listing at 11:00 that lists only 5: 6 ended, estimated.
  process_update sync;
  sync.kind = update_kind::sync;
  sync.time = *parse_time("2021-01-01T11:00:00Z");
  process_record p;
  p.pid = "5";
  p.ppid = "1";
  p.start_time = *parse_time("2021-01-01T10:00:00Z");
  p.data.push_back({"Name", "\"a\""});
  sync.processes.push_back(p);
  f.apply({sync});
  f.ask<std::uint64_t>(f.hist, atom::flush_v);
  auto b = f.store->find("", "6-1609495260");
  BOOST_REQUIRE(b);
  BOOST_TEST(b->end_time != unknown_time);
  BOOST_TEST(b->end_is_estimate);
  auto a = f.store->find("", "5-1609495200");
  BOOST_REQUIRE(a);
  BOOST_TEST(a->last_sync_time == *parse_time("2021-01-01T11:00:00Z"));
}

// Backpressure (docs/history.md): a history that has not acknowledged
// more rows than the cache's limit holds the cache's batch answers (what
// the sources wait for) until it does; the changes it got are the rows.
BOOST_AUTO_TEST_CASE(
    the_cache_holds_batch_answers_while_the_history_is_behind) {
  actor_fixture f;
  struct acks {
    std::vector<process_changes> got;
    std::vector<
        std::pair<caf::typed_response_promise<std::uint64_t>, std::uint64_t>>
        held;
  };
  auto h = std::make_shared<acks>();
  // A history that acknowledges only when told (atom::flush).
  auto slow = f.track(caf::actor_cast<history_sink_actor>(
      f.sys.spawn([h](caf::event_based_actor *a) -> caf::behavior {
        return {
            [a, h](process_changes &c) -> caf::result<std::uint64_t> {
              auto n = static_cast<std::uint64_t>(c.rows.size());
              h->got.push_back(std::move(c));
              auto p = a->make_response_promise<std::uint64_t>();
              h->held.emplace_back(p, n);
              return p;
            },
            [h](atom::flush) {
              for (auto &[p, n] : h->held)
                p.deliver(n);
              h->held.clear();
            },
        };
      })));
  cache_config cc;
  cc.history_max_unacked_rows = 2;
  auto cache = f.track(spawn_cache(f.sys, cc));
  BOOST_TEST(
      f.ask<process_changes>(cache, atom::subscribe_v, slow).rows.empty());
  update_batch b;
  b.updates = {start(5, 1, "2021-01-01T10:00:00Z", "a"),
               start(6, 5, "2021-01-01T10:01:00Z", "b"),
               start(7, 5, "2021-01-01T10:02:00Z", "c")};
  auto answer = f.send_request<std::uint64_t>(cache, b);
  f.sched.run();
  BOOST_TEST(!answer->has_value()); // 3 rows unacknowledged > 2: held
  BOOST_REQUIRE_EQUAL(h->got.size(), 1u);
  BOOST_REQUIRE_EQUAL(h->got[0].rows.size(), 3u);
  BOOST_TEST(h->got[0].rows[1].id == "6-1609495260");
  BOOST_TEST(h->got[0].rows[1].parent_id == "5-1609495200");
  BOOST_TEST(h->got[0].rows[1].data == "{\"Name\":\"b\"}");
  // Queries are answered meanwhile.
  auto got = f.ask<std::string>(cache, query{"get", "6", 0});
  BOOST_TEST(got.find("6-1609495260") != std::string::npos);
  auto waits = [&] {
    for (auto &c : f.ask<stats_report>(cache, atom::stats_v).counters)
      if (c.name == "HistoryWaits")
        return c.value;
    return std::int64_t{-1};
  };
  BOOST_TEST(waits() == 1);
  f.self->send(caf::actor_cast<caf::actor>(slow), atom::flush_v);
  f.sched.run();
  BOOST_REQUIRE(answer->has_value());
  BOOST_TEST(**answer == 3u);
  // Under the limit: answered at once.
  update_batch e;
  e.updates = {exit_of(6, "2021-01-01T10:05:00Z")};
  BOOST_TEST(f.ask<std::uint64_t>(cache, e) == 1u);
  BOOST_REQUIRE_EQUAL(h->got.size(), 2u);
  BOOST_REQUIRE(!h->got[1].rows.empty());
  BOOST_TEST(h->got[1].rows[0].id == "6-1609495260");
  BOOST_TEST(h->got[1].rows[0].end_time == *parse_time("2021-01-01T10:05:00Z"));
  BOOST_TEST(waits() == 1);
}

BOOST_AUTO_TEST_CASE(config_is_validated_naming_the_key) {
  history_config hc;
  BOOST_TEST(hc.validate() == "history.path is empty");
  hc.path = "/tmp/x.db";
  hc.flush_interval = 0;
  BOOST_TEST(hc.validate().find("history.flush-interval") == 0u);
  hc.flush_interval = hns_per_second;
  hc.max_bytes = 1000;
  BOOST_TEST(hc.validate().find("history.max-bytes") == 0u);
  hc.max_bytes = std::uint64_t{1} << 30;
  hc.max_age = -1;
  BOOST_TEST(hc.validate().find("history.max-age") == 0u);
  hc.max_age = 0;
  BOOST_TEST(hc.validate().empty());
}

BOOST_AUTO_TEST_SUITE_END()
