// `proctrack query --socket` and `--history` in the Windows build: neither
// is there (docs/windows.md). The agent's query socket is a Unix socket, and
// the history store needs SQLite, which has no mingw-w64 package in Debian.
// `query --connect=HOST:PORT` (CAF's middleman, no TLS) works.
#include "app/query_local.hpp"

#include <cstdio>

namespace proctrack {

int query_socket_at(const std::string &, const std::vector<std::string> &) {
  std::fputs("proctrack query: the Windows build has no local query socket "
             "(query.socket is a Unix socket): ask the agent with "
             "--connect=HOST:PORT (query.port), see docs/windows.md\n",
             stderr);
  return 2;
}

int query_history(const std::string &, const std::vector<std::string> &) {
  std::fputs("proctrack query: --history needs the history store (SQLite), "
             "which the Windows build leaves out (docs/windows.md)\n",
             stderr);
  return 2;
}

} // namespace proctrack
