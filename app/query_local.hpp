// The local ways `proctrack query` answers without CAF: the agent's Unix
// socket (--socket, query.socket) and a history store file (--history).
// Linux: app/query_local.cpp; the Windows build has neither (no Unix socket
// agent, no SQLite) and says so: app/query_local_windows.cpp.
#pragma once

#include <string>
#include <vector>

namespace proctrack {

/// One query a line to the agent's socket at `path`, its answer printed;
/// the exit status (0, or 2 after a message on stderr).
int query_socket_at(const std::string &path,
                    const std::vector<std::string> &texts);

/// `--history=FILE`: answers from a history store, no agent involved.
int query_history(const std::string &path,
                  const std::vector<std::string> &texts);

} // namespace proctrack
