// The cache's subscribers (actors/cache/subscribers.hpp) through the cache
// actor, under CAF's deterministic test coordinator: every typed sink gets
// each applied batch once, whichever way and however often it subscribed,
// and a sink that terminates is dropped (the `Subscribers` count of the
// cache's stats report), so sinks that come and go leave nothing behind.
#include <boost/test/unit_test.hpp>

#include "actors/cache/cache.hpp"
#include "actors/common/time.hpp"
#include "messages/actors.hpp"

#include <caf/all.hpp>

#include "tests/support/actor_fixture.hpp"
#include "tests/support/updates.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

BOOST_AUTO_TEST_SUITE(subscribers_test)

using namespace proctrack;

namespace {

using fixture = proctrack_test::actor_fixture;

using proctrack_test::start;

update_batch two_starts() {
  update_batch b;
  b.updates.push_back(start("5", "1", "2021-01-01T10:30:00Z"));
  b.updates.push_back(start("6", "5", "2021-01-01T10:31:00Z"));
  return b;
}

using batches = std::shared_ptr<std::vector<update_batch>>;
using lines = std::shared_ptr<std::vector<std::string>>;

// The live-mode timer stays off: only the batches a test applies reach the
// sinks.
cache_config no_timer(bool forward_updates = false) {
  cache_config c;
  c.expiry_interval = caf::timespan{0};
  c.forward_updates = forward_updates;
  return c;
}

struct sinks_fixture : fixture {
  update_batch_sink_actor batch_sink(batches seen) {
    return caf::actor_cast<update_batch_sink_actor>(
        sys.spawn([seen](caf::event_based_actor *) -> caf::behavior {
          return {[seen](update_batch &b) { seen->push_back(std::move(b)); }};
        }));
  }

  update_sink_actor text_sink(lines seen) {
    return caf::actor_cast<update_sink_actor>(
        sys.spawn([seen](caf::event_based_actor *) -> caf::behavior {
          return {[seen](std::string &s) { seen->push_back(std::move(s)); }};
        }));
  }

  // The cache's `Subscribers` counter (atom::stats); -1 when missing.
  std::int64_t subscribers(const cache_actor &cache) {
    for (auto &c : ask<stats_report>(cache, atom::stats_v).counters)
      if (c.name == "Subscribers")
        return c.value;
    return -1;
  }

  void stop(const caf::actor &a) {
    self->send_exit(a, caf::exit_reason::user_shutdown);
    sched.run();
  }
};

std::vector<std::string> ids(const update_batch &b) {
  std::vector<std::string> out;
  for (auto &u : b.updates)
    out.push_back(u.process.pid);
  return out;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(cache_subscribers, sinks_fixture)

BOOST_AUTO_TEST_CASE(two_typed_sinks_both_receive_the_applied_batch) {
  auto cache = track(spawn_cache(sys, no_timer()));
  auto seen_a = std::make_shared<std::vector<update_batch>>();
  auto seen_b = std::make_shared<std::vector<update_batch>>();
  auto a = track(batch_sink(seen_a));
  auto b = track(batch_sink(seen_b));
  // One by atom::subscribe (the embedders' way), one by atom::snapshot
  // (the forwarder's).
  BOOST_TEST(ask<update_batch>(cache, atom::subscribe_v, a).updates.empty());
  BOOST_TEST(ask<table_state>(cache, atom::snapshot_v, b).processes.empty());
  BOOST_TEST(subscribers(cache) == 2);
  BOOST_TEST(ask<std::uint64_t>(cache, two_starts()) == 2u);
  sched.run();
  BOOST_REQUIRE_EQUAL(seen_a->size(), 1u);
  BOOST_REQUIRE_EQUAL(seen_b->size(), 1u);
  auto want = std::vector<std::string>{"5", "6"};
  BOOST_TEST(ids(seen_a->front()) == want, boost::test_tools::per_element());
  BOOST_TEST(ids(seen_b->front()) == want, boost::test_tools::per_element());
  // The applied batch carries the ids the table gave (process_table::apply).
  BOOST_TEST(seen_a->front().updates[1].process.ppid == "5");
}

BOOST_AUTO_TEST_CASE(a_sink_subscribed_twice_receives_each_batch_once) {
  auto cache = track(spawn_cache(sys, no_timer(true)));
  auto seen = std::make_shared<std::vector<update_batch>>();
  auto text = std::make_shared<std::vector<std::string>>();
  auto typed = track(batch_sink(seen));
  auto stream = track(text_sink(text));
  ask<update_batch>(cache, atom::subscribe_v, typed);
  ask<table_state>(cache, atom::snapshot_v, typed);
  ask<update_batch>(cache, atom::subscribe_v, typed);
  // A second subscription of the output stream answers a new sync row and
  // adds nothing: the stream never holds a row twice.
  ask<std::string>(cache, atom::subscribe_v, stream);
  ask<std::string>(cache, atom::subscribe_v, stream);
  BOOST_TEST(subscribers(cache) == 2);
  BOOST_TEST(ask<std::uint64_t>(cache, two_starts()) == 2u);
  sched.run();
  BOOST_REQUIRE_EQUAL(seen->size(), 1u);
  BOOST_TEST(seen->front().updates.size() == 2u);
  BOOST_REQUIRE_EQUAL(text->size(), 1u);
  auto &chunk = text->front();
  BOOST_TEST(std::count(chunk.begin(), chunk.end(), '\n') == 2);
  BOOST_TEST(chunk.find("\"update_type\":\"start\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_terminated_sink_is_dropped) {
  auto cache = track(spawn_cache(sys, no_timer(true)));
  auto kept_seen = std::make_shared<std::vector<update_batch>>();
  auto kept = track(batch_sink(kept_seen));
  ask<table_state>(cache, atom::snapshot_v, kept);
  BOOST_TEST(subscribers(cache) == 1);
  // Sinks that come and go, of both kinds (an embedder, a forwarder
  // restarted): the cache keeps none of them once they are gone.
  for (int i = 0; i < 50; ++i) {
    auto gone_seen = std::make_shared<std::vector<update_batch>>();
    auto gone_text = std::make_shared<std::vector<std::string>>();
    auto typed = batch_sink(gone_seen);
    auto stream = text_sink(gone_text);
    ask<update_batch>(cache, atom::subscribe_v, typed);
    ask<std::string>(cache, atom::subscribe_v, stream);
    BOOST_REQUIRE_EQUAL(subscribers(cache), 3);
    stop(caf::actor_cast<caf::actor>(typed));
    stop(caf::actor_cast<caf::actor>(stream));
    BOOST_REQUIRE_EQUAL(subscribers(cache), 1);
  }
  // A sink already gone when it subscribes is dropped as well.
  auto dead = batch_sink(std::make_shared<std::vector<update_batch>>());
  stop(caf::actor_cast<caf::actor>(dead));
  ask<table_state>(cache, atom::snapshot_v, dead);
  BOOST_TEST(subscribers(cache) == 1);
  // The one left still gets every batch.
  BOOST_TEST(ask<std::uint64_t>(cache, two_starts()) == 2u);
  sched.run();
  BOOST_REQUIRE_EQUAL(kept_seen->size(), 1u);
  BOOST_TEST(kept_seen->front().updates.size() == 2u);
}

// A snapshot asked while a listing in parts is half applied waits for the
// last part; a sink that terminates meanwhile is answered and then dropped.
BOOST_AUTO_TEST_CASE(a_sink_gone_while_its_snapshot_waited_is_dropped) {
  auto cache = track(spawn_cache(sys, no_timer()));
  process_update first;
  first.kind = update_kind::sync;
  first.part = sync_part::first;
  first.time = *parse_time("2021-01-01T11:00:00Z");
  first.processes.push_back(start("7", "1", "2021-01-01T10:00:00Z").process);
  update_batch half;
  half.updates.push_back(first);
  BOOST_TEST(ask<std::uint64_t>(cache, half) == 1u);
  auto seen = std::make_shared<std::vector<update_batch>>();
  auto sink = batch_sink(seen);
  auto answer = send_request<table_state>(cache, atom::snapshot_v, sink);
  sched.run();
  BOOST_TEST(!answer->has_value()); // waits for the last part
  stop(caf::actor_cast<caf::actor>(sink));
  auto last = first;
  last.part = sync_part::last;
  last.processes.clear();
  update_batch rest;
  rest.updates.push_back(last);
  BOOST_TEST(ask<std::uint64_t>(cache, rest) == 1u);
  BOOST_REQUIRE(answer->has_value());
  BOOST_TEST((*answer)->processes.size() == 1u);
  BOOST_TEST(subscribers(cache) == 0);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END() // subscribers_test
