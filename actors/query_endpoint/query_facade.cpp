#include "actors/query_endpoint/query_facade.hpp"

#include "actors/cache/query_parser.hpp"
#include "actors/common/time.hpp"
#include "actors/query_endpoint/history_completion.hpp"

#include <caf/typed_event_based_actor.hpp>

#include <chrono>

namespace proctrack {

namespace {

// How long a lookup may wait on the history (a write of what is pending
// comes first): past it, the cache's own answer goes out.
constexpr auto history_timeout = std::chrono::seconds(10);

// The cache's answer `cached` to `q`, completed from the history where the
// cache missed (history_completion.hpp says when and how).
void complete(query_api::pointer self, const history_actor &history,
              const query &q, std::string cached,
              caf::typed_response_promise<std::string> rp) {
  auto plan = plan_completion(q, cached);
  if (!plan) {
    rp.deliver(std::move(cached));
    return;
  }
  auto ask = plan->ask;
  self->request(history, history_timeout, std::move(ask), unknown_time)
      .then(
          [rp, cached, plan = *plan](std::string &stored) mutable {
            rp.deliver(
                complete_answer(plan, std::move(cached), std::move(stored)));
          },
          [rp, cached](caf::error &) mutable {
            rp.deliver(std::move(cached)); // the history failed: what we have
          });
}

// Relays, never delegates: a delegated request is answered by the cache
// itself, which puts the cache's handle on the wire and in the middleman's
// registry, where any peer could address it by its id, with the whole
// cache interface. The answer comes from the facade; the cache's handle
// never leaves this process (nor the history's).
query_api::behavior_type facade(query_api::pointer self, query_backend backend,
                                history_actor history) {
  return {
      // As of a time: the store's answer alone (the cache holds now). The
      // history bounds it (history_config::max_answer), as the cache's
      // size bounds an answer about now.
      [=](query &q, timestamp as_of) {
        auto rp = self->make_response_promise<std::string>();
        if (!history) {
          rp.deliver(caf::make_error(
              caf::sec::runtime_error,
              "no process history: a query as of a time (" + to_string(q)
                  + "@T) is answered from the history store, and this "
                    "agent keeps none (history.path)"));
          return rp;
        }
        if (as_of == unknown_time || q.verb == "stats") {
          rp.deliver(caf::make_error(caf::sec::runtime_error,
                                     "an as-of query needs a time and one of "
                                     "get, callchain, children, tree, pslist"));
          return rp;
        }
        self->request(history, history_timeout, std::move(q), as_of)
            .then([rp](std::string &r) mutable { rp.deliver(std::move(r)); },
                  [rp](caf::error &e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
      [=](query &q) {
        auto rp = self->make_response_promise<std::string>();
        self->request(backend, caf::infinite, q)
            .then(
                [=](std::string &r) mutable {
                  if (history)
                    complete(self, history, q, std::move(r), rp);
                  else
                    rp.deliver(std::move(r));
                },
                [rp](caf::error &e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
  };
}

} // namespace

query_api spawn_query_facade(caf::actor_system &sys, query_backend backend,
                             history_actor history) {
  return sys.spawn(facade, std::move(backend), std::move(history));
}

} // namespace proctrack
