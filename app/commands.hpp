// The subcommands of the `proctrack` program (SPEC §9).
#pragma once

#include <string>
#include <vector>

namespace proctrack {

/// Arguments of a subcommand, split into CAF-style config flags (for
/// proctrack_config::load) and the subcommand's own flags and operands.
struct command_line {
  std::vector<std::string> config_args; ///< --tracker.x=, --config-file=, ...
  std::vector<std::string> queries;     ///< --query=Q, in order
  std::string queries_file;             ///< --queries=FILE
  std::string format = "auto";          ///< --format=
  std::string sort = "none";            ///< --sort=none|time
  std::string connect;                  ///< --connect=HOST:PORT
  std::string socket;                   ///< --socket=PATH
  std::string host;                     ///< --host=NAME (collector)
  std::string history; ///< --history=FILE (replay writes, query reads it)
  std::vector<std::string> operands; ///< files or queries
  bool help = false;
  bool dump_config = false;
};

/// Splits argv (after the subcommand). An empty string when fine, else the
/// usage error.
std::string split_command_line(const std::vector<std::string> &args,
                               command_line &out);

int run_replay(const command_line &cl);
int run_agent(const command_line &cl);
int run_query(const command_line &cl);
int run_collector(const command_line &cl);

/// Reads queries (one a line; blank lines and '#' comments skipped) from
/// --queries=FILE and --query=; false with `error` on a bad query or file.
bool collect_queries(const command_line &cl, std::vector<std::string> &texts,
                     std::string &error);

extern const char *usage_text;

} // namespace proctrack
