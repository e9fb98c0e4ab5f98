#include "bench/workload.hpp"

#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

#include <cstdio>

namespace proctrack::bench {

namespace {

struct image {
  const char *exe, *name, *description, *company, *product, *version, *args,
      *user, *integrity;
};

// Real Windows binaries and what Sysmon reports about them: the data dicts
// are as long as EID 1's (about 900 bytes of JSON).
const image images[] = {
    {"C:\\Windows\\System32\\svchost.exe", "svchost.exe",
     "Host Process for Windows Services", "Microsoft Corporation",
     "Microsoft\u00ae Windows\u00ae Operating System",
     "10.0.19041.1 (WinBuild.160101.0800)", "-k netsvcs -p -s Schedule",
     "NT AUTHORITY\\SYSTEM", "System"},
    {"C:\\Windows\\System32\\cmd.exe", "cmd.exe", "Windows Command Processor",
     "Microsoft Corporation", "Microsoft\u00ae Windows\u00ae Operating System",
     "10.0.19041.746 (WinBuild.160101.0800)",
     "/c C:\\Windows\\TEMP\\update.bat C:\\ProgramData\\agent\\run.cmd",
     "CORP\\alice", "High"},
    {"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
     "powershell.exe", "Windows PowerShell", "Microsoft Corporation",
     "Microsoft\u00ae Windows\u00ae Operating System",
     "10.0.19041.546 (WinBuild.160101.0800)",
     "-NoProfile -ExecutionPolicy Bypass -File C:\\Scripts\\inventory.ps1",
     "CORP\\alice", "Medium"},
    {"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", "chrome.exe",
     "Google Chrome", "Google LLC", "Google Chrome", "108.0.5359.125",
     "--type=renderer --field-trial-handle=1736,i,1234567 --lang=en-US "
     "--renderer-client-id=7 --mojo-platform-channel-handle=3400",
     "CORP\\bob", "Low"},
    {"C:\\Windows\\System32\\conhost.exe", "conhost.exe", "Console Window Host",
     "Microsoft Corporation", "Microsoft\u00ae Windows\u00ae Operating System",
     "10.0.19041.1202 (WinBuild.160101.0800)", "0xffffffff -ForceV1",
     "CORP\\alice", "High"},
    {"C:\\Windows\\System32\\wbem\\WmiPrvSE.exe", "WmiPrvSE.exe",
     "WMI Provider Host", "Microsoft Corporation",
     "Microsoft\u00ae Windows\u00ae Operating System",
     "10.0.19041.1 (WinBuild.160101.0800)", "-secured -Embedding",
     "NT AUTHORITY\\NETWORK SERVICE", "System"},
    {"C:\\Windows\\System32\\rundll32.exe", "rundll32.exe",
     "Windows host process (Rundll32)", "Microsoft Corporation",
     "Microsoft\u00ae Windows\u00ae Operating System",
     "10.0.19041.1 (WinBuild.160101.0800)",
     "C:\\Windows\\system32\\shell32.dll,SHCreateLocalServerRunDll "
     "{9aa46009-3ce0-458a-a354-715610a075e6} -Embedding",
     "CORP\\bob", "Medium"},
    {"C:\\Program Files\\Git\\usr\\bin\\ssh.exe", "ssh.exe", "", "", "",
     "8.9p1", "-o StrictHostKeyChecking=no git@github.com git-upload-pack",
     "CORP\\carol", "Medium"},
};
constexpr std::uint32_t n_images = sizeof(images) / sizeof(images[0]);

const char hex[] = "0123456789abcdef";

std::string hex_string(splitmix64 &rng, std::size_t n) {
  std::string s(n, '0');
  for (auto &c : s)
    c = hex[rng.below(16)];
  return s;
}

std::string quoted(std::string_view s) {
  return json_string(s);
}

} // namespace

workload::workload(workload_config cfg)
    : cfg_(cfg), rng_{cfg.seed}, clock_(*parse_time("2021-01-01T00:00:00Z")),
      pid_used_(cfg.pid_max, false) {
  // The boot processes: System (4) and a services host to hang the tree on.
  for (std::uint32_t pid : {4u, 100u}) {
    pid_used_[pid] = true;
    running_.push_back(proc{pid, 0, clock_, make_guid(), "", 0, 0, 0});
  }
}

std::string workload::make_guid() {
  // Sysmon's layout: {machine-part-time-seq}, lower case as JSON exports.
  auto h = hex_string(rng_, 32);
  return "{" + h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4)
         + "-" + h.substr(16, 4) + "-" + h.substr(20, 12) + "}";
}

std::uint32_t workload::alloc_pid() {
  // Linux hands out pids in increasing order, wrapping at pid_max and
  // skipping pids in use: a pid comes back every few thousand starts.
  for (;;) {
    auto pid = next_pid_;
    next_pid_ = next_pid_ + 1 >= cfg_.pid_max ? 300 : next_pid_ + 1;
    if (!pid_used_[pid]) {
      pid_used_[pid] = true;
      return pid;
    }
  }
}

void workload::kill(std::size_t index) {
  pid_used_[running_[index].pid] = false;
  running_[index] = std::move(running_.back());
  running_.pop_back();
}

void workload::make_start(const proc &p, process_update &out, bool merge) {
  out = process_update{};
  out.kind = update_kind::start;
  auto &r = out.process;
  r.pid = std::to_string(p.pid);
  r.ppid = std::to_string(p.ppid);
  r.start_time = p.start;
  if (cfg_.data == data_size::empty)
    return;
  r.guid = p.guid;
  r.parent_guid = p.parent_guid;
  auto &im = images[p.image];
  auto &pim = images[p.parent_image];
  std::string cmd = std::string{"\""} + im.exe + "\" " + im.args;
  if (merge) // an exec-like refresh: same process, new command line
    cmd += " --refresh " + std::to_string(p.serial);
  auto &d = r.data;
  d.reserve(21);
  d.push_back({"Pid", std::to_string(p.pid)});
  d.push_back({"Ppid", std::to_string(p.ppid)});
  d.push_back({"Name", quoted(im.name)});
  d.push_back({"StartTime", "\"" + format_time(p.start) + "\""});
  d.push_back({"Username", quoted(im.user)});
  d.push_back({"Exe", quoted(im.exe)});
  d.push_back({"CommandLine", quoted(cmd)});
  d.push_back({"CurrentDirectory", quoted("C:\\Windows\\system32\\")});
  d.push_back({"FileVersion", quoted(im.version)});
  d.push_back({"Description", quoted(im.description)});
  d.push_back({"Company", quoted(im.company)});
  d.push_back({"Product", quoted(im.product)});
  d.push_back({"OriginalFilename", quoted(im.name)});
  d.push_back({"ParentImage", quoted(pim.exe)});
  d.push_back({"ParentCommandLine",
               quoted(std::string{"\""} + pim.exe + "\" " + pim.args)});
  d.push_back({"TerminalSessionId", std::to_string(p.serial % 3)});
  d.push_back({"IntegrityLevel", quoted(im.integrity)});
  // The hashes are a function of the image (as on a real host).
  splitmix64 h{p.image * 7919ull + 1};
  d.push_back({"Hashes", "{\"SHA256\":\"" + hex_string(h, 64) + "\",\"MD5\":\""
                             + hex_string(h, 32) + "\",\"IMPHASH\":\""
                             + hex_string(h, 32) + "\"}"});
  d.push_back({"ProcessGuid", quoted(p.guid)});
  d.push_back({"ParentProcessGuid", quoted(p.parent_guid)});
}

void workload::next_start(process_update &out) {
  clock_ += static_cast<timestamp>(rng_.below(20'000'000)); // 0-20 ms
  proc p;
  auto &parent = running_[rng_.below(running_.size())];
  p.pid = alloc_pid();
  p.ppid = parent.pid;
  p.start = clock_;
  p.guid = make_guid();
  p.parent_guid = parent.guid;
  p.image = static_cast<std::uint32_t>(rng_.below(n_images));
  p.parent_image = parent.image;
  p.serial = serial_++;
  // A busy host holds a few thousand processes: beyond that, one dies
  // without an exit row (a lost event the next sync or pid reuse catches).
  if (running_.size() >= cfg_.max_running) {
    kill(2 + rng_.below(running_.size() - 2));
    ++lost;
  }
  make_start(p, out, false);
  running_.push_back(std::move(p));
  ++starts;
}

bool workload::next(process_update &out) {
  if (row_ >= cfg_.rows)
    return false;
  ++row_;
  if (cfg_.sync_every && row_ % cfg_.sync_every == 0) {
    // A pslist listing of everything alive, with pslist-sized data.
    out = process_update{};
    out.kind = update_kind::sync;
    out.time = clock_;
    out.processes.reserve(running_.size());
    for (auto &p : running_) {
      process_record r;
      r.pid = std::to_string(p.pid);
      r.ppid = std::to_string(p.ppid);
      r.start_time = p.start;
      if (cfg_.data == data_size::sysmon) {
        auto &im = images[p.image];
        r.data.push_back({"Name", quoted(im.name)});
        r.data.push_back({"Exe", quoted(im.exe)});
        r.data.push_back({"CommandLine", quoted(std::string{"\""} + im.exe
                                                + "\" " + im.args)});
        r.data.push_back({"Username", quoted(im.user)});
      }
      out.processes.push_back(std::move(r));
    }
    ++syncs;
    return true;
  }
  auto dice = rng_.below(100);
  if (dice < 70 || running_.size() <= 2) {
    next_start(out);
    return true;
  }
  if (dice < 95) {
    clock_ += static_cast<timestamp>(rng_.below(20'000'000));
    auto i = 2 + rng_.below(running_.size() - 2);
    out = process_update{};
    out.kind = update_kind::exit;
    out.target = std::to_string(running_[i].pid);
    out.time = clock_;
    kill(i);
    ++exits;
    return true;
  }
  // A second start row for a running process (an exec, or the same event
  // from a second source): the table merges it.
  auto &p = running_[2 + rng_.below(running_.size() - 2)];
  make_start(p, out, true);
  ++merges;
  return true;
}

namespace {

void append_record(std::string &out, const process_record &r) {
  out += "\"id\":";
  out += r.pid;
  out += ",\"parent_id\":";
  out += r.ppid.empty() ? "null" : r.ppid;
  out += ",\"start_time\":";
  append_time_json(out, r.start_time);
  out += ",\"data\":{";
  bool first = true;
  for (auto &f : r.data) {
    if (!first)
      out += ',';
    first = false;
    append_json_string(out, f.key);
    out += ':';
    out += f.json;
  }
  out += '}';
}

} // namespace

void append_row_json(std::string &out, const process_update &u) {
  switch (u.kind) {
  case update_kind::start:
    out += "{\"update_type\":\"start\",";
    append_record(out, u.process);
    out += '}';
    break;
  case update_kind::exit:
    out += "{\"update_type\":\"exit\",\"id\":";
    append_json_string(out, u.target);
    out += ",\"end_time\":";
    append_time_json(out, u.time);
    out += '}';
    break;
  case update_kind::sync:
    out += "{\"update_type\":\"sync\",\"time\":";
    append_time_json(out, u.time);
    out += ",\"processes\":[";
    for (std::size_t i = 0; i < u.processes.size(); ++i) {
      if (i)
        out += ',';
      out += '{';
      append_record(out, u.processes[i]);
      out += '}';
    }
    out += "]}";
    break;
  }
}

} // namespace proctrack::bench
