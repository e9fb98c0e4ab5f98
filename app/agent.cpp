// `proctrack run`: the console agent (issue 4).
#include "app/commands.hpp"

#include <cstdio>

namespace proctrack {

int run_agent(const command_line &) {
  std::fprintf(stderr, "proctrack run: the live agent is not built yet\n");
  return 2;
}

} // namespace proctrack
