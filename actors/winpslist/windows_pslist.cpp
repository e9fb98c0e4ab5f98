#include "actors/winpslist/windows_pslist.hpp"

#ifdef _WIN32

#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

#include <windows.h>
#include <winternl.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace proctrack::windows {

namespace {

// ProcessCommandLineInformation: missing from mingw's PROCESSINFOCLASS;
// "NtQueryInformationProcess function", Microsoft Learn (value 60, Windows
// 8.1 and later).
constexpr PROCESSINFOCLASS process_command_line_information =
    static_cast<PROCESSINFOCLASS>(60);
constexpr NTSTATUS status_info_length_mismatch =
    static_cast<NTSTATUS>(0xC0000004L);
// Command lines are at most 32,767 UTF-16 units (CreateProcess).
constexpr ULONG max_cmdline_bytes = 65536 + sizeof(UNICODE_STRING);
// A snapshot larger than this is refused rather than allocated.
constexpr ULONG max_snapshot_bytes = 256u << 20;

struct handle {
  HANDLE h = nullptr;
  explicit handle(HANDLE x) : h(x) {}
  ~handle() {
    if (h != nullptr && h != INVALID_HANDLE_VALUE)
      CloseHandle(h);
  }
  handle(const handle &) = delete;
  handle &operator=(const handle &) = delete;
  explicit operator bool() const {
    return h != nullptr && h != INVALID_HANDLE_VALUE;
  }
};

std::string utf8(const wchar_t *w, std::size_t n) {
  if (n == 0)
    return {};
  int len = WideCharToMultiByte(CP_UTF8, 0, w, static_cast<int>(n), nullptr, 0,
                                nullptr, nullptr);
  if (len <= 0)
    return {};
  std::string out(static_cast<std::size_t>(len), '\0');
  WideCharToMultiByte(CP_UTF8, 0, w, static_cast<int>(n), out.data(), len,
                      nullptr, nullptr);
  return out;
}

std::string json(const std::string &s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

std::optional<std::string> image_path(HANDLE h) {
  std::vector<wchar_t> buf(32768);
  DWORD n = static_cast<DWORD>(buf.size());
  if (!QueryFullProcessImageNameW(h, 0, buf.data(), &n))
    return std::nullopt;
  return utf8(buf.data(), n);
}

// Class 60 with the limited-access handle.
std::optional<std::string> command_line_nt(HANDLE h) {
  ULONG need = 0;
  std::vector<unsigned char> buf(4096);
  NTSTATUS st =
      NtQueryInformationProcess(h, process_command_line_information, buf.data(),
                                static_cast<ULONG>(buf.size()), &need);
  if (st == status_info_length_mismatch && need <= max_cmdline_bytes) {
    buf.resize(need);
    st = NtQueryInformationProcess(h, process_command_line_information,
                                   buf.data(), static_cast<ULONG>(buf.size()),
                                   &need);
  }
  if (st < 0)
    return std::nullopt;
  auto *us = reinterpret_cast<const UNICODE_STRING *>(buf.data());
  if (us->Buffer == nullptr)
    return std::string{};
  // The buffer points into our own copy, right after the header.
  auto *begin = reinterpret_cast<const unsigned char *>(us->Buffer);
  if (begin < buf.data() || begin + us->Length > buf.data() + buf.size())
    return std::nullopt;
  return utf8(us->Buffer, us->Length / sizeof(wchar_t));
}

// The PEB's ProcessParameters->CommandLine of another process (same
// bitness: this build is x86-64 and reads the 64-bit PEB, which a WOW64
// process has as well).
std::optional<std::string> command_line_peb(DWORD pid) {
  handle h(
      OpenProcess(PROCESS_QUERY_INFORMATION | PROCESS_VM_READ, FALSE, pid));
  if (!h)
    return std::nullopt;
  PROCESS_BASIC_INFORMATION pbi{};
  ULONG got = 0;
  if (NtQueryInformationProcess(h.h, ProcessBasicInformation, &pbi, sizeof pbi,
                                &got)
          < 0
      || pbi.PebBaseAddress == nullptr)
    return std::nullopt;
  PEB peb{};
  SIZE_T n = 0;
  if (!ReadProcessMemory(h.h, pbi.PebBaseAddress, &peb, sizeof peb, &n)
      || n != sizeof peb || peb.ProcessParameters == nullptr)
    return std::nullopt;
  RTL_USER_PROCESS_PARAMETERS params{};
  if (!ReadProcessMemory(h.h, peb.ProcessParameters, &params, sizeof params, &n)
      || n != sizeof params)
    return std::nullopt;
  auto len = params.CommandLine.Length;
  if (len == 0 || params.CommandLine.Buffer == nullptr)
    return std::string{};
  std::vector<wchar_t> text(len / sizeof(wchar_t));
  if (!ReadProcessMemory(h.h, params.CommandLine.Buffer, text.data(),
                         text.size() * sizeof(wchar_t), &n)
      || n != text.size() * sizeof(wchar_t))
    return std::nullopt;
  return utf8(text.data(), text.size());
}

// "DOMAIN\user" of the token's user, cached by SID within one listing.
std::optional<std::string>
token_user(HANDLE h, std::map<std::string, std::string> &users) {
  HANDLE tok = nullptr;
  if (!OpenProcessToken(h, TOKEN_QUERY, &tok))
    return std::nullopt;
  handle t(tok);
  alignas(8) unsigned char buf[512];
  DWORD n = 0;
  if (!GetTokenInformation(t.h, TokenUser, buf, sizeof buf, &n))
    return std::nullopt;
  PSID sid = reinterpret_cast<TOKEN_USER *>(buf)->User.Sid;
  if (!IsValidSid(sid))
    return std::nullopt;
  std::string key(static_cast<const char *>(sid), GetLengthSid(sid));
  if (auto it = users.find(key); it != users.end())
    return it->second;
  wchar_t name[256], domain[256];
  DWORD nn = 256, dn = 256;
  SID_NAME_USE use;
  std::string out;
  if (LookupAccountSidW(nullptr, sid, name, &nn, domain, &dn, &use)) {
    out = dn > 0 ? utf8(domain, dn) + "\\" + utf8(name, nn) : utf8(name, nn);
  } else {
    return std::nullopt;
  }
  users.emplace(std::move(key), out);
  return out;
}

void add(data_fields &d, const char *key, std::string json_text) {
  d.push_back(data_field{key, std::move(json_text)});
}

} // namespace

timestamp system_time_now() {
  FILETIME ft;
  GetSystemTimePreciseAsFileTime(&ft);
  return from_filetime(std::uint64_t{ft.dwHighDateTime} << 32
                       | ft.dwLowDateTime);
}

linux_proc::listing list_processes(pslist_counts *counts) {
  linux_proc::listing out;
  // The snapshot, grown until it fits (processes come and go meanwhile).
  std::vector<unsigned char> buf(1u << 20);
  NTSTATUS st;
  for (;;) {
    ULONG need = 0;
    st = NtQuerySystemInformation(SystemProcessInformation, buf.data(),
                                  static_cast<ULONG>(buf.size()), &need);
    if (st != status_info_length_mismatch)
      break;
    ULONG next =
        std::max<ULONG>(need + (64u << 10), static_cast<ULONG>(buf.size() * 2));
    if (next > max_snapshot_bytes) {
      out.error = "NtQuerySystemInformation(SystemProcessInformation): "
                  "snapshot larger than 256 MiB";
      return out;
    }
    buf.assign(next, 0);
  }
  if (st < 0) {
    char msg[96];
    std::snprintf(msg, sizeof msg,
                  "NtQuerySystemInformation(SystemProcessInformation) failed: "
                  "NTSTATUS 0x%08lx",
                  static_cast<unsigned long>(st));
    out.error = msg;
    return out;
  }
  struct raw {
    DWORD pid, ppid;
    std::uint64_t created;
    std::string name;
  };
  std::vector<raw> procs;
  for (std::size_t off = 0;;) {
    if (off + sizeof(SYSTEM_PROCESS_INFORMATION) > buf.size())
      break;
    auto *p =
        reinterpret_cast<const SYSTEM_PROCESS_INFORMATION *>(buf.data() + off);
    raw r;
    r.pid = static_cast<DWORD>(reinterpret_cast<ULONG_PTR>(p->UniqueProcessId));
    r.ppid = static_cast<DWORD>(
        reinterpret_cast<ULONG_PTR>(p->InheritedFromUniqueProcessId));
    r.created = static_cast<std::uint64_t>(p->CreateTime.QuadPart);
    if (p->ImageName.Buffer != nullptr)
      r.name = utf8(p->ImageName.Buffer, p->ImageName.Length / sizeof(wchar_t));
    if (r.pid != 0)
      procs.push_back(std::move(r));
    if (p->NextEntryOffset == 0)
      break;
    off += p->NextEntryOffset;
  }
  std::sort(procs.begin(), procs.end(),
            [](const raw &a, const raw &b) { return a.pid < b.pid; });
  std::unordered_map<DWORD, std::uint64_t> created;
  for (auto &r : procs)
    created[r.pid] = r.created;

  std::map<std::string, std::string> users;
  out.processes.reserve(procs.size());
  for (auto &r : procs) {
    process_record rec;
    rec.pid = std::to_string(r.pid);
    rec.start_time = from_filetime(r.created);
    bool reused = false;
    if (auto it = created.find(r.ppid);
        it != created.end() && r.created != 0 && it->second > r.created)
      reused = true;
    if (r.ppid != 0 && !reused)
      rec.ppid = std::to_string(r.ppid);
    if (reused && counts)
      ++counts->reused_ppid;
    // System (pid 4) has no name in the snapshot's sense of an image.
    std::string name = r.name.empty() && r.pid == 4 ? "System" : r.name;
    std::optional<std::string> exe, cmdline, user;
    handle h(OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, r.pid));
    if (h) {
      exe = image_path(h.h);
      cmdline = command_line_nt(h.h);
      if (!cmdline) {
        cmdline = command_line_peb(r.pid);
        if (cmdline && counts)
          ++counts->cmdline_from_peb;
      }
      if (!cmdline && counts)
        ++counts->no_cmdline;
      user = token_user(h.h, users);
    } else if (counts) {
      ++counts->denied;
    }
    auto &d = rec.data;
    add(d, "Pid", rec.pid);
    add(d, "Ppid", std::to_string(r.ppid));
    add(d, "Name", json(name));
    if (exe && !exe->empty())
      add(d, "Exe", json(*exe));
    if (cmdline)
      add(d, "CommandLine", json(*cmdline));
    if (user)
      add(d, "Username", json(*user));
    std::string t;
    append_time_json(t, rec.start_time);
    add(d, "StartTime", std::move(t));
    out.processes.push_back(std::move(rec));
  }
  return out;
}

} // namespace proctrack::windows

#endif // _WIN32
