// What a long replay says on stderr: a progress line (a terminal only, at
// most once a second) and a one-line summary at the end (issue 18 item 6).
// Plain text, no CAF: the ingest actor fills the figures, these functions
// word them.
#pragma once

#include <cstdint>
#include <string>

namespace proctrack {

/// The figures of a replay so far. Counts are of the whole run; bytes are
/// of input files (stdin counts 0: its size is not known in advance).
struct replay_figures {
  std::int64_t files_done = 0;  ///< files read to their end
  std::int64_t files_total = 0; ///< files the replay was given
  std::int64_t records = 0; ///< records or lines read (InputEvents/InputLines)
  std::int64_t updates = 0; ///< process updates sent to the cache
  std::int64_t errors = 0;  ///< bad records or lines (InputErrors)
  std::int64_t open_failures = 0;   ///< files that could not be opened
  std::int64_t files_skipped = 0;   ///< directory entries that are no log
  std::int64_t security_events = 0; ///< Security 4688/4689 records read
  std::int64_t linux_events = 0;    ///< Sysmon for Linux events read
  std::uint64_t bytes_done = 0;     ///< input bytes consumed
  std::uint64_t bytes_total = 0;    ///< input bytes in all files (0: unknown)
  double seconds = 0;               ///< since the first record, wall clock
  std::string current;              ///< the file being read (a path)
};

/// "[file 3/945] name.evtx: 52340 records, 43210 records/s, 0 errors,
/// ETA 0:03" — the remaining time from bytes when they are known, else
/// from files; no ETA before a second of data. The file name is its last
/// path component, cut to 64 bytes, control characters replaced (hostile
/// file names must not drive the terminal).
std::string progress_line(const replay_figures &f);

/// "replay: 945 files, 201420 records, 154575 process updates, 0 input
/// errors in 4.6 s (43787 records/s)", with the unreadable and skipped
/// files and the Security / Sysmon for Linux shares when there are any.
std::string summary_line(const replay_figures &f);

} // namespace proctrack
