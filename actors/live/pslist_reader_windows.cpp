// The pslist sync's reader in the Windows build: the Windows process list
// (actors/winpslist/, when the tree has it: cmake/ProctrackWindows.cmake
// defines PROCTRACK_HAVE_WINPSLIST), else a reader that says why there is
// none (`run` checks first and exits 2).
#include "actors/live/pslist_sync.hpp"

#if PROCTRACK_HAVE_WINPSLIST
#include "actors/winpslist/windows_pslist.hpp"
#endif

namespace proctrack {

pslist_reader default_pslist_reader(const std::string &) {
#if PROCTRACK_HAVE_WINPSLIST
  return [] { return windows::list_processes(); };
#else
  return [] {
    linux_proc::listing l;
    l.error = "this Windows build has no process list (actors/winpslist/ "
              "was not in the tree it was built from)";
    return l;
  };
#endif
}

} // namespace proctrack
