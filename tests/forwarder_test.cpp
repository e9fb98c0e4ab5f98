// The forwarder and the collector in one process, on CAF's test scheduler,
// which runs actors in an order the test chooses: the order a loaded
// machine's scheduler may pick. The forwarder's stream must reach the
// collector in the order the forwarder numbered it whatever runs first,
// else the collector refuses a gap and the host is sent a full sync again
// (fleet_test/forwarding_replay_waits_for_a_slow_collector failed so on a
// loaded machine).
#include "actors/cache/cache.hpp"
#include "actors/collector/collector.hpp"
#include "actors/forward/forwarder.hpp"
#include "support/actor_fixture.hpp"

#include <caf/io/middleman_actor.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <string>

using namespace proctrack;
using namespace proctrack_test;
using nlohmann::json;

namespace {

process_update start(int pid, int ppid, timestamp when) {
  process_update u;
  u.kind = update_kind::start;
  u.process.pid = std::to_string(pid);
  u.process.ppid = std::to_string(ppid);
  u.process.start_time = when;
  u.process.data.push_back({"Name", "\"p" + u.process.pid + "\""});
  return u;
}

std::map<std::string, std::int64_t> counters(const stats_report &r) {
  std::map<std::string, std::int64_t> m;
  for (auto &c : r.counters)
    m[c.name] = c.value;
  return m;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(forwarder_test, actor_fixture)

// Four messages in flight (forward.chunk 1, max-in-flight 4); the scheduler
// runs the forwarder until it has sent all four, then whatever it made
// runnable last first. The collector takes all four in order: no gap, no
// second snapshot, and its mirror equals the host's table.
BOOST_AUTO_TEST_CASE(
    the_stream_reaches_the_collector_in_order_whatever_runs_first) {
  std::string error;
  auto collector = track(spawn_collector(sys, collector_config{}, error));
  BOOST_REQUIRE_MESSAGE(collector, error);
  auto cache = track(spawn_cache(sys, cache_config{}));
  // The middleman the forwarder connects through: it answers with the
  // collector of this process, as CAF's does for a collector on its own node.
  auto mm = track(sys.spawn([=](caf::event_based_actor *) -> caf::behavior {
    return {[=](caf::connect_atom, const std::string &, std::uint16_t) {
      return caf::make_message(
          collector.node(), caf::actor_cast<caf::strong_actor_ptr>(collector),
          sys.message_types(collector));
    }};
  }));
  forwarder_config fc;
  fc.collector_host = "127.0.0.1";
  fc.collector_port = 1;
  fc.host = "ordered";
  fc.chunk = 1;
  fc.max_in_flight = 4;
  fc.middleman = caf::actor_cast<caf::io::middleman_actor>(mm);
  BOOST_REQUIRE(fc.validate().empty());
  auto fwd = track(sys.spawn(forwarder, fc, cache));
  // Connected, the (empty) snapshot acked.
  sched.run();
  BOOST_REQUIRE_EQUAL(
      counters(ask<stats_report>(fwd, atom::stats_v)).at("ForwardConnects"), 1);

  // Four batches the cache applies and passes on, one update each.
  for (int i = 0; i < 4; ++i) {
    update_batch b;
    b.updates.push_back(
        start(100 + i, 4, 1609459200 * hns_per_second + i * hns_per_second));
    self->send(cache, std::move(b));
  }
  while (sched.prioritize(cache))
    sched.run_once();
  // The forwarder takes the four and sends each as a message of its own.
  while (sched.prioritize(fwd))
    sched.run_once();
  // What it made runnable, the last first.
  while (sched.try_run_once_lifo())
    ;
  sched.run();

  auto fs = counters(ask<stats_report>(fwd, atom::stats_v));
  auto cs = counters(ask<stats_report>(collector, atom::stats_v));
  BOOST_TEST(cs.at("OutOfOrder") == 0);
  BOOST_TEST(fs.at("ForwardRefused") == 0);
  BOOST_TEST(fs.at("ForwardDisconnects") == 0);
  BOOST_TEST(fs.at("ForwardSnapshots") == 1);
  BOOST_TEST(fs.at("ForwardUpdatesAcked") == 4);
  BOOST_TEST(fs.at("ForwardDelivered") == 1);
  // The mirror lists what the host's table lists.
  auto own = ask<std::string>(cache, query{"pslist", "", 0});
  auto theirs = ask<std::string>(collector, std::string{"ordered"},
                                 query{"pslist", "", 0});
  BOOST_TEST(json::parse(own).size() == 4u);
  BOOST_TEST(theirs == own);
}

BOOST_AUTO_TEST_SUITE_END()
