// The output writer: the agent's output stream (SPEC §6) as JSON lines on
// stdout or in output.path, written with write(2) after every message so a
// reader of the stream (or a crash) never misses a finished row.
//
// Failures (docs/agent.md, "When the output fails"): a message that cannot
// be written whole (ENOSPC, EIO, ...) is kept, up to max_pending_bytes, and
// retried with the next message and every second; in a regular file the
// torn part is cut off again (ftruncate), so a row is never torn or glued
// to the next. Rows past the bound are dropped, oldest first, and counted.
// EPIPE (the stream's reader is gone) ends the agent with exit status 1
// and a message: the stream has nowhere to go.
#pragma once

#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <cstddef>
#include <deque>
#include <string>

namespace proctrack {

/// The writer is a sink that also reports its counters (lines written,
/// write errors, its own mailbox depth: a slow reader of stdout shows there);
/// atom::tick is its own retry timer.
using output_writer_actor = update_sink_actor::extend_with<stats_api>::extend<
    caf::reacts_to<atom::tick>>;

struct output_writer_state {
  static inline const char *name = "proctrack.output_writer";
  /// Messages not yet written whole, at most this many bytes.
  static constexpr std::size_t max_pending_bytes = 64 << 20;
  int fd = -1;
  bool owned = false;
  bool regular = false; ///< a regular file: a torn write can be cut off
  std::deque<std::string> pending;
  std::size_t pending_bytes = 0;
  bool failing = false; ///< in a failure episode (logged once)
  std::int64_t lines = 0;
  std::int64_t write_errors = 0;
  std::int64_t dropped = 0; ///< messages dropped past max_pending_bytes
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
