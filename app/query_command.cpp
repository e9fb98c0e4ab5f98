// `proctrack query [--connect=HOST:PORT] Q...`: asks a running agent and
// prints the same JSON lines as `replay`; through TLS when tls.* is set.
#include "app/commands.hpp"
#include "app/config.hpp"

#include "actors/cache/output_rows.hpp"
#include "actors/cache/query_parser.hpp"
#include "actors/common/json_text.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include <cstdio>

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
  cfg.load_network(); // TLS when tls.* is set
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
  if (!collect_queries(qcl, texts, error))
    return fail(error);
  bool collector = want_hosts || !cl.host.empty();
  if (!cl.host.empty() && texts.empty() && !want_hosts)
    return fail("--host=NAME needs a query");
  texts.insert(texts.begin(), collector_words.begin(), collector_words.end());
  if (texts.empty())
    return fail("no query (e.g. proctrack query callchain:1234)");
  if (collector && cl.connect.empty())
    return fail("a collector query needs --connect=HOST:PORT");
  auto target = cl.connect.empty()
                    ? cfg.query_host + ":" + std::to_string(cfg.query_port)
                    : cl.connect;
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
  caf::actor_system sys{cfg};
  auto connect = [&](auto handle) -> caf::expected<decltype(handle)> {
    using handle_type = decltype(handle);
    auto p = static_cast<std::uint16_t>(port);
    if (cfg.tls_enabled())
      return caf::openssl::remote_actor<handle_type>(sys, host, p);
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
    // A collector answers for each host it mirrors.
    auto col = connect(collector_actor{});
    if (!col)
      return fail("cannot reach a collector at " + target + ": "
                  + sys.render(col.error()));
    caf::scoped_actor self{sys};
    int status = 0;
    auto on_error = [&](const std::string &t) {
      return [&, t](caf::error &e) {
        std::fprintf(stderr, "proctrack query: %s failed: %s\n", t.c_str(),
                     sys.render(e).c_str());
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
      auto q = *parse_query(t, error);
      self->request(*col, std::chrono::seconds(30), cl.host, q)
          .receive([&](std::string &r) { print(t, r); }, on_error(t));
    }
    std::fflush(stdout);
    return status;
  }
  auto cache = connect(cache_actor{});
  if (!cache)
    return fail("cannot reach an agent at " + target + ": "
                + sys.render(cache.error()));
  caf::scoped_actor self{sys};
  int status = 0;
  for (auto &t : texts) {
    auto q = *parse_query(t, error);
    self->request(*cache, std::chrono::seconds(30), q)
        .receive(
            [&](std::string &result) {
              std::string out = "{\"query\":";
              append_json_string(out, t);
              out += ",\"result\":";
              out += result;
              out += "}\n";
              std::fwrite(out.data(), 1, out.size(), stdout);
            },
            [&](caf::error &e) {
              std::fprintf(stderr, "proctrack query: %s failed: %s\n",
                           t.c_str(), sys.render(e).c_str());
              status = 2;
            });
  }
  std::fflush(stdout);
  return status;
}

} // namespace proctrack
