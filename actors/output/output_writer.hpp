// The output writer: the agent's output stream (SPEC §6) as JSON lines on
// stdout or in output.path, flushed after every message so a reader of the
// stream (or a crash) never misses a finished row.
#pragma once

#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cstdio>
#include <string>

namespace proctrack {

/// The writer is a sink that also reports its counters (lines written,
/// write errors, its own mailbox depth: a slow reader of stdout shows there).
using output_writer_actor = update_sink_actor::extend_with<stats_api>;

struct output_writer_state {
  static inline const char *name = "proctrack.output_writer";
  std::FILE *out = nullptr;
  bool owned = false;
  std::int64_t lines = 0;
  std::int64_t write_errors = 0;
  ~output_writer_state();
};

output_writer_actor::behavior_type
output_writer(output_writer_actor::stateful_pointer<output_writer_state> self,
              std::string path);

/// Opens `path` for appending ("" = stdout) before spawning; nullptr
/// handle and `error` naming the file when it cannot be opened.
output_writer_actor spawn_output_writer(caf::actor_system &sys,
                                        const std::string &path,
                                        std::string &error);

} // namespace proctrack
