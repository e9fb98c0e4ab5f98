// spawn_tracker, the embedding entry point: bad settings give an error that
// names the setting and spawn nothing; a tracker is fed, queried and streams
// its batches to a subscriber; its stats publisher answers; stop_tracker
// ends every actor.
#include <boost/test/unit_test.hpp>

#include "actors/tracker/tracker.hpp"

#include <caf/all.hpp>

#include "tests/support/actor_fixture.hpp"
#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

BOOST_AUTO_TEST_SUITE(tracker_test)

using namespace proctrack;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

using fixture = proctrack_test::actor_fixture;

process_update start(std::string pid, std::string ppid, timestamp secs) {
  process_update u;
  u.kind = update_kind::start;
  u.process.pid = std::move(pid);
  u.process.ppid = std::move(ppid);
  u.process.start_time = secs * hns_per_second;
  u.process.data.push_back({"Name", "\"p" + u.process.pid + "\""});
  return u;
}

std::int64_t counter_of(const stats_report &r, const std::string &name) {
  for (auto &c : r.counters)
    if (c.name == name)
      return c.value;
  return -1;
}

// The error spawn_tracker gives for `s`, empty when it spawned.
std::string spawn_error(caf::actor_system &sys, const tracker_settings &s) {
  auto t = spawn_tracker(sys, s);
  if (t) {
    stop_tracker(*t);
    return {};
  }
  return tracker_error_message(t.error());
}

// Keeps every batch and every JSON line it is sent.
struct received {
  std::vector<update_batch> batches;
  std::vector<std::string> lines;
};

update_batch_sink_actor::behavior_type
batch_sink(update_batch_sink_actor::pointer, std::shared_ptr<received> r) {
  return {[r](update_batch &b) { r->batches.push_back(std::move(b)); }};
}

update_sink_actor::behavior_type line_sink(update_sink_actor::pointer,
                                           std::shared_ptr<received> r) {
  return {[r](const std::string &s) { r->lines.push_back(s); }};
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(tracker_suite, fixture)

BOOST_AUTO_TEST_CASE(bad_settings_name_the_setting_and_spawn_nothing) {
  auto check = [&](const tracker_settings &s, const std::string &setting,
                   const std::string &key) {
    auto err = spawn_error(sys, s);
    BOOST_TEST_CONTEXT("error: " << err) {
      BOOST_TEST(err.rfind("tracker_settings." + setting + ": ", 0) == 0);
      BOOST_TEST(err.find(key) != std::string::npos);
      BOOST_TEST(s.validate() == err); // the same message without a system
    }
  };
  tracker_settings s;
  s.cache.table.max_size = 0;
  check(s, "cache", "tracker.max-size");
  s = {};
  s.cache.table.max_expiry = -1; // 0 is "expiry off", negative is refused
  check(s, "cache", "tracker.max-expiry");
  s = {};
  s.cache.table.max_bytes = 0;
  check(s, "cache", "tracker.max-bytes");
  s.cache.table.max_bytes = std::size_t{1} << 50; // 1 PiB: a typo
  check(s, "cache", "tracker.max-bytes");
  s = {};
  s.cache.add_enrichments = true; // without an enricher
  check(s, "cache", "tracker_settings.enricher");
  s = {};
  s.enricher.emplace();
  s.enricher->workers = 0;
  check(s, "enricher", "enrich.workers");
  s.enricher->workers = 2;
  s.enricher->path_map = {"no-equals-sign"};
  check(s, "enricher", "enrich.path-map");
  s = {};
  s.stats.emplace();
  s.stats->config.interval = 0s;
  check(s, "stats", "stats.interval");
  s = {};
  s.forward.emplace();
  check(s, "forward", "forward.connect");
  s.forward->collector_host = "127.0.0.1";
  s.forward->collector_port = 4712;
  s.forward->host = "bad host name";
  check(s, "forward", "agent.host-name");
  // Valid forwarder settings, but this system has no middleman.
  s.forward->host = "h1";
  BOOST_TEST(s.validate().empty());
  auto err = spawn_error(sys, s);
  BOOST_TEST(err.rfind("tracker_settings.forward: ", 0) == 0);
  BOOST_TEST(err.find("middleman") != std::string::npos);
  // Nothing was spawned by any of these: only the fixture's scoped actor
  // is running.
  sched.run();
  BOOST_TEST(sys.registry().running() == 1u);
}

BOOST_AUTO_TEST_CASE(a_tracker_is_fed_queried_and_streams_batches) {
  tracker_settings s;
  s.cache.table.max_size = 100;
  s.cache.forward_updates = true;
  auto t = spawn_tracker(sys, s);
  BOOST_REQUIRE(t);
  BOOST_TEST(!t->enricher);
  BOOST_TEST(!t->stats);
  BOOST_TEST(!t->forwarder);
  track(t->cache);
  // Subscribers of both streams: typed batches and JSON lines.
  auto got = std::make_shared<received>();
  auto bs = track(sys.spawn(batch_sink, got));
  auto ls = track(sys.spawn(line_sink, got));
  BOOST_TEST(
      ask<update_batch>(t->cache, atom::subscribe_v, bs).updates.empty());
  ask<std::string>(t->cache, atom::subscribe_v, ls);
  update_batch b1;
  b1.host = "embedder";
  b1.updates = {start("1", "0", 1609459200), start("100", "1", 1609459260)};
  update_batch b2;
  b2.updates = {start("200", "100", 1609459320)};
  BOOST_TEST(ask<std::uint64_t>(t->cache, b1) == 2u);
  BOOST_TEST(ask<std::uint64_t>(t->cache, b2) == 1u);
  sched.run();
  auto chain =
      json::parse(ask<std::string>(t->cache, query{"callchain", "200", 0}));
  BOOST_REQUIRE_EQUAL(chain.size(), 3u);
  BOOST_TEST(chain[0]["Data"]["Name"] == "p1");
  BOOST_TEST(chain[2]["Data"]["Name"] == "p200");
  // Every applied batch, in order, to the typed subscriber.
  BOOST_REQUIRE_EQUAL(got->batches.size(), 2u);
  BOOST_TEST(got->batches[0].host == "embedder");
  BOOST_TEST(got->batches[0].updates.size() == 2u);
  BOOST_TEST(got->batches[1].updates.size() == 1u);
  BOOST_TEST(got->batches[1].updates[0].process.pid == "200");
  // And as JSON lines (cache.forward_updates): one message per batch.
  BOOST_REQUIRE_EQUAL(got->lines.size(), 2u);
  BOOST_TEST(got->lines[1].find("\"update_type\":\"start\"")
             != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_tracker_with_stats_publishing_answers_stats) {
  auto rows = std::make_shared<received>();
  auto sink = track(sys.spawn(line_sink, rows));
  tracker_settings s;
  s.enricher.emplace();
  s.enricher->workers = 1;
  s.cache.add_enrichments = true;
  s.stats.emplace();
  s.stats->config.interval = 5s;
  s.stats->sink = sink;
  auto t = spawn_tracker(sys, s);
  BOOST_REQUIRE(t);
  BOOST_REQUIRE(t->stats);
  BOOST_REQUIRE(t->enricher);
  track(t->stats);
  track(t->cache);
  track(t->enricher);
  update_batch b;
  b.updates.push_back(start("7", "1", 1609459200));
  BOOST_TEST(ask<std::uint64_t>(t->cache, std::move(b)) == 1u);
  auto st = ask<stats_report>(t->stats, atom::stats_v);
  BOOST_TEST(st.source == "proctrack.stats_publisher");
  BOOST_TEST(counter_of(st, "StatsRows") == 0);
  // One interval: a row of the cache's and the enricher's counters.
  sched.advance_time(5s);
  sched.run();
  BOOST_REQUIRE_EQUAL(rows->lines.size(), 1u);
  auto row = json::parse(rows->lines[0]);
  BOOST_TEST(row["update_type"] == "stats");
  BOOST_TEST(row["data"]["Capacity"] == 10000);
  BOOST_TEST(row["data"]["Length"] == 1);
  BOOST_TEST(row["data"].contains("EnricherRequests")); // polled the enricher
  BOOST_TEST(row["data"]["UnansweredStats"] == 0);
  auto snap = json::parse(ask<std::string>(t->stats, atom::snapshot_v));
  BOOST_TEST(snap["StatsRows"] == 1);
  BOOST_TEST(counter_of(ask<stats_report>(t->stats, atom::stats_v), "StatsRows")
             == 1);
}

BOOST_AUTO_TEST_CASE(stop_tracker_ends_every_actor) {
  tracker_settings s;
  s.enricher.emplace();
  s.enricher->workers = 1;
  s.stats.emplace();
  auto t = spawn_tracker(sys, s);
  BOOST_REQUIRE(t);
  sched.run();
  std::vector<caf::actor> all{caf::actor_cast<caf::actor>(t->cache),
                              caf::actor_cast<caf::actor>(t->enricher),
                              caf::actor_cast<caf::actor>(t->stats)};
  for (auto &a : all)
    self->monitor(a);
  stop_tracker(*t);
  sched.run();
  std::size_t down = 0;
  bool timed_out = false;
  while (down < all.size() && !timed_out)
    self->receive(
        [&](caf::down_msg &m) {
          BOOST_TEST((m.reason == caf::exit_reason::user_shutdown));
          ++down;
        },
        caf::after(5s) >> [&] { timed_out = true; });
  BOOST_TEST(down == all.size());
  // The enricher's worker threads ended with it: only the fixture's scoped
  // actor remains.
  sys.registry().await_running_count_equal(1);
  BOOST_TEST(sys.registry().running() == 1u);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END() // tracker_test
