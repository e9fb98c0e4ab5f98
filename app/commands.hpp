// The subcommands of the `proctrack` program (SPEC §9).
#pragma once

#include <cstdint>
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
/// `VERB:ID@T` (as of T, RFC 3339) is answered from a history store
/// (docs/history.md "Queries"): `no_history` empty when whoever answers has
/// one (--history=FILE, an agent), else why not (refused, naming it).
bool collect_queries(const command_line &cl, std::vector<std::string> &texts,
                     std::string &error, const std::string &no_history);

/// Splits `QUERY@T` into the query text and T (100 ns units since 1970);
/// `as_of` is 0 (unknown_time) when there is no '@'. False with `error` on a
/// time that is not RFC 3339.
bool split_as_of(const std::string &text, std::string &query_text,
                 std::int64_t &as_of, std::string &error);

extern const char *usage_text;

} // namespace proctrack
