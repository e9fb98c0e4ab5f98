// Issue 15 kind 7, sources and the replay command line, through the real
// binary: the outsiders' cases of ../shared/cases/sources (winlogbeat ECS,
// the event-as-JSON/XML forms, two hosts in one replay, a Security log of
// 4688 events) and the replay flags (--sort=time, standard input, a
// directory, a cut EVTX, expiry in replay).
#include <boost/test/unit_test.hpp>

#include "tests/support/event_xml_exports.hpp"
#include "tests/support/run_binary.hpp"
#include "tests/support/sentinel_row.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <fstream>
#include <iterator>
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

// In a JSON export Security events are read too (evtx_dump's form here); a
// file of no process event says so on stderr, and in stats, with the event
// ids it held, instead of answering an empty cache silently.
BOOST_AUTO_TEST_CASE(json_security_events_and_a_log_with_no_process_event) {
  temp_dir dir;
  auto sec = [](int id, const std::string &time, const std::string &data) {
    return R"({"Event":{"System":{"Provider":{"#attributes":{"Name":")"
           R"(Microsoft-Windows-Security-Auditing"}},"EventID":)"
           + std::to_string(id)
           + R"(,"TimeCreated":{"#attributes":{"SystemTime":")" + time
           + R"("}},"Computer":"dc1"},"EventData":{)" + data + "}}}";
  };
  auto with_4688 = dir.write_lines(
      "with_4688.jsonl", {sec(4624, "2021-03-01T10:00:00Z", R"("X":"1")"),
                          sec(4688, "2021-03-01T10:00:02Z",
                              R"("NewProcessId":"0x1f4","ProcessId":"0x4")")});
  auto p = replay(with_4688, {"pslist", "stats"});
  BOOST_TEST_REQUIRE(p[0].size() == 1u);
  BOOST_TEST(p[0][0]["Id"] == "500-1614592802");
  BOOST_TEST(p[0][0]["ParentId"] == "4-?");
  BOOST_TEST(counter_of(p[1], "SecurityProcessEvents") == 1);
  BOOST_TEST(!has(p.run.err, "0 process events"), p.run.err);

  auto logons = dir.write_lines(
      "logons.jsonl", {sec(4624, "2021-03-01T10:00:00Z", R"("X":"1")"),
                       sec(4624, "2021-03-01T10:00:01Z", R"("X":"2")"),
                       sec(4672, "2021-03-01T10:00:01Z", R"("X":"3")")});
  auto r = replay(logons, {"stats"});
  BOOST_TEST(counter_of(r[0], "Length") == 0);
  BOOST_TEST(counter_of(r[0], "SkippedOtherProviders") == 3);
  BOOST_TEST(counter_of(r[0], "SkippedSecurityEventID4624") == 2);
  BOOST_TEST(counter_of(r[0], "FilesWithoutProcessEvents") == 1);
  BOOST_TEST(has(r.run.err,
                 logons
                     + ": Security log: 0 process events of 3 records; event "
                       "ids 4624\xc3\x97"
                       "2, 4672\xc3\x97"
                       "1 (process events: Sysmon 1/5, Security 4688/4689)"),
             r.run.err);
}

// --- several hosts in one replay ------------------------------------------

namespace {

// A flat Sysmon event of host H.
std::string sysmon_line(const std::string &host, int eid, int pid,
                        const std::string &guid, int ppid,
                        const std::string &pguid, const std::string &time,
                        const std::string &image = "C:\\\\w\\\\p.exe") {
  std::string s = R"({"EventID":)" + std::to_string(eid)
                  + R"(,"SourceName":"Microsoft-Windows-Sysmon","Hostname":")"
                  + host + R"(","ProcessId":")" + std::to_string(pid)
                  + R"(","ProcessGuid":")" + guid + R"(","UtcTime":")" + time
                  + R"(","Image":")" + image + "\"";
  if (eid == 1)
    s += R"(,"ParentProcessId":")" + std::to_string(ppid)
         + R"(","ParentProcessGuid":")" + pguid + "\"";
  return s + "}";
}

const char *zero_guid = "{00000000-0000-0000-0000-000000000000}";

} // namespace

// The outsiders' case: the same pid started on two hosts. Before, the second
// start ended HOSTA's process (pid reuse); now each host has its own table.
BOOST_AUTO_TEST_CASE(two_hosts_keep_their_own_pid_space) {
  auto o = replay(cases("cross_host_pid_reuse_ends_process.jsonl"),
                  {"pslist", "get:HOSTA/4304", "get:HOSTB.example.test/4304",
                   "get:hostb/4304", "get:4304", "pslist:HOSTB",
                   "get:NOPE/4304", "stats"});
  BOOST_TEST(
      ids(o[0])
      == (std::vector<std::string>{"4304-1554313008", "4304-1554313075"}));
  BOOST_TEST(o[0][0]["EndTime"] == zero_time);
  BOOST_TEST(o[0][1]["EndTime"] == zero_time);
  BOOST_TEST(o[1]["Id"] == "4304-1554313008");
  BOOST_TEST(o[1]["EndTime"] == zero_time);
  BOOST_TEST(o[1]["Data"]["Name"] == "TiWorker.exe");
  BOOST_TEST(o[2]["Id"] == "4304-1554313075");
  BOOST_TEST(o[2]["Data"]["Name"] == "svchost.exe");
  BOOST_TEST(o[3]["Id"] == "4304-1554313075");
  // A bare id: the first host (in order of appearance) that knows it.
  BOOST_TEST(o[4]["Id"] == "4304-1554313008");
  BOOST_TEST(ids(o[5]) == (std::vector<std::string>{"4304-1554313075"}));
  BOOST_TEST(o[6].is_null());
  BOOST_TEST(counter_of(o[7], "PidReuses") == 0);
  BOOST_TEST(counter_of(o[7], "Hosts") == 2);
  BOOST_TEST(counter_of(o[7], "Length") == 2);
  BOOST_TEST(has(o.run.err, "host HOSTB.example.test is kept apart from "
                            "HOSTA.example.test"),
             o.run.err);
}

// An exit on one host never ends another host's process, and an all-zero
// ParentProcessGuid never links to another host's holder of the ppid.
BOOST_AUTO_TEST_CASE(exit_and_zero_parent_guid_stay_on_their_host) {
  temp_dir dir;
  auto file = dir.write_lines(
      "two.jsonl",
      {sysmon_line("A", 1, 100, "{a-100}", 4, "{a-4}",
                   "2021-01-01 10:00:00.000"),
       sysmon_line("B", 1, 100, "{b-100}", 4, "{b-4}",
                   "2021-01-01 10:00:01.000"),
       sysmon_line("A", 1, 300, "{a-300}", 100, "{a-100}",
                   "2021-01-01 10:00:02.000"),
       sysmon_line("B", 5, 100, "{b-100}", 0, "", "2021-01-01 10:00:05.000"),
       // B's child of pid 300 with no usable parent GUID: only A has a
       // 300, which must not become its parent.
       sysmon_line("B", 1, 200, "{b-200}", 300, zero_guid,
                   "2021-01-01 10:00:06.000"),
       // A pid-only exit on B of a pid only A holds: unknown on B.
       R"({"EventID":5,"SourceName":"Microsoft-Windows-Sysmon","Hostname":"B",)"
       R"("ProcessId":"300","UtcTime":"2021-01-01 10:00:07.000"})"});
  auto o = replay(file, {"get:A/100", "get:B/100", "callchain:B/200",
                         "get:A/300", "callchain:A/300", "stats"});
  BOOST_TEST(o[0]["Id"] == "100-1609495200");
  BOOST_TEST(o[0]["EndTime"] == zero_time);
  BOOST_TEST(o[1]["Id"] == "100-1609495201");
  BOOST_TEST(o[1]["EndTime"] == "2021-01-01T10:00:05Z");
  BOOST_TEST(ids(o[2]) == (std::vector<std::string>{"200-1609495206"}));
  BOOST_TEST(o[2][0]["ParentId"] == "300-?");
  BOOST_TEST(o[3]["EndTime"] == zero_time);
  BOOST_TEST(ids(o[4])
             == (std::vector<std::string>{"100-1609495200", "300-1609495202"}));
  BOOST_TEST(counter_of(o[5], "UnknownExits") == 1);
  BOOST_TEST(counter_of(o[5], "Hosts") == 2);
}

// The output stream of a multi-host replay names each host's sync row and
// replays into the same tables; a single-host replay prints as before (no
// "host", no "Hosts").
BOOST_AUTO_TEST_CASE(multi_host_stream_round_trips_single_host_unchanged) {
  temp_dir dir;
  auto r =
      proctrack({"replay", cases("cross_host_pid_reuse_ends_process.jsonl")});
  BOOST_REQUIRE(r.status == 0);
  auto rows = json_lines(r.out);
  BOOST_REQUIRE(rows.size() == 3u);
  BOOST_TEST(rows[0]["host"] == "HOSTA.example.test");
  BOOST_TEST(rows[1]["host"] == "HOSTB.example.test");
  auto stream = dir.write("stream.jsonl", r.out);
  auto o = replay(stream, {"get:HOSTA/4304", "get:HOSTB/4304", "stats"});
  BOOST_TEST(o[0]["Id"] == "4304-1554313008");
  BOOST_TEST(o[0]["EndTime"] == zero_time);
  BOOST_TEST(o[1]["Id"] == "4304-1554313075");
  BOOST_TEST(counter_of(o[2], "Hosts") == 2);

  auto one = proctrack({"replay", cases("wlb7_processcreate_golden.jsonl")});
  BOOST_REQUIRE(one.status == 0);
  auto rows1 = json_lines(one.out);
  BOOST_REQUIRE(rows1.size() == 2u);
  BOOST_TEST(!rows1[0].contains("host"));
  BOOST_TEST(!rows1[1]["data"].contains("Hosts"));
  BOOST_TEST(rows1[0]["processes"][0]["entry"]["Id"] == "3616-1603828814");
  // HOST/ID works with one host too.
  auto g = replay(cases("wlb7_processcreate_golden.jsonl"),
                  {"get:vagrant/3616", "get:3616"});
  BOOST_TEST(g[0] == g[1]);
  BOOST_TEST(g[0]["ParentId"] == "4212-?");
}

// --- the replay command line ----------------------------------------------

// --sort=time merges the files by event time: the start in the second file
// comes before the exit in the first.
BOOST_AUTO_TEST_CASE(sort_time_merges_files) {
  temp_dir dir;
  auto a = dir.write_lines(
      "a.jsonl",
      {R"({"update_type":"exit","id":5,"end_time":"2021-01-01T10:05:00Z"})"});
  auto b = dir.write_lines(
      "b.jsonl", {R"({"update_type":"start","id":5,"parent_id":1,)"
                  R"("start_time":"2021-01-01T10:00:00Z","data":{}})"});
  auto plain = proctrack({"replay", a, b, "--query=stats"});
  auto sorted = proctrack({"replay", a, b, "--sort=time", "--query=stats"});
  BOOST_REQUIRE(plain.status == 0);
  BOOST_REQUIRE(sorted.status == 0);
  auto p = results(plain, {"stats"})[0];
  auto s = results(sorted, {"stats"})[0];
  BOOST_TEST(counter_of(p, "UnknownExits") == 1);
  BOOST_TEST(counter_of(s, "UnknownExits") == 0);
  BOOST_TEST(counter_of(s, "ExitUpdates") == 1);
  BOOST_TEST(counter_of(s, "InputFiles") == 2);
  auto g = proctrack({"replay", a, b, "--sort=time", "--query=get:5"});
  BOOST_TEST(results(g, {"get:5"})[0]["EndTime"] == "2021-01-01T10:05:00Z");
}

// A directory replay names the files it skips, and why.
BOOST_AUTO_TEST_CASE(directory_replay_names_skipped_files) {
  temp_dir dir;
  dir.write_lines("u.jsonl", {R"({"update_type":"start","id":5,"parent_id":1,)"
                              R"("start_time":"2021-01-01T10:00:00Z"})"});
  auto junk = dir.write("notes.txt", "hello\n");
  auto r = proctrack({"replay", dir.path().string(), "--query=stats"});
  BOOST_REQUIRE(r.status == 0);
  BOOST_TEST(counter_of(results(r, {"stats"})[0], "Length") == 1);
  BOOST_TEST(
      has(r.err, "proctrack replay: skipped " + junk + ": unknown format"),
      r.err);
}

// A replay keeps a 50-day history by default; an asked expiry says on
// stderr how much it dropped.
BOOST_AUTO_TEST_CASE(replay_keeps_history_unless_expiry_is_asked) {
  temp_dir dir;
  std::vector<std::string> lines;
  for (int d = 0; d < 50; ++d) {
    auto t = 1609495200 + d * 86400;
    lines.push_back(R"({"update_type":"start","id":)" + std::to_string(100 + d)
                    + R"(,"parent_id":1,"start_time":)" + std::to_string(t)
                    + "}");
    lines.push_back(R"({"update_type":"exit","id":)" + std::to_string(100 + d)
                    + R"(,"end_time":)" + std::to_string(t + 60) + "}");
  }
  auto file = dir.write_lines("50days.jsonl", lines);
  auto keep = replay(file, {"stats"});
  BOOST_TEST(counter_of(keep[0], "Length") == 50);
  BOOST_TEST(counter_of(keep[0], "Expired") == 0);
  BOOST_TEST(!has(keep.run.err, "expiry"), keep.run.err);
  auto asked = replay(file, {"stats"}, {"--tracker.max-expiry=24h"});
  auto expired = counter_of(asked[0], "Expired");
  BOOST_TEST(expired > 40);
  BOOST_TEST(counter_of(asked[0], "Length") == 50 - expired);
  BOOST_TEST(has(asked.run.err, "proctrack replay: expiry (tracker.max-expiry) "
                                "dropped "
                                    + std::to_string(expired)
                                    + " exited processes (Expired)"),
             asked.run.err);
}

// An EVTX file cut exactly on a chunk boundary: the lost chunks are one
// counted input error, not only a log line.
BOOST_AUTO_TEST_CASE(evtx_cut_on_a_chunk_boundary_is_an_input_error) {
  temp_dir dir;
  std::string full = std::string{std::getenv("PROCTRACK_SOURCE")}
                     + "/../shared/data/sysmon/evtx/"
                       "PanacheSysmon_vs_AtomicRedTeam01.evtx";
  std::ifstream in{full, std::ios::binary};
  std::string bytes{std::istreambuf_iterator<char>(in), {}};
  BOOST_REQUIRE(bytes.size() > 4096u + 3 * 65536u);
  auto cut = dir.write("cut.evtx", bytes.substr(0, 4096 + 3 * 65536));
  auto o = replay(cut, {"stats"});
  BOOST_TEST(counter_of(o[0], "InputErrors") == 1);
  BOOST_TEST(counter_of(o[0], "StartUpdates") > 0);
  BOOST_TEST(has(o.run.err, "file truncated: header declares"), o.run.err);
}

// Standard input is sniffed like a file: Sysmon JSON lines on stdin are read
// as Sysmon, not refused as update rows.
BOOST_AUTO_TEST_CASE(stdin_is_sniffed) {
  std::ifstream in{cases("wlb7_processcreate_golden.jsonl"), std::ios::binary};
  std::string text{std::istreambuf_iterator<char>(in), {}};
  auto r =
      proctrack({"replay", "-", "--query=get:3616", "--query=stats"}, text);
  BOOST_REQUIRE(r.status == 0);
  auto res = results(r, {"get:3616", "stats"});
  BOOST_TEST(res[0]["Id"] == "3616-1603828814");
  BOOST_TEST(counter_of(res[1], "InputErrors") == 0);
}

// An outsider's Sysmon exports (issue: the Sysmon source cases), through
// the binary: the values a user sees.

// ECS with a winlog object but no winlog.event_id: event.code is the
// EventID (docs/sources.md promised it); the flattened form reads the same.
BOOST_AUTO_TEST_CASE(ecs_event_code_is_the_event_id_when_winlog_has_none) {
  temp_dir dir;
  auto nested = dir.write_lines(
      "src3_ecs_event_code_only.jsonl",
      {R"({"@timestamp":"2023-05-10T12:00:00.123Z","event":{"code":"1",)"
       R"("provider":"Microsoft-Windows-Sysmon","module":"windows","dataset":)"
       R"("windows.sysmon_operational"},"host":{"name":"ws10"},"process":)"
       R"({"pid":7000,"entity_id":"{4b1c2d3e-0000-0000-0000-00000000c001}",)"
       R"("executable":"C:\\Windows\\System32\\cmd.exe","command_line":)"
       R"("cmd","parent":{"pid":4212}},"winlog":{"channel":"Microsoft-)"
       R"(Windows-Sysmon/Operational","computer_name":"ws10","record_id":5,)"
       R"("process":{"pid":2044}}})"});
  auto o = replay(nested, {"pslist", "stats"});
  BOOST_TEST_REQUIRE(o[0].size() == 1u, o.run.err);
  BOOST_TEST(o[0][0]["Id"] == "7000-1683720000");
  BOOST_TEST(o[0][0]["Data"]["Exe"] == "C:\\Windows\\System32\\cmd.exe");
  BOOST_TEST(counter_of(o[1], "InputErrors") == 0);
  BOOST_TEST(!has(o.run.err, "EventID is not a number"), o.run.err);

  auto flat = dir.write_lines(
      "src4_flattened_event_code_only.jsonl",
      {R"({"@timestamp": "2023-05-10T12:00:00.123Z", "event.code": "1", )"
       R"("event.provider": "Microsoft-Windows-Sysmon", "host.name": "ws9", )"
       R"("process.pid": 6000, "process.entity_id": )"
       R"("{4b1c2d3e-0000-0000-0000-00000000b001}", "process.executable": )"
       R"("C:\\Windows\\System32\\cmd.exe", "process.command_line": )"
       R"("cmd /c whoami", "process.parent.pid": 4212, "user.name": "alice", )"
       R"("user.domain": "CORP", "winlog.provider_name": )"
       R"("Microsoft-Windows-Sysmon", "winlog.computer_name": "ws9", )"
       R"("winlog.record_id": "12", "winlog.process.pid": 2044})"});
  auto f = replay(flat, {"pslist"});
  BOOST_TEST_REQUIRE(f[0].size() == 1u, f.run.err);
  BOOST_TEST(f[0][0]["Id"] == "6000-1683720000");
  BOOST_TEST(f[0][0]["Data"]["Username"] == "CORP\\alice");
}

// Log Analytics / Sentinel's Event table gives EventData as an XML string:
// the event is read, not dropped "without ProcessId or ProcessGuid".
BOOST_AUTO_TEST_CASE(sentinel_event_table_xml_eventdata_is_read) {
  temp_dir dir;
  auto file = dir.write_lines("form1_sentinel_eventdata_xml_string.jsonl",
                              {proctrack_test::sentinel_event_row});
  auto o = replay(file, {"get:14364", "stats"});
  auto &e = o[0];
  BOOST_TEST(e["Id"] == "14364-1764314899", o.run.err);
  BOOST_TEST(e["ParentId"] == "144-?");
  BOOST_TEST(e["StartTime"] == "2025-11-28T07:28:19.935Z");
  BOOST_TEST(e["Data"]["CommandLine"] == "cmd.exe");
  BOOST_TEST(e["Data"]["Username"] == "HOSTA\\user1");
  BOOST_TEST(e["Data"]["Computer"] == "HOSTA.example.test");
  BOOST_TEST(counter_of(o[1], "InputErrors") == 0);
  BOOST_TEST(!has(o.run.err, "without ProcessId"), o.run.err);
}

// Sentinel's SecurityEvent table: 4688/4689 whose provider is in
// EventSourceName and time in TimeGenerated. Was: both skipped, "0 process
// events" though 4688 and 4689 were named as process events.
BOOST_AUTO_TEST_CASE(sentinel_security_event_table_is_read) {
  temp_dir dir;
  auto file = dir.write_lines("sentinel_securityevent.jsonl",
                              {proctrack_test::sentinel_security_start_row,
                               proctrack_test::sentinel_security_exit_row});
  auto o = replay(file, {"get:14364", "stats"});
  auto &e = o[0];
  BOOST_TEST(e["Id"] == "14364-1764314899", o.run.err);
  BOOST_TEST(e["ParentId"] == "144-?");
  BOOST_TEST(e["StartTime"] == "2025-11-28T07:28:19.936123Z");
  BOOST_TEST(e["EndTime"] == "2025-11-28T07:30:00Z");
  BOOST_TEST(e["Data"]["Exe"] == "C:\\Windows\\System32\\cmd.exe");
  BOOST_TEST(e["Data"]["CommandLine"] == "cmd.exe /c whoami");
  BOOST_TEST(e["Data"]["ParentImage"] == "C:\\Windows\\explorer.exe");
  BOOST_TEST(e["Data"]["Username"] == "HOSTA\\user1");
  BOOST_TEST(e["Data"]["Computer"] == "HOSTA.example.test");
  BOOST_TEST(!e["Data"].contains("TenantId"));
  BOOST_TEST(!e["Data"].contains("TimeGenerated"));
  BOOST_TEST(counter_of(o[1], "StartUpdates") == 1);
  BOOST_TEST(counter_of(o[1], "ExitUpdates") == 1);
  BOOST_TEST(counter_of(o[1], "SkippedEvents") == 0);
}

// wevtutil qe /f:xml of a whole log: one line of 20 MB, over the 16 MiB
// line bound (was: "unknown format", exit 2). Every process is read; the
// format is sniffed from the line's first piece.
BOOST_AUTO_TEST_CASE(wevtutil_log_of_one_long_line_is_read) {
  using namespace proctrack_test;
  temp_dir dir;
  auto file = dir.write("sysmon_wevtutil.xml",
                        wevtutil_one_line_log(sysmon_exit_xml("9999")));
  auto o = replay(file, {"get:9999", "get:1000", "stats"});
  BOOST_TEST(o[0]["Id"] == "9999-1764314899", o.run.err);
  BOOST_TEST(o[0]["EndTime"] == "2025-11-28T07:30:00Z");
  BOOST_TEST(o[1]["Data"]["CommandLine"] == long_command_line());
  BOOST_TEST(counter_of(o[2], "StartUpdates") == 9000);
  BOOST_TEST(counter_of(o[2], "ExitUpdates") == 1);
  BOOST_TEST(counter_of(o[2], "InputErrors") == 0);
}

// Event Viewer's "Save All Events As... XML" (converted to UTF-8), here
// pretty-printed: a declaration, <Events>, each event over many lines. Was:
// one error per line, no process.
BOOST_AUTO_TEST_CASE(event_viewer_xml_export_is_read) {
  using namespace proctrack_test;
  temp_dir dir;
  auto file = dir.write(
      "sysmon_export.xml",
      event_viewer_export({sysmon_start_xml("3001", "cmd.exe /c whoami", true),
                           sysmon_exit_xml("3001")}));
  auto o = replay(file, {"get:3001", "stats"});
  auto &e = o[0];
  BOOST_TEST(e["Id"] == "3001-1764314899", o.run.err);
  BOOST_TEST(e["ParentId"] == "144-?");
  BOOST_TEST(e["StartTime"] == "2025-11-28T07:28:19.935Z");
  BOOST_TEST(e["EndTime"] == "2025-11-28T07:30:00Z");
  BOOST_TEST(e["Data"]["CommandLine"] == "cmd.exe /c whoami");
  BOOST_TEST(e["Data"]["Username"] == "HOSTA\\user1");
  BOOST_TEST(counter_of(o[1], "InputErrors") == 0);
}

// &#0; in Splunk's XML keeps the whole value, as JSON's \u0000 does; a lone
// surrogate reference is one U+FFFD, counted, as JSON's \ud800 is.
BOOST_AUTO_TEST_CASE(xml_character_references_keep_the_value) {
  temp_dir dir;
  auto event = [](const std::string &pid, const std::string &cmd) {
    return "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/"
           "event'><System><Provider Name='Microsoft-Windows-Sysmon' "
           "Guid='{5770385F-C22A-43E0-BF4C-06F5698FFBD9}'/><EventID>1</"
           "EventID><Version>5</Version><TimeCreated "
           "SystemTime='2025-11-28T07:28:19.936123Z'/><EventRecordID>1001</"
           "EventRecordID><Computer>HOSTA.example.test</Computer></System>"
           "<EventData><Data Name='RuleName'>-</Data><Data Name='UtcTime'>"
           "2025-11-28 07:28:19.935</Data><Data Name='ProcessGuid'>"
           "{0197231e-4f1"
           + pid.substr(3)
           + "-6929-a510-000000000d00}</Data><Data Name='ProcessId'>" + pid
           + "</Data><Data Name='Image'>C:\\Windows\\System32\\cmd.exe</Data>"
             "<Data Name='CommandLine'>"
           + cmd
           + "</Data><Data Name='ParentProcessId'>144</Data></EventData>"
             "</Event>";
  };
  auto file = dir.write_lines("uni5_splunk_xml_odd_text.log",
                              {event("3001", "cmd.exe &#xD800; surrogate ref"),
                               event("3003", "cmd.exe &#0; nul")});
  auto o = replay(file, {"get:3003", "get:3001", "stats"});
  BOOST_TEST(o[0]["Data"]["CommandLine"] == std::string("cmd.exe \0 nul", 13));
  BOOST_TEST(has(o.run.out, R"("CommandLine":"cmd.exe \u0000 nul")"),
             o.run.out);
  BOOST_TEST(o[1]["Data"]["CommandLine"]
             == "cmd.exe \xEF\xBF\xBD surrogate ref");
  BOOST_TEST(counter_of(o[2], "InvalidTextReplaced") == 1);
}

// A UTF-16 export (PowerShell 5.1's Out-File) is refused naming the
// encoding and the conversion, not as "unknown format ... ??????{?".
BOOST_AUTO_TEST_CASE(utf16_file_says_how_to_convert_it) {
  temp_dir dir;
  std::string text = "\xFF\xFE";
  for (char c : std::string{R"({"EventID": 1, "ProcessId": 14364})"
                            "\r\n"}) {
    text += c;
    text += '\0';
  }
  auto file = dir.write("uni3_utf16le_bom.jsonl", text);
  auto r = proctrack({"replay", file, "--query=pslist"});
  BOOST_TEST(r.status != 0);
  BOOST_TEST(has(r.err, file
                            + ": is UTF-16LE (with a byte order mark) text, "
                              "not UTF-8: convert it first, e.g. iconv -f "
                              "UTF-16 -t UTF-8 "),
             r.err);
  BOOST_TEST(!has(r.err, "??"), r.err);
  // On standard input there is no file name to put in the command.
  auto in = proctrack({"replay", "-", "--query=pslist"}, text);
  BOOST_TEST(in.status != 0);
  BOOST_TEST(has(in.err, "e.g. iconv -f UTF-16 -t UTF-8 FILE > FILE.utf8"),
             in.err);
}

BOOST_AUTO_TEST_SUITE_END() // sources_cli_test
