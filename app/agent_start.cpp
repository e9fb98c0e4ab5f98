#include "app/agent_start.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>

namespace proctrack {

std::string first_sync_then_subscribe(caf::scoped_actor &self,
                                      const pslist_sync_actor &pslist,
                                      const cache_actor &cache,
                                      const output_writer_actor &writer,
                                      const std::string &listing) {
  std::string error;
  bool synced = false;
  self->request(pslist, std::chrono::seconds(30), atom::sync_v)
      .receive(
          [&](std::uint64_t n) {
            synced = true;
            spdlog::info("first {}: {} processes", listing, n);
          },
          [&](caf::error &e) { error = caf::to_string(e); });
  if (!synced)
    return "the first " + listing + " failed: " + error;
  // The stream starts with the whole cache.
  auto sink = caf::actor_cast<update_sink_actor>(writer);
  self->request(cache, caf::infinite, atom::subscribe_v, sink)
      .receive([&](std::string &row) { self->send(writer, row + "\n"); },
               [&](caf::error &e) {
                 spdlog::error("the output writer's subscription failed: {}",
                               caf::to_string(e));
               });
  return {};
}

} // namespace proctrack
