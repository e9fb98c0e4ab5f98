#include "actors/query_endpoint/query_facade.hpp"

#include <caf/typed_event_based_actor.hpp>

namespace proctrack {

namespace {

// Relays, never delegates: a delegated request is answered by the cache
// itself, which puts the cache's handle on the wire and in the middleman's
// registry, where any peer could address it by its id, with the whole
// cache interface. The answer comes from the facade; the cache's handle
// never leaves this process.
query_api::behavior_type facade(query_api::pointer self, query_api backend) {
  return {
      [=](query &q) {
        auto rp = self->make_response_promise<std::string>();
        self->request(backend, caf::infinite, std::move(q))
            .then([rp](std::string &r) mutable { rp.deliver(std::move(r)); },
                  [rp](caf::error &e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
  };
}

} // namespace

query_api spawn_query_facade(caf::actor_system &sys, query_api backend) {
  return sys.spawn(facade, std::move(backend));
}

} // namespace proctrack
