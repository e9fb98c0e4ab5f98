#include "actors/ingest/ingest.hpp"

#include "actors/ingest/replay_progress.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <unistd.h>

namespace proctrack {

std::string ingest_config::validate() const {
  if (batch_size == 0)
    return "ingest.batch-size must be at least 1";
  if (max_in_flight == 0)
    return "ingest.max-in-flight must be at least 1";
  return {};
}

stats_report ingest_state::report() const {
  std::vector<counter> cs = closed_counters;
  if (current)
    current->add_counters(cs);
  add_counter(cs, "InputFiles", files_read);
  add_counter(cs, "InputOpenFailures", open_failures);
  add_counter(cs, "InputFilesSkipped", files_skipped);
  add_counter(cs, "UpdatesRead", updates_sent);
  add_counter(cs, "BatchesInFlightPeak",
              static_cast<std::int64_t>(in_flight_peak));
  if (paced > 0)
    add_counter(cs, "BatchesPacedByForwarder", paced);
  return {name, std::move(cs)};
}

namespace {

using self_ptr = ingest_actor::stateful_pointer<ingest_state>;

void log_errors(update_source &src) {
  for (auto &e : src.take_errors())
    spdlog::warn("skipped bad input: {}", e);
  for (auto &n : src.take_notes())
    spdlog::warn("{}", n);
}

// Opens one file; a failure is logged and counted, and nullptr returned.
std::unique_ptr<update_source>
open_counted(self_ptr self, const ingest_config &cfg, const std::string &path) {
  std::string error;
  auto src = open_update_source(path, cfg.format, error, cfg.max_line);
  if (!src) {
    ++self->state.open_failures;
    self->state.failed = true;
    spdlog::error("cannot read {}", error);
  }
  return src;
}

// Opens the next source; false when there is none left.
bool open_next(self_ptr self, const ingest_config &cfg) {
  auto &st = self->state;
  if (cfg.sort_by_time && cfg.paths.size() > 1) {
    // --sort=time: every file at once, merged by event time.
    if (st.next_path >= cfg.paths.size())
      return false;
    std::vector<std::unique_ptr<update_source>> all;
    for (auto &path : cfg.paths)
      if (auto src = open_counted(self, cfg, path))
        all.push_back(std::move(src));
    st.next_path = cfg.paths.size();
    if (all.empty())
      return false;
    st.merged_files = static_cast<std::int64_t>(all.size());
    st.current = merge_by_time(std::move(all));
    st.current_path =
        "(" + std::to_string(st.merged_files) + " files merged by time)";
    return true;
  }
  // The next files start reading in threads of their own, in order; the
  // current one is always the first of them.
  std::size_t threads = cfg.read_threads;
  if (threads == 0)
    threads =
        std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 8);
  while (st.ahead.size() < threads && st.next_path < cfg.paths.size()) {
    auto &path = cfg.paths[st.next_path++];
    if (auto src = open_counted(self, cfg, path))
      st.ahead.emplace_back(path, read_ahead(std::move(src), cfg.batch_size));
  }
  if (st.ahead.empty())
    return false;
  st.current_path = std::move(st.ahead.front().first);
  st.current = std::move(st.ahead.front().second);
  st.ahead.pop_front();
  return true;
}

// The run's figures for the progress and summary lines.
replay_figures figures(const ingest_state &st, const ingest_config &cfg) {
  replay_figures f;
  std::int64_t events = 0, lines = 0;
  for (auto &c : st.report().counters) {
    if (c.name == "InputEvents")
      events = c.value;
    else if (c.name == "InputLines")
      lines = c.value;
    else if (c.name == "InputErrors")
      f.errors = c.value;
    else if (c.name == "SecurityProcessEvents")
      f.security_events = c.value;
    else if (c.name == "SysmonLinuxEvents")
      f.linux_events = c.value;
  }
  f.records = events > 0 ? events : lines;
  f.updates = st.updates_sent;
  f.files_done = st.files_read;
  f.files_total = static_cast<std::int64_t>(cfg.paths.size());
  f.open_failures = st.open_failures;
  f.files_skipped = st.files_skipped;
  f.bytes_total = st.bytes_total;
  f.bytes_done = st.bytes_closed + (st.current ? st.current->position() : 0);
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                            - st.started)
                  .count();
  f.current = st.current_path;
  return f;
}

// A progress line on stderr (a terminal) at most once a second: where we
// are, how fast, how much was bad, how long is left.
void report_progress(ingest_state &st, const ingest_config &cfg) {
  auto now = std::chrono::steady_clock::now();
  if (now - st.progress_at < std::chrono::seconds(1))
    return;
  st.progress_at = now;
  // \33[K clears what a longer previous line left.
  std::fprintf(stderr, "\r%s\33[K", progress_line(figures(st, cfg)).c_str());
  st.progress_shown = true;
}

std::uint64_t file_bytes(const std::string &path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<std::uint64_t>(n);
}

void finish_if_done(self_ptr self, const ingest_config &cfg,
                    cache_actor cache) {
  auto &st = self->state;
  if (!st.reading_done || st.in_flight > 0 || !st.promise.pending())
    return;
  if (st.progress_shown)
    std::fputs("\r\33[K", stderr);
  if (cfg.summary)
    spdlog::info("{}", summary_line(figures(st, cfg)));
  // Hand our counters to the cache so `stats` queries include them.
  self->send(cache, atom::publish_v, st.report());
  st.promise.deliver(!st.failed);
}

void pump(self_ptr self, const ingest_config &cfg, cache_actor cache) {
  auto &st = self->state;
  while (!st.reading_done && !st.pacing && st.in_flight < cfg.max_in_flight) {
    if (!st.current && !open_next(self, cfg)) {
      st.reading_done = true;
      break;
    }
    update_batch batch;
    batch.host = cfg.host;
    batch.updates.reserve(cfg.batch_size);
    bool more = st.current->read(batch.updates, cfg.batch_size);
    log_errors(*st.current);
    if (cfg.progress)
      report_progress(st, cfg);
    if (!more) {
      st.current->add_counters(st.closed_counters);
      st.current.reset();
      st.bytes_closed += file_bytes(st.current_path);
      st.files_read += st.merged_files > 0 ? st.merged_files : 1;
    }
    if (batch.updates.empty())
      continue;
    st.updates_sent += static_cast<std::int64_t>(batch.updates.size());
    ++st.in_flight;
    st.in_flight_peak = std::max(st.in_flight_peak, st.in_flight);
    self->request(cache, caf::infinite, std::move(batch))
        .then(
            [self, cfg, cache](std::uint64_t) {
              auto &st = self->state;
              --st.in_flight;
              if (!cfg.pace || st.pacing || st.reading_done) {
                pump(self, cfg, cache);
                return;
              }
              // The cache has handed this batch to the forwarder: read on
              // once the forwarder has room for as many as may be in
              // flight.
              st.pacing = true;
              auto resume = [self, cfg, cache](bool waited) {
                auto &st = self->state;
                st.pacing = false;
                if (waited)
                  ++st.paced;
                pump(self, cfg, cache);
              };
              std::uint64_t room = cfg.batch_size * cfg.max_in_flight;
              self->request(cfg.pace, caf::infinite, atom::ready_v, room)
                  .then([resume](bool at_once) { resume(!at_once); },
                        [resume](caf::error &) { resume(false); });
            },
            [self, cfg, cache](caf::error &err) {
              spdlog::error("the cache failed a batch: {}",
                            caf::to_string(err));
              --self->state.in_flight;
              self->state.failed = true;
              pump(self, cfg, cache);
            });
  }
  finish_if_done(self, cfg, cache);
}

} // namespace

ingest_actor::behavior_type ingest(self_ptr self, ingest_config cfg,
                                   cache_actor cache) {
  self->state.open_failures = cfg.open_failures_before;
  self->state.files_skipped = cfg.skipped_before;
  return {
      [self, cfg, cache](atom::run) -> caf::result<bool> {
        auto &st = self->state;
        if (st.promise.pending())
          return caf::make_error(caf::sec::runtime_error, "already running");
        st.promise = self->make_response_promise<bool>();
        st.started = st.progress_at = std::chrono::steady_clock::now();
        for (auto &path : cfg.paths)
          st.bytes_total += file_bytes(path);
        auto p = st.promise;
        pump(self, cfg, cache);
        return p;
      },
      [self](atom::stats) -> stats_report { return self->state.report(); },
  };
}

ingest_actor spawn_ingest(caf::actor_system &sys, const ingest_config &cfg,
                          cache_actor cache) {
  auto c = cfg;
  if (c.progress && !isatty(STDERR_FILENO))
    c.progress = false;
  return sys.spawn<caf::detached>(ingest, c, std::move(cache));
}

} // namespace proctrack
