#include "actors/etw/sysmon_presence.hpp"

#include <algorithm>
#include <cctype>

#ifdef _WIN32
#include <windows.h>
#endif

namespace proctrack::etw {

namespace {

std::string lower(std::string s) {
  for (auto &c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

} // namespace

std::vector<std::string>
sysmon_service_names(const std::string &file_location) {
  std::vector<std::string> out;
  auto add = [&](std::string n) {
    if (n.empty())
      return;
    for (auto &o : out)
      if (lower(o) == lower(n))
        return;
    out.push_back(std::move(n));
  };
  auto slash = file_location.find_last_of("\\/");
  std::string base = slash == std::string::npos
                         ? file_location
                         : file_location.substr(slash + 1);
  auto dot = base.find_last_of('.');
  if (dot != std::string::npos && dot > 0)
    base.resize(dot);
  add(base);
  add("Sysmon64");
  add("Sysmon");
  return out;
}

sysmon_verdict judge_sysmon(const sysmon_facts &f) {
  sysmon_verdict v;
  const char *fallback =
      " Without Sysmon, run proctrack with --tracker.sources=pslist (the "
      "periodic process listing alone, as Velociraptor's fallback).";
  if (!f.scm_error.empty()) {
    v.state = sysmon_state::unknown;
    v.message = "cannot ask the Service Control Manager whether Sysmon is "
                "installed: "
                + f.scm_error + "." + fallback;
    return v;
  }
  const service_fact *installed = nullptr;
  for (auto &s : f.services)
    if (s.exists
        && (installed == nullptr || (s.running && !installed->running)))
      installed = &s;
  if (installed == nullptr) {
    v.state = sysmon_state::not_installed;
    std::string asked;
    for (auto &s : f.services)
      asked += (asked.empty() ? "" : ", ") + s.name;
    v.message = "Sysmon is not installed: no service " + asked
                + (f.file_exists ? " (although " + f.file_location + " exists)"
                                 : " and no " + f.file_location)
                + ". Install it from "
                  "https://learn.microsoft.com/sysinternals/downloads/sysmon "
                  "(as Administrator: sysmon64.exe -accepteula -i) so that "
                  "process creation (Event 1) and termination (Event 5) are "
                  "logged."
                + fallback;
    return v;
  }
  v.service = installed->name;
  if (installed->running && f.driver.exists && f.driver.running) {
    v.state = sysmon_state::running;
    v.message =
        "Sysmon is running: service " + installed->name
        + (installed->binary.empty() ? "" : " (" + installed->binary + ")")
        + ", driver " + f.driver.name + ".";
    return v;
  }
  v.state = sysmon_state::not_running;
  std::string what;
  if (!installed->running)
    what = "service " + installed->name + " is stopped";
  if (!f.driver.exists)
    what += (what.empty() ? "" : "; ") + std::string("driver ") + f.driver.name
            + " is not installed";
  else if (!f.driver.running)
    what += (what.empty() ? "" : "; ") + std::string("driver ") + f.driver.name
            + " is stopped";
  v.message = "Sysmon is installed but not running: " + what
              + ". Start it (as Administrator: sc.exe start " + installed->name
              + ") or reinstall it (sysmon64.exe -i)." + fallback;
  return v;
}

#ifdef _WIN32

namespace {

std::wstring wide(const std::string &s) {
  if (s.empty())
    return {};
  int n = MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()),
                              nullptr, 0);
  std::wstring out(static_cast<std::size_t>(n > 0 ? n : 0), L'\0');
  if (n > 0)
    MultiByteToWideChar(CP_UTF8, 0, s.data(), static_cast<int>(s.size()),
                        out.data(), n);
  return out;
}

std::string narrow(const wchar_t *w) {
  if (w == nullptr || *w == 0)
    return {};
  int len =
      WideCharToMultiByte(CP_UTF8, 0, w, -1, nullptr, 0, nullptr, nullptr);
  if (len <= 1)
    return {};
  std::string out(static_cast<std::size_t>(len), '\0');
  WideCharToMultiByte(CP_UTF8, 0, w, -1, out.data(), len, nullptr, nullptr);
  out.pop_back();
  return out;
}

service_fact ask(SC_HANDLE scm, const std::string &name) {
  service_fact f;
  f.name = name;
  SC_HANDLE s = OpenServiceW(scm, wide(name).c_str(),
                             SERVICE_QUERY_STATUS | SERVICE_QUERY_CONFIG);
  if (s == nullptr) {
    DWORD e = GetLastError();
    if (e != ERROR_SERVICE_DOES_NOT_EXIST)
      f.error = "OpenServiceW(" + name + "): Win32 error " + std::to_string(e);
    return f;
  }
  f.exists = true;
  SERVICE_STATUS_PROCESS st{};
  DWORD need = 0;
  if (QueryServiceStatusEx(s, SC_STATUS_PROCESS_INFO,
                           reinterpret_cast<LPBYTE>(&st), sizeof st, &need))
    f.running = st.dwCurrentState == SERVICE_RUNNING;
  alignas(8) unsigned char buf[8192];
  if (QueryServiceConfigW(s, reinterpret_cast<QUERY_SERVICE_CONFIGW *>(buf),
                          sizeof buf, &need))
    f.binary = narrow(
        reinterpret_cast<QUERY_SERVICE_CONFIGW *>(buf)->lpBinaryPathName);
  CloseServiceHandle(s);
  return f;
}

} // namespace

sysmon_facts sysmon_facts_now(const std::string &file_location) {
  sysmon_facts f;
  f.file_location = file_location;
  DWORD attr = GetFileAttributesW(wide(file_location).c_str());
  f.file_exists =
      attr != INVALID_FILE_ATTRIBUTES && (attr & FILE_ATTRIBUTE_DIRECTORY) == 0;
  SC_HANDLE scm = OpenSCManagerW(nullptr, nullptr, SC_MANAGER_CONNECT);
  if (scm == nullptr) {
    f.scm_error =
        "OpenSCManagerW: Win32 error " + std::to_string(GetLastError());
    return f;
  }
  for (auto &n : sysmon_service_names(file_location))
    f.services.push_back(ask(scm, n));
  f.driver = ask(scm, "SysmonDrv");
  CloseServiceHandle(scm);
  return f;
}

sysmon_verdict check_sysmon(const std::string &file_location) {
  return judge_sysmon(sysmon_facts_now(file_location));
}

#endif // _WIN32

} // namespace proctrack::etw
