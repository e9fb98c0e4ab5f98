// Issue 15 kind 7, sources and the replay command line, through the real
// binary: the outsiders' cases of ../shared/cases/sources (winlogbeat ECS,
// the event-as-JSON/XML forms, two hosts in one replay, a Security log of
// 4688 events) and the replay flags (--sort=time, standard input, a
// directory, a cut EVTX, expiry in replay).
#include <boost/test/unit_test.hpp>

#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <string>

BOOST_AUTO_TEST_SUITE(sources_cli_test)

using nlohmann::json;
using namespace proctrack_test;

namespace {

std::string cases(const std::string &rel) {
  return std::string{std::getenv("PROCTRACK_SOURCE")}
         + "/../shared/cases/sources/" + rel;
}

bool has(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

} // namespace

// A Security log of process creation events (4688) builds the tree: hex
// pids, the creator as parent, TimeCreated as the start.
BOOST_AUTO_TEST_CASE(security_4688_log_is_read) {
  auto o = replay(cases("security_4688_only_no_diagnostic.evtx"),
                  {"pslist", "get:2564-1594321645", "callchain:1172", "stats"});
  BOOST_TEST(o[0].size() == 28u);
  auto &e = o[1];
  BOOST_TEST(e["ParentId"] == "140-?");
  BOOST_TEST(e["StartTime"] == "2020-07-09T19:07:25.6591372Z");
  BOOST_TEST(e["EndTime"] == zero_time);
  BOOST_TEST(e["Data"]["Pid"] == 2564);
  BOOST_TEST(e["Data"]["Ppid"] == 140);
  BOOST_TEST(e["Data"]["Name"] == "wevtutil.exe");
  BOOST_TEST(e["Data"]["Username"] == "OFFSEC\\admmig");
  BOOST_TEST(e["Data"]["Exe"] == "C:\\Windows\\System32\\wevtutil.exe");
  BOOST_TEST(e["Data"]["CommandLine"]
             == "\"C:\\Windows\\system32\\wevtutil.exe\"  cl "
                "RTWorkQueueTheading");
  BOOST_TEST(e["Data"]["Computer"] == "fs02.offsec.lan");
  BOOST_TEST(
      ids(o[2])
      == (std::vector<std::string>{"2564-1594321645", "1172-1594321645"}));
  BOOST_TEST(counter_of(o[3], "SecurityProcessEvents") == 28);
  BOOST_TEST(counter_of(o[3], "StartUpdates") == 28);
  BOOST_TEST(counter_of(o[3], "InputErrors") == 0);
}

// 4689 ends the process its hex ProcessId names; a log of no process event
// at all says so on stderr instead of answering an empty cache silently.
BOOST_AUTO_TEST_CASE(security_4689_exit_and_a_log_with_no_process_event) {
  temp_dir dir;
  auto sec = [](int id, const std::string &time, const std::string &data) {
    return R"({"Event":{"System":{"Provider":{"#attributes":{"Name":")"
           R"(Microsoft-Windows-Security-Auditing"}},"EventID":)"
           + std::to_string(id)
           + R"(,"TimeCreated":{"#attributes":{"SystemTime":")" + time
           + R"("}},"Computer":"dc1"},"EventData":{)" + data + "}}}";
  };
  auto file = dir.write_lines(
      "sec.jsonl",
      {sec(4688, "2021-03-01T10:00:00.5Z",
           R"("NewProcessId":"0x1f4","ProcessId":"0x4",)"
           R"("NewProcessName":"C:\\w\\a.exe","SubjectUserName":"bob",)"
           R"("SubjectDomainName":"D")"),
       sec(4689, "2021-03-01T10:05:00Z",
           R"("ProcessId":"0x1F4","ProcessName":"C:\\w\\a.exe")")});
  auto o = replay(file, {"get:500", "stats"});
  BOOST_TEST(o[0]["Id"] == "500-1614592800");
  BOOST_TEST(o[0]["ParentId"] == "4-?");
  BOOST_TEST(o[0]["EndTime"] == "2021-03-01T10:05:00Z");
  BOOST_TEST(o[0]["Data"]["Username"] == "D\\bob");
  BOOST_TEST(counter_of(o[1], "SecurityProcessEvents") == 2);

  auto logons = dir.write_lines(
      "logons.jsonl", {sec(4624, "2021-03-01T10:00:00Z", R"("X":"1")"),
                       sec(4624, "2021-03-01T10:00:01Z", R"("X":"2")")});
  auto r = replay(logons, {"stats"});
  BOOST_TEST(counter_of(r[0], "Length") == 0);
  BOOST_TEST(has(r.run.err, logons
                                + ": 2 events, none is a process event "
                                  "(Sysmon 1/5, Security 4688/4689), all "
                                  "skipped: "
                                  "Microsoft-Windows-Security-Auditing "
                                  "4624 x2"),
             r.run.err);
}

BOOST_AUTO_TEST_SUITE_END() // sources_cli_test
