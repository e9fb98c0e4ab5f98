// The history store in the Windows build: not there. It is SQLite, and
// Debian has no SQLite for mingw-w64 (docs/windows.md). `replay --history`
// and history.path fail with this message instead of running without it.
#include "actors/history/history.hpp"

namespace proctrack {

history_actor spawn_history(caf::actor_system &, const history_config &,
                            cache_actor, std::string &error) {
  error = "the process history store (--history, history.path) needs "
          "SQLite, which the Windows build leaves out (docs/windows.md)";
  return {};
}

} // namespace proctrack
