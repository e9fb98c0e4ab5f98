#include "actors/live/ebpf_translator.hpp"

// Linux only: the library globs every actors/*.cpp on every platform.
#if defined(__linux__)

#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"
#include "actors/live/bpf/proc_events.h"
#include "actors/live/proc_connector.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <optional>

namespace proctrack::linux_proc {

bool decode_ebpf_record(const void *p, std::size_t len, ebpf_event &out) {
  constexpr std::size_t header = offsetof(pt_event, data);
  if (p == nullptr || len < header)
    return false;
  pt_event h;
  std::memcpy(&h, p, header);
  if (h.kind < PT_EV_FORK || h.kind > PT_EV_COMM || h.exe_len > PT_EXE_MAX
      || h.args_len > PT_ARGS_MAX
      || len - header < std::size_t{h.exe_len} + h.args_len)
    return false;
  const char *data = static_cast<const char *>(p) + header;
  out.what = static_cast<ebpf_event::kind>(h.kind);
  out.flags = h.flags;
  out.pid = h.pid;
  out.tgid = h.tgid;
  out.ppid = h.ppid;
  out.uid = h.uid;
  out.start_boottime = h.start_boottime;
  out.time_boottime = h.time_boottime;
  out.exit_code = h.exit_code;
  out.old_pid = h.old_pid;
  out.name.assign(h.comm, ::strnlen(h.comm, sizeof(h.comm)));
  out.exe.assign(data, h.exe_len);
  out.args.assign(data + h.exe_len, h.args_len);
  return true;
}

std::uint64_t ticks_of_boottime(std::uint64_t ns, long hz) {
  if (hz <= 0)
    return 0;
  // USER_HZ divides 1e9 (100, 250, 1000): the kernel's nsec_to_clock_t
  // divides by the ns per tick; otherwise the exact product, split to
  // avoid overflow.
  auto h = static_cast<std::uint64_t>(hz);
  constexpr std::uint64_t ns_s = 1'000'000'000ULL;
  if (ns_s % h == 0)
    return ns / (ns_s / h);
  return (ns / ns_s) * h + (ns % ns_s) * h / ns_s;
}

namespace {

void add(data_fields &data, const char *key, std::string json) {
  data.push_back(data_field{key, std::move(json)});
}

void set(data_fields &data, const char *key, std::string json) {
  for (auto &f : data)
    if (f.key == key) {
      f.json = std::move(json);
      return;
    }
  add(data, key, std::move(json));
}

const std::string *find(const data_fields &data, const char *key) {
  for (auto &f : data)
    if (f.key == key)
      return &f.json;
  return nullptr;
}

std::string json_str(const std::string &s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::string json_time(timestamp t) {
  std::string out;
  append_time_json(out, t);
  return out;
}

// /proc/PID/cmdline's text as procfs_reader makes it: trailing NULs
// dropped, the others spaces.
std::string command_line(std::string raw) {
  while (!raw.empty() && raw.back() == '\0')
    raw.pop_back();
  std::replace(raw.begin(), raw.end(), '\0', ' ');
  return raw;
}

timestamp time_of(const struct timespec &t) {
  return static_cast<timestamp>(t.tv_sec) * hns_per_second + from_ns(t.tv_nsec);
}

} // namespace

void ebpf_translator::translate(const std::vector<ebpf_event> &events,
                                const procfs_reader &reader,
                                std::vector<process_update> &out,
                                ebpf_counts *counts) {
  ebpf_counts scratch;
  auto &c = counts ? *counts : scratch;
  // CLOCK_BOOTTIME on the wall clock.
  struct timespec b;
  ::clock_gettime(CLOCK_BOOTTIME, &b);
  const timestamp boot_to_real = realtime_now() - time_of(b);
  const long hz = reader.ticks_per_second();

  // The image fields of a fork or exec: from the event, what it lacks from
  // /proc when /proc shows this very process (same start ticks) alive.
  auto image = [&](const ebpf_event &ev, std::uint64_t ticks, data_fields &data,
                   bool null_when_unknown) {
    std::optional<std::string> exe, cmdline;
    if (!(ev.flags & ebpf_event::no_mm)) {
      if (ev.flags & ebpf_event::exe_unread)
        ++c.exe_unread;
      if (ev.flags & ebpf_event::args_truncated)
        ++c.args_truncated;
      if (ev.flags & ebpf_event::args_unread)
        ++c.args_unread;
      if (!(ev.flags & ebpf_event::exe_unread) && !ev.exe.empty())
        exe = json_str(ev.exe);
      if (!(ev.flags & (ebpf_event::args_truncated | ebpf_event::args_unread)))
        cmdline = json_str(command_line(ev.args));
      if (!exe || !cmdline) {
        ++c.proc_reads;
        procfs_reader::read_facts fx;
        auto rec = reader.read_process(ev.tgid, &fx);
        bool ours = rec && fx.start_ticks == ticks && fx.image_consistent
                    && fx.state != 'Z' && fx.state != 'X' && !fx.exiting;
        if (ours) {
          if (!exe)
            if (auto v = find(rec->data, "Exe"))
              exe = *v;
          if (!cmdline)
            if (auto v = find(rec->data, "CommandLine"))
              cmdline = *v;
        }
        if (!exe || !cmdline)
          ++c.unread_images;
      }
    } else {
      cmdline = json_str(""); // a kernel thread: /proc shows no Exe, ""
    }
    if (exe)
      add(data, "Exe", std::move(*exe));
    else if (null_when_unknown)
      add(data, "Exe", "null");
    if (cmdline)
      add(data, "CommandLine", std::move(*cmdline));
    else if (null_when_unknown)
      add(data, "CommandLine", "null");
  };
  auto remember = [&](int pid, known_process k) {
    if (known_.size() >= max_known_ && known_.count(pid) == 0) {
      c.identities_dropped += known_.size();
      known_.clear();
    }
    known_[pid] = std::move(k);
  };

  for (const auto &ev : events) {
    const int pid = ev.tgid;
    if (pid <= 0)
      continue;
    const auto ticks = ticks_of_boottime(ev.start_boottime, hz);
    const timestamp start = reader.time_of_ticks(ticks);
    const std::string pid_s = std::to_string(pid);
    process_update u;
    u.kind = update_kind::start;
    auto &p = u.process;
    p.pid = pid_s;
    p.start_time = start;
    u.time = start;
    switch (ev.what) {
    case ebpf_event::fork: {
      known_process k;
      k.ticks = ticks;
      k.creator = ev.ppid;
      k.name = json_str(ev.name);
      p.ppid = std::to_string(ev.ppid);
      add(p.data, "Pid", pid_s);
      add(p.data, "Ppid", p.ppid);
      add(p.data, "Name", k.name);
      image(ev, ticks, p.data, false);
      add(p.data, "Username", json_str(reader.user_name(ev.uid)));
      add(p.data, "StartTime", json_time(start));
      add(p.data, "ParentSource", "\"fork\"");
      add(p.data, "ExecName", k.name);
      p.identity = record_identity::exact_new;
      out.push_back(std::move(u));
      remember(pid, std::move(k));
      break;
    }
    case ebpf_event::exec: {
      auto kit = known_.find(pid);
      known_process k;
      if (kit != known_.end() && kit->second.ticks == ticks)
        k = kit->second;
      k.ticks = ticks;
      k.name = json_str(ev.name);
      add(p.data, "Pid", pid_s);
      add(p.data, "Name", k.name);
      image(ev, ticks, p.data, true);
      add(p.data, "Username", json_str(reader.user_name(ev.uid)));
      add(p.data, "StartTime", json_time(start));
      // Data.Ppid stays the creator's; the parent now may be a reaper.
      if (k.creator > 0 && ev.ppid > 0 && ev.ppid != k.creator)
        add(p.data, "CurrentPpid", std::to_string(ev.ppid));
      add(p.data, "ExecName", k.name);
      add(p.data, "ImageTime",
          json_time(boot_to_real
                    + from_ns(static_cast<std::int64_t>(ev.time_boottime))));
      p.identity = record_identity::exact;
      out.push_back(std::move(u));
      remember(pid, std::move(k));
      break;
    }
    case ebpf_event::exit: {
      u.kind = update_kind::exit;
      u.target = pid_s;
      p.identity = record_identity::exact;
      u.time =
          boot_to_real + from_ns(static_cast<std::int64_t>(ev.time_boottime));
      out.push_back(std::move(u));
      auto kit = known_.find(pid);
      if (kit != known_.end() && kit->second.ticks == ticks)
        known_.erase(kit);
      break;
    }
    case ebpf_event::comm: {
      add(p.data, "Pid", pid_s);
      add(p.data, "StartTime", json_time(start));
      set(p.data, "Name", json_str(ev.name));
      auto kit = known_.find(pid);
      if (kit != known_.end() && kit->second.ticks == ticks
          && !kit->second.name.empty())
        add(p.data, "ExecName", kit->second.name);
      add(p.data, "ImageTime",
          json_time(boot_to_real
                    + from_ns(static_cast<std::int64_t>(ev.time_boottime))));
      p.identity = record_identity::exact;
      out.push_back(std::move(u));
      ++c.comm_changes;
      break;
    }
    }
  }
}

} // namespace proctrack::linux_proc

#endif // defined(__linux__)
