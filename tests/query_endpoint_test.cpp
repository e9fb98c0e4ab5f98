// The agent's remote query endpoint publishes a read-only facade (issue
// 13): a network client that sends every update-carrying message of the
// cache's interface to it gets an error for each, and the cache is
// unchanged. Two real actor systems with CAF's middleman on loopback, as a
// remote client meets the agent.
#include <boost/test/unit_test.hpp>

#include "actors/cache/cache.hpp"
#include "actors/common/time.hpp"
#include "actors/query_endpoint/query_facade.hpp"
#include "messages/actors.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include <chrono>
#include <optional>
#include <string>

BOOST_AUTO_TEST_SUITE(query_endpoint_test)

using namespace proctrack;

namespace {

struct net_config : caf::actor_system_config {
  net_config() {
    proctrack::add_message_types(*this);
    load<caf::io::middleman>();
    set("logger.verbosity", caf::atom("quiet"));
    set("scheduler.max-threads", 2);
  }
};

process_update start(std::string pid, std::string ppid, const char *when,
                     const char *name) {
  process_update u;
  u.kind = update_kind::start;
  u.process.pid = std::move(pid);
  u.process.ppid = std::move(ppid);
  u.process.start_time = *parse_time(when);
  u.process.data.push_back({"Name", std::string{"\""} + name + "\""});
  return u;
}

// A sink that takes whatever it is sent.
update_sink_actor::behavior_type sink_impl() {
  return {[](const std::string &) {}};
}

update_batch_sink_actor::behavior_type batch_sink_impl() {
  return {[](const update_batch &) {}};
}

} // namespace

BOOST_AUTO_TEST_CASE(a_remote_client_cannot_change_the_cache) {
  net_config server_cfg;
  caf::actor_system server{server_cfg};
  auto cache = spawn_cache(server, cache_config{});
  caf::scoped_actor s{server};
  update_batch b;
  b.updates.push_back(start("5", "1", "2021-01-01T10:30:00Z", "init-child"));
  b.updates.push_back(start("2", "5", "2021-01-01T12:30:00Z", "worker"));
  process_update ex;
  ex.kind = update_kind::exit;
  ex.process.pid = "2";
  ex.process.start_time = *parse_time("2021-01-01T12:30:00Z");
  ex.time = *parse_time("2021-01-01T12:40:00Z");
  b.updates.push_back(ex);
  std::uint64_t applied = 0;
  s->request(cache, std::chrono::seconds(10), b)
      .receive([&](std::uint64_t n) { applied = n; }, [](caf::error &) {});
  BOOST_REQUIRE_EQUAL(applied, 3u);
  auto pslist = [&](auto handle, caf::scoped_actor &asker) {
    std::string out = "(no answer)";
    asker->request(handle, std::chrono::seconds(10), query{"pslist", "", 0})
        .receive([&](std::string &r) { out = r; },
                 [&](caf::error &e) { out = "error " + caf::to_string(e); });
    return out;
  };
  auto before = pslist(cache, s);
  BOOST_REQUIRE(before.find("worker") != std::string::npos);

  auto facade = spawn_query_facade(server, cache);
  auto port = server.middleman().publish(facade, 0, "127.0.0.1", true);
  BOOST_REQUIRE(port);

  net_config client_cfg;
  caf::actor_system client{client_cfg};
  caf::scoped_actor c{client};
  // As the cache's interface: refused, the facade is not a cache.
  auto as_cache =
      client.middleman().remote_actor<cache_actor>("127.0.0.1", *port);
  BOOST_TEST(!as_cache);
  // As the query interface: answers as the cache does.
  auto q = client.middleman().remote_actor<query_api>("127.0.0.1", *port);
  BOOST_REQUIRE(q);
  BOOST_TEST(pslist(*q, c) == before);
  // CAF refuses an untyped handle to a typed actor on the client side; a
  // hostile client skips such checks, so the proxy is cast to an untyped
  // handle and anything goes over the wire: the facade's own typed
  // dispatch must refuse every update-carrying message.
  BOOST_TEST(!client.middleman().remote_actor("127.0.0.1", *port));
  auto raw = std::make_optional(caf::actor_cast<caf::actor>(*q));
  auto csink = client.spawn(sink_impl);
  auto cbsink = client.spawn(batch_sink_impl);
  update_batch evil;
  evil.updates.push_back(start("1", "0", "2021-01-01T09:00:00Z", "renamed"));
  evil.updates.push_back(start("666", "1", "2021-01-01T13:00:00Z", "invented"));
  process_update wipe;
  wipe.kind = update_kind::sync;
  wipe.time = *parse_time("2021-01-01T13:00:00Z");
  evil.updates.push_back(wipe);
  evil.expire_at = *parse_time("2099-01-01T00:00:00Z");
  std::vector<std::pair<std::string, caf::message>> attempts{
      {"update_batch", caf::make_message(evil)},
      {"tick",
       caf::make_message(atom::tick_v, *parse_time("2099-01-01T00:00:00Z"))},
      {"flush", caf::make_message(atom::flush_v)},
      {"subscribe sink", caf::make_message(atom::subscribe_v, csink)},
      {"publish",
       caf::make_message(atom::publish_v, stats_report{"x", {{"Length", 0}}})},
      {"subscribe batch sink", caf::make_message(atom::subscribe_v, cbsink)},
      {"snapshot", caf::make_message(atom::snapshot_v, cbsink)},
      {"stats", caf::make_message(atom::stats_v)},
  };
  // The answer comes from the facade itself. A delegated answer would come
  // from the cache, putting its handle on the wire: the client could then
  // send the cache anything (it is attacked below if so).
  caf::actor_addr responder;
  c->request(*raw, std::chrono::seconds(10), query{"pslist", "", 0})
      .receive(
          [&](std::string &) {
            if (auto sender = c->current_sender())
              responder = sender->address();
          },
          [](caf::error &) {});
  BOOST_TEST((responder == raw->address()),
             "the answer came from an actor behind the facade");
  std::vector<caf::actor> targets{*raw};
  if (responder && responder != raw->address())
    targets.push_back(caf::actor_cast<caf::actor>(responder));
  // (The two typed sink handles are not even serializable: CAF refuses to
  // send those messages at the client, which counts as refused too.)
  for (auto &to : targets)
    for (auto &[what, msg] : attempts) {
      bool refused = false;
      c->request(to, std::chrono::seconds(10), msg)
          .receive([&](caf::message &) {},
                   [&](caf::error &e) {
                     refused = e == caf::sec::unexpected_message;
                     BOOST_TEST_MESSAGE(what << ": " << caf::to_string(e));
                   });
      BOOST_TEST(refused, what << " was not refused");
      // Sent without a request too (no one to answer to).
      c->send(to, msg);
    }
  // The facade still answers, and the cache is what it was.
  BOOST_TEST(pslist(*q, c) == before);
  BOOST_TEST(pslist(cache, s) == before);
  c->send_exit(csink, caf::exit_reason::user_shutdown);
  c->send_exit(cbsink, caf::exit_reason::user_shutdown);
  server.middleman().unpublish(facade, *port);
  s->send_exit(facade, caf::exit_reason::user_shutdown);
  s->send_exit(cache, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END() // query_endpoint_test
