// Update rows for actor tests: a start with a Name in its Data, the
// smallest row the cache's answers and its subscribers show.
#pragma once

#include "actors/common/time.hpp"
#include "messages/types.hpp"

#include <string>

namespace proctrack_test {

/// A start of `pid` under `ppid` at `when` (RFC 3339 text), Data
/// {"Name": "p<pid>"}.
inline proctrack::process_update start(std::string pid, std::string ppid,
                                       const char *when) {
  proctrack::process_update u;
  u.kind = proctrack::update_kind::start;
  u.process.pid = std::move(pid);
  u.process.ppid = std::move(ppid);
  u.process.start_time = *proctrack::parse_time(when);
  u.process.data.push_back({"Name", "\"p" + u.process.pid + "\""});
  return u;
}

} // namespace proctrack_test
