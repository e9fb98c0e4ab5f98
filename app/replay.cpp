// `proctrack replay FILE... [--query=Q]...`: feeds the files through the
// same actors the agent uses, then answers the queries (SPEC §9).
#include "app/commands.hpp"
#include "app/config.hpp"

#include "actors/cache/output_rows.hpp"
#include "actors/cache/query_parser.hpp"
#include "actors/common/json_text.hpp"
#include "actors/enricher/enricher.hpp"
#include "actors/forward/forwarder.hpp"
#include "actors/query_endpoint/query_facade.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace proctrack {

namespace {

// A forensic replay keeps its whole history unless asked otherwise: the
// default 24 h expiry is the agent's (a 50-day log lost 151 of 356
// processes). Any --tracker.max-expiry flag, or a config file value other
// than the default, is a request; else expiry is off (0), which --help and
// --dump-config say too.
void replay_defaults(proctrack_config &cfg, const command_line &cl) {
  bool expiry_asked = cfg.max_expiry != std::chrono::hours(24);
  for (auto &a : cl.config_args)
    expiry_asked = expiry_asked || a.rfind("--tracker.max-expiry", 0) == 0;
  if (!expiry_asked)
    cfg.max_expiry = caf::timespan::zero();
}

// Writes the output stream of a replay to stdout.
update_sink_actor::behavior_type stdout_sink(update_sink_actor::pointer) {
  return {
      [](const std::string &lines) {
        std::fwrite(lines.data(), 1, lines.size(), stdout);
      },
  };
}

// What a directory replay skipped: each entry is named on stderr with the
// reason; unreadable ones count as InputOpenFailures, the others (not a
// log, not a file) as InputFilesSkipped.
struct walk_skips {
  std::int64_t open_failures = 0;
  std::int64_t skipped = 0;
};

void say_skipped(const std::string &what, const std::string &why) {
  std::fprintf(stderr, "proctrack replay: skipped %s: %s\n", what.c_str(),
               why.c_str());
}

void walk_dir(const std::filesystem::path &dir, input_format format,
              std::vector<std::string> &out, walk_skips &skips) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it{dir, ec};
  if (ec) {
    say_skipped(dir.string(), "cannot read directory: " + ec.message());
    ++skips.open_failures;
    return;
  }
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    auto p = it->path().string();
    std::error_code sec;
    auto link = it->symlink_status(sec);
    auto st = it->status(sec);
    if (fs::is_symlink(link) && !fs::exists(st)) {
      say_skipped(p, "dangling symbolic link");
      ++skips.open_failures;
      continue;
    }
    if (fs::is_directory(st)) {
      if (fs::is_symlink(link)) {
        // Not followed: it could loop, or leave the directory given.
        say_skipped(p, "symbolic link to a directory (not followed)");
        ++skips.skipped;
      } else {
        walk_dir(it->path(), format, out, skips);
      }
      continue;
    }
    if (!fs::is_regular_file(st)) {
      say_skipped(p, fs::is_fifo(st)     ? "not a regular file (a FIFO)"
                     : fs::is_socket(st) ? "not a regular file (a socket)"
                                         : "not a regular file");
      ++skips.skipped;
      continue;
    }
    if (access(p.c_str(), R_OK) != 0) {
      say_skipped(p, std::string{"cannot open: "} + std::strerror(errno));
      ++skips.open_failures;
      continue;
    }
    std::string error;
    if (format != input_format::unknown
        || sniff_format(p, error) != input_format::unknown) {
      out.push_back(p);
    } else {
      std::fprintf(stderr, "proctrack replay: skipped %s\n",
                   error.empty() ? p.c_str() : error.c_str());
      ++skips.skipped;
    }
  }
  if (ec) {
    say_skipped(dir.string(), "cannot read directory: " + ec.message());
    ++skips.open_failures;
  }
}

// The files below `dir` that hold input: those whose format is given or
// can be detected. Sorted by name so a replay is repeatable.
std::vector<std::string> files_below(const std::string &dir,
                                     input_format format, walk_skips &skips) {
  std::vector<std::string> out;
  walk_dir(dir, format, out, skips);
  std::sort(out.begin(), out.end());
  return out;
}

// Copies standard input into a new temporary file, removed from its
// directory at once (nothing is left behind, even after SIGINT or a
// crash): it lives on while `fd` is open, and `path` names it as
// /proc/self/fd/N. False with `error`.
bool spool_stdin(std::string &path, int &fd, std::string &error) {
  const char *dir = std::getenv("TMPDIR");
  std::string tmpl =
      std::string{dir && *dir ? dir : "/tmp"} + "/proctrack-stdin-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  fd = mkstemp(name.data());
  if (fd < 0) {
    error =
        "cannot spool standard input to " + tmpl + ": " + std::strerror(errno);
    return false;
  }
  unlink(name.data());
  path = "/proc/self/fd/" + std::to_string(fd);
  char buf[1 << 16];
  for (;;) {
    auto n = read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      error =
          std::string{"cannot read standard input: "} + std::strerror(errno);
      close(fd);
      fd = -1;
      return false;
    }
    if (n == 0)
      break;
    for (ssize_t off = 0; off < n;) {
      auto w = write(fd, buf + off, static_cast<std::size_t>(n - off));
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0) {
        error = "cannot spool standard input to " + tmpl + ": "
                + std::strerror(errno);
        close(fd);
        fd = -1;
        return false;
      }
      off += w;
    }
  }
  return true;
}

int fail(const std::string &msg) {
  std::fprintf(stderr, "proctrack replay: %s\n", msg.c_str());
  return 2;
}

} // namespace

int run_replay(const command_line &cl) {
  proctrack_config cfg;
  // The sharing policy: on a quiet 2-core machine it replayed the bench's
  // 201,420 EVTX records in 2.86 s against work stealing's 3.82 s, and on one
  // core at 60,900 against 38,500 records per CPU second (docs/benchmarks.md).
  // A config file or --scheduler.policy still chooses.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  if (auto done = start_command(cfg, cl, "proctrack replay", replay_defaults))
    return *done;
  std::vector<std::string> texts;
  std::string error;
  if (!collect_queries(cl, texts, error,
                       cl.history.empty() ? "--history=FILE" : ""))
    return fail(error);
  if (cl.operands.empty())
    return fail("no input files (use - for standard input)");
  input_format format;
  if (!parse_input_format(cl.format, format))
    return fail("--format must be auto, updates, sysmon-json, evtx or "
                "sysmon-linux (got \""
                + cl.format + "\")");
  // Every file must be readable before anything starts: a typo in the last
  // of ten files should not cost a long replay. A directory stands for the
  // log files below it, in name order.
  std::vector<std::string> paths;
  walk_skips skips;
  std::string stdin_copy;
  struct close_at_exit {
    int fd = -1;
    ~close_at_exit() {
      if (fd >= 0)
        close(fd);
    }
  } spool;
  for (auto &path : cl.operands) {
    if (path == "-") {
      if (format != input_format::unknown) {
        paths.push_back(path);
        continue;
      }
      // Standard input is sniffed like a file: spooled to a temporary file
      // first (any size: disk, not memory), which is removed at the end.
      if (!stdin_copy.empty())
        return fail("- given twice");
      if (!spool_stdin(stdin_copy, spool.fd, error))
        return fail(error);
      spdlog::info("standard input spooled to {}", stdin_copy);
      paths.push_back(stdin_copy);
      continue;
    }
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
      auto found = files_below(path, format, skips);
      if (found.empty())
        return fail("no log files (EVTX, Sysmon JSON, update rows) in " + path);
      paths.insert(paths.end(), found.begin(), found.end());
      continue;
    }
    std::ifstream in{path, std::ios::binary};
    if (!in)
      return fail("cannot read input file " + path);
    paths.push_back(path);
  }
  // `QUERY@T` (only with --history, checked by collect_queries): answered
  // from the store as of T.
  std::vector<query> queries;
  std::vector<timestamp> as_of;
  for (auto &t : texts) {
    std::string text;
    timestamp when = unknown_time;
    split_as_of(t, text, when, error);
    queries.push_back(*parse_query(text, error));
    as_of.push_back(when);
  }

  if (!cfg.forward_connect.empty())
    cfg.load_network();
  caf::actor_system sys{cfg};
  // The cache with the enricher and the forwarder when they are on. The
  // forwarder subscribes before the first batch, so the collector sees the
  // replay from the start (docs/fleet.md).
  // Logs of several machines keep one table per host; a forwarding replay
  // keeps one (the collector mirrors one table per connection).
  auto settings = cfg.make_tracker_settings();
  settings.cache.split_hosts = cfg.forward_connect.empty();
  settings.cache.event_clock = true;
  auto tracked = spawn_tracker(sys, settings);
  if (!tracked)
    return fail(tracker_error_message(tracked.error()));
  auto cache = tracked->cache;
  auto enricher = tracked->enricher;
  auto forwarder = tracked->forwarder;
  // --history=FILE: every process the replay learns of is written there
  // (docs/history.md); subscribed before the first batch.
  history_actor history;
  if (!cl.history.empty()) {
    auto hc = cfg.make_history_config(cl.history, settings.cache);
    hc.max_listed = 0; // its own queries, answered to its own output
    history = spawn_history(sys, hc, cache, error);
    if (!history) {
      stop_tracker(*tracked);
      return fail(error);
    }
  }
  ingest_config ic;
  ic.paths = paths;
  ic.sort_by_time = cl.sort == "time";
  // The stream a cache of this configuration writes reads back whole: its
  // sync row may hold every Data twice (docs/semantics.md, Output stream).
  ic.max_line = max_cache_sync_row_bytes(settings.cache.table);
  ic.format = format;
  ic.batch_size = static_cast<std::size_t>(cfg.ingest_batch_size);
  ic.max_in_flight = static_cast<std::size_t>(cfg.ingest_max_in_flight);
  ic.read_threads = static_cast<std::size_t>(cfg.ingest_read_threads);
  ic.progress = true;
  ic.summary = true;
  ic.open_failures_before = skips.open_failures;
  ic.skipped_before = skips.skipped;
  caf::scoped_actor self{sys};
  if (forwarder)
    self->request(forwarder, caf::infinite, atom::stats_v)
        .receive([](stats_report &) {}, [](caf::error &) {});
  ic.host = cfg.forward_connect.empty() ? std::string{} : cfg.host_name();
  // A replay can wait for its collector rather than drop updates, as long
  // as what it may have in flight fits in the buffer.
  ic.pace = forwarder;
  if (forwarder
      && static_cast<std::size_t>(cfg.forward_buffer)
             < ic.batch_size * ic.max_in_flight)
    spdlog::warn("forward.buffer ({}) is smaller than ingest.batch-size x "
                 "ingest.max-in-flight ({}): updates will be dropped (and "
                 "the whole state resent) whenever the collector falls behind",
                 cfg.forward_buffer, ic.batch_size * ic.max_in_flight);
  auto reader = spawn_ingest(sys, ic, cache);
  bool without_queries = queries.empty();
  if (without_queries && cfg.also_forward_updates) {
    // The stream as the agent writes it: a sync row first (empty before the
    // replay), then every update as it is applied.
    auto sink = sys.spawn(stdout_sink);
    self->request(cache, caf::infinite, atom::subscribe_v, sink)
        .receive([](std::string &row) { std::printf("%s\n", row.c_str()); },
                 [](caf::error &) {});
  }
  bool ok = false;
  self->request(reader, caf::infinite, atom::run_v)
      .receive([&](bool r) { ok = r; },
               [&](caf::error &e) {
                 spdlog::error("replay failed: {}", caf::to_string(e));
               });
  // Enrichments the replay triggered finish before any answer.
  self->request(cache, caf::infinite, atom::flush_v)
      .receive([](bool) {}, [](caf::error &) {});
  // Everything the cache applied is in the history before the replay ends.
  if (history)
    self->request(history, caf::infinite, atom::flush_v)
        .receive(
            [&](std::uint64_t rows) {
              spdlog::info("history: {} process rows written to {}", rows,
                           cl.history);
            },
            [&](caf::error &e) {
              ok = false;
              spdlog::error("history: {}", caf::to_string(e));
            });
  if (history)
    self->request(history, caf::infinite, atom::stats_v)
        .receive(
            [&](stats_report &r) {
              for (auto &c : r.counters)
                if ((c.name == "HistoryRowsDropped"
                     || c.name == "HistoryWriteFailures")
                    && c.value > 0) {
                  std::fprintf(stderr,
                               "proctrack replay: history: %s=%lld: the "
                               "store %s misses processes\n",
                               c.name.c_str(), static_cast<long long>(c.value),
                               cl.history.c_str());
                  ok = false;
                }
              self->send(cache, atom::publish_v, std::move(r));
            },
            [](caf::error &) {});
  // The enricher's own counters (cache hits, reads, errors by kind) join the
  // `stats` answer.
  if (enricher)
    self->request(enricher, caf::infinite, atom::stats_v)
        .receive(
            [&](stats_report &r) {
              self->send(cache, atom::publish_v, std::move(r));
            },
            [](caf::error &) {});
  // A forwarding replay ends once the collector has acked everything, or
  // after forward.timeout, saying what was not delivered.
  bool delivered = true;
  if (forwarder) {
    self->request(forwarder, caf::infinite, atom::flush_v)
        .receive(
            [&](stats_report &r) {
              std::int64_t undelivered = 0, dropped = 0, acked = 0, done = 0,
                           failed = 0, snapshots = 0;
              for (auto &c : r.counters) {
                if (c.name == "ForwardUndelivered")
                  undelivered = c.value;
                else if (c.name == "ForwardDropped")
                  dropped = c.value;
                else if (c.name == "ForwardUpdatesAcked")
                  acked = c.value;
                else if (c.name == "ForwardDelivered")
                  done = c.value;
                else if (c.name == "ForwardConnectFailures")
                  failed = c.value;
                else if (c.name == "ForwardSnapshots")
                  snapshots = c.value;
              }
              delivered = done == 1;
              if (delivered)
                spdlog::info("forward: {} updates acked by {}, {} full "
                             "syncs sent, {} updates dropped while it was "
                             "away or behind",
                             acked, cfg.forward_connect, snapshots, dropped);
              else
                std::fprintf(stderr,
                             "proctrack replay: forward: stream not delivered "
                             "to %s within forward.timeout: %lld updates "
                             "unacked, %lld dropped, %lld acked, %lld failed "
                             "connection attempts\n",
                             cfg.forward_connect.c_str(),
                             static_cast<long long>(undelivered),
                             static_cast<long long>(dropped),
                             static_cast<long long>(acked),
                             static_cast<long long>(failed));
            },
            [&](caf::error &e) {
              delivered = false;
              std::fprintf(stderr, "proctrack replay: forward: %s\n",
                           caf::to_string(e).c_str());
            });
  }
  // Say it when expiry dropped history, and what the table refused.
  self->request(cache, caf::infinite, query{"stats", "", 0})
      .receive(
          [&](std::string &stats) {
            auto j = nlohmann::json::parse(stats, nullptr, false);
            auto count = [&](const char *key) -> long long {
              if (j.is_object() && j.contains(key) && j[key].is_number())
                return j[key].get<long long>();
              return 0;
            };
            if (auto n = count("Expired"); n > 0)
              std::fprintf(stderr,
                           "proctrack replay: expiry (tracker.max-expiry) "
                           "dropped %lld exited processes (Expired)\n",
                           n);
            if (auto n = count("ExitsRefused"); n > 0)
              std::fprintf(stderr,
                           "proctrack replay: %lld exits not applied: no "
                           "known time, or dated before the start of the "
                           "process they name (ExitsRefused)\n",
                           n);
            if (auto n = count("ClockOutliers"); n > 0)
              std::fprintf(stderr,
                           "proctrack replay: %lld events dated more than "
                           "tracker.max-expiry ahead of the log's clock did "
                           "not move it: a skewed clock, or a gap in the log "
                           "(ClockOutliers; docs/semantics.md, \"Clock "
                           "outliers\")\n",
                           n);
            if (auto n = count("UntimedSyncs"); n > 0)
              std::fprintf(stderr,
                           "proctrack replay: %lld syncs without a known "
                           "time ended none of the processes they do not "
                           "list (UntimedSyncs)\n",
                           n);
          },
          [](caf::error &) {});
  std::string out;
  if (without_queries) {
    if (!cfg.also_forward_updates) {
      self->request(cache, caf::infinite, atom::subscribe_v,
                    update_sink_actor{})
          .receive([&](std::string &row) { out += row + "\n"; },
                   [](caf::error &) {});
    }
    self->request(cache, caf::infinite, query{"stats", "", 0})
        .receive(
            [&](std::string &stats) {
              out += "{\"update_type\":\"stats\",\"data\":" + stats + "}\n";
            },
            [](caf::error &) {});
  }
  // With --history the replay answers as the agent does: what the cache
  // evicted comes from the store (the facade, docs/history.md "Lookups
  // that miss the cache"), and a query as of a time from the store alone.
  auto answerer = spawn_query_facade(sys, cache, history);
  for (std::size_t i = 0; i < queries.size(); ++i) {
    auto answered = [&](std::string &result) {
      out += "{\"query\":";
      append_json_string(out, texts[i]);
      out += ",\"result\":";
      out += result;
      out += "}\n";
    };
    auto failed = [&](caf::error &e) {
      spdlog::error("query {} failed: {}", texts[i], caf::to_string(e));
    };
    if (as_of[i] != unknown_time)
      self->request(answerer, caf::infinite, queries[i], as_of[i])
          .receive(answered, failed);
    else
      self->request(answerer, caf::infinite, queries[i])
          .receive(answered, failed);
    if (out.size() > (1 << 20)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  self->send_exit(reader, caf::exit_reason::user_shutdown);
  self->send_exit(answerer, caf::exit_reason::user_shutdown);
  self->send_exit(cache, caf::exit_reason::user_shutdown);
  if (enricher)
    self->send_exit(enricher, caf::exit_reason::user_shutdown);
  if (forwarder)
    self->send_exit(forwarder, caf::exit_reason::user_shutdown);
  if (history)
    self->send_exit(history, caf::exit_reason::user_shutdown);
  if (!ok)
    return 2;
  return delivered ? 0 : 1;
}

} // namespace proctrack
