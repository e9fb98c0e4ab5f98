// `proctrack query [--socket=PATH | --connect=HOST:PORT] Q...`: asks a
// running agent and prints the same JSON lines as `replay`. By default
// through the agent's local socket (query.socket, a line protocol:
// actors/query_endpoint/query_socket.hpp); with --connect through CAF's
// middleman, TLS when tls.* is set.
#include "app/commands.hpp"
#include "app/config.hpp"
#include "app/query_local.hpp"

#include "actors/cache/output_rows.hpp"
#include "actors/cache/query_parser.hpp"
#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#ifndef PROCTRACK_NO_TLS // the Windows build has no OpenSSL
#include <caf/openssl/all.hpp>
#endif

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace proctrack {

namespace {

int fail(const std::string &msg) {
  std::fprintf(stderr, "proctrack query: %s\n", msg.c_str());
  return 2;
}

} // namespace

int run_query(const command_line &cl) {
  proctrack_config cfg;
  cfg.set("logger.verbosity", caf::atom("quiet"));
  // Logs (e.g. a refused TLS handshake) go to stderr: stdout is answers only.
  if (auto done = start_command(cfg, cl, "proctrack query"))
    return *done;
  // Queries are operands here, or --query= / --queries= as in replay.
  command_line qcl = cl;
  for (auto &op : cl.operands)
    qcl.queries.push_back(op);
  // `hosts` asks a collector for its hosts, `collector-stats` for its own
  // counters; they are not tracker queries.
  std::vector<std::string> collector_words;
  auto &ops = qcl.queries;
  for (auto it = ops.begin(); it != ops.end();)
    if (*it == "hosts" || *it == "collector-stats") {
      collector_words.push_back(*it);
      it = ops.erase(it);
    } else {
      ++it;
    }
  bool want_hosts = !collector_words.empty();
  std::vector<std::string> texts;
  std::string error;
  if (!cl.history.empty()) {
    // Queries with @TIME are not agent queries: read them as they are.
    if (!cl.connect.empty() || !cl.socket.empty() || !cl.host.empty())
      return fail("--history answers from a file: no --connect, --socket "
                  "or --host with it");
    if (!cl.queries_file.empty()) {
      std::ifstream in{cl.queries_file};
      if (!in)
        return fail("cannot read queries file " + cl.queries_file);
      for (std::string line; std::getline(in, line);) {
        auto first = line.find_first_not_of(" \t\r");
        if (first != std::string::npos && line[first] != '#')
          texts.push_back(line.substr(first));
      }
    }
    texts.insert(texts.end(), qcl.queries.begin(), qcl.queries.end());
    if (texts.empty())
      return fail("no query (e.g. proctrack query --history=FILE "
                  "pslist@2021-01-01T10:42:00Z)");
    return query_history(cl.history, texts);
  }
  // As of a time (@T): an agent or a collector answers from its history
  // (an error when it keeps none).
  if (!collect_queries(qcl, texts, error, ""))
    return fail(error);
  bool collector = want_hosts || !cl.host.empty();
  if (!cl.host.empty() && texts.empty() && !want_hosts)
    return fail("--host=NAME needs a query");
  texts.insert(texts.begin(), collector_words.begin(), collector_words.end());
  if (texts.empty())
    return fail("no query (e.g. proctrack query callchain:1234)");
  if (collector && cl.connect.empty())
    return fail("a collector query needs --connect=HOST:PORT");
  if (!cl.socket.empty() && !cl.connect.empty())
    return fail("--socket and --connect: one or the other");
  if (cl.connect.empty()) {
    auto path = cl.socket.empty() ? cfg.query_socket : cl.socket;
    if (path.empty())
      return fail("query.socket is empty: give --socket=PATH or "
                  "--connect=HOST:PORT");
    return query_socket_at(path, texts);
  }
  auto target = cl.connect;
  auto colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0)
    return fail("--connect must be HOST:PORT (got \"" + target + "\")");
  auto host = target.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(target.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port <= 0 || port > 65535)
    return fail("--connect: bad port in \"" + target + "\"");
  cfg.load_network(); // TLS when tls.* is set
  caf::actor_system sys{cfg};
  auto connect = [&](auto handle) -> caf::expected<decltype(handle)> {
    using handle_type = decltype(handle);
    auto p = static_cast<std::uint16_t>(port);
#ifndef PROCTRACK_NO_TLS
    if (cfg.tls_enabled())
      return caf::openssl::remote_actor<handle_type>(sys, host, p);
#endif
    return sys.middleman().remote_actor<handle_type>(host, p);
  };
  auto print = [](const std::string &q, const std::string &result) {
    std::string out = "{\"query\":";
    append_json_string(out, q);
    out += ",\"result\":";
    out += result;
    out += "}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  };
  if (collector) {
    // A collector answers for each host it mirrors; a query client needs
    // only its read-only part.
    auto col = connect(collector_query_api{});
    if (!col)
      return fail("cannot reach a collector at " + target + ": "
                  + sys.render(col.error()));
    caf::scoped_actor self{sys};
    int status = 0;
    auto on_error = [&](const std::string &t) {
      return [&, t](caf::error &e) {
        auto &ctx = e.context(); // the collector's own words, when it has
        auto why = ctx.match_elements<std::string>()
                       ? ctx.get_as<std::string>(0)
                       : sys.render(e);
        std::fprintf(stderr, "proctrack query: %s failed: %s\n", t.c_str(),
                     why.c_str());
        status = 2;
      };
    };
    for (auto &t : texts) {
      if (t == "hosts") {
        self->request(*col, std::chrono::seconds(30), atom::hosts_v)
            .receive([&](std::string &r) { print(t, r); }, on_error(t));
        continue;
      }
      if (t == "collector-stats") {
        self->request(*col, std::chrono::seconds(30), atom::stats_v)
            .receive(
                [&](stats_report &r) {
                  print(t, stats_object_json(r.counters));
                },
                on_error(t));
        continue;
      }
      timestamp as_of = unknown_time;
      auto q = *parse_query_at(t, as_of, error);
      if (as_of == unknown_time)
        self->request(*col, std::chrono::seconds(30), cl.host, q)
            .receive([&](std::string &r) { print(t, r); }, on_error(t));
      else // from the collector's history
        self->request(*col, std::chrono::seconds(30), cl.host, q, as_of)
            .receive([&](std::string &r) { print(t, r); }, on_error(t));
    }
    std::fflush(stdout);
    return status;
  }
  // The agent publishes a read-only facade: queries and nothing else.
  auto cache = connect(query_api{});
  if (!cache)
    return fail("cannot reach an agent at " + target + ": "
                + sys.render(cache.error()));
  caf::scoped_actor self{sys};
  int status = 0;
  for (auto &t : texts) {
    auto answered = [&](std::string &result) {
      std::string out = "{\"query\":";
      append_json_string(out, t);
      out += ",\"result\":";
      out += result;
      out += "}\n";
      std::fwrite(out.data(), 1, out.size(), stdout);
    };
    auto failed = [&](caf::error &e) {
      auto &ctx = e.context(); // the agent's own words, when it has some
      auto why = ctx.match_elements<std::string>() ? ctx.get_as<std::string>(0)
                                                   : sys.render(e);
      std::fprintf(stderr, "proctrack query: %s failed: %s\n", t.c_str(),
                   why.c_str());
      status = 2;
    };
    timestamp as_of = unknown_time;
    auto q = *parse_query_at(t, as_of, error);
    if (as_of == unknown_time)
      self->request(*cache, std::chrono::seconds(30), q)
          .receive(answered, failed);
    else // from the agent's history
      self->request(*cache, std::chrono::seconds(30), q, as_of)
          .receive(answered, failed);
  }
  std::fflush(stdout);
  return status;
}

} // namespace proctrack
