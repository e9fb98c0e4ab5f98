#include <boost/test/unit_test.hpp>

#include "tests/support/run_binary.hpp"

#if !defined(__linux__)
BOOST_AUTO_TEST_CASE(not_linux) {
  BOOST_TEST_MESSAGE("Linux sources: nothing to test on this platform");
}
#else

#include "actors/common/time.hpp"
#include "actors/live/procfs_reader.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <pthread.h>
#include <string>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

BOOST_AUTO_TEST_SUITE(procfs_reader_test)

using namespace proctrack;
using namespace proctrack::linux_proc;

namespace {

/// A fake /proc tree in a temporary directory, removed at the end.
struct fake_proc {
  proctrack_test::temp_dir tree; // removed with everything in it
  std::string root = tree.path().string();

  void write(const std::string &rel, const std::string &content) {
    tree.write(rel, content);
  }
  void dir(const std::string &rel) {
    ::mkdir((root + "/" + rel).c_str(), 0755);
  }
  /// A stat line: pid (comm) state ppid ... field 22 = ticks.
  /// Field 9 is `flags` (PF_*), field 23 `vsize` (0: no memory).
  static std::string stat_line(int pid, const std::string &comm, int ppid,
                               unsigned long ticks, unsigned long flags = 9,
                               unsigned long vsize = 23) {
    std::string s =
        std::to_string(pid) + " (" + comm + ") S " + std::to_string(ppid);
    // fields 5..21 (17 fields), then 22 = starttime, then a few more.
    for (int f = 5; f <= 21; ++f)
      s += " " + std::to_string(f == 9 ? flags : f);
    s += " " + std::to_string(ticks) + " " + std::to_string(vsize) + " 24 25\n";
    return s;
  }
  void process(int pid, const std::string &comm, int ppid, unsigned long ticks,
               int tgid, unsigned uid) {
    auto d = std::to_string(pid);
    dir(d);
    write(d + "/stat", stat_line(pid, comm, ppid, ticks));
    write(d + "/status",
          "Name:\t" + comm + "\nTgid:\t" + std::to_string(tgid) + "\nPid:\t" + d
              + "\nPPid:\t" + std::to_string(ppid) + "\nUid:\t"
              + std::to_string(uid) + "\t" + std::to_string(uid) + "\t"
              + std::to_string(uid) + "\t" + std::to_string(uid) + "\n");
  }
};

const data_field *find(const process_record &r, const std::string &key) {
  for (auto &f : r.data)
    if (f.key == key)
      return &f;
  return nullptr;
}

std::string field(const process_record &r, const std::string &key) {
  auto f = find(r, key);
  return f ? f->json : std::string("<missing>");
}

constexpr std::int64_t btime = 1600000000;

void make_tree(fake_proc &fp) {
  fp.write("stat", "cpu  1 2 3 4\ncpu0 1 2 3 4\nintr 5\nctxt 6\nbtime "
                       + std::to_string(btime) + "\nprocesses 7\n");
  fp.dir("self");
  fp.dir("sys");
  // init
  fp.process(1, "systemd", 0, 5, 1, 0);
  fp.write("1/cmdline", std::string("/sbin/init\0splash\0", 18));
  ::symlink("/usr/lib/systemd/systemd", (fp.root + "/1/exe").c_str());
  // comm with spaces and ')' characters.
  fp.process(100, "my (weird) proc) x", 1, 12345, 100, 4242424);
  fp.write("100/cmdline", std::string("/opt/a b\0--flag\0\"q\"\0", 20));
  ::symlink("/opt/a b", (fp.root + "/100/exe").c_str());
  // a thread of 100 that is not the leader.
  fp.process(101, "worker", 1, 12350, 100, 4242424);
  fp.write("101/cmdline", std::string("/opt/a b\0", 9));
  // a kernel thread: empty cmdline, no exe, PF_KTHREAD in stat's flags.
  fp.process(2, "kthreadd", 0, 0, 2, 0);
  fp.write("2/stat", fake_proc::stat_line(2, "kthreadd", 0, 0, 0x00200040));
  fp.write("2/cmdline", "");
  // vanishing mid-read: stat and status present, cmdline/exe gone.
  fp.process(200, "gone", 1, 20000, 200, 0);
  // vanished entirely: the directory is empty.
  fp.dir("300");
  // garbage stat
  fp.dir("400");
  fp.write("400/stat", "400 garbage");
  fp.write("400/status", "Tgid:\t400\n");
}

} // namespace

BOOST_AUTO_TEST_CASE(start_time_rule) {
  BOOST_CHECK_EQUAL(start_time_from_ticks(0, btime, 100),
                    btime * hns_per_second);
  BOOST_CHECK_EQUAL(start_time_from_ticks(12345, btime, 100),
                    (btime + 123) * hns_per_second + 45 * hns_per_second / 100);
  BOOST_CHECK_EQUAL(whole_seconds(start_time_from_ticks(12399, btime, 100)),
                    btime + 123);
  BOOST_CHECK_EQUAL(start_time_from_ticks(7, btime, 3),
                    (btime + 2) * hns_per_second + hns_per_second / 3);
  BOOST_CHECK_EQUAL(start_time_from_ticks(5, btime, 0), unknown_time);
  BOOST_CHECK_EQUAL(start_time_from_ticks(5, 0, 100), unknown_time);
}

BOOST_AUTO_TEST_CASE(stat_line_parsing) {
  auto st = parse_stat_line(fake_proc::stat_line(7, "a) (b) c", 3, 99));
  BOOST_REQUIRE(st);
  BOOST_CHECK_EQUAL(st->comm, "a) (b) c");
  BOOST_CHECK_EQUAL(st->state, 'S');
  BOOST_CHECK_EQUAL(st->ppid, 3);
  BOOST_CHECK_EQUAL(st->starttime, 99u);
  auto empty = parse_stat_line(fake_proc::stat_line(8, "", 3, 1));
  BOOST_REQUIRE(empty);
  BOOST_CHECK_EQUAL(empty->comm, "");
  BOOST_CHECK(!parse_stat_line("1 (x) S 1 2 3"));
  BOOST_CHECK(!parse_stat_line("garbage"));
  BOOST_CHECK(!parse_stat_line(""));
  BOOST_CHECK(!parse_stat_line("1 )x( S 1"));
}

BOOST_AUTO_TEST_CASE(fake_tree_read_process) {
  fake_proc fp;
  make_tree(fp);
  procfs_reader r(fp.root, 100);
  BOOST_CHECK_EQUAL(r.boot_time_seconds(), btime);

  auto p = r.read_process(100);
  BOOST_REQUIRE(p);
  BOOST_CHECK_EQUAL(p->pid, "100");
  BOOST_CHECK_EQUAL(p->ppid, "1");
  BOOST_CHECK_EQUAL(p->start_time,
                    (btime + 123) * hns_per_second + 45 * hns_per_second / 100);
  BOOST_CHECK_EQUAL(field(*p, "Pid"), "100");
  BOOST_CHECK_EQUAL(field(*p, "Ppid"), "1");
  BOOST_CHECK_EQUAL(field(*p, "Name"), "\"my (weird) proc) x\"");
  BOOST_CHECK_EQUAL(field(*p, "Exe"), "\"/opt/a b\"");
  BOOST_CHECK_EQUAL(field(*p, "CommandLine"), "\"/opt/a b --flag \\\"q\\\"\"");
  BOOST_CHECK_EQUAL(field(*p, "Username"), "\"4242424\"");
  BOOST_CHECK_EQUAL(field(*p, "StartTime"), "\"2020-09-13T12:28:43.45Z\"");
  BOOST_CHECK_EQUAL(r.start_time(100), p->start_time);

  auto init = r.read_process(1);
  BOOST_REQUIRE(init);
  BOOST_CHECK_EQUAL(field(*init, "Username"), "\"root\"");
  BOOST_CHECK_EQUAL(field(*init, "CommandLine"), "\"/sbin/init splash\"");
  BOOST_CHECK_EQUAL(field(*init, "Exe"), "\"/usr/lib/systemd/systemd\"");
  BOOST_CHECK_EQUAL(init->ppid, "0");

  // Kernel thread: empty CommandLine, no Exe.
  auto kt = r.read_process(2);
  BOOST_REQUIRE(kt);
  BOOST_CHECK_EQUAL(field(*kt, "CommandLine"), "\"\"");
  BOOST_CHECK(find(*kt, "Exe") == nullptr);
  BOOST_CHECK_EQUAL(kt->start_time, btime * hns_per_second);

  // A thread that is not its group's leader is not a process.
  BOOST_CHECK(!r.read_process(101));
  // Vanished mid-read: what was read is kept.
  auto gone = r.read_process(200);
  BOOST_REQUIRE(gone);
  BOOST_CHECK_EQUAL(field(*gone, "Name"), "\"gone\"");
  BOOST_CHECK(find(*gone, "CommandLine") == nullptr);
  BOOST_CHECK(find(*gone, "Exe") == nullptr);
  // Vanished entirely, garbage, nonexistent, invalid.
  BOOST_CHECK(!r.read_process(300));
  BOOST_CHECK(!r.read_process(400));
  BOOST_CHECK(!r.read_process(999));
  BOOST_CHECK(!r.read_process(0));
  BOOST_CHECK(!r.read_process(-1));
  BOOST_CHECK_EQUAL(r.start_time(300), unknown_time);
  BOOST_CHECK_EQUAL(r.start_time(999), unknown_time);
}

BOOST_AUTO_TEST_CASE(fake_tree_list) {
  fake_proc fp;
  make_tree(fp);
  procfs_reader r(fp.root, 100);
  auto listed = r.list();
  BOOST_TEST(listed.error == "");
  auto &all = listed.processes;
  std::vector<std::string> pids;
  for (auto &p : all)
    pids.push_back(p.pid);
  std::vector<std::string> want{"1", "2", "100", "200"};
  BOOST_CHECK_EQUAL_COLLECTIONS(pids.begin(), pids.end(), want.begin(),
                                want.end());
  for (auto &p : all)
    BOOST_CHECK_EQUAL(p.start_time, r.start_time(std::stoi(p.pid)));
}

// Holds every descriptor the process may open (under a lowered soft
// RLIMIT_NOFILE), as a client flooding the agent with connections would.
struct descriptor_flood {
  rlimit old{};
  std::vector<int> fds;
  descriptor_flood() {
    ::getrlimit(RLIMIT_NOFILE, &old);
    rlimit low = old;
    low.rlim_cur = std::min<rlim_t>(old.rlim_cur, 256);
    ::setrlimit(RLIMIT_NOFILE, &low);
    for (int fd; (fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0;)
      fds.push_back(fd);
    BOOST_REQUIRE_EQUAL(errno, EMFILE);
  }
  void release(std::size_t n) {
    for (; n > 0 && !fds.empty(); --n) {
      ::close(fds.back());
      fds.pop_back();
    }
  }
  ~descriptor_flood() {
    release(fds.size());
    ::setrlimit(RLIMIT_NOFILE, &old);
  }
};

BOOST_AUTO_TEST_CASE(listing_fails_without_descriptors_instead_of_empty) {
  fake_proc fp;
  make_tree(fp);
  procfs_reader r(fp.root, 100);
  {
    descriptor_flood flood;
    auto none = r.list();
    BOOST_TEST(none.error == fp.root + ": Too many open files");
    BOOST_TEST(none.processes.empty());
  }
  auto all = r.list();
  BOOST_TEST(all.error == "");
  BOOST_TEST(all.processes.size() == 4u);
}

BOOST_AUTO_TEST_CASE(a_process_that_cannot_be_read_fails_the_listing) {
  fake_proc fp;
  make_tree(fp);
  // Its status cannot be read, and not because the process is gone.
  fp.dir("150");
  fp.dir("150/status");
  procfs_reader r(fp.root, 100);
  auto l = r.list();
  BOOST_TEST(l.error == fp.root + "/150/status: Is a directory");
  // Gone processes (300: empty directory) are skipped, as before.
  std::filesystem::remove_all(fp.root + "/150");
  BOOST_TEST(r.list().error == "");
}

BOOST_AUTO_TEST_CASE(zombies_in_a_fake_tree) {
  fake_proc fp;
  make_tree(fp);
  // A zombie leader as /proc shows it: state Z, empty cmdline, no exe.
  auto zombie = [&](int pid, const std::string &comm, int threads) {
    auto d = std::to_string(pid);
    fp.dir(d);
    auto stat = fake_proc::stat_line(pid, comm, 1, 30000);
    stat.replace(stat.find(") S "), 4, ") Z ");
    fp.write(d + "/stat", stat);
    fp.write(d + "/status", "Name:\t" + comm + "\nState:\tZ (zombie)\nTgid:\t"
                                + d + "\nThreads:\t" + std::to_string(threads)
                                + "\nUid:\t0\t0\t0\t0\n");
    fp.write(d + "/cmdline", "");
  };
  zombie(500, "python3", 1); // exited, not yet reaped
  zombie(600, "server", 2);  // its leader called pthread_exit; 601 runs on
  fp.dir("600/task");
  fp.dir("600/task/600");
  fp.dir("600/task/601");
  fp.write("600/task/601/cmdline", std::string("/usr/sbin/server\0-d\0", 20));
  ::symlink("/usr/sbin/server", (fp.root + "/600/task/601/exe").c_str());
  procfs_reader r(fp.root, 100);
  auto l = r.list();
  BOOST_TEST(l.error == "");
  std::vector<std::string> pids;
  for (auto &p : l.processes)
    pids.push_back(p.pid);
  std::vector<std::string> want{"1", "2", "100", "200", "600"};
  BOOST_TEST(pids == want, boost::test_tools::per_element());
  auto &server = l.processes.back();
  BOOST_TEST(field(server, "CommandLine") == "\"/usr/sbin/server -d\"");
  BOOST_TEST(field(server, "Exe") == "\"/usr/sbin/server\"");
  // A single read (fork/exec) still answers for the zombie.
  BOOST_TEST(r.read_process(500).has_value());
}

// What an exiting process shows between PF_EXITING and its zombie state,
// and what an empty command line means.
BOOST_AUTO_TEST_CASE(exiting_processes_and_empty_command_lines) {
  fake_proc fp;
  make_tree(fp);
  // In its exit path, memory still there: PF_EXITING (0x4), one thread.
  fp.process(700, "leaving", 1, 30000, 700, 0);
  fp.write("700/stat", fake_proc::stat_line(700, "leaving", 1, 30000, 0x404));
  fp.write("700/cmdline", std::string("/bin/leaving\0", 13));
  ::symlink("/bin/leaving", (fp.root + "/700/exe").c_str());
  // Read after its memory went: no Exe, empty command line, vsize > 0 in
  // this (fake) stat, so only the missing Exe tells.
  fp.process(710, "husk", 1, 30000, 710, 0);
  fp.write("710/cmdline", "");
  // exec'd with an empty argv (as in CVE-2021-4034): Exe, "" command line.
  fp.process(720, "noargv", 1, 30000, 720, 0);
  fp.write("720/cmdline", "");
  ::symlink("/usr/bin/pkexec", (fp.root + "/720/exe").c_str());
  procfs_reader r(fp.root, 100);
  procfs_reader::read_facts fx;
  auto leaving = r.read_process(700, &fx);
  BOOST_REQUIRE(leaving);
  BOOST_TEST(fx.exiting);
  auto husk = r.read_process(710, &fx);
  BOOST_REQUIRE(husk);
  BOOST_TEST(!fx.exiting);
  BOOST_TEST(find(*husk, "CommandLine") == nullptr);
  BOOST_TEST(find(*husk, "Exe") == nullptr);
  BOOST_TEST(field(*husk, "Name") == "\"husk\"");
  auto noargv = r.read_process(720, &fx);
  BOOST_REQUIRE(noargv);
  BOOST_TEST(field(*noargv, "CommandLine") == "\"\"");
  BOOST_TEST(field(*noargv, "Exe") == "\"/usr/bin/pkexec\"");
  auto kt = r.read_process(2, &fx);
  BOOST_REQUIRE(kt);
  BOOST_TEST(!fx.exiting);
  BOOST_TEST(field(*kt, "CommandLine") == "\"\"");
  // A listing leaves out the exiting process (its image is going).
  auto l = r.list();
  std::vector<std::string> pids;
  for (auto &p : l.processes)
    pids.push_back(p.pid);
  std::vector<std::string> want{"1", "2", "100", "200", "710", "720"};
  BOOST_TEST(pids == want, boost::test_tools::per_element());
}

// A real process exec'd with an empty argv (argc 0, as in CVE-2021-4034):
// listed with its Exe and "" for its command line.
BOOST_AUTO_TEST_CASE(real_process_with_an_empty_argv) {
  const std::string sh = std::filesystem::canonical("/bin/sh").string();
  int in[2];
  BOOST_REQUIRE(::pipe(in) == 0);
  pid_t c = ::fork();
  if (c == 0) {
    // The shell reads commands from a pipe nobody writes to: it waits.
    ::dup2(in[0], 0);
    char *argv[] = {nullptr};
    char *envp[] = {nullptr};
    ::execve(sh.c_str(), argv, envp);
    ::_exit(127);
  }
  procfs_reader r;
  std::optional<process_record> p;
  for (int i = 0; i < 250; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    p = r.read_process(c);
    if (p && field(*p, "Exe") == "\"" + sh + "\"")
      break;
  }
  ::kill(c, SIGKILL);
  ::waitpid(c, nullptr, 0);
  ::close(in[0]);
  ::close(in[1]);
  BOOST_REQUIRE(p);
  BOOST_TEST(field(*p, "Exe") == "\"" + sh + "\"");
  BOOST_TEST(field(*p, "CommandLine") == "\"\"");
}

// The kernel's own zombies: a child that exited and is not reaped is not
// listed; a child whose leader thread called pthread_exit while another
// thread runs is listed with its own Exe and command line.
BOOST_AUTO_TEST_CASE(real_zombies) {
  pid_t dead = ::fork();
  if (dead == 0)
    ::_exit(0);
  pid_t leaderless = ::fork();
  if (leaderless == 0) {
    pthread_t t;
    ::pthread_create(
        &t, nullptr,
        [](void *) -> void * {
          ::sleep(3);
          ::_exit(0);
        },
        nullptr);
    // The leader thread ends alone, as pthread_exit does, without unwinding
    // through Boost.Test's frames (SYS_exit ends only the calling thread).
    ::syscall(SYS_exit, 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  procfs_reader r;
  auto l = r.list();
  const process_record *d = nullptr, *lz = nullptr;
  for (auto &p : l.processes) {
    if (p.pid == std::to_string(dead))
      d = &p;
    if (p.pid == std::to_string(leaderless))
      lz = &p;
  }
  BOOST_TEST(l.error == "");
  BOOST_TEST(d == nullptr);
  BOOST_TEST_REQUIRE(lz != nullptr);
  std::string self_exe = std::filesystem::read_symlink("/proc/self/exe");
  BOOST_TEST(field(*lz, "Exe") == "\"" + self_exe + "\"");
  BOOST_TEST(field(*lz, "CommandLine") != "\"\"");
  ::kill(leaderless, SIGKILL);
  ::waitpid(leaderless, nullptr, 0);
  ::waitpid(dead, nullptr, 0);
}

BOOST_AUTO_TEST_CASE(listing_of_a_missing_root_fails) {
  procfs_reader r("/nonexistent-proctrack-root", 100);
  auto l = r.list();
  BOOST_TEST(l.error
             == "/nonexistent-proctrack-root: No such file or directory");
  BOOST_TEST(l.processes.empty());
}

BOOST_AUTO_TEST_CASE(missing_btime) {
  fake_proc fp;
  make_tree(fp);
  fp.write("stat", "cpu 1 2 3\n");
  procfs_reader r(fp.root, 100);
  BOOST_CHECK_EQUAL(r.boot_time_seconds(), 0);
  auto p = r.read_process(100);
  BOOST_REQUIRE(p);
  BOOST_CHECK_EQUAL(p->start_time, unknown_time);
  BOOST_CHECK_EQUAL(field(*p, "StartTime"), "\"0001-01-01T00:00:00Z\"");
}

BOOST_AUTO_TEST_CASE(real_proc) {
  procfs_reader r;
  BOOST_REQUIRE_GT(r.boot_time_seconds(), 0);
  BOOST_CHECK_EQUAL(r.ticks_per_second(), ::sysconf(_SC_CLK_TCK));
  std::string comm;
  {
    std::ifstream f("/proc/self/comm");
    std::getline(f, comm);
  }
  auto listing = r.list();
  BOOST_TEST(listing.error == "");
  auto &all = listing.processes;
  BOOST_CHECK_GT(all.size(), 1u);
  const process_record *me = nullptr;
  for (auto &p : all)
    if (p.pid == std::to_string(::getpid()))
      me = &p;
  BOOST_REQUIRE(me != nullptr);
  BOOST_CHECK_EQUAL(me->ppid, std::to_string(::getppid()));
  BOOST_CHECK_EQUAL(field(*me, "Name"), "\"" + comm + "\"");
  BOOST_CHECK_EQUAL(r.start_time(::getpid()), me->start_time);
  BOOST_CHECK_NE(me->start_time, unknown_time);
  // Started within the last hour, not in the future.
  std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
  BOOST_CHECK_LE(whole_seconds(me->start_time), now + 1);
  BOOST_CHECK_GE(whole_seconds(me->start_time), now - 3600);
  BOOST_CHECK(find(*me, "Exe") != nullptr);
  BOOST_CHECK(find(*me, "Username") != nullptr);

  // A second reader (another path) gives the identical start time.
  procfs_reader r2("/proc");
  BOOST_CHECK_EQUAL(r2.start_time(::getpid()), me->start_time);

  // A thread of ours is not a process.
  std::atomic<long> tid{0};
  std::atomic<bool> stop{false};
  std::thread t([&] {
    tid = ::syscall(SYS_gettid);
    while (!stop)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  while (tid == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  BOOST_CHECK(!r.read_process(static_cast<int>(tid.load())));
  BOOST_CHECK(r.read_process(::getpid()));
  bool listed = false;
  for (auto &p : r.list().processes)
    if (p.pid == std::to_string(tid.load()))
      listed = true;
  BOOST_CHECK(!listed);
  stop = true;
  t.join();
}

// Issue 16 item 4: a second listing reads a process it knows with stat,
// status and the exe link only, and gives the same record; an exec of the
// same program (same Exe, same Name, other arguments) or a setuid is seen
// at once, as a full read would see it.
BOOST_AUTO_TEST_CASE(second_listing_reuses_what_has_not_changed) {
  int in[2];
  BOOST_REQUIRE(::pipe(in) == 0);
  pid_t c = ::fork();
  if (c == 0) {
    // Reads one line, then runs the same shell with other arguments (a new
    // argv, the same Exe and Name), which waits for a second line.
    ::dup2(in[0], 0);
    ::close(in[1]);
    // /bin/sh both times: the same Exe and the same Name ("sh", from the
    // path executed).
    ::execl("/bin/sh", "sh", "-c",
            "read first; exec /bin/sh -c 'read second' second-argv0 "
            "marker-two",
            static_cast<char *>(nullptr));
    ::_exit(127);
  }
  ::close(in[0]);
  auto command_line_of = [&](const listing &l) {
    for (auto &p : l.processes)
      if (p.pid == std::to_string(c))
        return field(p, "CommandLine");
    return std::string("(not listed)");
  };
  procfs_reader r;
  std::string first;
  for (int i = 0; i < 250 && first.find("read first") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    first = command_line_of(r.list());
  }
  BOOST_TEST(first.find("read first") != std::string::npos, first);
  BOOST_TEST(r.known_count() > 0u);
  // Nothing changed: the same records, ours and everyone's that did not
  // change meanwhile (our own is compared whole).
  auto a = r.list(), b = r.list();
  BOOST_TEST(command_line_of(b) == first);
  for (auto &p : a.processes)
    if (p.pid == std::to_string(c) || p.pid == std::to_string(::getpid()))
      for (auto &q : b.processes)
        if (q.pid == p.pid) {
          BOOST_TEST(q.ppid == p.ppid);
          BOOST_TEST(q.start_time == p.start_time);
          BOOST_TEST(q.data.size() == p.data.size());
          for (std::size_t i = 0; i < p.data.size() && i < q.data.size(); ++i)
            BOOST_TEST(q.data[i].json == p.data[i].json, p.data[i].key);
        }
  // The exec: same Exe, same Name, other arguments.
  BOOST_REQUIRE(::write(in[1], "go\n", 3) == 3);
  std::string second;
  for (int i = 0; i < 250 && second.find("marker-two") == std::string::npos;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    second = command_line_of(r.list());
  }
  ::kill(c, SIGKILL);
  ::waitpid(c, nullptr, 0);
  ::close(in[1]);
  BOOST_TEST(second == "\"/bin/sh -c read second second-argv0 marker-two\"");
}

// Issue 16 item 4: a known process's status is read again only when its real
// uid could have changed; a real uid changed alone (the effective uid kept)
// still shows in the next listing, both through CAP_SETUID (root's
// setreuid(u, -1): PF_SUPERPRIV set) and without a capability (a task whose
// effective uid differs from its real one picks it as its real uid).
BOOST_AUTO_TEST_CASE(a_real_uid_changed_alone_is_seen) {
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("not root: cannot change uids; skipped");
    return;
  }
  constexpr uid_t nobody = 65534;
  int go[2], ack[2], who[2];
  BOOST_REQUIRE(::pipe(go) == 0 && ::pipe(ack) == 0 && ::pipe(who) == 0);
  // Waits for a byte on go, runs `change`, acknowledges, then waits.
  auto serve = [&](auto change) {
    char c = 0;
    if (::read(go[0], &c, 1) != 1 || !change())
      ::_exit(1);
    if (::write(ack[1], "k", 1) != 1)
      ::_exit(1);
    for (;;)
      ::pause();
  };
  // A: real, effective and saved uid root, no capability used since its
  // fork; then setreuid(nobody, -1), which needs CAP_SETUID.
  pid_t a = ::fork();
  if (a == 0)
    serve([&] { return ::setreuid(nobody, static_cast<uid_t>(-1)) == 0; });
  // B: real and saved uid root, effective uid nobody, forked after that
  // change (so without PF_SUPERPRIV); then setresuid(nobody, -1, -1),
  // allowed without a capability. Its parent waits for it.
  pid_t b_parent = ::fork();
  if (b_parent == 0) {
    if (::setresuid(0, nobody, 0) != 0)
      ::_exit(1);
    pid_t b = ::fork();
    if (b == 0)
      serve([&] {
        return ::setresuid(nobody, static_cast<uid_t>(-1),
                           static_cast<uid_t>(-1))
               == 0;
      });
    if (::write(who[1], &b, sizeof b) != sizeof b)
      ::_exit(1);
    ::waitpid(b, nullptr, 0);
    ::_exit(0);
  }
  pid_t b = 0;
  BOOST_REQUIRE(::read(who[0], &b, sizeof b) == sizeof b);
  procfs_reader r;
  const std::string root_name = "\"" + r.user_name(0) + "\"";
  const std::string nobody_name = "\"" + r.user_name(nobody) + "\"";
  auto user_of = [&](const listing &l, pid_t pid) {
    for (auto &p : l.processes)
      if (p.pid == std::to_string(pid))
        return field(p, "Username");
    return std::string("(not listed)");
  };
  // Listed (read whole), then listed again as known processes.
  std::string ua, ub;
  for (int i = 0; i < 250 && (ua != root_name || ub != root_name); ++i) {
    auto l = r.list();
    ua = user_of(l, a);
    ub = user_of(l, b);
    if (ua != root_name || ub != root_name)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  BOOST_TEST(ua == root_name);
  BOOST_TEST(ub == root_name);
  auto again = r.list();
  BOOST_TEST(user_of(again, a) == root_name);
  BOOST_TEST(user_of(again, b) == root_name);
  // Both change their real uid alone; the next listing shows it.
  BOOST_REQUIRE(::write(go[1], "gg", 2) == 2);
  char k[2];
  std::size_t got = 0;
  while (got < 2) {
    auto n = ::read(ack[0], k + got, 2 - got);
    BOOST_REQUIRE(n > 0);
    got += static_cast<std::size_t>(n);
  }
  auto after = r.list();
  BOOST_TEST(user_of(after, a) == nobody_name);
  BOOST_TEST(user_of(after, b) == nobody_name);
  ::kill(a, SIGKILL);
  ::kill(b, SIGKILL);
  ::waitpid(a, nullptr, 0);
  ::waitpid(b_parent, nullptr, 0);
  for (int fd : {go[0], go[1], ack[0], ack[1], who[0], who[1]})
    ::close(fd);
}

#endif // defined(__linux__)

BOOST_AUTO_TEST_SUITE_END() // procfs_reader_test
