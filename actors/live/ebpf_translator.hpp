// The eBPF live source's events (actors/live/bpf/proc_events.bpf.c) as
// plain C++, no CAF, no libbpf: decode_ebpf_record() checks and copies one
// ring-buffer record, ebpf_translator turns events into the process_update
// rows the proc connector path makes (proc_connector.hpp), from what the
// kernel put in the event instead of /proc reads. See docs/agent.md, "eBPF
// source".
#pragma once

#include "actors/live/procfs_reader.hpp"
#include "messages/types.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace proctrack::linux_proc {

/// One event of the eBPF source, decoded. Times are CLOCK_BOOTTIME ns (the
/// clock of /proc/PID/stat's start ticks).
struct ebpf_event {
  enum kind : std::uint8_t { fork = 1, exec = 2, exit = 3, comm = 4 };
  kind what = fork;
  std::uint32_t flags = 0;          ///< PT_F_* of bpf/proc_events.h (below)
  int pid = 0;                      ///< the task (exec: the process's pid)
  int tgid = 0;                     ///< the process
  int ppid = 0;                     ///< its parent now (real_parent's tgid)
  std::uint32_t uid = 0;            ///< real uid
  std::uint64_t start_boottime = 0; ///< the process's start, ns since boot
  std::uint64_t time_boottime = 0;  ///< when the event happened
  int exit_code = 0;
  int old_pid = 0;  ///< exec: the thread that called execve()
  std::string name; ///< comm: the name after the event (<= 15 bytes)
  std::string exe;  ///< path of the executable; empty: unread
  std::string args; ///< raw argument area (NUL-separated)

  static constexpr std::uint32_t no_mm = 1;          ///< kernel thread
  static constexpr std::uint32_t exe_unread = 2;     ///< read /proc for Exe
  static constexpr std::uint32_t args_truncated = 4; ///< > 4096 bytes
  static constexpr std::uint32_t args_unread = 8;    ///< page not present
};

/// Decodes one ring-buffer record (struct pt_event, bpf/proc_events.h).
/// Never reads outside [p, p + len); false for a record too short for its
/// header or for the lengths it announces, or of an unknown kind.
bool decode_ebpf_record(const void *p, std::size_t len, ebpf_event &out);

/// What the translator did besides the rows, for stats.
struct ebpf_counts {
  /// Events whose image was completed from /proc (path too deep or
  /// deleted, arguments longer than the event carries or not resident).
  std::uint64_t proc_reads = 0;
  /// Of those, reads that could not give it (gone, another process): the
  /// field is left out (fork) or null (exec).
  std::uint64_t unread_images = 0;
  std::uint64_t comm_changes = 0;
  std::uint64_t identities_dropped = 0;
  /// The BPF program's guards, by event (forks and execs of processes with
  /// memory): the path could not be built (deeper than PT_PATH_DEPTH
  /// components, longer than PT_EXE_MAX, deleted), the arguments were longer
  /// than PT_ARGS_MAX, or not resident. Each one is a /proc read above.
  std::uint64_t exe_unread = 0;
  std::uint64_t args_truncated = 0;
  std::uint64_t args_unread = 0;
};

/// Turns eBPF events into updates, in order. Each event names its process
/// by pid and its exact start (start_boottime on /proc's tick grid:
/// ticks = start_boottime / (1e9 / hz), what /proc/PID/stat shows), so no
/// identity is guessed and no exit waits for /proc:
/// - fork: a new process (record_identity::exact_new), Data as a /proc read
///   gives it (Pid, Ppid, Name, Exe, CommandLine, Username, StartTime), plus
///   ParentSource "fork" and ExecName. Its image is the one it runs: the
///   parent's, copied at fork (as a /proc read right after the fork shows).
/// - exec: the same process (exact) with Name, Exe, CommandLine, Username,
///   ExecName, ImageTime; Data.Ppid is left alone (the creator stays),
///   CurrentPpid when the parent now is not the creator.
/// - exit (the process's last thread): exit of pid + start, at the event's
///   time.
/// - comm: Name is the new name, ExecName the name of the last exec/fork.
/// A field the event could not carry is read from /proc (counted), and kept
/// only when /proc shows the same process (same start ticks) alive.
/// Memory: at most max_known processes remembered (creator and name), the
/// oldest knowledge dropped wholesale past it (counted).
class ebpf_translator {
public:
  explicit ebpf_translator(std::size_t max_known = 131072)
      : max_known_(max_known) {}

  void translate(const std::vector<ebpf_event> &events,
                 const procfs_reader &reader, std::vector<process_update> &out,
                 ebpf_counts *counts = nullptr);

  std::size_t known_size() const {
    return known_.size();
  }

private:
  struct known_process {
    std::uint64_t ticks = 0;
    int creator = 0;
    std::string name; ///< JSON text of the name at fork/exec
  };
  std::size_t max_known_;
  std::unordered_map<int, known_process> known_;
};

/// /proc's start ticks of a process that started start_boottime ns after
/// boot: floor(start_boottime * hz / 1e9), as the kernel's nsec_to_clock_t.
std::uint64_t ticks_of_boottime(std::uint64_t start_boottime_ns, long hz);

} // namespace proctrack::linux_proc
