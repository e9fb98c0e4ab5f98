// The Sysmon presence verdict (actors/etw/sysmon_presence): which services
// are asked for, and what a user is told for each state the Service Control
// Manager can report. The SCM query itself runs on Windows
// (scripts/windows-checks.sh under wine: "not installed").
#include <boost/test/unit_test.hpp>

#include "actors/etw/sysmon_presence.hpp"

BOOST_AUTO_TEST_SUITE(sysmon_presence_test)

using namespace proctrack::etw;

namespace {

service_fact svc(std::string name, bool exists, bool running) {
  service_fact f;
  f.name = std::move(name);
  f.exists = exists;
  f.running = running;
  return f;
}

sysmon_facts facts(bool svc_exists, bool svc_running, bool drv_exists,
                   bool drv_running) {
  sysmon_facts f;
  f.file_location = "C:/Windows/sysmon64.exe";
  f.file_exists = svc_exists;
  for (auto &n : sysmon_service_names(f.file_location))
    f.services.push_back(
        svc(n, svc_exists && n == "sysmon64", svc_running && n == "sysmon64"));
  f.driver = svc("SysmonDrv", drv_exists, drv_running);
  return f;
}

} // namespace

BOOST_AUTO_TEST_CASE(service_names_follow_the_configured_binary) {
  using v = std::vector<std::string>;
  BOOST_TEST(sysmon_service_names("C:/Windows/sysmon64.exe")
             == (v{"sysmon64", "Sysmon"}));
  BOOST_TEST(sysmon_service_names("C:\\Tools\\MyMon.exe")
             == (v{"MyMon", "Sysmon64", "Sysmon"}));
  BOOST_TEST(sysmon_service_names("") == (v{"Sysmon64", "Sysmon"}));
}

BOOST_AUTO_TEST_CASE(each_state_has_its_verdict_and_advice) {
  auto run = judge_sysmon(facts(true, true, true, true));
  BOOST_TEST(static_cast<int>(run.state)
             == static_cast<int>(sysmon_state::running));
  BOOST_TEST(run.service == "sysmon64");
  BOOST_TEST(run.message
             == "Sysmon is running: service sysmon64, driver "
                "SysmonDrv.");

  auto stopped = judge_sysmon(facts(true, false, true, true));
  BOOST_TEST(static_cast<int>(stopped.state)
             == static_cast<int>(sysmon_state::not_running));
  BOOST_TEST(stopped.message.find("service sysmon64 is stopped")
                 != std::string::npos,
             stopped.message);
  BOOST_TEST(stopped.message.find("sc.exe start sysmon64")
             != std::string::npos);

  auto no_driver = judge_sysmon(facts(true, true, false, false));
  BOOST_TEST(static_cast<int>(no_driver.state)
             == static_cast<int>(sysmon_state::not_running));
  BOOST_TEST(no_driver.message.find("driver SysmonDrv is not installed")
                 != std::string::npos,
             no_driver.message);

  auto none = judge_sysmon(facts(false, false, false, false));
  BOOST_TEST(static_cast<int>(none.state)
             == static_cast<int>(sysmon_state::not_installed));
  BOOST_TEST(none.message.find("no service sysmon64, Sysmon and no "
                               "C:/Windows/sysmon64.exe")
                 != std::string::npos,
             none.message);
  BOOST_TEST(none.message.find("--tracker.sources=pslist")
             != std::string::npos);

  sysmon_facts denied;
  denied.scm_error = "OpenSCManagerW: Win32 error 5";
  auto unknown = judge_sysmon(denied);
  BOOST_TEST(static_cast<int>(unknown.state)
             == static_cast<int>(sysmon_state::unknown));
  BOOST_TEST(unknown.message.find("Win32 error 5") != std::string::npos);
}

BOOST_AUTO_TEST_SUITE_END() // sysmon_presence_test
