// The fleet collector with a history (issue 17 item 4), on CAF's
// deterministic scheduler with a real store file: the changes of every
// host's mirror go to one store under the host's name; a new snapshot
// replaces a mirror and the store keeps what it had; queries about a host
// fall back to the store, as of a time too; a collector started again
// answers a host it no longer mirrors from the store; while the history
// is behind, host messages wait unacked (the forwarders then stop at their
// window) and a hello of the host drops them.
#include <boost/test/unit_test.hpp>

#include "actors/collector/collector.hpp"
#include "actors/common/time.hpp"
#include "actors/history/history.hpp"
#include "tests/support/actor_fixture.hpp"
#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

BOOST_AUTO_TEST_SUITE(fleet_history_test)

using namespace proctrack;
using nlohmann::json;
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

// One host as its forwarder sees it: its own table, and the messages that
// mirror it (a snapshot of the table's state, then the updates it applied).
struct host_side {
  std::string name;
  std::uint64_t session;
  std::size_t max_size;
  std::uint64_t seq = 0;
  process_table table;

  host_side(std::string n, std::uint64_t s, std::size_t max = 10000)
      : name{std::move(n)}, session{s}, max_size{max}, table{
                                                           table_config{max}} {}

  fleet_batch snapshot() {
    fleet_batch b;
    b.host = name;
    b.session = session;
    b.seq = ++seq;
    b.snapshot = true;
    b.max_size = max_size; // the mirror evicts as the host does
    b.state = table.export_state();
    return b;
  }
  // A new session's snapshot of a table that no longer holds `evicted`
  // (the host's LRU also moves on queries asked of the host, which the
  // stream does not carry, so the host may evict a process its mirror
  // still holds); its children keep their ParentId, as the table's do.
  fleet_batch snapshot_without(const std::string &evicted) {
    auto b = snapshot();
    auto &ps = b.state.processes;
    ps.erase(std::remove_if(ps.begin(), ps.end(),
                            [&](auto &p) { return p.id == evicted; }),
             ps.end());
    return b;
  }
  fleet_batch updates(std::vector<process_update> us) {
    for (auto &u : us)
      table.apply(process_update{u});
    fleet_batch b;
    b.host = name;
    b.session = session;
    b.seq = ++seq;
    b.updates = std::move(us);
    return b;
  }
};

struct fixture : actor_fixture {
  temp_dir dir;
  std::string path = (dir.path() / "fleet.db").string();
  std::shared_ptr<history_store> store;
  history_actor hist;
  collector_actor coll;

  fixture() {
    start();
  }

  // A collector with a history on `path` (again after stop(): a restart).
  void start() {
    history_config hc;
    hc.path = path;
    BOOST_REQUIRE(hc.validate().empty());
    std::string error;
    store =
        history_store::open(hc.path, history_store::mode::read_write, error);
    BOOST_REQUIRE_MESSAGE(store, error);
    hist = track(sys.spawn(history, hc, store, cache_actor{},
                           std::shared_ptr<history_store>{}));
    collector_config cc;
    coll = track(spawn_collector(sys, cc, error, hist));
    BOOST_REQUIRE_MESSAGE(coll, error);
    sched.run();
  }
  void stop() {
    ask<std::uint64_t>(hist, atom::flush_v);
    self->send_exit(coll, caf::exit_reason::user_shutdown);
    self->send_exit(hist, caf::exit_reason::user_shutdown);
    sched.run();
    store.reset();
  }

  std::uint64_t send(fleet_batch b) {
    return ask<std::uint64_t>(coll, std::move(b));
  }
  json about(const std::string &host, query q) {
    return json::parse(ask<std::string>(coll, host, std::move(q)));
  }
  json as_of(const std::string &host, query q, const char *when) {
    return json::parse(ask<std::string>(coll, host, std::move(q),
                                        timestamp{*parse_time(when)}));
  }
  // The error a request got (empty when it was answered).
  template <class... Ts>
  std::string error_of(Ts... xs) {
    auto why = std::make_shared<std::string>();
    auto dest = coll;
    sys.spawn([=](caf::event_based_actor *a) {
      a->request(dest, caf::infinite, xs...)
          .then([](std::string &) {},
                [why](caf::error &e) { *why = caf::to_string(e); });
    });
    sched.run();
    return *why;
  }
  std::int64_t counter(const std::string &name) {
    for (auto &c : ask<stats_report>(coll, atom::stats_v).counters)
      if (c.name == name)
        return c.value;
    return -1;
  }
};

std::vector<std::string> ids_of(const json &entries) {
  std::vector<std::string> out;
  for (auto &e : entries)
    out.push_back(e.at("Id").get<std::string>());
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(two_hosts_write_one_store_under_their_names) {
  fixture f;
  host_side alpha{"alpha", 11};
  host_side beta{"beta", 22};
  alpha.table.apply(start(10, 1, "2021-01-01T10:00:00Z", "a10"));
  BOOST_TEST(f.send(alpha.snapshot()) == 1u);
  BOOST_TEST(f.send(beta.snapshot()) == 1u);
  // The same real id on both hosts: two processes, two rows.
  BOOST_TEST(
      f.send(beta.updates({start(10, 1, "2021-01-01T10:00:00Z", "b10"),
                           start(20, 10, "2021-01-01T10:01:00Z", "b20")}))
      == 2u);
  BOOST_TEST(f.send(alpha.updates({start(11, 10, "2021-01-01T10:02:00Z", "a11"),
                                   exit_of(10, "2021-01-01T10:03:00Z")}))
             == 2u);
  f.ask<std::uint64_t>(f.hist, atom::flush_v);
  auto a = f.store->pslist("alpha", unknown_time);
  auto b = f.store->pslist("beta", unknown_time);
  BOOST_REQUIRE_EQUAL(a.size(), 2u);
  BOOST_REQUIRE_EQUAL(b.size(), 2u);
  BOOST_TEST(a[0].id == "10-1609495200");
  BOOST_TEST(a[0].data == "{\"Name\":\"a10\"}");
  BOOST_TEST(a[0].end_time == *parse_time("2021-01-01T10:03:00Z"));
  BOOST_TEST(a[1].id == "11-1609495320");
  BOOST_TEST(a[1].parent_id == "10-1609495200");
  BOOST_TEST(b[0].id == "10-1609495200");
  BOOST_TEST(b[0].data == "{\"Name\":\"b10\"}");
  BOOST_TEST(b[0].end_time == unknown_time);
  BOOST_TEST(b[1].parent_id == "10-1609495200");
  BOOST_TEST(f.store->row_count() == 4);
  BOOST_TEST(f.counter("HistoryRowsSent") == 5); // 10 of alpha twice
  BOOST_TEST(f.counter("HistoryRowsWritten") == 4);
  BOOST_TEST(f.counter("HistoryWaits") == 0);
}

// The host's forwarder starts a new session (it applied an exit while the
// collector was away, and its table has evicted the exited launcher): its
// snapshot replaces the mirror. The store keeps the launcher; the
// collector completes its answers from the store (get of the launcher,
// the callchain across it, its children) and answers as of a time.
BOOST_AUTO_TEST_CASE(a_new_snapshot_keeps_the_history_and_queries_fall_back) {
  fixture f;
  host_side h{"web1", 1};
  BOOST_TEST(f.send(h.snapshot()) == 1u);
  BOOST_TEST(f.send(h.updates({start(10, 1, "2021-01-01T10:00:00Z", "launcher"),
                               start(11, 10, "2021-01-01T10:01:00Z", "payload"),
                               exit_of(10, "2021-01-01T10:02:00Z")}))
             == 2u);
  BOOST_TEST(f.send(h.updates({start(12, 11, "2021-01-01T10:03:00Z", "daemon"),
                               exit_of(11, "2021-01-01T10:04:00Z"),
                               start(13, 1, "2021-01-01T10:05:00Z", "other")}))
             == 3u);
  h.table.apply(exit_of(13, "2021-01-01T10:06:00Z")); // not sent
  h.session = 2;
  h.seq = 0;
  BOOST_TEST(f.send(h.snapshot_without("10-1609495200")) == 1u);
  auto hosts = json::parse(f.ask<std::string>(f.coll, atom::hosts_v));
  BOOST_REQUIRE_EQUAL(hosts.size(), 1u);
  BOOST_TEST(hosts[0].at("Length").get<int>() == 3);
  BOOST_TEST(hosts[0].at("Snapshots").get<int>() == 2);
  // The mirror is the host's table: no launcher.
  BOOST_TEST(ids_of(f.about("web1", {"pslist", "", 0}))
             == (std::vector<std::string>{"11-1609495260", "12-1609495380",
                                          "13-1609495500"}));
  // The evicted launcher, from the store, as it ended.
  auto launcher = f.about("web1", {"get", "10-1609495200", 0});
  BOOST_REQUIRE(launcher.is_object());
  BOOST_TEST(launcher.at("Data").at("Name") == "launcher");
  BOOST_TEST(*parse_time(launcher.at("EndTime").get<std::string>())
             == *parse_time("2021-01-01T10:02:00Z"));
  BOOST_TEST(launcher.at("Host") == "web1");
  // The daemon's chain: payload and daemon from the mirror, the launcher
  // before them from the store.
  const std::vector<std::string> chain{"10-1609495200", "11-1609495260",
                                       "12-1609495380"};
  BOOST_TEST(ids_of(f.about("web1", {"callchain", "12", 0})) == chain);
  BOOST_TEST(ids_of(f.about("web1", {"children", "10-1609495200", 0}))
             == (std::vector<std::string>{"11-1609495260"}));
  BOOST_TEST(f.about("web1", {"tree", "10-1609495200", 0}).is_object());
  // The snapshot's processes were written: 13's exit came with it only.
  f.ask<std::uint64_t>(f.hist, atom::flush_v);
  auto other = f.store->find("web1", "13-1609495500");
  BOOST_REQUIRE(other);
  BOOST_TEST(other->end_time == *parse_time("2021-01-01T10:06:00Z"));
  BOOST_TEST(f.store->row_count() == 4);
  // As of a time, from the store.
  BOOST_TEST(ids_of(f.as_of("web1", {"pslist", "", 0}, "2021-01-01T10:01:30Z"))
             == (std::vector<std::string>{"10-1609495200", "11-1609495260"}));
  BOOST_TEST(ids_of(f.as_of("web1", {"pslist", "", 0}, "2021-01-01T10:05:30Z"))
             == (std::vector<std::string>{"12-1609495380", "13-1609495500"}));
  BOOST_TEST(
      ids_of(f.as_of("web1", {"callchain", "12", 0}, "2021-01-01T10:03:30Z"))
      == chain);
  // Another host's name finds nothing of web1's.
  BOOST_TEST(
      f.as_of("web2", {"pslist", "", 0}, "2021-01-01T10:01:30Z").empty());
  BOOST_TEST(f.counter("HistoryLookups") >= 8);

  // The collector starts again: no mirror until the host reconnects, and
  // the store answers for the host meanwhile.
  f.stop();
  f.start();
  BOOST_TEST(json::parse(f.ask<std::string>(f.coll, atom::hosts_v)).empty());
  launcher = f.about("web1", {"get", "10-1609495200", 0});
  BOOST_REQUIRE(launcher.is_object());
  BOOST_TEST(launcher.at("Data").at("Name") == "launcher");
  BOOST_TEST(ids_of(f.about("web1", {"callchain", "12-1609495380", 0}))
             == chain);
  BOOST_TEST(ids_of(f.as_of("web1", {"pslist", "", 0}, "2021-01-01T10:05:30Z"))
             == (std::vector<std::string>{"12-1609495380", "13-1609495500"}));
  // What only a mirror knows (now) is an error that says so.
  BOOST_TEST(f.error_of(std::string{"web1"}, query{"pslist", "", 0})
                 .find("not mirrored")
             != std::string::npos);
  // The host reconnects: its hello needs a snapshot, which is its mirror
  // again; the launcher is still answered.
  BOOST_TEST(f.ask<std::uint64_t>(f.coll, atom::subscribe_v,
                                  std::string{"web1"}, std::uint64_t{2})
             == 0u);
  h.seq = 0;
  BOOST_TEST(f.send(h.snapshot_without("10-1609495200")) == 1u);
  BOOST_TEST(ids_of(f.about("web1", {"pslist", "", 0})).size() == 3u);
  BOOST_TEST(ids_of(f.about("web1", {"callchain", "12", 0})) == chain);
}

// Backpressure: with history.max-unacked-rows at 1, a message whose
// changes are not yet acknowledged by the history holds the next one of
// any host, unapplied and unacked: the host's forwarder stops at its
// window. The history's acknowledgement releases it.
BOOST_AUTO_TEST_CASE(host_messages_wait_while_the_history_is_behind) {
  actor_fixture f;
  struct acks {
    std::vector<process_changes> got;
    std::vector<
        std::pair<caf::typed_response_promise<std::uint64_t>, std::uint64_t>>
        held;
  };
  auto h = std::make_shared<acks>();
  // A history that acknowledges only when told (atom::flush): a store
  // that has fallen behind.
  auto slow = f.track(caf::actor_cast<history_actor>(
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
            [](atom::stats) {
              return stats_report{"slow", {}};
            },
            [](query &, timestamp) { return std::string{"null"}; },
        };
      })));
  collector_config cc;
  cc.history_max_unacked_rows = 1;
  std::string error;
  auto coll = f.track(spawn_collector(f.sys, cc, error, slow));
  BOOST_REQUIRE_MESSAGE(coll, error);
  host_side web1{"web1", 5};
  host_side web2{"web2", 6};
  BOOST_TEST(f.ask<std::uint64_t>(coll, web1.snapshot()) == 1u); // no rows
  auto first = f.send_request<std::uint64_t>(
      coll, web1.updates({start(10, 1, "2021-01-01T10:00:00Z", "a"),
                          start(11, 10, "2021-01-01T10:01:00Z", "b")}));
  f.sched.run();
  BOOST_TEST(first->has_value()); // applied: 2 rows now unacknowledged
  BOOST_REQUIRE_EQUAL(h->got.size(), 1u);
  BOOST_TEST(h->got[0].rows.size() == 2u);
  BOOST_TEST(h->got[0].rows[0].host == "web1");
  auto second = f.send_request<std::uint64_t>(
      coll, web1.updates({exit_of(11, "2021-01-01T10:02:00Z")}));
  auto other = f.send_request<std::uint64_t>(coll, web2.snapshot());
  f.sched.run();
  BOOST_TEST(!second->has_value()); // waits, unapplied
  BOOST_TEST(!other->has_value());  // any host's
  BOOST_TEST(h->got.size() == 1u);
  auto stats = [&](const std::string &name) {
    for (auto &c : f.ask<stats_report>(coll, atom::stats_v).counters)
      if (c.name == name)
        return c.value;
    return std::int64_t{-1};
  };
  BOOST_TEST(stats("HistoryWaits") == 2);
  BOOST_TEST(stats("HistoryWaiting") == 2);
  // Queries are answered meanwhile, from the mirror as it was applied.
  auto b = json::parse(
      f.ask<std::string>(coll, std::string{"web1"}, query{"get", "11", 0}));
  BOOST_TEST(b.at("EndTime") == proctrack_test::zero_time);
  // The history catches up: the messages are applied, in order, and acked.
  f.self->send(caf::actor_cast<caf::actor>(slow), atom::flush_v);
  f.sched.run();
  BOOST_REQUIRE(second->has_value());
  BOOST_TEST(**second == 3u);
  BOOST_REQUIRE(other->has_value());
  BOOST_TEST(**other == 1u);
  BOOST_REQUIRE_EQUAL(h->got.size(), 2u);
  BOOST_TEST(h->got[1].rows.at(0).id == "11-1609495260");
  BOOST_TEST(h->got[1].rows.at(0).end_time
             == *parse_time("2021-01-01T10:02:00Z"));
  BOOST_TEST(stats("HistoryWaiting") == 0);

  // Behind again (3 rows not acknowledged): a message waits, then the
  // host's forwarder reconnects. Its hello drops what waits of
  // it (the forwarder sends it again, or a snapshot, from the seq the
  // hello answers); nothing of it was applied.
  BOOST_TEST(
      f.ask<std::uint64_t>(
          coll, web1.updates({start(12, 10, "2021-01-01T10:03:00Z", "c"),
                              start(13, 10, "2021-01-01T10:04:00Z", "d")}))
      == 4u);
  auto late = f.send_request<std::uint64_t>(
      coll, web1.updates({start(14, 10, "2021-01-01T10:05:00Z", "e")}));
  f.sched.run();
  BOOST_TEST(!late->has_value());
  BOOST_TEST(stats("HistoryWaiting") == 1);
  BOOST_TEST(f.ask<std::uint64_t>(coll, atom::subscribe_v, std::string{"web1"},
                                  std::uint64_t{5})
             == 5u);
  BOOST_TEST(stats("HistoryWaiting") == 0);
  BOOST_TEST(json::parse(f.ask<std::string>(coll, std::string{"web1"},
                                            query{"get", "14", 0}))
                 .is_null());
  f.self->send(caf::actor_cast<caf::actor>(slow), atom::flush_v);
  f.sched.run();
  BOOST_TEST(!late->has_value()); // answered with an error: superseded
}

BOOST_AUTO_TEST_CASE(unacked_limits_are_validated_by_name) {
  collector_config cc;
  BOOST_TEST(cc.validate().empty());
  cc.history_max_unacked_rows = 0;
  BOOST_TEST(cc.validate().find("history.max-unacked-rows") == 0u);
  cc.history_max_unacked_rows = 1;
  cc.history_max_unacked_bytes = 10;
  BOOST_TEST(cc.validate().find("history.max-unacked-bytes") == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
