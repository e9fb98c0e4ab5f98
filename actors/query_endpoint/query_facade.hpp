// The read-only face of the cache (issue 13): what a network endpoint
// publishes instead of the cache itself. Its typed interface answers
// `query` and nothing else, so a remote client can read the table but can
// neither apply updates, expire, subscribe nor publish counters: such a
// message is refused by CAF's typed dispatch (error unexpected_message)
// before any proctrack code runs.
#pragma once

#include "messages/actors.hpp"

#include <caf/actor_system.hpp>

namespace proctrack {

/// What the facade asks a query about now: the cache (any actor that
/// answers `query`).
using query_backend =
    caf::typed_actor<caf::replies_to<query>::with<std::string>>;

/// Spawns a facade that forwards each query to `backend` (the cache) and
/// relays its answer. With a `history` (an agent with history.path), a
/// lookup the cache misses (get, tree of an unknown process; a callchain
/// cut at an evicted ancestor; children evicted) is completed from the
/// store, asynchronously: the cache never waits on SQLite
/// (docs/history.md "Lookups that miss the cache"); and a query as of a
/// time (`query`, `timestamp`) is relayed to the history alone. Without a
/// history such a query is an error naming history.path.
query_api spawn_query_facade(caf::actor_system &sys, query_backend backend,
                             history_actor history = {});

} // namespace proctrack
