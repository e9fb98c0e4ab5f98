// The agent's local query endpoint (issue 13, docs/agent.md "Queries"): a
// Unix domain stream socket with a line protocol. A client writes one query
// a line (`pslist`, `callchain:1234`, as `proctrack query` takes them) and
// reads one JSON line per query, in order (a query may end in @T, RFC
// 3339: answered as of T from the agent's history, docs/history.md):
//   {"query":"pslist","result":[...]}      the answer (SPEC §4)
//   {"query":"bad","error":"..."}          a query that could not be answered
// Access is the file's: 0600 and owned by the agent's user (root) by
// default, 0660 with group query.group. Each connection's peer (uid, gid,
// pid from SO_PEERCRED) is logged.
//
// The socket runs on its own thread (Boost.Asio); it reaches the cache only
// through a bridge actor that holds a query_api handle, one query in flight
// per connection. Bounds (query_socket_config): request line length,
// connections open at once, idle time, and the time a client may take to
// read one answer; each breach closes that connection with a log line and
// costs the cache nothing.
#pragma once

#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/fwd.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace proctrack {

struct query_socket_config {
  std::string path;            ///< query.socket
  std::string group;           ///< query.group; empty: the socket is 0600
  std::size_t max_line = 4096; ///< bytes of one request line, '\n' excluded
  std::size_t max_connections = 64; ///< open at once; one more is refused
  std::chrono::milliseconds idle_timeout{60000};  ///< waiting for a line
  std::chrono::milliseconds write_timeout{10000}; ///< one answer taken
  std::chrono::milliseconds query_timeout{30000}; ///< the cache's answer
};

/// The stats of the socket (as SocketConnections, SocketRefused, ... in the
/// stats rows) come from this actor.
using query_socket_actor = stats_api;

class query_socket_server;

/// A bound, listening socket (not yet serving) and what it needs. Created
/// before the actor system so a second agent fails before doing anything.
class query_socket {
public:
  /// Takes the socket path: creates its directory (0755) when missing,
  /// takes PATH.lock, refuses when another agent answers on PATH, removes a
  /// stale socket file, binds with the configured mode and owner. Null with
  /// `error` set when it cannot.
  static std::unique_ptr<query_socket> open(const query_socket_config &cfg,
                                            std::string &error);

  /// Starts the socket's thread; queries go to `backend`. Returns the
  /// stats actor of the socket.
  query_socket_actor serve(caf::actor_system &sys, query_api backend);

  /// Stops the thread, closes every connection, removes the socket file.
  void stop();

  ~query_socket();

  const std::string &path() const;

private:
  query_socket() = default;
  std::shared_ptr<query_socket_server> impl_;
};

} // namespace proctrack
