// Checks the Windows pslist reader (actors/winpslist/windows_pslist) on the
// host it runs on (Windows, or wine64 here): this process is listed with its
// image, command line, user and start time; a child it starts is listed
// with this process as its parent and its own command line; once the child
// has exited it is no longer listed. Exit 0 when all hold, 1 otherwise,
// saying what failed. Built standalone (no CAF) by
// scripts/windows-checks.sh; `pslist_check.exe --child` is the child.
#include "actors/winpslist/windows_pslist.hpp"

#include <windows.h>

#include <cstdio>
#include <cstring>
#include <string>

using namespace proctrack;

namespace {

int failures = 0;

void check(bool ok, const std::string &what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok)
    ++failures;
}

const process_record *find(const linux_proc::listing &l, DWORD pid) {
  for (auto &p : l.processes)
    if (p.pid == std::to_string(pid))
      return &p;
  return nullptr;
}

std::string field(const process_record &p, const char *key) {
  for (auto &f : p.data)
    if (f.key == key)
      return f.json;
  return "";
}

} // namespace

int main(int argc, char **argv) {
  if (argc > 1 && std::strcmp(argv[1], "--child") == 0) {
    Sleep(30000); // killed by the parent long before
    return 0;
  }
  windows::pslist_counts counts;
  auto t0 = windows::system_time_now();
  auto l = windows::list_processes(&counts);
  check(l.error.empty(), "listing without error: " + l.error);
  check(l.processes.size() >= 3,
        "several processes listed: " + std::to_string(l.processes.size()));
  bool sorted = true;
  for (std::size_t i = 1; i < l.processes.size(); ++i)
    sorted =
        sorted
        && std::stoul(l.processes[i - 1].pid) < std::stoul(l.processes[i].pid);
  check(sorted, "sorted by pid");
  DWORD self = GetCurrentProcessId();
  auto *me = find(l, self);
  check(me != nullptr, "this process is listed");
  if (me != nullptr) {
    std::printf("     self: start %lld (now %lld) data:", me->start_time, t0);
    for (auto &f : me->data)
      std::printf(" %s=%s", f.key.c_str(), f.json.c_str());
    std::printf("\n");
    check(me->start_time > 0 && me->start_time <= t0
              && t0 - me->start_time < 600LL * 10'000'000,
          "own start time is in the last 10 minutes");
    check(field(*me, "Exe").find("pslist_check.exe") != std::string::npos,
          "own Exe: " + field(*me, "Exe"));
    check(field(*me, "CommandLine").find("pslist_check") != std::string::npos,
          "own CommandLine: " + field(*me, "CommandLine"));
    check(!field(*me, "Username").empty(),
          "own Username: " + field(*me, "Username"));
  }

  wchar_t exe[MAX_PATH];
  GetModuleFileNameW(nullptr, exe, MAX_PATH);
  std::wstring cmd = L"\"" + std::wstring(exe) + L"\" --child marker-42";
  STARTUPINFOW si{};
  si.cb = sizeof si;
  PROCESS_INFORMATION pi{};
  if (!CreateProcessW(exe, cmd.data(), nullptr, nullptr, FALSE, 0, nullptr,
                      nullptr, &si, &pi)) {
    check(false, "CreateProcessW: error " + std::to_string(GetLastError()));
    return 1;
  }
  Sleep(500);
  l = windows::list_processes(&counts);
  auto *child = find(l, pi.dwProcessId);
  check(child != nullptr,
        "child " + std::to_string(pi.dwProcessId) + " is listed");
  if (child != nullptr) {
    check(child->ppid == std::to_string(self),
          "child's ppid is this process: " + child->ppid);
    check(field(*child, "CommandLine").find("--child marker-42")
              != std::string::npos,
          "child's CommandLine: " + field(*child, "CommandLine"));
    check(me == nullptr || child->start_time >= me->start_time,
          "child started after its parent");
    FILETIME c, e, k, u;
    GetProcessTimes(pi.hProcess, &c, &e, &k, &u);
    auto want = windows::from_filetime(std::uint64_t{c.dwHighDateTime} << 32
                                       | c.dwLowDateTime);
    check(child->start_time == want,
          "child's start time is GetProcessTimes' CreationTime");
  }
  TerminateProcess(pi.hProcess, 0);
  WaitForSingleObject(pi.hProcess, 10000);
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  Sleep(200);
  l = windows::list_processes(&counts);
  check(find(l, pi.dwProcessId) == nullptr, "child is gone after its exit");
  std::printf("counts: denied %llu, no command line %llu, from the PEB %llu, "
              "reused ppid %llu\n",
              static_cast<unsigned long long>(counts.denied),
              static_cast<unsigned long long>(counts.no_cmdline),
              static_cast<unsigned long long>(counts.cmdline_from_peb),
              static_cast<unsigned long long>(counts.reused_ppid));
  std::printf("%s\n", failures == 0 ? "PASS" : "FAILED");
  return failures == 0 ? 0 : 1;
}
