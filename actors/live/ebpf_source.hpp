// The eBPF live source (docs/agent.md, "eBPF source"): loads
// actors/live/bpf/proc_events.bpf.c through its bpftool-generated skeleton
// (libbpf), attaches it to the sched_process_fork/exec/exit and task_rename
// BTF tracepoints and reads its ring buffer. Plain C++, no CAF. Built only
// where libbpf, bpftool and clang were found at configure time
// (PROCTRACK_HAVE_EBPF); elsewhere open() says it was left out.
#pragma once

#include "actors/live/ebpf_translator.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace proctrack::linux_proc {

class ebpf_source {
public:
  enum class recv_status { ok, timeout, error };

  ebpf_source();
  ebpf_source(const ebpf_source &) = delete;
  ebpf_source &operator=(const ebpf_source &) = delete;
  ~ebpf_source();

  /// Whether this build has the eBPF source at all.
  static bool built_in();

  /// Whether this process runs under chroot (no mount point "/" in
  /// /proc/self/mountinfo). The BPF program builds Exe up to the mount
  /// namespace's root, which under chroot is not ours: open() then refuses.
  static bool under_chroot();

  /// Loads, verifies and attaches the programs (needs CAP_BPF and
  /// CAP_PERFMON, or root, and a kernel with BTF at /sys/kernel/btf/vmlinux,
  /// BPF ring buffers and bpf_loop: 5.17 or later). `wakeup_bytes` > 0: the
  /// kernel wakes the reader only once that many bytes wait (the reader then
  /// polls at its own pace); 0: on every event. On failure returns false with
  /// the reason in `error` (libbpf's message, e.g. "Operation not
  /// permitted").
  bool open(std::string &error, unsigned wakeup_bytes = 0);

  /// Waits at most timeout_ms for events, then appends every event already
  /// in the ring buffer (up to a bound) to out. timeout: none came.
  recv_status receive(std::vector<ebpf_event> &out, int timeout_ms);

  /// Events the kernel could not put in the full ring buffer since open
  /// (cumulative).
  std::uint64_t lost() const;
  /// Records that did not decode (cumulative; none expected).
  std::uint64_t malformed() const;
  /// Whether the comm (task_rename) program is attached.
  bool has_comm() const;
  const std::string &last_error() const {
    return last_error_;
  }
  void close();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string last_error_;
};

} // namespace proctrack::linux_proc
