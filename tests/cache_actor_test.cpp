// The cache and ingest actors under CAF's deterministic test coordinator,
// and a serialization round trip of every message type.
#include <boost/test/unit_test.hpp>

#include "actors/cache/cache.hpp"
#include "actors/common/time.hpp"
#include "actors/ingest/ingest.hpp"
#include "messages/actors.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "tests/support/actor_fixture.hpp"
#include "tests/support/updates.hpp"
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

BOOST_AUTO_TEST_SUITE(cache_actor_test)

using namespace proctrack;

namespace {

using fixture = proctrack_test::actor_fixture;

using proctrack_test::start;

} // namespace

BOOST_FIXTURE_TEST_SUITE(actors, fixture)

BOOST_AUTO_TEST_CASE(cache_applies_batches_and_answers_queries) {
  auto cache = spawn_cache(sys, cache_config{});
  update_batch b;
  b.updates.push_back(start("5", "1", "2021-01-01T10:30:00Z"));
  b.updates.push_back(start("2", "5", "2021-01-01T12:30:00Z"));
  BOOST_TEST(ask<std::uint64_t>(cache, b) == 2u);
  auto chain = ask<std::string>(cache, query{"callchain", "2", 10});
  auto j = nlohmann::json::parse(chain);
  BOOST_REQUIRE(j.size() == 2u);
  BOOST_TEST(j[0]["Id"] == "5-1609497000");
  BOOST_TEST(j[1]["Id"] == "2-1609504200");
  auto st = ask<stats_report>(cache, atom::stats_v);
  BOOST_TEST(st.source == "proctrack.cache");
  bool found = false;
  for (auto &c : st.counters)
    if (c.name == "StartUpdates") {
      BOOST_TEST(c.value == 2);
      found = true;
    }
  BOOST_TEST(found);
  self->send_exit(cache, caf::exit_reason::user_shutdown);
  sched.run();
}

BOOST_AUTO_TEST_CASE(ingest_feeds_a_file_in_order_with_bounded_flight) {
  auto dir = std::filesystem::temp_directory_path() / "proctrack-ingest-test";
  std::filesystem::create_directories(dir);
  auto file = (dir / "rows.jsonl").string();
  {
    std::ofstream out{file};
    // A chain of 500 processes, each the parent of the next.
    for (int i = 1; i <= 500; ++i)
      out << R"({"update_type":"start","id":)" << i + 1 << R"(,"parent_id":)"
          << i << R"(,"start_time":)" << 1609459200 + i << "}\n";
    out << "torn {\n";
  }
  auto cache = spawn_cache(sys, cache_config{});
  ingest_config ic;
  ic.paths = {file};
  ic.batch_size = 7;
  ic.max_in_flight = 2;
  // Spawned lazily in this (testing) scheduler, not detached, so the run is
  // deterministic.
  auto reader = sys.spawn(ingest, ic, cache);
  auto run = send_request<bool>(reader, atom::run_v);
  sched.run();
  BOOST_REQUIRE(run->has_value());
  BOOST_TEST(**run);
  // Never more than max_in_flight batches were waiting for the cache.
  auto rep = ask<stats_report>(reader, atom::stats_v);
  std::int64_t peak = -1;
  for (auto &c : rep.counters)
    if (c.name == "BatchesInFlightPeak")
      peak = c.value;
  BOOST_TEST(peak == 2);
  auto chain = ask<std::string>(cache, query{"callchain", "501", 1000});
  auto j = nlohmann::json::parse(chain);
  BOOST_TEST(j.size() == 500u);
  BOOST_TEST(j.front()["Id"] == "2-1609459201");
  auto stats = ask<std::string>(cache, query{"stats", "", 0});
  auto s = nlohmann::json::parse(stats);
  BOOST_TEST(s["InputErrors"] == 1);
  BOOST_TEST(s["InputLines"] == 501);
  self->send_exit(reader, caf::exit_reason::user_shutdown);
  self->send_exit(cache, caf::exit_reason::user_shutdown);
  sched.run();
  std::filesystem::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(every_message_type_survives_serialization) {
  update_batch b;
  b.host = "host-a";
  auto s = start("5", "1", "2021-01-01T10:30:00Z");
  s.process.guid = "{abc}";
  s.process.parent_guid = "{def}";
  b.updates.push_back(s);
  process_update e;
  e.kind = update_kind::exit;
  e.target = "5";
  e.time = 42;
  b.updates.push_back(e);
  process_update y;
  y.kind = update_kind::sync;
  y.time = 43;
  y.processes.push_back(s.process);
  b.updates.push_back(y);
  std::vector<char> buf;
  caf::binary_serializer out{sys, buf};
  stats_report rep{"x", {{"Length", 3}}};
  query q{"tree", "{abc}", 50};
  enrichment en{"C:/a.exe", true, "{\"CompanyName\":\"A\"}", "a.exe", ""};
  BOOST_REQUIRE(!out(b, rep, q, en));
  update_batch b2;
  stats_report rep2;
  query q2;
  enrichment en2;
  caf::binary_deserializer in{sys, buf};
  BOOST_REQUIRE(!in(b2, rep2, q2, en2));
  BOOST_TEST(b2.host == "host-a");
  BOOST_REQUIRE(b2.updates.size() == 3u);
  BOOST_TEST(b2.updates[0].process.guid == "{abc}");
  BOOST_TEST(b2.updates[0].process.data[0].json == "\"p5\"");
  BOOST_TEST(static_cast<int>(b2.updates[1].kind)
             == static_cast<int>(update_kind::exit));
  BOOST_TEST(b2.updates[1].time == 42);
  BOOST_TEST(static_cast<int>(b2.updates[2].kind)
             == static_cast<int>(update_kind::sync));
  BOOST_TEST(b2.updates[2].processes.size() == 1u);
  BOOST_TEST(rep2.counters[0].name == "Length");
  BOOST_TEST(q2.max == 50);
  BOOST_TEST(en2.original_filename == "a.exe");
  BOOST_TEST(en2.ok);
  // The fleet's message: a state chunk, updates, enrichments, expiry.
  fleet_batch fb;
  fb.host = "web1";
  fb.session = 7;
  fb.seq = 2;
  fb.snapshot = true;
  fb.max_pending_exits = 4096;
  fb.state.now = 99;
  fb.state.pending_exits.push_back({"{g}", 98});
  process_state ps;
  ps.id = "5-1609497000";
  ps.parent_id = "1-?";
  ps.data = "{\"Name\":\"x\"}";
  ps.children = {"6-1609497001"};
  ps.live_children = 1;
  ps.holds_pid = true;
  fb.state.processes.push_back(ps);
  fb.updates = b2.updates;
  fb.enrichments.push_back({"5-1609497000", en});
  fb.expire_at = 100;
  std::vector<char> buf2;
  caf::binary_serializer out2{sys, buf2};
  BOOST_REQUIRE(!out2(fb));
  fleet_batch fb2;
  caf::binary_deserializer in2{sys, buf2};
  BOOST_REQUIRE(!in2(fb2));
  BOOST_TEST(fb2.max_pending_exits == 4096u);
  BOOST_TEST(fb2.state.now == 99);
  BOOST_TEST(fb2.state.pending_exits.at(0).key == "{g}");
  BOOST_REQUIRE(fb2.state.processes.size() == 1u);
  BOOST_TEST(fb2.state.processes[0].children.at(0) == "6-1609497001");
  BOOST_TEST(fb2.state.processes[0].live_children == 1u);
  BOOST_TEST(fb2.state.processes[0].holds_pid);
  BOOST_TEST(!fb2.state.processes[0].holds_guid);
  BOOST_TEST(fb2.updates.size() == 3u);
  BOOST_TEST(fb2.enrichments.at(0).info.version_info_json
             == en.version_info_json);
  BOOST_TEST(fb2.expire_at == 100);
}

// The cache expires exited processes against the wall clock by a timer of
// its own (cache_config::expiry_interval), with no stats publisher around;
// a cache on the events' clock (replay) runs none.
BOOST_AUTO_TEST_CASE(the_cache_expires_by_its_own_timer) {
  for (bool event_clock : {false, true}) {
    cache_config cc;
    cc.event_clock = event_clock;
    auto cache = track(spawn_cache(sys, cc));
    update_batch b;
    b.updates.push_back(start("5", "1", "2021-01-01T10:30:00Z"));
    process_update ex;
    ex.kind = update_kind::exit;
    ex.target = "5-1609497000";
    ex.time = *parse_time("2021-01-01T10:31:00Z");
    b.updates.push_back(ex);
    BOOST_TEST(ask<std::uint64_t>(cache, b) == 2u);
    // Ended years before the wall clock's now: past tracker.max-expiry.
    BOOST_TEST(nlohmann::json::parse(
                   ask<std::string>(cache, query{"get", "5-1609497000", 0}))
                   .is_object());
    sched.advance_time(cc.expiry_interval);
    sched.run();
    auto j = nlohmann::json::parse(
        ask<std::string>(cache, query{"get", "5-1609497000", 0}));
    BOOST_TEST(j.is_object() == event_clock, "event_clock " << event_clock);
  }
}

// The cache tells its typed sinks what it applied beyond the updates: the
// live-mode expiry ticks and the batch's enrichments, and its snapshot
// handler answers the table's exact state.
BOOST_AUTO_TEST_CASE(typed_sinks_see_expiry_and_enrichments) {
  auto cache = track(spawn_cache(sys, cache_config{}));
  auto seen = std::make_shared<std::vector<update_batch>>();
  auto sink = track(caf::actor_cast<update_batch_sink_actor>(
      sys.spawn([seen](caf::event_based_actor *) -> caf::behavior {
        return {[seen](update_batch &b) { seen->push_back(std::move(b)); }};
      })));
  auto state = ask<table_state>(cache, atom::snapshot_v, sink);
  BOOST_TEST(state.processes.empty());
  update_batch b;
  b.updates.push_back(start("5", "1", "2021-01-01T10:30:00Z"));
  enrichment en{"C:/a.exe", true, "{\"CompanyName\":\"A\"}", "a.exe", ""};
  b.enrichments.push_back({"5-1609497000", en});
  BOOST_TEST(ask<std::uint64_t>(cache, b) == 1u);
  self->send(cache, atom::tick_v, timestamp{1609497000} * hns_per_second);
  sched.run();
  BOOST_REQUIRE_EQUAL(seen->size(), 2u);
  BOOST_TEST((*seen)[0].updates.size() == 1u);
  BOOST_REQUIRE_EQUAL((*seen)[0].enrichments.size(), 1u);
  BOOST_TEST((*seen)[0].enrichments[0].id == "5-1609497000");
  BOOST_TEST((*seen)[1].updates.empty());
  BOOST_TEST((*seen)[1].expire_at == timestamp{1609497000} * hns_per_second);
  // The state now holds the process with its enrichment merged.
  state = ask<table_state>(cache, atom::snapshot_v, sink);
  BOOST_REQUIRE_EQUAL(state.processes.size(), 1u);
  BOOST_TEST(state.processes[0].data.find("VersionInformation")
             != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END() // cache_actor_test
