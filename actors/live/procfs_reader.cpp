#include "actors/live/procfs_reader.hpp"

// Linux only: the library globs every actors/*.cpp on every platform.
#if defined(__linux__)

#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/types.h>
#include <unistd.h>
#include <unordered_map>

namespace proctrack::linux_proc {

namespace {

/// Reads a whole file, `name` relative to `dirfd` (or a path with
/// AT_FDCWD); procfs files report size 0, so it reads until EOF. With
/// `one_show` (a seq_file written by one show(): stat, status) a read
/// shorter than asked is the end, which saves the read that returns 0.
bool read_file_at(int dirfd, const char *name, std::string &out,
                  bool one_show = false) {
  out.clear();
  int fd = ::openat(dirfd, name, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  constexpr std::size_t chunk = 4096;
  for (;;) {
    auto have = out.size();
    out.resize(have + chunk);
    ssize_t n = ::read(fd, out.data() + have, chunk);
    if (n < 0) {
      if (errno == EINTR) {
        out.resize(have);
        continue;
      }
      int err = errno;
      ::close(fd);
      out.resize(have);
      errno = err;
      return false;
    }
    out.resize(have + static_cast<std::size_t>(n));
    if (n == 0 || (one_show && static_cast<std::size_t>(n) < chunk))
      break;
  }
  ::close(fd);
  return true;
}

bool read_whole_file(const std::string &path, std::string &out) {
  return read_file_at(AT_FDCWD, path.c_str(), out);
}

template <class T>
bool parse_number(std::string_view s, T &out) {
  if (s.empty())
    return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

/// Value of a "Key:\tvalue ..." line of /proc/PID/status: the first
/// whitespace-separated token after the colon.
std::optional<std::string_view> status_field(std::string_view status,
                                             std::string_view key) {
  size_t pos = 0;
  while (pos < status.size()) {
    size_t eol = status.find('\n', pos);
    if (eol == std::string_view::npos)
      eol = status.size();
    std::string_view line = status.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.size() > key.size() && line.compare(0, key.size(), key) == 0
        && line[key.size()] == ':') {
      line.remove_prefix(key.size() + 1);
      size_t b = line.find_first_not_of(" \t");
      if (b == std::string_view::npos)
        return std::string_view{};
      line.remove_prefix(b);
      size_t e = line.find_first_of(" \t");
      return line.substr(0, e);
    }
  }
  return std::nullopt;
}

std::int64_t read_btime(const std::string &root) {
  std::string text;
  if (!read_whole_file(root + "/stat", text))
    return 0;
  std::string_view s = text;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t eol = s.find('\n', pos);
    if (eol == std::string_view::npos)
      eol = s.size();
    std::string_view line = s.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.compare(0, 6, "btime ") == 0) {
      line.remove_prefix(6);
      while (!line.empty() && line.back() == ' ')
        line.remove_suffix(1);
      std::int64_t v = 0;
      if (parse_number(line, v))
        return v;
      return 0;
    }
  }
  return 0;
}

using user_cache = std::unordered_map<std::uint32_t, std::string>;

std::string user_name(std::uint32_t uid, user_cache &cache) {
  if (auto i = cache.find(uid); i != cache.end())
    return i->second;
  std::string name;
  struct passwd pw;
  struct passwd *res = nullptr;
  std::vector<char> buf(1024);
  for (;;) {
    int rc = ::getpwuid_r(uid, &pw, buf.data(), buf.size(), &res);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc == 0 && res != nullptr && res->pw_name != nullptr)
      name = res->pw_name;
    break;
  }
  if (name.empty())
    name = std::to_string(uid);
  cache.emplace(uid, name);
  return name;
}

void add_field(data_fields &data, std::string key, std::string json) {
  data.push_back(data_field{std::move(key), std::move(json)});
}

} // namespace

timestamp start_time_from_ticks(std::uint64_t start_ticks,
                                std::int64_t btime_seconds,
                                long ticks_per_second) {
  if (ticks_per_second <= 0 || btime_seconds <= 0)
    return unknown_time;
  auto hz = static_cast<std::uint64_t>(ticks_per_second);
  auto secs = static_cast<std::int64_t>(start_ticks / hz);
  auto frac = static_cast<std::int64_t>(
      (start_ticks % hz) * static_cast<std::uint64_t>(hns_per_second) / hz);
  return (btime_seconds + secs) * hns_per_second + frac;
}

std::optional<stat_line> parse_stat_line(std::string_view text) {
  size_t open = text.find('(');
  size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos
      || close < open)
    return std::nullopt;
  stat_line out;
  out.comm = std::string(text.substr(open + 1, close - open - 1));
  // Fields after comm, starting at field 3 (state).
  std::string_view rest = text.substr(close + 1);
  int field = 3;
  bool have_ppid = false, have_start = false;
  size_t pos = 0;
  while (pos < rest.size() && field <= 49) {
    while (pos < rest.size() && (rest[pos] == ' ' || rest[pos] == '\n'))
      ++pos;
    if (pos >= rest.size())
      break;
    size_t end = rest.find_first_of(" \n", pos);
    if (end == std::string_view::npos)
      end = rest.size();
    std::string_view tok = rest.substr(pos, end - pos);
    pos = end;
    if (field == 3) {
      out.state = tok.size() == 1 ? tok[0] : '?';
    } else if (field == 4) {
      have_ppid = parse_number(tok, out.ppid);
    } else if (field == 9) {
      parse_number(tok, out.flags);
    } else if (field == 22) {
      have_start = parse_number(tok, out.starttime);
    } else if (field == 23) {
      parse_number(tok, out.vsize);
    } else if (field == 48) {
      parse_number(tok, out.arg_start);
    } else if (field == 49) {
      parse_number(tok, out.arg_end);
    }
    ++field;
  }
  if (!have_ppid || !have_start)
    return std::nullopt;
  return out;
}

procfs_reader::procfs_reader(std::string proc_root)
    : procfs_reader(std::move(proc_root), ::sysconf(_SC_CLK_TCK)) {
  // nop
}

procfs_reader::procfs_reader(std::string proc_root, long ticks_per_second)
    : root_(std::move(proc_root)), hz_(ticks_per_second),
      boot_offset_ns_(measure_boot_offset_ns()) {
  btime_ = read_btime(root_);
}

timestamp procfs_reader::from_boot_ns(std::uint64_t ns_since_boot) const {
  if (btime_ <= 0)
    return unknown_time;
  return btime_ * hns_per_second
         + from_ns(static_cast<std::int64_t>(ns_since_boot));
}

timestamp procfs_reader::start_time(int pid) const {
  std::string text;
  if (pid <= 0
      || !read_file_at(AT_FDCWD,
                       (root_ + "/" + std::to_string(pid) + "/stat").c_str(),
                       text, true))
    return unknown_time;
  auto st = parse_stat_line(text);
  if (!st)
    return unknown_time;
  return start_time_from_ticks(st->starttime, btime_, hz_);
}

namespace {

// A task that has exited but is not yet reaped (stat state Z, or X briefly).
bool is_zombie(const stat_line &st) {
  return st.state == 'Z' || st.state == 'X';
}

// The thread group's live threads, from /proc/PID/status; 0 if absent.
int thread_count(std::string_view status) {
  int threads = 0;
  if (auto n = status_field(status, "Threads"))
    parse_number(*n, threads);
  return threads;
}

// Whether status's "Uid:" line (real, effective, saved, fs) has one value
// for the real, effective and saved uid: then only a task using CAP_SETUID
// can change its real uid (setreuid/setresuid/setuid let an unprivileged
// task pick only among those three), and that sets PF_SUPERPRIV.
bool real_effective_saved_alike(std::string_view status) {
  auto at = status.find("\nUid:");
  if (at == std::string_view::npos)
    return false;
  auto line = status.substr(at + 5);
  line = line.substr(0, line.find('\n'));
  std::string_view ids[3];
  for (auto &id : ids) {
    auto b = line.find_first_not_of(" \t");
    if (b == std::string_view::npos)
      return false;
    line.remove_prefix(b);
    auto e = line.find_first_of(" \t");
    id = line.substr(0, e);
    line.remove_prefix(e == std::string_view::npos ? line.size() : e);
  }
  return ids[0] == ids[1] && ids[1] == ids[2];
}

} // namespace

namespace {
std::string live_thread(const std::string &dir, int pid);
} // namespace

procfs_reader::leader_exit procfs_reader::classify_leader_exit(int pid) const {
  const std::string dir = root_ + "/" + std::to_string(pid);
  std::string stat_text, status;
  if (pid <= 0
      || !read_file_at(AT_FDCWD, (dir + "/stat").c_str(), stat_text, true)
      || !read_file_at(AT_FDCWD, (dir + "/status").c_str(), status, true))
    return leader_exit::ended;
  auto st = parse_stat_line(stat_text);
  if (!st)
    return leader_exit::ended;
  bool zombie = is_zombie(*st);
  if (!zombie && st->vsize > 0)
    return leader_exit::thread_exec;
  // A zombie leader whose group still has another task is a de_thread in
  // progress (the exec'ing thread is not counted in Threads: any more) or a
  // group exit: not decided yet.
  if (zombie && thread_count(status) <= 1)
    return live_thread(dir, pid).empty() ? leader_exit::ended
                                         : leader_exit::undecided;
  return leader_exit::undecided;
}

namespace {

// A read of a process's file that failed for another reason than the
// process being gone (ENOENT: reaped before open; ESRCH: during read).
bool failed_not_gone(int err) {
  return err != ENOENT && err != ESRCH;
}

std::string describe(const std::string &path, int err) {
  return path + ": " + std::strerror(err);
}

// A thread of the group other than its leader, as "task/TID", or "".
std::string live_thread(const std::string &dir, int pid) {
  std::string found;
  if (DIR *d = ::opendir((dir + "/task").c_str())) {
    while (struct dirent *e = ::readdir(d)) {
      int tid = 0;
      if (parse_number(std::string_view{e->d_name}, tid) && tid != pid) {
        found = std::string("task/") + e->d_name;
        break;
      }
    }
    ::closedir(d);
  }
  return found;
}

// nullopt when the process is gone, is not a thread-group leader, or could
// not be read; in the last case `error` says why (see listing::error). A
// listing (`error` given) also leaves out zombies: they have exited, and
// /proc no longer shows their command line or Exe, which a sync would
// otherwise write over the ones seen at exec.
std::optional<process_record>
read_one(const std::string &root, std::int64_t btime, long hz, int pid,
         user_cache &users, std::string *error = nullptr,
         procfs_reader::read_facts *facts = nullptr,
         procfs_reader::known_process *known = nullptr) {
  if (pid <= 0)
    return std::nullopt;
  const std::string dir = root + "/" + std::to_string(pid);
  std::string status;
  std::string stat;
  auto unreadable = [&](const std::string &path) {
    int err = errno;
    if (error && failed_not_gone(err))
      *error = describe(path, err);
    return std::nullopt;
  };
  // Every file is opened relative to the process's directory: one path
  // walk, and every read is of the process the directory was opened for
  // (a pid taken over meanwhile reads as gone, not as the new holder).
  int dfd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return unreadable(dir + "/status");
  struct closer {
    int fd;
    ~closer() {
      ::close(fd);
    }
  } close_dfd{dfd};
  // status first: it decides whether pid is a thread-group leader.
  if (!read_file_at(dfd, "status", status, true))
    return unreadable(dir + "/status");
  if (auto tgid = status_field(status, "Tgid")) {
    int t = 0;
    if (parse_number(*tgid, t) && t != pid)
      return std::nullopt;
  }
  if (!read_file_at(dfd, "stat", stat, true))
    return unreadable(dir + "/stat");
  auto st = parse_stat_line(stat);
  if (!st)
    return std::nullopt;
  // Where Exe and cmdline are read (relative to dfd). A zombie leader whose
  // other threads still run (it called pthread_exit) is a running process:
  // its image is read through one of those threads, which share its memory.
  std::string image_rel;
  if (is_zombie(*st)) {
    if (thread_count(status) > 1) {
      if (auto task = live_thread(dir, pid); !task.empty())
        image_rel = task + "/";
    } else if (error) {
      return std::nullopt;
    }
  }
  const std::string exe_name = image_rel + "exe";
  const std::string cmdline_name = image_rel + "cmdline";

  process_record rec;
  rec.pid = std::to_string(pid);
  rec.ppid = std::to_string(st->ppid);
  rec.start_time = start_time_from_ticks(st->starttime, btime, hz);

  auto read_exe = [&] {
    std::string out;
    char buf[4096];
    ssize_t n = ::readlinkat(dfd, exe_name.c_str(), buf, sizeof(buf));
    if (n > 0)
      out.assign(buf, static_cast<size_t>(n));
    return out;
  };
  // One image: Exe read before and after the command line and the name; an
  // execve() in between changes Exe (or the name), so the read is taken
  // again, and after three tries the image fields are left out.
  std::string exe;
  std::string cmdline;
  bool have_cmdline = false;
  bool consistent = false;
  std::uint64_t last_vsize = st->vsize; // of the last stat read
  std::uint64_t last_flags = st->flags;
  char last_state = st->state;
  std::string again;
  for (int attempt = 0; attempt < 3 && !consistent; ++attempt) {
    exe = read_exe();
    have_cmdline = read_file_at(dfd, cmdline_name.c_str(), cmdline);
    // Out of descriptors or memory while listing: a listing without its
    // command line would replace the one recorded at exec.
    if (!have_cmdline && error
        && (errno == EMFILE || errno == ENFILE || errno == ENOMEM))
      return unreadable(dir + "/" + cmdline_name);
    std::optional<stat_line> st2;
    if (read_file_at(dfd, "stat", again, true))
      st2 = parse_stat_line(again);
    if (st2) {
      last_vsize = st2->vsize;
      last_flags = st2->flags;
      last_state = st2->state;
    }
    // No stat any more: the process vanished during the read, and what was
    // read may be the husk of its exit (no Exe, no command line).
    consistent =
        st2 && read_exe() == exe
        && (!st2 || (st2->comm == st->comm && st2->starttime == st->starttime));
    if (!consistent && st2 && st2->starttime == st->starttime)
      st = std::move(st2); // the newer name, checked on the next try
  }
  if (!consistent) {
    if (error)
      return std::nullopt; // a listing leaves out what it cannot read whole
    exe.clear();
    have_cmdline = false;
  }
  // A zombie read through its own files (found so, or become one during
  // the read, after which a retry reads its husk consistently): a listing
  // leaves it out, and a single read keeps no image from it.
  if (image_rel.empty()
      && (is_zombie(*st) || last_state == 'Z' || last_state == 'X')) {
    if (error)
      return std::nullopt;
    if (!is_zombie(*st))
      st->state = last_state;
    exe.clear();
    have_cmdline = false;
  }
  constexpr std::uint64_t pf_kthread = 0x00200000;
  constexpr std::uint64_t pf_exiting = 0x00000004;
  const bool kthread = (st->flags & pf_kthread) != 0;
  // In its exit path from PF_EXITING on (set before its memory goes, so a
  // read that found no memory is followed by a stat that shows the flag).
  // A leader's PF_EXITING with other threads left is its pthread_exit():
  // the process lives on.
  const bool exiting =
      !is_zombie(*st) && !kthread
      && (last_vsize == 0
          || ((last_flags & pf_exiting) != 0 && thread_count(status) <= 1));
  // A user process without a readable Exe and with an empty command line
  // was read without its memory (its exit, or an exec between two reads):
  // "" would claim argv was empty. Unknown instead. (An exec with an empty
  // argv, as in CVE-2021-4034, keeps its Exe and so its "".)
  if (!kthread && exe.empty() && have_cmdline && cmdline.empty())
    have_cmdline = false;
  // A listing leaves out a process in its exit path (no memory yet not a
  // zombie) for the reason it leaves out zombies: its image is gone.
  if (exiting && error)
    return std::nullopt;
  if (have_cmdline) {
    while (!cmdline.empty() && cmdline.back() == '\0')
      cmdline.pop_back();
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  }
  std::optional<std::string> user;
  if (auto uid = status_field(status, "Uid")) {
    std::uint32_t u = 0;
    if (parse_number(*uid, u))
      user = user_name(u, users);
  }

  std::string v;
  add_field(rec.data, "Pid", rec.pid);
  add_field(rec.data, "Ppid", rec.ppid);
  v.clear();
  append_json_string(v, st->comm);
  add_field(rec.data, "Name", v);
  if (!exe.empty()) {
    v.clear();
    append_json_string(v, exe);
    add_field(rec.data, "Exe", v);
  }
  if (have_cmdline) {
    v.clear();
    append_json_string(v, cmdline);
    add_field(rec.data, "CommandLine", v);
  }
  if (user) {
    v.clear();
    append_json_string(v, *user);
    add_field(rec.data, "Username", v);
  }
  v.clear();
  append_time_json(v, rec.start_time);
  add_field(rec.data, "StartTime", v);
  if (known) {
    // Kept for the next listing only when read whole and still running; a
    // process whose argv address is not readable (a kernel thread, a fake
    // tree) is always read in full.
    known->key = *st;
    if (!consistent || exiting || is_zombie(*st) || !image_rel.empty()
        || st->arg_start == 0 || exe.empty())
      known->key.arg_start = 0;
    auto uid = status_field(status, "Uid");
    known->uid = uid ? std::string(*uid) : std::string();
    known->uids_alike = uid && real_effective_saved_alike(status);
    known->exe = exe;
  }
  if (facts) {
    facts->start_ticks = st->starttime;
    facts->state = st->state;
    facts->ppid = st->ppid;
    facts->have_exe = !exe.empty();
    facts->have_cmdline = have_cmdline && !cmdline.empty();
    facts->image_consistent = consistent;
    facts->exiting = exiting;
  }
  return rec;
}

// A process the last listing read whole, read again with stat and the exe
// link (and status only when its real uid could have changed): its record is
// the last one's when nothing an exec, a rename or a setuid changes has
// changed (starttime, ppid, name, argv's address — a new stack at every exec,
// placed anew by ASLR — the exe link, the real uid). False, and the caller
// reads it in full, otherwise. Paths are relative to the root's descriptor
// `rootfd` ("PID/stat"): one open per file, no directory descriptor.
//
// The real uid without status: a task whose real, effective and saved uid
// were one at the last read (k.uids_alike) can change its real uid only with
// CAP_SETUID (the set*uid calls let it choose among those three otherwise),
// and a capability used sets PF_SUPERPRIV in stat's flags, which stays set
// until the task forks (the child starts without it). So status is read only
// when the uids differed or the flag is set.
bool read_known(int rootfd, int pid, const procfs_reader::known_process &k,
                std::string &text) {
  char path[32];
  auto [end, ec] = std::to_chars(path, path + 16, pid);
  if (ec != std::errc())
    return false;
  auto file = [&](const char *name) {
    std::size_t n = std::strlen(name);
    *end = '/';
    std::memcpy(end + 1, name, n + 1);
    return path;
  };
  if (!read_file_at(rootfd, file("stat"), text, true))
    return false;
  auto st = parse_stat_line(text);
  constexpr std::uint64_t pf_exiting = 0x00000004;
  constexpr std::uint64_t pf_superpriv = 0x00000100;
  if (!st || st->starttime != k.key.starttime || st->ppid != k.key.ppid
      || st->comm != k.key.comm || st->arg_start != k.key.arg_start
      || st->arg_end != k.key.arg_end || is_zombie(*st) || st->state == 'X'
      || (st->flags & pf_exiting) != 0 || st->vsize == 0)
    return false;
  if (!k.uids_alike || (st->flags & pf_superpriv) != 0) {
    if (!read_file_at(rootfd, file("status"), text, true))
      return false;
    auto uid = status_field(text, "Uid");
    if (!uid || *uid != k.uid)
      return false;
  }
  char buf[4096];
  ssize_t n = ::readlinkat(rootfd, file("exe"), buf, sizeof(buf));
  return n > 0 && std::string_view(buf, static_cast<std::size_t>(n)) == k.exe;
}

} // namespace

std::optional<process_record>
procfs_reader::read_process(int pid, read_facts *facts) const {
  if (users_.size() > 65536) // bounded: uids come from the machine's users
    users_.clear();
  return read_one(root_, btime_, hz_, pid, users_, nullptr, facts);
}

std::string procfs_reader::user_name(std::uint32_t uid) const {
  if (users_.size() > 65536) // bounded: uids come from the machine's users
    users_.clear();
  return linux_proc::user_name(uid, users_);
}

std::optional<std::uint64_t> procfs_reader::start_ticks(int pid) const {
  std::string text;
  if (pid <= 0
      || !read_file_at(AT_FDCWD,
                       (root_ + "/" + std::to_string(pid) + "/stat").c_str(),
                       text, true))
    return std::nullopt;
  auto st = parse_stat_line(text);
  if (!st)
    return std::nullopt;
  return st->starttime;
}

std::uint64_t procfs_reader::ticks_of_event(std::uint64_t ktime_ns) const {
  if (hz_ <= 0)
    return 0;
  auto boot = static_cast<std::int64_t>(ktime_ns) + boot_offset_ns_;
  if (boot < 0)
    boot = 0;
  // ticks = ns * hz / 1e9 without overflow: seconds and remainder apart.
  auto u = static_cast<std::uint64_t>(boot);
  auto hz = static_cast<std::uint64_t>(hz_);
  constexpr std::uint64_t ns = 1'000'000'000ULL;
  return (u / ns) * hz + (u % ns) * hz / ns;
}

std::int64_t procfs_reader::measure_boot_offset_ns() {
  struct timespec b, m;
  ::clock_gettime(CLOCK_MONOTONIC, &m);
  ::clock_gettime(CLOCK_BOOTTIME, &b);
  auto ns = [](const struct timespec &t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000LL + t.tv_nsec;
  };
  auto off = ns(b) - ns(m);
  return off < 0 ? 0 : off;
}

listing procfs_reader::list() const {
  listing out;
  std::vector<int> pids;
  DIR *d = ::opendir(root_.c_str());
  if (d == nullptr) {
    out.error = describe(root_, errno);
    return out;
  }
  for (;;) {
    errno = 0; // readdir's end and its failure both return nullptr
    struct dirent *e = ::readdir(d);
    if (e == nullptr) {
      if (errno != 0)
        out.error = describe(root_, errno);
      break;
    }
    int pid = 0;
    if (parse_number(std::string_view{e->d_name}, pid) && pid > 0)
      pids.push_back(pid);
  }
  ::closedir(d);
  if (!out.error.empty())
    return out;
  std::sort(pids.begin(), pids.end());
  out.processes.reserve(pids.size());
  // The known processes' files are opened relative to the root.
  int rootfd = known_.empty()
                   ? -1
                   : ::open(root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct closer {
    int fd;
    ~closer() {
      if (fd >= 0)
        ::close(fd);
    }
  } close_root{rootfd};
  std::string text; // one buffer for every known process's reads
  user_cache users; // names are looked up afresh once a listing
  std::unordered_map<int, known_process> known;
  known.reserve(pids.size()); // no rehash while it fills
  std::size_t known_bytes = 0;
  for (int pid : pids) {
    std::optional<process_record> rec;
    known_process k;
    bool reused = false;
    if (auto it = known_.find(pid);
        it != known_.end() && rootfd >= 0
        && read_known(rootfd, pid, it->second, text)) {
      k = std::move(it->second);
      rec = k.rec;
      reused = true;
    }
    if (!rec)
      rec = read_one(root_, btime_, hz_, pid, users, &out.error, nullptr, &k);
    std::size_t bytes = 0;
    if (rec)
      for (auto &f : rec->data)
        bytes += f.key.size() + f.json.size();
    if (rec && k.key.arg_start != 0
        && known_bytes + bytes <= known_limit_bytes) {
      known_bytes += bytes;
      if (!reused)
        k.rec = *rec;
      known.emplace(pid, std::move(k));
    }
    if (rec) {
      // The parent of a listed process is the one /proc shows now: a
      // reaper (init, a subreaper) for an orphan, not its creator.
      add_field(rec->data, "ParentSource", "\"listing\"");
      rec->identity = record_identity::exact; // ticks: the kernel's start
      out.processes.push_back(std::move(*rec));
    } else if (!out.error.empty())
      break;
  }
  users_ = std::move(users);
  // A failed listing keeps nothing: the next one reads every process whole.
  known_ = out.error.empty() ? std::move(known)
                             : std::unordered_map<int, known_process>{};
  return out;
}

} // namespace proctrack::linux_proc

#endif // defined(__linux__)
