// `proctrack collector` in the Windows build: not there (docs/windows.md).
// Its listener guard (actors/listen_guard) is POSIX-socket code and its TLS
// needs OpenSSL; agents on Windows forward to a collector on Linux.
#include "app/commands.hpp"

#include <cstdio>

namespace proctrack {

int run_collector(const command_line &) {
  std::fputs("proctrack collector: not in the Windows build (its listener "
             "guard is POSIX-socket code and TLS needs OpenSSL): run the "
             "collector on Linux and point forward.connect at it "
             "(docs/windows.md)\n",
             stderr);
  return 2;
}

} // namespace proctrack
