// Lists the processes of a Windows host for the pslist sync, in the listing
// type the Linux sync consumes (linux_proc::listing: process_records sorted
// by pid, or an error), so the same sync logic and vanished-process rule
// apply. Plain C++, no CAF; the functions exist only in the Windows build
// (the .cpp is empty elsewhere), the time conversion everywhere.
//
// Sources (all documented Win32/NT APIs):
//  - NtQuerySystemInformation(SystemProcessInformation): one consistent
//    snapshot of every process with its pid, parent pid
//    (InheritedFromUniqueProcessId), CreateTime (FILETIME) and image name,
//    whatever access the caller has to it;
//  - OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION) per process, the least
//    access that gives QueryFullProcessImageNameW (the Win32 path, as
//    Sysmon's Image), NtQueryInformationProcess(ProcessCommandLineInformation,
//    class 60, Windows 8.1 and later) and OpenProcessToken(TOKEN_QUERY);
//  - where class 60 is missing (older Windows, wine), the command line is read
//    from the PEB (PROCESS_QUERY_INFORMATION | PROCESS_VM_READ:
//    PEB.ProcessParameters->CommandLine);
//  - the token's user (TokenUser) as "DOMAIN\user" (LookupAccountSidW).
// A process that denies any of these (protected processes, other users'
// processes without SeDebugPrivilege) is kept with what is known: pid, ppid,
// name and start time always come from the snapshot.
//
// Start time: CreateTime, 100 ns since 1601-01-01 UTC, converted to
// proctrack's clock (100 ns since 1970, actors/common/time.hpp) exactly. It
// is the kernel's process creation time, the time Sysmon's EID 1 reports
// (UtcTime, to the millisecond), so a process listed here and seen by the
// ETW source keeps one real id (pid-seconds).
//
// Parent: a parent pid whose current holder started after the child is a
// reused pid, not the parent: the record then has no ppid (the table does not
// link it to the wrong process), and Data.Ppid still says what Windows said.
#pragma once

#include "actors/live/procfs_reader.hpp" // linux_proc::listing
#include "messages/types.hpp"

#include <cstdint>
#include <optional>

namespace proctrack::windows {

/// FILETIME ticks between 1601-01-01 and 1970-01-01.
inline constexpr std::int64_t filetime_unix_epoch = 116444736000000000LL;

/// A FILETIME (100 ns since 1601, UTC) as a proctrack timestamp; 0 (the
/// System and Idle processes) is unknown_time.
constexpr timestamp from_filetime(std::uint64_t ft) {
  return ft == 0 ? unknown_time
                 : static_cast<timestamp>(ft) - filetime_unix_epoch;
}

struct pslist_counts {
  std::uint64_t denied = 0;           ///< processes that could not be opened
  std::uint64_t no_cmdline = 0;       ///< opened but no command line read
  std::uint64_t cmdline_from_peb = 0; ///< class 60 refused, PEB read
  std::uint64_t reused_ppid = 0;      ///< ppid held by a younger process
};

#ifdef _WIN32
/// Every process but the Idle process (pid 0), sorted by pid. `error` says
/// why when the snapshot itself failed (the listing must then not be
/// applied).
linux_proc::listing list_processes(pslist_counts *counts = nullptr);

/// The wall clock as proctrack's timestamp (GetSystemTimePreciseAsFileTime).
timestamp system_time_now();
#endif

} // namespace proctrack::windows
