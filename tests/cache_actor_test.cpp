// The cache and ingest actors under CAF's deterministic test coordinator,
// and a serialization round trip of every message type.
#define BOOST_TEST_MODULE cache_actor
#include <boost/test/unit_test.hpp>

#include "actors/cache/cache.hpp"
#include "actors/common/time.hpp"
#include "actors/ingest/ingest.hpp"
#include "messages/actors.hpp"

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "tests/support/actor_fixture.hpp"
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

using namespace proctrack;

namespace {

using fixture = proctrack_test::actor_fixture;

process_update start(std::string pid, std::string ppid, const char *when) {
  process_update u;
  u.kind = update_kind::start;
  u.process.pid = std::move(pid);
  u.process.ppid = std::move(ppid);
  u.process.start_time = *parse_time(when);
  u.process.data.push_back({"Name", "\"p" + u.process.pid + "\""});
  return u;
}

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
}

BOOST_AUTO_TEST_SUITE_END()
