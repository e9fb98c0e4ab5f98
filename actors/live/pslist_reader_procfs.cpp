// The pslist sync's reader on Linux: /proc (procfs_reader.hpp).
#include "actors/live/procfs_reader.hpp"
#include "actors/live/pslist_sync.hpp"

#include <memory>

namespace proctrack {

pslist_reader default_pslist_reader(const std::string &proc_root) {
  auto reader = std::make_shared<linux_proc::procfs_reader>(proc_root);
  return [reader] { return reader->list(); };
}

} // namespace proctrack
