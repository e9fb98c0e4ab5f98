// The start-up steps both console agents share (`proctrack run` on Linux,
// app/agent.cpp; `proctrack.exe run` on Windows, app/agent_windows.cpp).
#pragma once

#include "actors/output/output_writer.hpp"
#include "messages/actors.hpp"

#include <caf/scoped_actor.hpp>

#include <string>

namespace proctrack {

/// The first process list sync (within 30 s), then the output writer's
/// subscription to the cache, whose first row, the whole cache, is written
/// at once: nothing is reported before the first listing. `listing` names
/// it in the log and the error ("pslist sync", "process list"). Empty when
/// fine, else what failed.
std::string first_sync_then_subscribe(caf::scoped_actor &self,
                                      const pslist_sync_actor &pslist,
                                      const cache_actor &cache,
                                      const output_writer_actor &writer,
                                      const std::string &listing);

} // namespace proctrack
