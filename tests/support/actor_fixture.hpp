// A deterministic actor system for Boost.Test suites: CAF's test
// coordinator, proctrack's message types, and helpers to ask an actor and
// to stop what a test spawned (STYLE: CAF's own test DSL does not work
// under Boost.Test; periodic actors must be stopped before teardown).
#pragma once

#include "messages/actors.hpp"

#include <boost/test/unit_test.hpp>
#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include <memory>
#include <optional>
#include <vector>

namespace proctrack_test {

struct test_config : caf::actor_system_config {
  test_config() {
    proctrack::add_message_types(*this);
    set("scheduler.policy", caf::atom("testing"));
    set("logger.verbosity", caf::atom("quiet"));
  }
};

struct actor_fixture {
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scheduler::test_coordinator &sched =
      dynamic_cast<caf::scheduler::test_coordinator &>(sys.scheduler());
  caf::scoped_actor self{sys};

  // A request from a helper actor; the answer lands in the slot once the
  // scheduler has run.
  template <class R, class Handle, class... Ts>
  std::shared_ptr<std::optional<R>> send_request(Handle dest, Ts... xs) {
    auto slot = std::make_shared<std::optional<R>>();
    sys.spawn([=](caf::event_based_actor *a) {
      a->request(dest, caf::infinite, xs...).then([=](R r) {
        *slot = std::move(r);
      });
    });
    return slot;
  }

  template <class R, class Handle, class... Ts>
  R ask(Handle dest, Ts... xs) {
    auto slot = send_request<R>(dest, xs...);
    sched.run();
    BOOST_REQUIRE(slot->has_value());
    return **slot;
  }

  // Every actor a test spawns, stopped at teardown (also when a check
  // failed) so that the system's shutdown does not wait on live timers.
  std::vector<caf::actor> spawned;

  template <class Handle>
  Handle track(Handle h) {
    spawned.push_back(caf::actor_cast<caf::actor>(h));
    return h;
  }

  ~actor_fixture() {
    for (auto &a : spawned)
      self->send_exit(a, caf::exit_reason::user_shutdown);
    sched.run();
  }
};

} // namespace proctrack_test
