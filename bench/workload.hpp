// Deterministic workloads for the benchmarks (issue 6): a seeded fork tree
// with pid reuse, 70% start / 25% exit / 5% start merges, a sync every 50k
// rows, Sysmon-sized data. Same seed, same rows, on any platform: the random
// numbers come from splitmix64 and are turned into choices with plain
// arithmetic (no std:: distributions, whose output differs by library).
#pragma once

#include "messages/types.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace proctrack::bench {

struct splitmix64 {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n) (n > 0; the modulo bias is irrelevant here).
  std::uint64_t below(std::uint64_t n) {
    return next() % n;
  }
};

enum class data_size { empty, sysmon };

struct workload_config {
  std::uint64_t rows = 1'000'000;
  std::uint64_t seed = 42;
  data_size data = data_size::sysmon;
  std::uint64_t sync_every = 50'000; ///< one sync row every this many rows
  std::uint32_t pid_max = 32768;     ///< pids wrap here (Linux default)
  std::size_t max_running = 4000;    ///< processes alive at once
};

/// Produces the rows one at a time (constant memory, so a million rows or a
/// memory benchmark of two million processes need no buffer).
class workload {
public:
  explicit workload(workload_config cfg);

  /// The next row; false after cfg.rows rows.
  bool next(process_update &out);

  /// A start row for a fresh process (no exits, no syncs): the memory
  /// benchmark uses this to grow a table process by process.
  void next_start(process_update &out);

  /// Counts of rows produced so far, by kind.
  std::uint64_t starts = 0, exits = 0, merges = 0, syncs = 0, lost = 0;

private:
  struct proc {
    std::uint32_t pid, ppid;
    timestamp start;
    std::string guid, parent_guid;
    std::uint32_t image, parent_image;
    std::uint64_t serial;
  };
  std::uint32_t alloc_pid();
  void make_start(const proc &p, process_update &out, bool merge);
  void kill(std::size_t index);
  std::string make_guid();

  workload_config cfg_;
  splitmix64 rng_;
  std::uint64_t row_ = 0;
  timestamp clock_;
  std::uint32_t next_pid_ = 300;
  std::vector<bool> pid_used_;
  std::vector<proc> running_;
  std::uint64_t serial_ = 0;
};

/// One update as an update-row JSON line (no newline), SPEC §5.
void append_row_json(std::string &out, const process_update &u);

} // namespace proctrack::bench
