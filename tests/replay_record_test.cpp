// Issue 15, what a replay records: a skewed clock on one process does not
// move "now", replay does not expire unless asked, unknown or impossible end
// times are refused (never made up), a directory names what it skips, a cut
// EVTX file is counted, duplicate fields keep the last value in every form,
// HOST/ID works for host names with '/', and standard input leaves no file.
#include <boost/test/unit_test.hpp>

#include "actors/cache/process_table.hpp"
#include "actors/common/time.hpp"
#include "tests/support/printers.hpp"
#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace proctrack;
using nlohmann::json;
using namespace proctrack_test;

BOOST_AUTO_TEST_SUITE(replay_record_test)

namespace {

timestamp t(const char *text) {
  auto v = parse_time(text);
  BOOST_REQUIRE(v.has_value());
  return *v;
}

bool has(const std::string &text, const std::string &needle) {
  return text.find(needle) != std::string::npos;
}

process_update start_at(const std::string &pid, timestamp when,
                        const std::string &guid = {}) {
  process_update u;
  u.kind = update_kind::start;
  u.process.pid = pid;
  u.process.ppid = "4";
  u.process.guid = guid;
  u.process.start_time = when;
  return u;
}

process_update exit_at(const std::string &target, timestamp when) {
  process_update u;
  u.kind = update_kind::exit;
  u.target = target;
  u.time = when;
  return u;
}

// `n` processes started and exited 30 s apart from 2021-01-01T00:00:00Z,
// pids 1000.., as update rows; then `skewed`, then `n` more.
std::string history_around(int n, const std::string &skewed) {
  std::string out;
  auto rows = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      auto at = [&](int sec) {
        return format_time(t("2021-01-01T00:00:00Z")
                           + (i * 60 + sec) * hns_per_second);
      };
      out += R"({"update_type":"start","id":)" + std::to_string(1000 + i)
             + R"(,"parent_id":4,"start_time":")" + at(0)
             + R"(","data":{"Name":"p)" + std::to_string(i) + "\"}}\n";
      out += R"({"update_type":"exit","id":)" + std::to_string(1000 + i)
             + R"(,"end_time":")" + at(30) + "\"}\n";
    }
  };
  rows(0, n);
  out += skewed;
  rows(n, 2 * n);
  return out;
}

const char *skewed_pair =
    R"({"update_type":"start","id":66,"parent_id":4,"start_time":"2100-01-01T00:00:00Z","data":{"Name":"skew"}})"
    "\n"
    R"({"update_type":"exit","id":66,"end_time":"2100-01-01T00:00:01Z"})"
    "\n";

} // namespace

// --- F1: one process's skewed clock -------------------------------------

// A process whose start and exit both lie in 2100 does not confirm itself:
// its own exit is no second witness, and "now" stays in 2021.
BOOST_AUTO_TEST_CASE(one_skewed_process_does_not_move_now) {
  table_config cfg;
  cfg.max_expiry = 48 * 3600 * hns_per_second;
  process_table tab{cfg};
  auto base = t("2021-01-01T00:00:00Z");
  for (int i = 0; i < 10; ++i) {
    tab.apply(
        start_at(std::to_string(1000 + i), base + i * 60 * hns_per_second));
    tab.apply(exit_at(std::to_string(1000 + i),
                      base + (i * 60 + 30) * hns_per_second));
  }
  // By pid, and by GUID (Sysmon's EID 1 and 5).
  tab.apply(start_at("66", t("2100-01-01T00:00:00Z")));
  tab.apply(exit_at("66", t("2100-01-01T00:00:01Z")));
  tab.apply(start_at("67", t("2100-01-01T00:00:02Z"),
                     "{E0000000-0000-0000-0000-999999999999}"));
  tab.apply(exit_at("{e0000000-0000-0000-0000-999999999999}",
                    t("2100-01-01T00:00:03Z")));
  BOOST_TEST(tab.now() == base + (9 * 60 + 30) * hns_per_second);
  tab.apply(start_at("2000", base + 3600 * hns_per_second));
  BOOST_TEST(tab.now() == base + 3600 * hns_per_second);
  BOOST_TEST(tab.counters().expired == 0);
  BOOST_TEST(tab.counters().clock_outliers == 4);
  BOOST_TEST(tab.find("1000-1609459200"));
}

// Two skewed processes are not enough either; the third distinct process
// within max-expiry of the first (the events after a real gap) moves the
// clock to the earliest of them.
BOOST_AUTO_TEST_CASE(three_processes_confirm_a_gap) {
  table_config cfg;
  cfg.max_expiry = 3600 * hns_per_second;
  process_table tab{cfg};
  tab.apply(start_at("2", t("2021-01-01T00:01:00Z")));
  tab.apply(exit_at("2", t("2021-01-01T00:02:00Z")));
  tab.apply(start_at("3", t("2021-01-03T00:00:00Z")));
  tab.apply(start_at("4", t("2021-01-03T00:01:00Z")));
  tab.apply(exit_at("4", t("2021-01-03T00:02:00Z"))); // no new witness
  BOOST_TEST(tab.now() == t("2021-01-01T00:02:00Z"));
  BOOST_TEST(tab.find("2-1609459260"));
  tab.apply(start_at("5", t("2021-01-03T00:03:00Z")));
  BOOST_TEST(tab.now() == t("2021-01-03T00:00:00Z"));
  BOOST_TEST(!tab.find("2-1609459260"));
  BOOST_TEST(tab.counters().expired == 1);
  BOOST_TEST(tab.counters().clock_outliers == 3);
}

// The outsider's case end to end: the default replay keeps everything (no
// expiry at all), and with 48 h expiry the skewed pair is two outliers.
BOOST_AUTO_TEST_CASE(skewed_pair_keeps_history_in_replay) {
  temp_dir dir;
  auto file = dir.write("pair.jsonl", history_around(50, skewed_pair));
  auto r = replay(file, {"get:1000", "get:66", "stats"});
  BOOST_TEST(r[0].at("Id") == "1000-1609459200");
  BOOST_TEST(r[1].at("EndTime") == "2100-01-01T00:00:01Z");
  BOOST_TEST(counter_of(r[2], "Expired") == 0);
  BOOST_TEST(counter_of(r[2], "Length") == 101);
  BOOST_TEST(!has(r.run.err, "dropped"));
  auto e = replay(file, {"get:1000", "stats"}, {"--tracker.max-expiry=48h"});
  BOOST_TEST(e[0].at("Id") == "1000-1609459200");
  BOOST_TEST(counter_of(e[1], "Expired") == 0);
  BOOST_TEST(counter_of(e[1], "ClockOutliers") == 2);
  BOOST_TEST(counter_of(e[1], "Length") == 101);
}

// Sysmon's shape, year 9999 (saturated to 2262): the same.
BOOST_AUTO_TEST_CASE(skewed_sysmon_pair_keeps_history) {
  std::string text;
  auto ev = [&](int eid, const std::string &when, int pid) {
    char guid[64];
    std::snprintf(guid, sizeof guid, "{e0000000-0000-0000-0000-%012d}", pid);
    text +=
        R"({"SourceName":"Microsoft-Windows-Sysmon","Hostname":"WS","EventID":)"
        + std::to_string(eid) + R"(,"UtcTime":")" + when
        + R"(","ProcessGuid":")" + guid + R"(","ProcessId":")"
        + std::to_string(pid) + R"(","Image":"C:\\a.exe"})" + "\n";
  };
  for (int i = 0; i < 20; ++i) {
    char a[32], b[32];
    std::snprintf(a, sizeof a, "2021-01-01 10:%02d:00.000", i);
    std::snprintf(b, sizeof b, "2021-01-01 10:%02d:30.000", i);
    ev(1, a, 1000 + i);
    ev(5, b, 1000 + i);
    if (i == 9) {
      ev(1, "9999-12-31 23:59:58.000", 66);
      ev(5, "9999-12-31 23:59:59.000", 66);
    }
  }
  temp_dir dir;
  auto file = dir.write("sysmon.jsonl", text);
  for (auto flags : {std::vector<std::string>{},
                     std::vector<std::string>{"--tracker.max-expiry=48h"}}) {
    auto r = replay(file, {"get:1000", "stats"}, flags);
    BOOST_TEST(r[0].at("Id") == "1000-1609495200");
    BOOST_TEST(counter_of(r[1], "Expired") == 0);
    BOOST_TEST(counter_of(r[1], "Length") == 21);
  }
}

// --- F13: replay's default is no expiry, and 0s means off ---------------

BOOST_AUTO_TEST_CASE(replay_default_is_no_expiry_and_zero_is_off) {
  auto d = proctrack_test::proctrack({"replay", "--dump-config", "-"});
  BOOST_TEST(d.status == 0);
  BOOST_TEST(has(d.out, "max-expiry=0s\n"), d.out);
  auto asked = proctrack_test::proctrack(
      {"replay", "--tracker.max-expiry=48h", "--dump-config", "-"});
  BOOST_TEST(has(asked.out, "max-expiry=48h\n"), asked.out);
  auto help = proctrack_test::proctrack({"--help"});
  BOOST_TEST(has(help.out + help.err, "replay: never unless set"),
             help.out + help.err);
  temp_dir dir;
  auto file = dir.write("pair.jsonl", history_around(5, skewed_pair));
  auto r = replay(file, {"stats"}, {"--tracker.max-expiry=0s"});
  BOOST_TEST(counter_of(r[0], "Expired") == 0);
  BOOST_TEST(counter_of(r[0], "Length") == 11);
  auto neg =
      proctrack_test::proctrack({"replay", file, "--tracker.max-expiry=-1s"});
  BOOST_TEST(neg.status == 2);
}

// --- F5, F7: an exit must say a true time --------------------------------

// The unknown time (0001-01-01) never becomes an end: an exit row or a
// Sysmon EID 5 carrying it is a named input error, and a sync that carries
// it ends none of the processes it does not list.
BOOST_AUTO_TEST_CASE(unknown_end_time_is_never_made_up) {
  temp_dir dir;
  auto rows = dir.write(
      "rows.jsonl",
      R"({"update_type":"start","id":40,"parent_id":1,"start_time":"2021-01-01T10:00:00Z","data":{"Name":"a"}}
{"update_type":"exit","id":40,"end_time":"0001-01-01T00:00:00Z"}
{"update_type":"start","id":41,"parent_id":1,"start_time":"2021-01-01T10:00:00Z","data":{"Name":"b"}}
{"update_type":"start","id":42,"parent_id":1,"start_time":"2021-01-01T10:00:00Z","data":{"Name":"c"}}
{"update_type":"sync","time":"0001-01-01T00:00:00Z","processes":[{"id":41,"parent_id":1,"start_time":"2021-01-01T10:00:00Z","data":{"Name":"b2"}}]}
)");
  auto r = replay(rows, {"get:40", "get:41", "get:42", "stats"});
  BOOST_TEST(r[0].at("EndTime") == "0001-01-01T00:00:00Z");
  BOOST_TEST(r[1].at("Data").at("Name") == "b2"); // the listing refreshed it
  BOOST_TEST(r[2].at("EndTime") == "0001-01-01T00:00:00Z");
  BOOST_TEST(counter_of(r[3], "InputErrors") == 1);
  BOOST_TEST(counter_of(r[3], "UntimedSyncs") == 1);
  BOOST_TEST(counter_of(r[3], "SyncExits") == 0);
  BOOST_TEST(has(r.run.err, "rows.jsonl:2: exit row: \"end_time\""), r.run.err);
  BOOST_TEST(has(r.run.err, "is the unknown time"), r.run.err);
  BOOST_TEST(has(r.run.err, "(UntimedSyncs)"), r.run.err);

  auto sysmon = dir.write(
      "sysmon.jsonl",
      R"({"SourceName":"Microsoft-Windows-Sysmon","Hostname":"H1","EventID":1,"UtcTime":"2021-01-01 10:00:00.000","ProcessGuid":"{00000000-1111-0000-0000-000000000075}","ProcessId":"75","Image":"C:\\a.exe"}
{"SourceName":"Microsoft-Windows-Sysmon","Hostname":"H1","EventID":5,"UtcTime":"0001-01-01 00:00:00.000","ProcessGuid":"{00000000-1111-0000-0000-000000000075}","ProcessId":"75","Image":"C:\\a.exe"}
)");
  auto s = replay(sysmon, {"get:75", "stats"});
  BOOST_TEST(s[0].at("EndTime") == "0001-01-01T00:00:00Z");
  BOOST_TEST(counter_of(s[1], "InputErrors") == 1);
  BOOST_TEST(has(s.run.err, "EventID 5: UtcTime \"0001-01-01 00:00:00.000\" "
                            "is the unknown time"),
             s.run.err);
}

// An exit naming a process exactly (real id or GUID) with an end before its
// start is refused and counted; by bare pid it stays an older holder's.
BOOST_AUTO_TEST_CASE(end_before_start_is_refused_for_exact_targets) {
  temp_dir dir;
  auto file = dir.write(
      "end.jsonl",
      R"({"update_type":"start","id":60,"parent_id":1,"start_time":"2021-01-01T10:00:00Z","data":{"Name":"a"}}
{"update_type":"exit","id":"60-1609495200","end_time":"2021-01-01T09:00:00Z"}
{"update_type":"start","id":61,"parent_id":1,"start_time":"2021-01-01T10:00:00Z","data":{"Name":"g","ProcessGuid":"{61000000-0000-0000-0000-000000000001}"}}
{"update_type":"exit","id":"{61000000-0000-0000-0000-000000000001}","end_time":"2021-01-01T09:00:00Z"}
{"update_type":"start","id":62,"parent_id":1,"start_time":"2021-01-01T10:00:00Z","data":{"Name":"p"}}
{"update_type":"exit","id":62,"end_time":"2021-01-01T09:00:00Z"}
)");
  auto r = replay(file, {"get:60", "get:61", "get:62", "stats"});
  for (int i = 0; i < 3; ++i)
    BOOST_TEST(r[i].at("EndTime") == "0001-01-01T00:00:00Z", r[i].dump());
  BOOST_TEST(counter_of(r[3], "ExitsRefused") == 2);
  BOOST_TEST(counter_of(r[3], "UnknownExits") == 1);
  BOOST_TEST(has(r.run.err, "2 exits not applied"), r.run.err);
  // An exit that came first (pending) is held to the same rule.
  process_table tab;
  tab.apply(exit_at("60-1609495200", t("2021-01-01T09:00:00Z")));
  tab.apply(start_at("60", t("2021-01-01T10:00:00Z")));
  BOOST_TEST(tab.find("60-1609495200")->running());
  BOOST_TEST(tab.counters().exits_refused == 1);
}

// --- F9: a directory names what it skips ---------------------------------

BOOST_AUTO_TEST_CASE(directory_replay_names_every_skipped_entry) {
  temp_dir dir;
  auto row = std::string{
      R"({"update_type":"start","id":5,"parent_id":1,"start_time":"2021-01-01T10:00:00Z","data":{"Name":"a"}})"
      "\n"};
  auto d = dir.path() / "logs";
  std::filesystem::create_directory(d);
  dir.write("logs/a.jsonl", row);
  dir.write("logs/noperm.jsonl", row);
  std::filesystem::create_directory(d / "closed");
  dir.write("logs/closed/b.jsonl", row);
  BOOST_REQUIRE(mkfifo((d / "fifo").c_str(), 0644) == 0);
  std::filesystem::create_symlink("/nonexistent", d / "dangling");
  std::filesystem::create_symlink(".", d / "self");
  chmod((d / "noperm.jsonl").c_str(), 0);
  chmod((d / "closed").c_str(), 0);
  chmod(dir.path().c_str(), 0755);
  // Root reads anything: the unreadable entries need another user.
  std::vector<std::string> args{binary(), "replay", d.string(),
                                "--query=stats"};
  std::string program = binary();
  bool as_nobody = geteuid() == 0 && access("/usr/bin/setpriv", X_OK) == 0;
  if (as_nobody) {
    program = "/usr/bin/setpriv";
    args.insert(args.begin(),
                {"--reuid=65534", "--regid=65534", "--clear-groups"});
  } else {
    args.erase(args.begin());
  }
  auto r = run(program, args);
  BOOST_TEST(r.status == 0, r.err);
  auto stats = results(r, {"stats"})[0];
  BOOST_TEST(counter_of(stats, "Length") == 1);
  BOOST_TEST(has(r.err, "fifo: not a regular file (a FIFO)"), r.err);
  BOOST_TEST(has(r.err, "dangling: dangling symbolic link"), r.err);
  BOOST_TEST(has(r.err, "self: symbolic link to a directory (not followed)"),
             r.err);
  BOOST_TEST(counter_of(stats, "InputFilesSkipped") == 2);
  if (as_nobody) {
    BOOST_TEST(has(r.err, "noperm.jsonl: cannot open: Permission denied"),
               r.err);
    BOOST_TEST(has(r.err, "closed: cannot read directory"), r.err);
    BOOST_TEST(counter_of(stats, "InputOpenFailures") == 3);
  }
  chmod((d / "closed").c_str(), 0755);
}

// --- F10: an EVTX file cut on a chunk boundary ---------------------------

// sysmon.evtx's header under-counts its chunks (a "dirty" header), so a cut
// after chunk 4 is seen only by libevtx: counted, with what was read.
BOOST_AUTO_TEST_CASE(evtx_cut_on_a_chunk_boundary_is_counted) {
  const char *data = std::getenv("PROCTRACK_DATA");
  BOOST_REQUIRE(data != nullptr);
  std::ifstream in{std::string{data} + "/sysmon/evtx/sysmon.evtx",
                   std::ios::binary};
  std::string bytes(4096 + 5 * 65536, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  BOOST_REQUIRE(in.gcount() == static_cast<std::streamsize>(bytes.size()));
  temp_dir dir;
  auto file = dir.write("cut.evtx", bytes);
  auto r = replay(file, {"stats"});
  BOOST_TEST(counter_of(r[0], "InputErrors") == 1);
  BOOST_TEST(counter_of(r[0], "InputEvents") > 0);
  BOOST_TEST(has(r.run.err, "libevtx reports the file as corrupted"),
             r.run.err);
  BOOST_TEST(has(r.run.err, "cut.evtx: read "), r.run.err);
  BOOST_TEST(has(r.run.err, "records despite the damage reported"), r.run.err);
}

// --- F11: duplicate fields, the last one wins in every form ---------------

BOOST_AUTO_TEST_CASE(duplicate_fields_keep_the_last_value_in_every_form) {
  temp_dir dir;
  // Flat (nxlog/Velociraptor-like) JSON.
  auto flat = dir.write(
      "flat.jsonl",
      R"({"SourceName":"Microsoft-Windows-Sysmon","Hostname":"H","EventID":1,"UtcTime":"2021-01-01 10:00:00.000","ProcessGuid":"{0197231e-4f01-6929-a510-000000000d00}","ProcessId":"1001","CommandLine":"first","CommandLine":"last","Image":"C:\\first.exe","Image":"C:\\last.exe","ProcessId":"9999"})"
      "\n");
  auto f = replay(flat, {"pslist"});
  BOOST_REQUIRE(f[0].size() == 1u);
  BOOST_TEST(f[0][0].at("Id") == "9999-1609495200");
  BOOST_TEST(f[0][0].at("Data").at("CommandLine") == "last");
  BOOST_TEST(f[0][0].at("Data").at("Exe") == "C:\\last.exe");
  // winlogbeat 7 (ECS): process.pid and event_data fields alike.
  auto wlb = dir.write(
      "wlb.jsonl",
      R"({"@timestamp":"2021-01-01T10:00:00Z","event":{"code":1},"host":{"name":"H"},"process":{"entity_id":"{9f32b55f-7c4e-5f98-5803-000000000500}","executable":"C:\\n.exe","pid":3616,"pid":7777},"winlog":{"provider_name":"Microsoft-Windows-Sysmon","event_id":1,"computer_name":"H","event_data":{"IntegrityLevel":"Medium","IntegrityLevel":"System","UtcTime":"2021-01-01 10:00:00.000"}}})"
      "\n");
  auto w = replay(wlb, {"pslist"});
  BOOST_REQUIRE(w[0].size() == 1u);
  BOOST_TEST(w[0][0].at("Data").at("Pid") == 7777);
  BOOST_TEST(w[0][0].at("Data").at("IntegrityLevel") == "System");
  // evtx_dump's JSON, and XML (Splunk) with <Data> twice.
  auto dump = dir.write(
      "dump.jsonl",
      R"({"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},"EventID":1,"Computer":"H","EventRecordID":1},"EventData":{"UtcTime":"2021-01-01 10:00:00.000","ProcessGuid":"{0197231e-4f13-6929-a510-000000000d00}","ProcessId":14364,"CommandLine":"first.exe","CommandLine":"last.exe"}}})"
      "\n");
  auto d = replay(dump, {"pslist"});
  BOOST_REQUIRE(d[0].size() == 1u);
  BOOST_TEST(d[0][0].at("Data").at("CommandLine") == "last.exe");
  auto xml = dir.write(
      "splunk.log",
      "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>"
      "<System><Provider Name='Microsoft-Windows-Sysmon'/><EventID>1</EventID>"
      "<EventRecordID>1</EventRecordID><Computer>H</Computer></System>"
      "<EventData><Data Name='UtcTime'>2021-01-01 10:00:00.000</Data>"
      "<Data Name='ProcessGuid'>{0197231e-4f13-6929-a510-000000000d01}</Data>"
      "<Data Name='ProcessId'>14364</Data>"
      "<Data Name='CommandLine'>first.exe</Data>"
      "<Data Name='CommandLine'>last.exe</Data></EventData></Event>\n");
  auto x = replay(xml, {"pslist"});
  BOOST_REQUIRE(x[0].size() == 1u);
  BOOST_TEST(x[0][0].at("Data").at("CommandLine") == "last.exe");
}

// --- F14: HOST/ID with a '/' in the host name -----------------------------

BOOST_AUTO_TEST_CASE(host_names_with_a_slash_are_queried_at_the_last_slash) {
  temp_dir dir;
  auto file = dir.write(
      "hosts.jsonl",
      R"({"SourceName":"Microsoft-Windows-Sysmon","Hostname":"WEB","EventID":1,"UtcTime":"2021-01-01 10:00:00.000","ProcessGuid":"{d0000000-0000-0000-0000-000000000010}","ProcessId":"10","Image":"C:\\web.exe"}
{"SourceName":"Microsoft-Windows-Sysmon","Hostname":"evil/10","EventID":1,"UtcTime":"2021-01-01 10:00:02.000","ProcessGuid":"{d0000000-0000-0000-0000-000000000011}","ProcessId":"11","Image":"C:\\evil_10.exe"}
)");
  auto r = replay(file, {"get:evil/10/11", "get:WEB/10"});
  BOOST_TEST(r[0].at("Id") == "11-1609495202", r[0].dump());
  BOOST_TEST(r[1].at("Id") == "10-1609495200", r[1].dump());
  BOOST_TEST(has(r.run.err, "get:evil/10/PID"), r.run.err);
}

// --- F8: a pslist without a host and the same machine's Sysmon log ------

// TrackProcesses' own set-up: pslist rows (no host) and Sysmon events
// (Computer HOSTA). The child whose ParentProcessGuid is unknown links to
// the pslist parent by pid and start in either order of the merge; before,
// host-less rows read first kept HOSTA apart and the chain stopped at 144-?.
BOOST_AUTO_TEST_CASE(host_less_pslist_joins_the_first_named_host) {
  temp_dir dir;
  auto pslist = dir.write(
      "pslist.jsonl",
      R"({"update_type":"sync","time":"2025-11-28T07:00:00Z","processes":[{"id":144,"parent_id":4,"start_time":"2025-11-28T06:00:00Z","data":{"Name":"explorer.exe"}}]}
)");
  auto sysmon = dir.write(
      "sysmon.jsonl",
      R"({"SourceName":"Microsoft-Windows-Sysmon","Hostname":"HOSTA.example.test","EventID":1,"ParentProcessId":"144","ParentProcessGuid":"{0197231e-4ef4-6929-a410-000000000d00}","Image":"C:\\Windows\\System32\\cmd.exe","UtcTime":"2025-11-28 07:28:01.100","ProcessGuid":"{0197231e-4f01-6929-a510-000000000d00}","ProcessId":"1001"}
{"SourceName":"Microsoft-Windows-Sysmon","Hostname":"HOSTA.example.test","EventID":5,"UtcTime":"2025-11-28 07:28:02.100","ProcessGuid":"{0197231e-4f01-6929-a510-000000000d00}","ProcessId":"1001"}
)");
  for (auto order : {std::vector<std::string>{pslist, sysmon},
                     std::vector<std::string>{sysmon, pslist}}) {
    auto r = replay(order[0], {"callchain:1001", "stats"},
                    {order[1], "--sort=time"});
    BOOST_TEST_CONTEXT(order[0] << " first: " << r[0].dump()) {
      BOOST_REQUIRE(r[0].is_array());
      BOOST_REQUIRE(r[0].size() == 2u);
      BOOST_TEST(r[0][0].at("Id") == "144-1764309600");
      BOOST_TEST(r[0][1].at("Id") == "1001-1764314881");
      BOOST_TEST(r[0][1].at("ParentId") == "144-1764309600");
      BOOST_TEST(!r[1].contains("Hosts")); // one table: no host kept apart
    }
  }
}

// --- standard input leaves no file behind ---------------------------------

// The spool file is unlinked as soon as it is made: while replay reads
// standard input (and after SIGINT) $TMPDIR holds nothing of it.
BOOST_AUTO_TEST_CASE(stdin_spool_file_is_never_left_behind) {
  temp_dir dir;
  auto child = start_with_input({binary(), "replay", "-"},
                                {{"TMPDIR", dir.path().string()}});
  pid_t pid = child.pid;
  std::string row =
      R"({"update_type":"start","id":5,"parent_id":1,"start_time":"2021-01-01T10:00:00Z"})"
      "\n";
  BOOST_REQUIRE(write(child.input, row.data(), row.size())
                == static_cast<ssize_t>(row.size()));
  // Wait until the replay holds its spool file open.
  std::string held;
  for (int i = 0; i < 300 && held.empty(); ++i) {
    std::error_code ec;
    for (auto &fd : std::filesystem::directory_iterator(
             "/proc/" + std::to_string(pid) + "/fd", ec)) {
      auto target = std::filesystem::read_symlink(fd.path(), ec).string();
      if (has(target, "proctrack-stdin-"))
        held = target;
    }
    if (held.empty())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  BOOST_TEST(has(held, " (deleted)"), held);
  BOOST_TEST(std::filesystem::is_empty(dir.path()));
  kill(pid, SIGINT);
  close(child.input);
  int st = 0;
  waitpid(pid, &st, 0);
  BOOST_TEST(std::filesystem::is_empty(dir.path()));
}

BOOST_AUTO_TEST_SUITE_END() // replay_record_test
