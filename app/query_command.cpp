// `proctrack query`: asks a running agent (issue 4).
#include "app/commands.hpp"

#include <cstdio>

namespace proctrack {

int run_query(const command_line &) {
  std::fprintf(stderr, "proctrack query: not built yet\n");
  return 2;
}

} // namespace proctrack
