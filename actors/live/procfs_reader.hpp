// Reads processes from a /proc tree (Linux). Plain C++, no CAF: the live
// source actor calls it for the periodic pslist sync and to fill in the data
// of processes announced by the proc connector (see proc_connector.hpp).
//
// Start-time rule (docs/sources.md, "Linux sources"): a process's start time
// is btime + starttime_ticks / ticks_per_second, computed in integer
// nanoseconds by start_time_from_ticks(), where btime is read ONCE per reader
// from <root>/stat and starttime_ticks is field 22 of <root>/PID/stat. The
// real id's seconds are the floor of that. Every path (pslist, fork, exec)
// goes through the same function with the same btime, so one process always
// gets the same real id.
#pragma once

#include "messages/types.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace proctrack::linux_proc {

/// THE start-time rule: boot time (whole Unix seconds, /proc/stat btime) plus
/// the process's start ticks since boot, in ns. The tick fraction is kept
/// (exact integer arithmetic, no floating point), so whole_seconds() of the
/// result is floor(btime + ticks / hz). Returns unknown_time when
/// ticks_per_second <= 0 or btime <= 0.
timestamp start_time_from_ticks(std::uint64_t start_ticks,
                                std::int64_t btime_seconds,
                                long ticks_per_second);

/// The fields proctrack uses from one /proc/PID/stat line.
struct stat_line {
  std::string comm;            ///< between the first '(' and the LAST ')'
  char state = '?';            ///< field 3
  int ppid = 0;                ///< field 4
  std::uint64_t flags = 0;     ///< field 9 (PF_*; PF_KTHREAD 0x00200000)
  std::uint64_t starttime = 0; ///< field 22, clock ticks since boot
  std::uint64_t vsize = 0;     ///< field 23, bytes of virtual memory; 0
                               ///< once an exiting task dropped its memory
  std::uint64_t arg_start = 0; ///< field 48, address of argv (Linux 3.5+;
  std::uint64_t arg_end = 0;   ///< field 49) 0 when absent or not readable
};

/// Parses a /proc/PID/stat line; nullopt when malformed.
std::optional<stat_line> parse_stat_line(std::string_view text);

/// A whole /proc listing, or why there is none. A listing that could not be
/// read completely must never be applied as the machine's state: the
/// processes it misses would be marked exited.
struct listing {
  std::vector<process_record> processes; ///< sorted by pid
  /// Empty when the listing is complete; else the path and errno text of
  /// the first read that failed for a reason other than the process having
  /// gone (e.g. "/proc/42/status: Too many open files"), and `processes`
  /// holds what was read before it.
  std::string error;
};

class procfs_reader {
public:
  /// Boot time from <proc_root>/stat (btime), clock ticks per second from
  /// sysconf(_SC_CLK_TCK).
  explicit procfs_reader(std::string proc_root = "/proc");

  /// As above with an explicit tick rate (tests with a fake tree).
  procfs_reader(std::string proc_root, long ticks_per_second);

  /// One process, or nullopt if it vanished (no readable stat/status) or is
  /// a thread but not its thread group's leader (status Tgid != pid).
  /// When given, `facts` gets what the proc connector's translator needs to
  /// tell this process from another holder of the pid (start ticks, state,
  /// /proc ppid, whether Exe and the command line could be read). Exe,
  /// command line and Name come from one image: a read that an execve()
  /// overtook (Exe changed during the read) is read again, at most twice,
  /// and then left without image fields (facts->image_consistent false).
  /// A user process (not a kernel thread) read with no Exe and an empty
  /// command line gets no CommandLine field: it was read without its memory
  /// (exiting), and "" would say its argv was empty.
  struct read_facts {
    std::uint64_t start_ticks = 0; ///< stat field 22
    char state = '?';              ///< stat field 3 ('Z': zombie)
    int ppid = 0;                  ///< stat field 4: the CURRENT parent
    bool have_exe = false;
    bool have_cmdline = false; ///< a non-empty command line was read
    bool image_consistent = true;
    /// Exiting (or exited): not a kernel thread, and the stat read after
    /// Exe and the command line shows no memory (vsize 0) or PF_EXITING
    /// with no other thread left. Its image may have gone during the read,
    /// like a zombie's; only the name is its own.
    bool exiting = false;
  };
  std::optional<process_record> read_process(int pid,
                                             read_facts *facts = nullptr) const;

  /// Stat field 22 of pid (clock ticks since boot), nullopt if unreadable.
  std::optional<std::uint64_t> start_ticks(int pid) const;

  /// A proc connector event time (CLOCK_MONOTONIC ns) as clock ticks since
  /// boot on /proc's clock (CLOCK_BOOTTIME: monotonic plus time suspended,
  /// see set_boot_offset_ns), floor.
  std::uint64_t ticks_of_event(std::uint64_t ktime_ns) const;
  /// start_time_from_ticks() with this reader's btime and tick rate.
  timestamp time_of_ticks(std::uint64_t ticks) const {
    return start_time_from_ticks(ticks, btime_, hz_);
  }
  /// CLOCK_BOOTTIME - CLOCK_MONOTONIC in ns (time spent suspended), measured
  /// when the reader is made; the agent refreshes it each round. Tests with
  /// a fake tree set it (0 by default for them too when measured on a
  /// machine that never slept).
  void set_boot_offset_ns(std::int64_t ns) {
    boot_offset_ns_ = ns;
  }
  std::int64_t boot_offset_ns() const {
    return boot_offset_ns_;
  }
  /// Measures CLOCK_BOOTTIME - CLOCK_MONOTONIC now.
  static std::int64_t measure_boot_offset_ns();

  /// Every numeric directory of the root that is a process. A process that
  /// vanishes while it is read (ENOENT, ESRCH) is skipped silently; any other
  /// failure of opendir/readdir or of a process's status or stat file
  /// (EMFILE, ENFILE, ENOMEM, EACCES, ...) fails the listing (see listing).
  listing list() const;

  /// What a thread-group leader's exit event for pid means, judged from
  /// /proc now. A non-leader thread's execve() ends the old leader (the
  /// kernel's de_thread), which the kernel reports as the leader's exit
  /// before the exec; the process goes on under the same pid.
  /// - ended: pid is gone, or a zombie with one thread left and no other
  ///   task under /proc/PID/task (a de_thread in progress still lists the
  ///   exec'ing thread there: undecided);
  /// - thread_exec: pid runs with memory (not a zombie, stat vsize > 0: a
  ///   task that exits drops its memory before its exit is reported);
  /// - undecided: in between (an exiting leader whose other threads still
  ///   run: a de_thread or a group exit in progress); ask again shortly.
  enum class leader_exit { ended, thread_exec, undecided };
  leader_exit classify_leader_exit(int pid) const;

  /// The name of a user (getpwuid_r), or the uid as text when it has none;
  /// cached, as for the reads (the eBPF source gives the uid).
  std::string user_name(std::uint32_t uid) const;

  /// Start time of pid by the rule above; unknown_time if unreadable.
  timestamp start_time(int pid) const;

  /// Converts a time in ns since boot (the proc connector's ktime) to Unix
  /// ns with this reader's btime. Only a fallback: the kernel's monotonic
  /// clock and btime + ticks drift apart by rounding and by suspend.
  timestamp from_boot_ns(std::uint64_t ns_since_boot) const;

  /// btime in whole Unix seconds; 0 if <root>/stat had none.
  std::int64_t boot_time_seconds() const {
    return btime_;
  }
  long ticks_per_second() const {
    return hz_;
  }
  const std::string &root() const {
    return root_;
  }

private:
  std::string root_;
  std::int64_t btime_ = 0;
  long hz_ = 0;
  std::int64_t boot_offset_ns_ = 0;
  /// uid -> user name, so a fork or exec read does not ask NSS each time
  /// (a getpwuid_r was most of a read's cost); made anew by every list(),
  /// so a renamed user shows within one sync period.
  mutable std::unordered_map<std::uint32_t, std::string> users_;

public:
  /// What list() keeps of a process between listings, so that the next one
  /// reads only stat and the exe link of a process it saw already (status
  /// too when its real uid could have changed: see uids_alike; not its
  /// command line, nor stat and exe twice). Exposed for tests.
  struct known_process {
    stat_line key;   ///< starttime, ppid, comm, argv's addresses
    std::string uid; ///< status's Uid line: the real uid
    /// The real, effective and saved uid were one: the real uid can change
    /// only through CAP_SETUID, which sets PF_SUPERPRIV in stat's flags.
    bool uids_alike = false;
    std::string exe; ///< the exe link
    process_record rec;
  };
  /// The processes kept from the last listing (at most known_limit_bytes
  /// of their records' Data).
  std::size_t known_count() const {
    return known_.size();
  }
  static constexpr std::size_t known_limit_bytes = std::size_t{64} << 20;

private:
  mutable std::unordered_map<int, known_process> known_;
};

} // namespace proctrack::linux_proc
