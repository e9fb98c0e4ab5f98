#include "actors/query_endpoint/query_facade.hpp"

#include <caf/typed_event_based_actor.hpp>

namespace proctrack {

namespace {

query_api::behavior_type facade(query_api::pointer self, query_api backend) {
  return {
      [=](query &q) { return self->delegate(backend, std::move(q)); },
  };
}

} // namespace

query_api spawn_query_facade(caf::actor_system &sys, query_api backend) {
  return sys.spawn(facade, std::move(backend));
}

} // namespace proctrack
