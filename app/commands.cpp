#include "app/commands.hpp"

#include "actors/cache/query_parser.hpp"
#include "actors/common/time.hpp"

#include <fstream>

namespace proctrack {

const char *usage_text = R"(usage: proctrack COMMAND [FLAGS] [OPERANDS]

Commands:
  run                      the console agent: live process events, pslist
                           sync, stats, output stream, query endpoint
  replay FILE...           feed files (update rows, Sysmon JSON lines, EVTX)
                           through the tracker, then answer the queries
  query Q...               ask a running agent (its query.socket, or
                           --connect=HOST:PORT)
  collector                mirror the trackers of many hosts that forward
                           to it (docs/fleet.md)

Replay and query flags:
  --query=Q                a query (repeatable): VERB[:ID[:MAX]], e.g.
                           get:2  callchain:2-1609504200  callchain:2:50
                           children:1  tree:1:1000  pslist  stats
  --queries=FILE           read queries from FILE, one a line
  --format=F               auto (default), updates, sysmon-json, evtx,
                           sysmon-linux
  --sort=time              replay several files merged in time order
  --socket=PATH            query: the agent's socket (default query.socket,
                           /run/proctrack/query.sock)
  --connect=HOST:PORT      query: an agent's TCP endpoint (query.port) or a
                           collector instead of the socket
  --host=NAME              query: ask a collector about host NAME (with
                           @TIME from its history); the queries hosts and
                           collector-stats ask the collector itself
  --history=FILE           replay: write every process to the history
                           store FILE (SQLite); query: answer from FILE,
                           no agent needed: get, callchain, children,
                           pslist, each with @TIME for "as of" (e.g.
                           pslist@2021-01-01T10:42:00Z); without it, an
                           agent with a history answers @TIME too

Configuration (every key also works in the config file, SPEC §8):
  --config-file=FILE       read the config file (also --config=FILE)
  --dump-config            print the effective configuration and exit
  --tracker.max-size=N     processes cached at most (10000)
  --tracker.max-children=N child ids stored per process (10)
  --tracker.max-expiry=D   drop processes that exited D ago (24h; 0s:
                           never; replay: never unless set)
  --tracker.also-forward-updates=BOOL   forward every update (false)
  --tracker.add-enrichments=BOOL        PE version info of each Exe (false)
  --tracker.sync-period=D  time between pslist syncs (60s)
  --stats.interval=D       time between stats rows (10s)
  --query.socket=PATH      the agent's local query socket
                           (/run/proctrack/query.sock; empty: none)
  --query.group=G          group that may use the socket (0660; default
                           none: 0600, root only)
  --query.host=H --query.port=P   a TCP query endpoint (default none;
                           mutual TLS, or allow-insecure on loopback)
  --allow-reduced=BOOL     run without CAP_NET_ADMIN/CAP_SYS_PTRACE,
                           saying so in every stats row (false)
  --output.path=FILE       output stream to FILE instead of stdout
  --log.level=L            trace, debug, info, warn, error, critical, off
  --enrich.workers=N       PE reader threads (2)
  --enrich.path-map=[...]  e.g. ["C:/=/mnt/evidence/c/"]
History (docs/history.md):
  --history.path=FILE      run: the history store
                           (/var/lib/proctrack/history.db; empty: none);
                           collector: every host's history (none unless
                           set, docs/fleet.md)
  --history.flush-interval=D   write changes this often (1s)
  --history.max-bytes=N    store data at most (1 GiB)
  --history.max-age=D      exited processes kept this long (720h)
  --history.max-unacked-rows=N, --history.max-unacked-bytes=N
                           changes on their way to the store at most
                           (10000, 16 MiB); beyond, the sources wait
Fleet (docs/fleet.md):
  --forward.connect=H:P    run/replay: send the update stream to a collector
  --forward.buffer=N       updates kept while it is away (100000)
  --forward.timeout=D      replay waits D for the collector's acks (30s)
  --agent.host-name=NAME   this host at the collector (default: hostname)
  --listen.host=H --listen.port=P   collector endpoint (127.0.0.1:4712;
                           mutual TLS, a host's certificate CN names the
                           one host it may write)
  --collector.max-hosts=N  hosts mirrored at most (1000)
  --allow-insecure=BOOL    listen without TLS, on loopback only (false;
                           a collector then takes any host's stream from
                           any local user: tests and demos)
  --tls.certificate=F --tls.key=F --tls.ca=F   mutual TLS (CAF openssl)
Durations carry units: 500ms, 60s, 24h. See config/proctrack.ini.

Exit status: 0 on success, 2 on bad usage or unreadable input.
)";

namespace {

bool take(const std::string &arg, const char *flag, std::string &value) {
  std::string f = flag;
  if (arg.compare(0, f.size(), f) != 0)
    return false;
  value = arg.substr(f.size());
  return true;
}

bool starts_with(const std::string &s, const char *p) {
  return s.rfind(p, 0) == 0;
}

} // namespace

std::string split_command_line(const std::vector<std::string> &args,
                               command_line &out) {
  for (auto &a : args) {
    std::string v;
    if (a == "--help" || a == "-h") {
      out.help = true;
    } else if (take(a, "--query=", v)) {
      out.queries.push_back(v);
    } else if (take(a, "--queries=", v)) {
      out.queries_file = v;
    } else if (take(a, "--format=", v)) {
      out.format = v;
    } else if (take(a, "--sort=", v)) {
      if (v != "none" && v != "time")
        return "--sort must be none or time (got \"" + v + "\")";
      out.sort = v;
    } else if (take(a, "--connect=", v)) {
      out.connect = v;
    } else if (take(a, "--history=", v)) {
      if (v.empty())
        return "--history needs a file: --history=FILE";
      out.history = v;
    } else if (take(a, "--socket=", v)) {
      out.socket = v;
    } else if (take(a, "--host=", v)) {
      out.host = v;
    } else if (take(a, "--config=", v)) {
      out.config_args.push_back("--config-file=" + v);
    } else if (a == "--dump-config") {
      out.dump_config = true;
    } else if (starts_with(a, "--")) {
      out.config_args.push_back(a); // checked by proctrack_config::load
    } else {
      out.operands.push_back(a);
    }
  }
  return {};
}

bool collect_queries(const command_line &cl, std::vector<std::string> &texts,
                     std::string &error, const std::string &no_history) {
  if (!cl.queries_file.empty()) {
    std::ifstream in{cl.queries_file};
    if (!in) {
      error = "cannot read queries file " + cl.queries_file;
      return false;
    }
    std::string line;
    while (std::getline(in, line)) {
      auto first = line.find_first_not_of(" \t\r");
      if (first == std::string::npos || line[first] == '#')
        continue;
      texts.push_back(line.substr(first));
    }
  }
  for (auto &q : cl.queries)
    texts.push_back(q);
  for (auto &t : texts) {
    timestamp as_of = unknown_time;
    if (!parse_query_at(t, as_of, error))
      return false;
    if (as_of != unknown_time && !no_history.empty()) {
      error = t
              + ": a query as of a time (@T) is answered from a history "
                "store: "
              + no_history;
      return false;
    }
  }
  return true;
}

bool split_as_of(const std::string &text, std::string &query_text,
                 std::int64_t &as_of, std::string &error) {
  query_text = text;
  as_of = unknown_time;
  auto at = text.rfind('@');
  if (at == std::string::npos)
    return true;
  std::string why;
  auto when = parse_time(std::string_view{text}.substr(at + 1), &why);
  if (!when || *when == unknown_time) {
    error = text + ": bad time after @ (RFC 3339, e.g. 2021-01-01T10:42:00Z)"
            + (why.empty() ? "" : ": " + why);
    return false;
  }
  as_of = *when;
  query_text = text.substr(0, at);
  return true;
}

} // namespace proctrack
