// The Linux kernel's process events (netlink proc connector) as plain C++,
// no CAF. Three parts:
// - decode(): a pure decoder of one netlink datagram into proc_event values;
// - proc_connector: the NETLINK_CONNECTOR socket subscribed to CN_IDX_PROC;
// - to_updates(): turns events into proctrack::process_update rows, reading
//   /proc (procfs_reader) for the start time and data of new processes.
#pragma once

#include "actors/live/procfs_reader.hpp"
#include "messages/types.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace proctrack::linux_proc {

/// One kernel process event. For fork, pid/tgid are the CHILD's and
/// parent_pid/parent_tgid its parent's; for exec and exit, pid/tgid are the
/// process's (exit also carries the parent where the kernel sends it).
struct proc_event {
  enum kind : std::uint8_t { fork, exec, exit, other, comm };
  kind what = other;
  int pid = 0;
  int tgid = 0;
  int parent_pid = 0;
  int parent_tgid = 0;
  int exit_code = 0;          ///< exit only: the raw wait status
  std::uint64_t ktime_ns = 0; ///< the kernel's time of the event, ns since
                              ///< boot (CLOCK_MONOTONIC)
  char name[16] = {};         ///< comm only: the new name, NUL-terminated

  /// The event concerns a whole process (thread-group leader): a fork whose
  /// child is a new process, or the exit of a process, or an exec.
  bool is_leader() const {
    return pid == tgid;
  }
};

/// Counters of decode(); accumulate across calls.
struct decode_stats {
  std::uint64_t datagrams = 0; ///< buffers passed to decode
  std::uint64_t messages = 0;  ///< netlink messages seen
  std::uint64_t events = 0;    ///< proc events decoded (any kind)
  std::uint64_t malformed = 0; ///< short/inconsistent messages (skipped)
  std::uint64_t ignored = 0;   ///< not a proc-connector message (noop, etc.)
  std::uint64_t errors = 0;    ///< NLMSG_ERROR / NLMSG_OVERRUN messages
};

/// Decodes a netlink datagram holding one or more nlmsghdr + cn_msg + struct
/// proc_event. Never reads outside [buf, buf + len); anything malformed is
/// counted in stats.malformed and skipped (a bad nlmsg_len ends the datagram,
/// since the next message cannot be found).
std::vector<proc_event> decode(const std::uint8_t *buf, std::size_t len,
                               decode_stats &stats);

class proc_connector {
public:
  enum class recv_status { ok, timeout, overflow /* ENOBUFS */, error };

  proc_connector() = default;
  proc_connector(const proc_connector &) = delete;
  proc_connector &operator=(const proc_connector &) = delete;
  ~proc_connector();

  /// Opens a NETLINK_CONNECTOR socket, binds it to CN_IDX_PROC and sends
  /// PROC_CN_MCAST_LISTEN. On failure returns false with a message in
  /// `error` (EPERM: "needs root or CAP_NET_ADMIN: run with sudo").
  bool open(std::string &error);

  /// The socket, -1 when closed.
  int fd() const {
    return fd_;
  }

  /// Waits at most timeout_ms (poll) for a datagram, then reads every
  /// datagram already queued (up to a bound) and appends their events to
  /// `out`. ok: at least one datagram was read (out may still be empty, e.g.
  /// for the LISTEN acknowledgement). overflow: the kernel dropped events
  /// (ENOBUFS); the caller should resync with a /proc listing. error: see
  /// last_error().
  recv_status receive(std::vector<proc_event> &out, int timeout_ms);

  /// SO_RCVBUF (SO_RCVBUFFORCE when permitted), applied now if open, else at
  /// open(). A bigger buffer makes overflow under fork storms less likely.
  void set_receive_buffer(int bytes);

  /// Sends PROC_CN_MCAST_IGNORE (best effort) and closes the socket.
  void close();

  const decode_stats &stats() const {
    return stats_;
  }
  std::uint64_t overflows() const {
    return overflows_;
  }
  /// Datagrams not from the kernel (netlink port id != 0), dropped.
  std::uint64_t foreign() const {
    return foreign_;
  }
  const std::string &last_error() const {
    return last_error_;
  }

private:
  bool send_op(int op);
  void apply_rcvbuf();

  int fd_ = -1;
  int rcvbuf_ = 0;
  decode_stats stats_;
  std::uint64_t overflows_ = 0;
  std::uint64_t foreign_ = 0;
  std::string last_error_;
  std::vector<std::uint8_t> buf_;
};

/// What to_updates() left out or repaired, for stats.
struct update_counts {
  /// Leader exits of processes that live on (a thread's execve()).
  std::uint64_t thread_exec_exits = 0;
  /// /proc reads that showed another process than the event's (the pid was
  /// already held by a later process, other start ticks): discarded.
  std::uint64_t foreign_reads = 0;
  /// Fork-only children gone before /proc was read: the parent's image.
  std::uint64_t inherited_images = 0;
  /// Execs whose new image could not be read (gone, zombie, overtaken).
  std::uint64_t unread_images = 0;
  /// PROC_EVENT_COMM renames applied.
  std::uint64_t comm_changes = 0;
  /// Identities forgotten because the translator's table was full.
  std::uint64_t identities_dropped = 0;
};

/// Wall-clock now (CLOCK_REALTIME) in Unix ns.
timestamp realtime_now();

/// Turns the kernel's events into updates, knowing each process it saw by
/// pid AND start ticks (docs/agent.md, "Identity"):
/// - fork of a leader: a new process (record_identity::exact_new). Its start
///   ticks are read from /proc/PID/stat and kept only if they can be this
///   child's (not after the event's own time, one tick of slack) and no
///   later fork or final exit of the pid in the same batch says the pid
///   already belongs to another process; otherwise the /proc data is
///   discarded (counts->foreign_reads) and the start is the event's time
///   on /proc's tick grid. Data.Ppid is the creator (the event's parent),
///   ParentSource "fork", CurrentPpid the /proc parent when it differs.
///   Image (Name, Exe, CommandLine, ExecName): from the read when it is the
///   child's, running and consistent; else, when no exec of the child
///   follows in the batch, the parent's image with ImageInherited true
///   (a fork-only child runs its parent's image); else none (the exec
///   brings it).
/// - exec: the same process (exact) with the image read now, all of Name,
///   Exe, CommandLine and ExecName together: a part that cannot be read
///   (zombie, gone, another holder) is null, never the previous image's.
///   Data.Ppid is left alone (the creator stays); CurrentPpid as above.
/// - exit of a leader: final when another fork of the pid follows, when
///   /proc holds the pid under other start ticks or not at all, or when
///   classify_leader_exit says so; not an exit when the next event of the
///   pid is its exec (a thread's execve(), counts->thread_exec_exits).
///   The exit names pid + start (exact) when the process is known.
/// - comm of a leader: Name is the new name, ExecName the name read at
///   fork/exec.
/// Memory: at most max_known processes are remembered (the oldest
/// knowledge is dropped wholesale past it, counted), each with its image
/// only when Name + Exe + CommandLine fit in 64 KiB (else the image is read
/// from /proc when a child needs it); a process is forgotten at its exit.
class event_translator {
public:
  explicit event_translator(std::size_t max_known = 131072)
      : max_known_(max_known) {}

  /// Translates events in order, appending updates to out. Exits that
  /// /proc cannot judge yet are appended to `undecided` (pass them again,
  /// before the next events) except the first `must_decide` events, which
  /// are taken as exits then; with `undecided` null every such exit is
  /// taken. `now` is the exit time (realtime_now() when unknown_time).
  void translate(const std::vector<proc_event> &events,
                 const procfs_reader &reader, std::vector<process_update> &out,
                 timestamp now = unknown_time, update_counts *counts = nullptr,
                 std::vector<proc_event> *undecided = nullptr,
                 std::size_t must_decide = 0);

  std::size_t known_size() const {
    return known_.size();
  }

private:
  struct known_process {
    std::uint64_t ticks = 0;
    timestamp start = unknown_time;
    int creator = 0;
    bool inherited = false;
    std::string name, exe, cmdline; ///< JSON text, empty: unknown
  };
  void remember(int pid, known_process k, update_counts &c);

  std::size_t max_known_;
  std::unordered_map<int, known_process> known_;
};

/// Turns one event into zero or one update, appended to out, with a
/// translator that knows nothing yet (no look-ahead, no memory):
/// - fork whose child is a leader (pid == tgid): start of pid tgid, ppid =
///   parent_tgid, start_time = reader.start_time(child) or, if the child
///   already vanished, reader.from_boot_ns(ktime_ns); data from
///   reader.read_process(child) when available, else Pid/Ppid/StartTime.
/// - exec: start of the same process (same pid and start_time, so the table
///   merges) with data re-read from /proc; nothing if it already vanished.
/// - exit of a leader: exit with target = bare pid, time = `now` (or
///   realtime_now() when now is unknown_time); nothing when the pid still
///   runs (a thread's execve() ended the old leader, see
///   procfs_reader::classify_leader_exit), counted in
///   counts->thread_exec_exits; when /proc cannot tell yet, the event is
///   appended to `undecided` (to be passed again shortly; the agent does for
///   up to 1 s) or, when that is null, taken as an exit.
/// - anything else (thread fork/exit, other kinds): nothing.
/// Returns the number of updates appended.
std::size_t to_updates(const proc_event &ev, const procfs_reader &reader,
                       std::vector<process_update> &out,
                       timestamp now = unknown_time,
                       update_counts *counts = nullptr,
                       std::vector<proc_event> *undecided = nullptr);

/// As above for every event in order.
std::size_t to_updates(const std::vector<proc_event> &events,
                       const procfs_reader &reader,
                       std::vector<process_update> &out,
                       timestamp now = unknown_time,
                       update_counts *counts = nullptr,
                       std::vector<proc_event> *undecided = nullptr);

} // namespace proctrack::linux_proc
