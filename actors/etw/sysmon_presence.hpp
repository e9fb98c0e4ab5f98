// Is Sysmon installed and running on this Windows host (tracker.sysmon-file-
// location, as Velociraptor's Windows.Events.TrackProcesses checks its
// SysmonFileLocation before it listens)? The facts come from the Service
// Control Manager (Windows only: check_sysmon()); the verdict from them is
// plain C++ (judge_sysmon(), tested on Linux).
//
// Sysmon installs a service named after its binary (Sysmon64 for
// sysmon64.exe, Sysmon for sysmon.exe; a renamed binary gives a renamed
// service) and a kernel driver service, SysmonDrv by default. Its ETW
// provider only logs while both run.
#pragma once

#include <string>
#include <vector>

namespace proctrack::etw {

/// One service as the SCM describes it.
struct service_fact {
  std::string name;     ///< the service name asked for
  bool exists = false;  ///< OpenServiceW succeeded
  bool running = false; ///< SERVICE_RUNNING
  std::string binary;   ///< its configured binary path, when readable
  std::string error;    ///< why it could not be asked (access denied...)
};

struct sysmon_facts {
  std::string file_location; ///< tracker.sysmon-file-location
  bool file_exists = false;
  std::vector<service_fact> services; ///< the user-mode service candidates
  service_fact driver;                ///< SysmonDrv
  std::string scm_error;              ///< OpenSCManagerW failed: why
};

enum class sysmon_state {
  running,       ///< a Sysmon service and its driver run: ETW will work
  not_running,   ///< installed, but the service or the driver is stopped
  not_installed, ///< neither service exists
  unknown,       ///< the SCM could not be asked
};

struct sysmon_verdict {
  sysmon_state state = sysmon_state::unknown;
  std::string service; ///< the running (or installed) service's name
  /// One paragraph for a user: what was found and, unless running, what to
  /// do (install Sysmon, start it, or run with --tracker.sources=pslist).
  std::string message;
};

/// The services to ask for: the base name of file_location without its
/// extension (C:/Windows/sysmon64.exe -> sysmon64), then Sysmon64 and
/// Sysmon, without duplicates (case-insensitive).
std::vector<std::string> sysmon_service_names(const std::string &file_location);

/// The verdict from the facts (pure logic).
sysmon_verdict judge_sysmon(const sysmon_facts &facts);

#ifdef _WIN32
/// Asks the SCM (SC_MANAGER_CONNECT, SERVICE_QUERY_STATUS |
/// SERVICE_QUERY_CONFIG: no privilege needed) and the file system.
sysmon_facts sysmon_facts_now(const std::string &file_location);

/// judge_sysmon(sysmon_facts_now(file_location)).
sysmon_verdict check_sysmon(const std::string &file_location);
#endif

} // namespace proctrack::etw
