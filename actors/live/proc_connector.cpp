#include "actors/live/proc_connector.hpp"

// Linux only: the library globs every actors/*.cpp on every platform.
#if defined(__linux__)

#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace proctrack::linux_proc {

namespace {

using kernel_event = ::proc_event;

constexpr std::size_t event_header = offsetof(kernel_event, event_data);

/// The LISTEN acknowledgement (PROC_EVENT_NONE) as the kernel echoes it.
struct ack_info {
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;
  std::uint32_t err = 0;
};

/// Decodes one cn_msg payload (bytes after the nlmsghdr).
void decode_cn(const std::uint8_t *p, std::size_t plen, decode_stats &stats,
               std::vector<proc_event> &out, std::vector<ack_info> *acks) {
  struct cn_msg cn;
  if (plen < sizeof(cn)) {
    ++stats.malformed;
    return;
  }
  std::memcpy(&cn, p, sizeof(cn));
  if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC) {
    ++stats.ignored;
    return;
  }
  const std::size_t dlen = cn.len;
  if (dlen > plen - sizeof(cn) || dlen < event_header) {
    ++stats.malformed;
    return;
  }
  kernel_event ke;
  std::memset(&ke, 0, sizeof(ke));
  std::memcpy(&ke, p + sizeof(cn), dlen < sizeof(ke) ? dlen : sizeof(ke));
  auto have = [dlen](std::size_t end_offset) { return dlen >= end_offset; };
  proc_event ev;
  ev.ktime_ns = ke.timestamp_ns;
  switch (ke.what) {
  case kernel_event::PROC_EVENT_FORK:
    if (!have(event_header + sizeof(ke.event_data.fork))) {
      ++stats.malformed;
      return;
    }
    ev.what = proc_event::fork;
    ev.pid = ke.event_data.fork.child_pid;
    ev.tgid = ke.event_data.fork.child_tgid;
    ev.parent_pid = ke.event_data.fork.parent_pid;
    ev.parent_tgid = ke.event_data.fork.parent_tgid;
    break;
  case kernel_event::PROC_EVENT_EXEC:
    if (!have(event_header + sizeof(ke.event_data.exec))) {
      ++stats.malformed;
      return;
    }
    ev.what = proc_event::exec;
    ev.pid = ke.event_data.exec.process_pid;
    ev.tgid = ke.event_data.exec.process_tgid;
    break;
  case kernel_event::PROC_EVENT_EXIT:
    // pid, tgid, exit_code, exit_signal are required; the parent fields
    // came later (kernel 4.x) and are read when present.
    if (!have(offsetof(kernel_event, event_data.exit.parent_pid))) {
      ++stats.malformed;
      return;
    }
    ev.what = proc_event::exit;
    ev.pid = ke.event_data.exit.process_pid;
    ev.tgid = ke.event_data.exit.process_tgid;
    ev.exit_code = static_cast<int>(ke.event_data.exit.exit_code);
    if (have(offsetof(kernel_event, event_data.exit.parent_tgid)
             + sizeof(ke.event_data.exit.parent_tgid))) {
      ev.parent_pid = ke.event_data.exit.parent_pid;
      ev.parent_tgid = ke.event_data.exit.parent_tgid;
    }
    break;
  case kernel_event::PROC_EVENT_COMM:
    if (!have(event_header + sizeof(ke.event_data.comm))) {
      ++stats.malformed;
      return;
    }
    ev.what = proc_event::comm;
    ev.pid = ke.event_data.comm.process_pid;
    ev.tgid = ke.event_data.comm.process_tgid;
    static_assert(sizeof(ev.name) == sizeof(ke.event_data.comm.comm));
    std::memcpy(ev.name, ke.event_data.comm.comm, sizeof(ev.name));
    ev.name[sizeof(ev.name) - 1] = '\0';
    break;
  case kernel_event::PROC_EVENT_NONE:
    ev.what = proc_event::other;
    if (acks != nullptr && have(event_header + sizeof(ke.event_data.ack)))
      acks->push_back(ack_info{cn.seq, cn.ack, ke.event_data.ack.err});
    break;
  default:
    // uid/gid/sid/ptrace/comm/coredump all start with pid, tgid.
    ev.what = proc_event::other;
    if (have(event_header + 2 * sizeof(__kernel_pid_t))) {
      ev.pid = ke.event_data.id.process_pid;
      ev.tgid = ke.event_data.id.process_tgid;
    }
    break;
  }
  ++stats.events;
  out.push_back(ev);
}

void decode_into(const std::uint8_t *buf, std::size_t len, decode_stats &stats,
                 std::vector<proc_event> &out, std::vector<ack_info> *acks) {
  ++stats.datagrams;
  if (buf == nullptr)
    return;
  std::size_t off = 0;
  while (off < len) {
    const std::size_t left = len - off;
    struct nlmsghdr h;
    if (left < sizeof(h)) {
      ++stats.malformed; // trailing bytes too short for a header
      return;
    }
    std::memcpy(&h, buf + off, sizeof(h));
    ++stats.messages;
    if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > left) {
      ++stats.malformed; // the next message cannot be located
      return;
    }
    const std::uint8_t *payload = buf + off + NLMSG_HDRLEN;
    const std::size_t plen = h.nlmsg_len - NLMSG_HDRLEN;
    switch (h.nlmsg_type) {
    case NLMSG_NOOP:
      ++stats.ignored;
      break;
    case NLMSG_ERROR:
    case NLMSG_OVERRUN:
      ++stats.errors;
      break;
    default: // the connector sends its messages as NLMSG_DONE
      decode_cn(payload, plen, stats, out, acks);
      break;
    }
    const std::size_t step = NLMSG_ALIGN(h.nlmsg_len);
    if (step >= left)
      return;
    off += step;
  }
}

std::string errno_text(int err) {
  return std::strerror(err);
}

} // namespace

std::vector<proc_event> decode(const std::uint8_t *buf, std::size_t len,
                               decode_stats &stats) {
  std::vector<proc_event> out;
  decode_into(buf, len, stats, out, nullptr);
  return out;
}

// -- proc_connector ---------------------------------------------------------

proc_connector::~proc_connector() {
  close();
}

void proc_connector::apply_rcvbuf() {
  if (fd_ < 0 || rcvbuf_ <= 0)
    return;
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf_, sizeof(rcvbuf_))
      != 0)
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf_, sizeof(rcvbuf_));
}

void proc_connector::set_receive_buffer(int bytes) {
  rcvbuf_ = bytes;
  apply_rcvbuf();
}

bool proc_connector::send_op(int op) {
  struct sockaddr_nl self;
  socklen_t slen = sizeof(self);
  std::memset(&self, 0, sizeof(self));
  ::getsockname(fd_, reinterpret_cast<struct sockaddr *>(&self), &slen);
  alignas(struct nlmsghdr)
      std::uint8_t msg[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(int))];
  std::memset(msg, 0, sizeof(msg));
  struct nlmsghdr h;
  std::memset(&h, 0, sizeof(h));
  h.nlmsg_len = NLMSG_LENGTH(sizeof(struct cn_msg) + sizeof(int));
  h.nlmsg_type = NLMSG_DONE;
  h.nlmsg_pid = self.nl_pid;
  struct cn_msg cn;
  std::memset(&cn, 0, sizeof(cn));
  cn.id.idx = CN_IDX_PROC;
  cn.id.val = CN_VAL_PROC;
  cn.seq = self.nl_pid; // echoed in the acknowledgement
  cn.ack = 0;
  cn.len = sizeof(int);
  std::memcpy(msg, &h, sizeof(h));
  std::memcpy(msg + NLMSG_HDRLEN, &cn, sizeof(cn));
  std::memcpy(msg + NLMSG_HDRLEN + sizeof(cn), &op, sizeof(op));
  struct sockaddr_nl kernel;
  std::memset(&kernel, 0, sizeof(kernel));
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    ssize_t n =
        ::sendto(fd_, msg, h.nlmsg_len, 0,
                 reinterpret_cast<struct sockaddr *>(&kernel), sizeof(kernel));
    if (n >= 0)
      return true;
    if (errno != EINTR)
      return false;
  }
}

bool proc_connector::open(std::string &error) {
  close();
  auto fail = [&](const char *what, int err) {
    if (err == EPERM || err == EACCES)
      error = std::string("proc connector: ") + what
              + ": needs root or CAP_NET_ADMIN: run with sudo";
    else
      error = std::string("proc connector: ") + what + ": " + errno_text(err);
    last_error_ = error;
    close();
    return false;
  };
  fd_ = ::socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_CONNECTOR);
  if (fd_ < 0)
    return fail("socket", errno);
  struct sockaddr_nl addr;
  std::memset(&addr, 0, sizeof(addr));
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = CN_IDX_PROC;
  addr.nl_pid = 0; // let the kernel pick a unique port id
  if (::bind(fd_, reinterpret_cast<struct sockaddr *>(&addr), sizeof(addr))
      != 0)
    return fail("bind", errno);
  apply_rcvbuf();
  if (!send_op(PROC_CN_MCAST_LISTEN))
    return fail("listen", errno);
  // The kernel acknowledges LISTEN with a PROC_EVENT_NONE (cn_msg.ack = our
  // ack + 1) whose err says whether we may listen (EPERM without
  // CAP_NET_ADMIN). It is queued before sendto() returns. A kernel that
  // ignores the request (a caller outside the initial user/pid namespace)
  // sends no acknowledgement and would never send events either. The seq is
  // not echoed by current kernels, so the first acknowledgement decides (it
  // is multicast: another listener's could come first, a rare race).
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
  bool acknowledged = false;
  bool dropped = false;
  std::vector<proc_event> early;
  while (!acknowledged) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0)
      break;
    struct pollfd pfd {
      fd_, POLLIN, 0
    };
    if (::poll(&pfd, 1, static_cast<int>(left)) <= 0)
      continue;
    if (buf_.size() < 65536)
      buf_.resize(65536);
    struct sockaddr_nl from;
    socklen_t flen = sizeof(from);
    std::memset(&from, 0, sizeof(from));
    ssize_t n = ::recvfrom(fd_, buf_.data(), buf_.size(), MSG_DONTWAIT,
                           reinterpret_cast<struct sockaddr *>(&from), &flen);
    if (n < 0) {
      if (errno == ENOBUFS)
        dropped = true; // the acknowledgement may be lost in a storm
      if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS)
        continue;
      return fail("recv", errno);
    }
    if (from.nl_pid != 0)
      continue;
    std::vector<ack_info> acks;
    decode_stats scratch;
    decode_into(buf_.data(), static_cast<std::size_t>(n), scratch, early,
                &acks);
    for (auto &a : acks) {
      if (a.ack != 1)
        continue;
      if (a.err != 0)
        return fail("listen", static_cast<int>(a.err));
      acknowledged = true;
      break;
    }
  }
  if (!acknowledged && !dropped) {
    error = "proc connector: the kernel did not acknowledge LISTEN (not in "
            "the initial user and pid namespace?)";
    last_error_ = error;
    close();
    return false;
  }
  // Events received while waiting for the acknowledgement predate the
  // caller's first listing; they are dropped (the listing covers them).
  error.clear();
  last_error_.clear();
  return true;
}

proc_connector::recv_status
proc_connector::receive(std::vector<proc_event> &out, int timeout_ms) {
  if (fd_ < 0) {
    last_error_ = "proc connector: not open";
    return recv_status::error;
  }
  struct pollfd pfd {
    fd_, POLLIN, 0
  };
  int rc = ::poll(&pfd, 1, timeout_ms);
  if (rc < 0) {
    if (errno == EINTR)
      return recv_status::timeout;
    last_error_ = "proc connector: poll: " + errno_text(errno);
    return recv_status::error;
  }
  if (rc == 0)
    return recv_status::timeout;
  if (buf_.size() < 65536)
    buf_.resize(65536);
  int datagrams = 0;
  // Drain what is queued, bounded so one call cannot starve the caller.
  for (int i = 0; i < 1024; ++i) {
    struct sockaddr_nl from;
    std::memset(&from, 0, sizeof(from));
    struct iovec iov {
      buf_.data(), buf_.size()
    };
    struct msghdr mh;
    std::memset(&mh, 0, sizeof(mh));
    mh.msg_name = &from;
    mh.msg_namelen = sizeof(from);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t n = ::recvmsg(fd_, &mh, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      if (errno == ENOBUFS) {
        ++overflows_;
        return recv_status::overflow;
      }
      last_error_ = "proc connector: recv: " + errno_text(errno);
      return recv_status::error;
    }
    ++datagrams;
    if (from.nl_pid != 0) {
      ++foreign_;
      continue;
    }
    if (mh.msg_flags & MSG_TRUNC)
      ++stats_.malformed; // decode what fits; the rest is lost
    decode_into(buf_.data(), static_cast<std::size_t>(n), stats_, out, nullptr);
  }
  return datagrams > 0 ? recv_status::ok : recv_status::timeout;
}

void proc_connector::close() {
  if (fd_ < 0)
    return;
  send_op(PROC_CN_MCAST_IGNORE);
  ::close(fd_);
  fd_ = -1;
}

// -- events -> updates -----------------------------------------------------

timestamp realtime_now() {
  struct timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<timestamp>(ts.tv_sec) * hns_per_second
         + from_ns(ts.tv_nsec);
}

namespace {

void set_field(data_fields &data, const std::string &key, std::string json) {
  for (auto &f : data)
    if (f.key == key) {
      f.json = std::move(json);
      return;
    }
  data.push_back(data_field{key, std::move(json)});
}

const std::string *get_field(const data_fields &data, const std::string &key) {
  for (auto &f : data)
    if (f.key == key)
      return &f.json;
  return nullptr;
}

void erase_field(data_fields &data, const std::string &key) {
  data.erase(std::remove_if(data.begin(), data.end(),
                            [&](const data_field &f) { return f.key == key; }),
             data.end());
}

std::string json_of(const std::string &s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

bool is_zombie_state(char state) {
  return state == 'Z' || state == 'X';
}

// The pid whose process an event concerns, 0 for thread-only events.
int process_of(const proc_event &ev) {
  switch (ev.what) {
  case proc_event::fork:
  case proc_event::exit:
  case proc_event::comm:
    return ev.pid == ev.tgid && ev.tgid > 0 ? ev.tgid : 0;
  case proc_event::exec:
    return ev.tgid > 0 ? ev.tgid : ev.pid;
  case proc_event::other:
    break;
  }
  return 0;
}

constexpr std::size_t none = static_cast<std::size_t>(-1);

// The minimal record of a process known only from an event.
process_record bare_record(int pid, timestamp start) {
  process_record p;
  p.pid = std::to_string(pid);
  p.start_time = start;
  set_field(p.data, "Pid", p.pid);
  std::string t;
  append_time_json(t, start);
  set_field(p.data, "StartTime", std::move(t));
  return p;
}

} // namespace

void event_translator::remember(int pid, known_process k, update_counts &c) {
  // Memory: an image is kept for inheritance only up to 64 KiB; a bigger
  // one is read from /proc when a child needs it.
  if (k.name.size() + k.exe.size() + k.cmdline.size() > 65536) {
    k.exe.clear();
    k.cmdline.clear();
    k.name.clear();
  }
  if (known_.size() >= max_known_ && known_.count(pid) == 0) {
    c.identities_dropped += known_.size();
    known_.clear();
  }
  known_[pid] = std::move(k);
}

void event_translator::translate(const std::vector<proc_event> &events,
                                 const procfs_reader &reader,
                                 std::vector<process_update> &out,
                                 timestamp now, update_counts *counts,
                                 std::vector<proc_event> *undecided,
                                 std::size_t must_decide) {
  update_counts scratch;
  auto &c = counts ? *counts : scratch;
  // next[i]: the index of the next event of the same process, or none.
  std::vector<std::size_t> next(events.size(), none);
  {
    std::unordered_map<int, std::size_t> later;
    for (std::size_t i = events.size(); i-- > 0;) {
      int p = process_of(events[i]);
      if (p == 0)
        continue;
      auto it = later.find(p);
      if (it != later.end()) {
        next[i] = it->second;
        it->second = i;
      } else {
        later.emplace(p, i);
      }
    }
  }
  // The next fork/exec/exit of the process after i (comm skipped).
  auto next_lifecycle = [&](std::size_t i) {
    for (auto j = next[i]; j != none; j = next[j])
      if (events[j].what != proc_event::comm)
        return j;
    return none;
  };
  // What the batch says about the process after i: another process took
  // the pid (a fork), it ended for good (an exit not followed by its exec),
  // or it exec'd.
  struct future {
    bool replaced = false, ended = false, execs = false;
  };
  auto future_of = [&](std::size_t i) {
    future f;
    for (auto j = next_lifecycle(i); j != none; j = next_lifecycle(j)) {
      auto &e = events[j];
      if (e.what == proc_event::fork) {
        f.replaced = true;
        break;
      }
      if (e.what == proc_event::exec) {
        f.execs = true;
        continue;
      }
      if (e.what == proc_event::exit) {
        auto k = next_lifecycle(j);
        if (k != none && events[k].what == proc_event::exec)
          continue; // a thread's execve(): the process goes on
        f.ended = true;
        break;
      }
    }
    return f;
  };
  auto exit_time = now != unknown_time ? now : realtime_now();
  // An event's time (CLOCK_MONOTONIC ns) on the wall clock.
  timestamp mono_to_real = 0;
  {
    struct timespec m;
    ::clock_gettime(CLOCK_MONOTONIC, &m);
    mono_to_real = realtime_now()
                   - (static_cast<timestamp>(m.tv_sec) * hns_per_second
                      + from_ns(m.tv_nsec));
  }
  auto image_time = [&](const proc_event &e) {
    std::string t;
    append_time_json(t, mono_to_real
                            + from_ns(static_cast<std::int64_t>(e.ktime_ns)));
    return t;
  };

  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto &ev = events[i];
    const int pid = process_of(ev);
    if (pid == 0)
      continue;
    switch (ev.what) {
    case proc_event::fork: {
      const auto fut = future_of(i);
      const auto ev_ticks = reader.ticks_of_event(ev.ktime_ns);
      procfs_reader::read_facts fx;
      auto rec = reader.read_process(pid, &fx);
      bool zombie = rec && (is_zombie_state(fx.state) || fx.exiting);
      // The read is this child's only if it started no later than the
      // event (one tick of slack for rounding), no later fork of the pid
      // follows, and, when the batch says it ended, it is its zombie.
      bool ours = rec && fx.start_ticks <= ev_ticks && !fut.replaced
                  && (!fut.ended || zombie);
      if (rec && !ours)
        ++c.foreign_reads;
      known_process k;
      k.creator = ev.parent_tgid;
      k.ticks = ours ? fx.start_ticks : ev_ticks;
      k.start = reader.time_of_ticks(k.ticks);
      if (k.start == unknown_time)
        k.start = reader.from_boot_ns(ev.ktime_ns);
      process_update u;
      u.kind = update_kind::start;
      if (ours) {
        u.process = std::move(*rec);
        u.process.start_time = k.start;
      } else {
        // The fork event's time on /proc's tick grid: the start, or up to
        // a tick after it when a tick began between the two.
        u.process = bare_record(pid, k.start);
        set_field(u.process.data, "StartEstimated", "true");
      }
      auto &p = u.process;
      const std::string ppid = std::to_string(ev.parent_tgid);
      p.ppid = ppid;
      set_field(p.data, "Ppid", ppid);
      if (ours && fx.ppid > 0 && fx.ppid != ev.parent_tgid)
        set_field(p.data, "CurrentPpid", std::to_string(fx.ppid));
      set_field(p.data, "ParentSource", "\"fork\"");
      bool image_read = ours && !zombie && fx.image_consistent;
      if (image_read) {
        if (auto n = get_field(p.data, "Name"))
          k.name = *n;
        if (auto e = get_field(p.data, "Exe"))
          k.exe = *e;
        if (auto cl = get_field(p.data, "CommandLine"))
          k.cmdline = *cl;
      } else {
        // No image of its own from this read: none (an exec follows and
        // brings it) or its parent's, which it runs until it execs.
        erase_field(p.data, "Name");
        erase_field(p.data, "Exe");
        erase_field(p.data, "CommandLine");
        if (!fut.execs) {
          known_process parent;
          bool have = false;
          auto pk = known_.find(ev.parent_tgid);
          if (pk != known_.end() && pk->second.ticks <= ev_ticks
              && !pk->second.name.empty()) {
            parent = pk->second;
            have = true;
          } else {
            procfs_reader::read_facts pf;
            auto pr = reader.read_process(ev.parent_tgid, &pf);
            if (pr && pf.start_ticks <= ev_ticks && !is_zombie_state(pf.state)
                && !pf.exiting && pf.image_consistent) {
              if (auto n = get_field(pr->data, "Name"))
                parent.name = *n;
              if (auto e = get_field(pr->data, "Exe"))
                parent.exe = *e;
              if (auto cl = get_field(pr->data, "CommandLine"))
                parent.cmdline = *cl;
              have = true;
            }
          }
          if (have && !parent.name.empty()) {
            k.name = parent.name;
            k.exe = parent.exe;
            k.cmdline = parent.cmdline;
            k.inherited = true;
            set_field(p.data, "Name", k.name);
            if (!k.exe.empty())
              set_field(p.data, "Exe", k.exe);
            if (!k.cmdline.empty())
              set_field(p.data, "CommandLine", k.cmdline);
            set_field(p.data, "ImageInherited", "true");
            ++c.inherited_images;
          }
        }
      }
      if (!k.name.empty())
        set_field(p.data, "ExecName", k.name);
      p.identity = record_identity::exact_new;
      u.time = p.start_time;
      out.push_back(std::move(u));
      remember(pid, std::move(k), c);
      break;
    }
    case proc_event::exec: {
      const auto fut = future_of(i);
      auto kit = known_.find(pid);
      const auto ev_ticks = reader.ticks_of_event(ev.ktime_ns);
      procfs_reader::read_facts fx;
      auto rec = reader.read_process(pid, &fx);
      bool ours = rec && !fut.replaced
                  && (kit != known_.end() ? fx.start_ticks == kit->second.ticks
                                          : fx.start_ticks <= ev_ticks);
      if (rec && !ours)
        ++c.foreign_reads;
      if (!ours && kit == known_.end())
        break; // gone, and its start was never known: nothing to name
      known_process k = kit != known_.end() ? kit->second : known_process{};
      if (kit == known_.end()) {
        k.ticks = fx.start_ticks;
        k.start = reader.time_of_ticks(k.ticks);
        k.creator = 0; // unknown here: the table keeps its Ppid
      }
      process_update u;
      u.kind = update_kind::start;
      u.process = ours ? std::move(*rec) : bare_record(pid, k.start);
      auto &p = u.process;
      p.start_time = k.start;
      // Data.Ppid stays the creator's; /proc's parent may be a reaper.
      erase_field(p.data, "Ppid");
      p.ppid.clear();
      if (ours && fx.ppid > 0 && k.creator > 0 && fx.ppid != k.creator)
        set_field(p.data, "CurrentPpid", std::to_string(fx.ppid));
      bool zombie = ours && (is_zombie_state(fx.state) || fx.exiting);
      bool image_read = ours && !zombie && fx.image_consistent;
      auto take = [&](const char *key, std::string &into) {
        auto v = image_read ? get_field(p.data, key) : nullptr;
        into = v ? *v : std::string{};
        set_field(p.data, key, v ? *v : std::string{"null"});
      };
      // The name of a zombie is still its own (stat), its Exe and command
      // line are not: null, never the image it had before this exec.
      std::string name_now;
      if (ours && !image_read)
        if (auto n = get_field(p.data, "Name"))
          name_now = *n;
      take("Name", k.name);
      if (!image_read && !name_now.empty()) {
        k.name = name_now;
        set_field(p.data, "Name", name_now);
      }
      take("Exe", k.exe);
      take("CommandLine", k.cmdline);
      if (!image_read)
        ++c.unread_images;
      set_field(p.data, "ExecName", k.name.empty() ? "null" : k.name);
      if (k.inherited)
        set_field(p.data, "ImageInherited", "false");
      set_field(p.data, "ImageTime", image_time(ev));
      k.inherited = false;
      p.identity = record_identity::exact;
      u.time = p.start_time;
      out.push_back(std::move(u));
      remember(pid, std::move(k), c);
      break;
    }
    case proc_event::exit: {
      auto after = next_lifecycle(i);
      if (after != none && events[after].what == proc_event::exec) {
        ++c.thread_exec_exits; // a thread's execve() ended the old leader
        break;
      }
      auto kit = known_.find(pid);
      bool final_exit = after != none; // a fork of the pid follows
      if (!final_exit && kit != known_.end()) {
        auto ticks = reader.start_ticks(pid);
        if (!ticks || *ticks != kit->second.ticks)
          final_exit = true; // gone, or the pid is another process's
      }
      if (!final_exit) {
        // Nothing after it in the batch. A thread's execve() is followed by
        // its exec event at once, so a leader exit that /proc does not show
        // ended is held until the next events tell (an exec: not an exit;
        // a fork of the pid: final), even when /proc shows a live process
        // under the same ticks (a new holder of the pid in the same tick
        // looks just like it). Forced to decide, /proc's word is taken.
        using le = procfs_reader::leader_exit;
        auto judged = reader.classify_leader_exit(pid);
        if (judged != le::ended && undecided && i >= must_decide) {
          undecided->push_back(ev);
          continue;
        }
        if (judged == le::thread_exec) {
          ++c.thread_exec_exits;
          continue;
        }
      }
      process_update u;
      u.kind = update_kind::exit;
      u.target = std::to_string(pid);
      u.process.pid = u.target;
      if (kit != known_.end()) {
        u.process.start_time = kit->second.start;
        u.process.identity = record_identity::exact;
        known_.erase(kit);
      }
      u.time = exit_time;
      out.push_back(std::move(u));
      break;
    }
    case proc_event::comm: {
      auto kit = known_.find(pid);
      timestamp start = unknown_time;
      if (kit != known_.end()) {
        start = kit->second.start;
      } else {
        auto ticks = reader.start_ticks(pid);
        if (!ticks || *ticks > reader.ticks_of_event(ev.ktime_ns))
          break; // gone, or the pid is already another process's
        start = reader.time_of_ticks(*ticks);
      }
      process_update u;
      u.kind = update_kind::start;
      u.process = bare_record(pid, start);
      auto name =
          json_of(std::string(ev.name, ::strnlen(ev.name, sizeof(ev.name))));
      set_field(u.process.data, "Name", name);
      if (kit != known_.end() && !kit->second.name.empty())
        set_field(u.process.data, "ExecName", kit->second.name);
      set_field(u.process.data, "ImageTime", image_time(ev));
      u.process.identity = record_identity::exact;
      u.time = start;
      out.push_back(std::move(u));
      ++c.comm_changes;
      break;
    }
    case proc_event::other:
      break;
    }
  }
}

std::size_t to_updates(const proc_event &ev, const procfs_reader &reader,
                       std::vector<process_update> &out, timestamp now,
                       update_counts *counts,
                       std::vector<proc_event> *undecided) {
  return to_updates(std::vector<proc_event>{ev}, reader, out, now, counts,
                    undecided);
}

std::size_t to_updates(const std::vector<proc_event> &events,
                       const procfs_reader &reader,
                       std::vector<process_update> &out, timestamp now,
                       update_counts *counts,
                       std::vector<proc_event> *undecided) {
  auto before = out.size();
  event_translator t;
  t.translate(events, reader, out, now, counts, undecided);
  return out.size() - before;
}

} // namespace proctrack::linux_proc

#endif // defined(__linux__)
