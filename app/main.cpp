// proctrack: one program, subcommands (SPEC §9). Everything it does lives
// in the library; this is the thin command-line front.
#include "app/commands.hpp"

#include <cstdio>
#include <string>
#include <vector>
#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#endif

int main(int argc, char **argv) {
  using namespace proctrack;
#ifdef _WIN32
  // Answers and logs read from standard input are the Linux build's bytes:
  // LF line ends, no text-mode translation of \n to CR LF.
  _setmode(_fileno(stdin), _O_BINARY);
  _setmode(_fileno(stdout), _O_BINARY);
#endif
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h"
      || args[0] == "help") {
    std::fputs(usage_text, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  auto sub = args[0];
  args.erase(args.begin());
  command_line cl;
  if (auto err = split_command_line(args, cl); !err.empty()) {
    std::fprintf(stderr, "proctrack %s: %s\n", sub.c_str(), err.c_str());
    return 2;
  }
  if (cl.help) {
    std::fputs(usage_text, stdout);
    return 0;
  }
  if (sub == "replay")
    return run_replay(cl);
  if (sub == "run")
    return run_agent(cl);
  if (sub == "query")
    return run_query(cl);
  if (sub == "collector")
    return run_collector(cl);
  std::fprintf(stderr,
               "proctrack: unknown command \"%s\" (run, replay, "
               "query, collector)\n",
               sub.c_str());
  return 2;
}
