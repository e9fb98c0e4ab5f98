// The ingest actor: reads update sources in order and feeds the cache in
// batches, with a bounded number of batches in flight (backpressure: a file
// far larger than memory never piles up in the cache's mailbox).
#pragma once

#include "actors/common/defaults.hpp"
#include "actors/ingest/update_source.hpp"
#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

namespace proctrack {

struct ingest_config {
  std::vector<std::string> paths;              ///< files in order; "-" is stdin
  input_format format = input_format::unknown; ///< unknown: detect per file
  std::size_t batch_size = defaults::ingest_batch_size; ///< updates a message
  std::size_t max_in_flight =
      defaults::ingest_max_in_flight; ///< unapplied batches
  std::string host;                   ///< tags the batches (fleet)
  bool progress = false;     ///< report progress on stderr (a terminal)
  bool summary = false;      ///< a summary line on stderr at the end
  bool sort_by_time = false; ///< merge all sources in event time order
  /// Files read ahead at once, each in a thread of its own (read_ahead()),
  /// while the ingest hands on the current one in order: several files
  /// decode on several cores with the answers of a serial run. 0: as many
  /// as cores (at most 8); 1: one file at a time, still off the ingest's
  /// thread. Not used with sort_by_time (all files are read at once).
  std::size_t read_threads = defaults::ingest_read_threads;
  /// Longest update row read, in bytes (a longer one is skipped and named):
  /// replay sets it from the tracker's configuration so that the sync row
  /// of a cache of that configuration reads back (max_cache_sync_row_bytes).
  std::size_t max_line = std::size_t{16} << 20;
  /// When set, reading waits for the forwarder's buffer to have room
  /// (atom::ready) before each batch, so a replay that outruns its
  /// collector slows down instead of dropping updates. A live source must
  /// not wait: it leaves this empty.
  forwarder_actor pace;
  /// Entries of a directory the caller skipped before reading (app/replay):
  /// unreadable ones add to InputOpenFailures, the others (not a log, not a
  /// regular file) are InputFilesSkipped.
  std::int64_t open_failures_before = 0;
  std::int64_t skipped_before = 0;

  std::string validate() const;
};

struct ingest_state {
  static inline const char *name = "proctrack.ingest";

  std::size_t next_path = 0;
  std::string current_path;
  std::unique_ptr<update_source> current;
  /// Files opened and reading ahead of `current`, in order, with their path.
  std::deque<std::pair<std::string, std::unique_ptr<update_source>>> ahead;
  std::vector<counter> closed_counters; ///< of sources read to their end
  std::size_t in_flight = 0;
  std::size_t in_flight_peak = 0;
  bool pacing = false;    ///< waiting for the forwarder (ingest_config::pace)
  std::int64_t paced = 0; ///< batches that had to wait for it
  bool reading_done = false;
  bool failed = false;
  caf::typed_response_promise<bool> promise;
  std::int64_t updates_sent = 0;
  std::int64_t files_read = 0;
  std::int64_t merged_files = 0; ///< sources behind `current` (--sort=time)
  std::int64_t open_failures = 0;
  std::int64_t files_skipped = 0;         ///< ingest_config::skipped_before
  bool progress = false, summary = false; ///< ingest_config's
  bool progress_shown = false; ///< a progress line is on the terminal
  std::chrono::steady_clock::time_point started, progress_at;
  std::uint64_t bytes_total = 0;  ///< sizes of the input files
  std::uint64_t bytes_closed = 0; ///< sizes of the files read to their end

  stats_report report() const;
};

ingest_actor::behavior_type
ingest(ingest_actor::stateful_pointer<ingest_state> self, ingest_config cfg,
       cache_actor cache);

/// Spawns the ingest actor in a thread of its own (reading may block, e.g.
/// on stdin). Send it atom::run to start.
ingest_actor spawn_ingest(caf::actor_system &sys, const ingest_config &cfg,
                          cache_actor cache);

} // namespace proctrack
