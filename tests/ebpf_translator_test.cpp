// The eBPF live source: the record decoder and the translator against a
// fake /proc tree (no kernel needed), and the source itself against the
// running kernel (root, a build with eBPF): what it reports of a child
// this test makes is what /proc shows of it.
#include <boost/test/unit_test.hpp>

#include "tests/support/run_binary.hpp"

#if !defined(__linux__)
BOOST_AUTO_TEST_CASE(not_linux) {
  BOOST_TEST_MESSAGE("Linux sources: nothing to test on this platform");
}
#else

#include "actors/common/time.hpp"
#include "actors/live/bpf/proc_events.h"
#include "actors/live/ebpf_source.hpp"
#include "actors/live/ebpf_translator.hpp"

#include <chrono>
#include <climits>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

BOOST_AUTO_TEST_SUITE(ebpf_translator_test)

using namespace proctrack;
using namespace proctrack::linux_proc;

namespace {

constexpr std::int64_t btime = 1600000000;

// A record as the BPF program writes it.
std::vector<char> record(unsigned kind, int pid, int ppid,
                         std::uint64_t start_ns, const std::string &comm,
                         const std::string &exe, const std::string &args,
                         unsigned flags = 0, unsigned uid = 0) {
  pt_event e;
  std::memset(&e, 0, sizeof(e));
  e.kind = kind;
  e.flags = flags;
  e.pid = pid;
  e.tgid = pid;
  e.ppid = ppid;
  e.uid = uid;
  e.start_boottime = start_ns;
  e.time_boottime = start_ns + 1'000'000;
  std::strncpy(e.comm, comm.c_str(), sizeof(e.comm) - 1);
  e.exe_len = static_cast<unsigned>(exe.size());
  e.args_len = static_cast<unsigned>(args.size());
  std::memcpy(e.data, exe.data(), exe.size());
  std::memcpy(e.data + exe.size(), args.data(), args.size());
  auto n = offsetof(pt_event, data) + exe.size() + args.size();
  const char *p = reinterpret_cast<const char *>(&e);
  return {p, p + n};
}

ebpf_event decoded(const std::vector<char> &r) {
  ebpf_event ev;
  BOOST_REQUIRE(decode_ebpf_record(r.data(), r.size(), ev));
  return ev;
}

const std::string *field(const process_record &p, const std::string &key) {
  for (auto &f : p.data)
    if (f.key == key)
      return &f.json;
  return nullptr;
}

std::string field_or(const process_record &p, const std::string &key) {
  auto f = field(p, key);
  return f ? *f : std::string{"<absent>"};
}

/// A fake /proc: btime only, plus processes written by the test.
struct fake_proc {
  proctrack_test::temp_dir tree;
  std::string root = tree.path().string();
  fake_proc() {
    tree.write("stat", "cpu  1 2 3 4\nbtime " + std::to_string(btime)
                           + "\nprocesses 7\n");
  }
  void process(int pid, int ppid, unsigned long ticks, const std::string &comm,
               const std::string &cmdline, const std::string &exe) {
    auto d = std::to_string(pid);
    ::mkdir((root + "/" + d).c_str(), 0755);
    std::string s = d + " (" + comm + ") S " + std::to_string(ppid);
    for (int f = 5; f <= 21; ++f)
      s += " " + std::to_string(f == 9 ? 0 : f);
    s += " " + std::to_string(ticks) + " 4096 24 25\n";
    tree.write(d + "/stat", s);
    tree.write(d + "/status", "Name:\t" + comm + "\nTgid:\t" + d + "\nPid:\t"
                                  + d + "\nUid:\t0\t0\t0\t0\n");
    tree.write(d + "/cmdline", cmdline);
    ::symlink(exe.c_str(), (root + "/" + d + "/exe").c_str());
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(decodes_records_and_refuses_malformed_ones) {
  std::string args("/bin/echo\0hi\0", 13);
  auto r = record(PT_EV_EXEC, 42, 1, 5'000'000'000, "echo", "/usr/bin/echo",
                  args, PT_F_ARGS_TRUNCATED, 1000);
  auto ev = decoded(r);
  BOOST_CHECK(ev.what == ebpf_event::exec);
  BOOST_CHECK_EQUAL(ev.pid, 42);
  BOOST_CHECK_EQUAL(ev.ppid, 1);
  BOOST_CHECK_EQUAL(ev.uid, 1000u);
  BOOST_CHECK_EQUAL(ev.name, "echo");
  BOOST_CHECK_EQUAL(ev.exe, "/usr/bin/echo");
  BOOST_CHECK_EQUAL(ev.args, args);
  BOOST_CHECK_EQUAL(ev.flags, ebpf_event::args_truncated);
  // One byte short of what the lengths announce; shorter than a header;
  // an unknown kind; lengths past the maximum.
  BOOST_CHECK(!decode_ebpf_record(r.data(), r.size() - 1, ev));
  BOOST_CHECK(!decode_ebpf_record(r.data(), 10, ev));
  BOOST_CHECK(!decode_ebpf_record(nullptr, 0, ev));
  auto bad = r;
  bad[0] = 9;
  BOOST_CHECK(!decode_ebpf_record(bad.data(), bad.size(), ev));
  auto big = record(PT_EV_EXEC, 42, 1, 0, "x", "", "");
  reinterpret_cast<pt_event *>(big.data())->exe_len = PT_EXE_MAX + 1;
  big.resize(sizeof(pt_event) + 8);
  BOOST_CHECK(!decode_ebpf_record(big.data(), big.size(), ev));
}

BOOST_AUTO_TEST_CASE(start_ticks_as_the_kernel_computes_them) {
  // nsec_to_clock_t: floor(ns / (1e9 / hz)).
  BOOST_CHECK_EQUAL(ticks_of_boottime(1'234'567'890'123, 100), 123456u);
  BOOST_CHECK_EQUAL(ticks_of_boottime(9'999'999, 100), 0u);
  BOOST_CHECK_EQUAL(ticks_of_boottime(10'000'000, 100), 1u);
  BOOST_CHECK_EQUAL(ticks_of_boottime(1'000'000'000, 250), 250u);
  BOOST_CHECK_EQUAL(ticks_of_boottime(5, 0), 0u);
}

BOOST_AUTO_TEST_CASE(fork_exec_comm_exit_rows) {
  fake_proc fp;
  procfs_reader reader(fp.root, 100);
  ebpf_translator t;
  ebpf_counts c;
  const std::uint64_t start_ns = 123'456'789'000; // 12345 ticks
  const timestamp start =
      (btime + 123) * hns_per_second + 45 * hns_per_second / 100;
  std::vector<ebpf_event> evs{
      decoded(record(PT_EV_FORK, 500, 400, start_ns, "bash", "/usr/bin/bash",
                     std::string("bash\0-c\0x\0", 11))),
      decoded(record(PT_EV_EXEC, 500, 400, start_ns, "sleep", "/usr/bin/sleep",
                     std::string("sleep\0\"1\"\0", 10))),
      decoded(record(PT_EV_EXEC, 500, 1, start_ns, "true", "/usr/bin/true",
                     std::string("true\0", 5))),
      decoded(record(PT_EV_COMM, 500, 1, start_ns, "worker", "", "")),
      decoded(record(PT_EV_EXIT, 500, 1, start_ns, "worker", "", ""))};
  std::vector<process_update> out;
  t.translate(evs, reader, out, &c);
  BOOST_REQUIRE_EQUAL(out.size(), 5u);
  auto &f = out[0].process;
  BOOST_CHECK(out[0].kind == update_kind::start);
  BOOST_CHECK(f.identity == record_identity::exact_new);
  BOOST_CHECK_EQUAL(f.pid, "500");
  BOOST_CHECK_EQUAL(f.ppid, "400");
  BOOST_CHECK_EQUAL(f.start_time, start);
  BOOST_CHECK_EQUAL(field_or(f, "Pid"), "500");
  BOOST_CHECK_EQUAL(field_or(f, "Ppid"), "400");
  BOOST_CHECK_EQUAL(field_or(f, "Name"), "\"bash\"");
  BOOST_CHECK_EQUAL(field_or(f, "Exe"), "\"/usr/bin/bash\"");
  BOOST_CHECK_EQUAL(field_or(f, "CommandLine"), "\"bash -c x\"");
  BOOST_CHECK_EQUAL(field_or(f, "Username"), "\"root\"");
  BOOST_CHECK_EQUAL(field_or(f, "StartTime"), "\"2020-09-13T12:28:43.45Z\"");
  BOOST_CHECK_EQUAL(field_or(f, "ParentSource"), "\"fork\"");
  BOOST_CHECK_EQUAL(field_or(f, "ExecName"), "\"bash\"");
  BOOST_CHECK(field(f, "ImageInherited") == nullptr);
  auto &e = out[1].process;
  BOOST_CHECK(e.identity == record_identity::exact);
  BOOST_CHECK_EQUAL(e.start_time, start);
  BOOST_CHECK(field(e, "Ppid") == nullptr); // the creator stays
  BOOST_CHECK(e.ppid.empty());
  BOOST_CHECK_EQUAL(field_or(e, "Name"), "\"sleep\"");
  BOOST_CHECK_EQUAL(field_or(e, "Exe"), "\"/usr/bin/sleep\"");
  BOOST_CHECK_EQUAL(field_or(e, "CommandLine"), "\"sleep \\\"1\\\"\"");
  BOOST_CHECK_EQUAL(field_or(e, "ExecName"), "\"sleep\"");
  BOOST_CHECK(field(e, "ImageTime") != nullptr);
  BOOST_CHECK(field(e, "CurrentPpid") == nullptr);
  // Re-parented to 1 since: CurrentPpid says so, Ppid stays the creator.
  BOOST_CHECK_EQUAL(field_or(out[2].process, "CurrentPpid"), "1");
  auto &n = out[3].process;
  BOOST_CHECK_EQUAL(field_or(n, "Name"), "\"worker\"");
  BOOST_CHECK_EQUAL(field_or(n, "ExecName"), "\"true\"");
  BOOST_CHECK_EQUAL(c.comm_changes, 1u);
  BOOST_CHECK(out[4].kind == update_kind::exit);
  BOOST_CHECK_EQUAL(out[4].target, "500");
  BOOST_CHECK_EQUAL(out[4].process.start_time, start);
  BOOST_CHECK(out[4].process.identity == record_identity::exact);
  BOOST_CHECK_EQUAL(t.known_size(), 0u); // forgotten at its exit
  BOOST_CHECK_EQUAL(c.proc_reads, 0u);   // nothing read from /proc
}

BOOST_AUTO_TEST_CASE(what_the_event_lacks_comes_from_proc_if_same_process) {
  fake_proc fp;
  std::string long_args(5000, 'a');
  fp.process(600, 1, 12345, "long", long_args + std::string(1, '\0'),
             "/opt/long");
  procfs_reader reader(fp.root, 100);
  ebpf_translator t;
  ebpf_counts c;
  std::vector<process_update> out;
  // Arguments past the event's 4 KiB: /proc's (same start ticks).
  t.translate({decoded(record(PT_EV_EXEC, 600, 1, 123'456'789'000, "long", "",
                              std::string(4096, 'a'),
                              PT_F_ARGS_TRUNCATED | PT_F_EXE_UNREAD))},
              reader, out, &c);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_EQUAL(field_or(out[0].process, "CommandLine"),
                    "\"" + long_args + "\"");
  BOOST_CHECK_EQUAL(field_or(out[0].process, "Exe"), "\"/opt/long\"");
  BOOST_CHECK_EQUAL(c.proc_reads, 1u);
  BOOST_CHECK_EQUAL(c.unread_images, 0u);
  // Another process holds the pid in /proc (other ticks): null, not its.
  out.clear();
  t.translate({decoded(record(PT_EV_EXEC, 600, 1, 999'000'000'000, "long", "",
                              "", PT_F_ARGS_UNREAD | PT_F_EXE_UNREAD))},
              reader, out, &c);
  BOOST_REQUIRE_EQUAL(out.size(), 1u);
  BOOST_CHECK_EQUAL(field_or(out[0].process, "CommandLine"), "null");
  BOOST_CHECK_EQUAL(field_or(out[0].process, "Exe"), "null");
  BOOST_CHECK_EQUAL(c.unread_images, 1u);
  // A kernel thread: no Exe, an empty command line, as /proc shows it.
  out.clear();
  t.translate({decoded(record(PT_EV_FORK, 700, 2, 1'000'000'000, "kworker/0",
                              "", "", PT_F_NO_MM))},
              reader, out, &c);
  BOOST_CHECK(field(out[0].process, "Exe") == nullptr);
  BOOST_CHECK_EQUAL(field_or(out[0].process, "CommandLine"), "\"\"");
}

// The source against the kernel: a child blocked on a pipe after its exec
// is reported with /proc's start ticks, Exe and command line.
BOOST_AUTO_TEST_CASE(the_kernel_reports_what_proc_shows) {
  if (!ebpf_source::built_in() || ::geteuid() != 0
      || ebpf_source::under_chroot()) {
    std::cout << "ebpf_translator_test: no eBPF source, not root or under "
                 "chroot: kernel case skipped\n";
    return;
  }
  ebpf_source src;
  std::string error;
  BOOST_REQUIRE_MESSAGE(src.open(error), error);
  int fds[2];
  BOOST_REQUIRE(::pipe(fds) == 0);
  pid_t child = ::fork();
  if (child == 0) {
    ::dup2(fds[0], 0);
    ::close(fds[1]);
    // `head -c 1` waits for one byte from the pipe, then ends.
    ::execl("/usr/bin/head", "head", "-c", "1", "two words", (char *)nullptr);
    ::_exit(127);
  }
  ::close(fds[0]);
  std::vector<ebpf_event> evs;
  bool have_fork = false, have_exec = false, have_exit = false;
  std::string stat_text;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!have_exit && std::chrono::steady_clock::now() < deadline) {
    src.receive(evs, 100);
    for (auto &ev : evs) {
      if (ev.tgid != child)
        continue;
      if (ev.what == ebpf_event::fork)
        have_fork = true;
      if (ev.what == ebpf_event::exec && !have_exec) {
        have_exec = true;
        // /proc of the child now (it waits on the pipe).
        std::ifstream in("/proc/" + std::to_string(child) + "/stat");
        std::getline(in, stat_text);
        BOOST_CHECK_EQUAL(ev.exe, "/usr/bin/head");
        BOOST_CHECK_EQUAL(ev.args,
                          std::string("head\0-c\0001\0two words\0", 20));
        BOOST_CHECK_EQUAL(ev.name, "head");
        BOOST_CHECK_EQUAL(ev.ppid, ::getpid());
        BOOST_CHECK_EQUAL(ev.uid, 0u);
        auto st = parse_stat_line(stat_text);
        BOOST_REQUIRE(st);
        BOOST_CHECK_EQUAL(
            ticks_of_boottime(ev.start_boottime, ::sysconf(_SC_CLK_TCK)),
            st->starttime);
        BOOST_CHECK(::write(fds[1], "x", 1) == 1);
      }
      if (ev.what == ebpf_event::exit)
        have_exit = true;
    }
    evs.clear();
  }
  ::close(fds[1]);
  ::waitpid(child, nullptr, 0);
  BOOST_CHECK(have_fork);
  BOOST_CHECK(have_exec);
  BOOST_CHECK(have_exit);
  BOOST_CHECK_EQUAL(src.lost(), 0u);
}

BOOST_AUTO_TEST_SUITE_END()

#endif
