// Windows Security 4688/4689 through the real binary, on the real OTRF
// exports of shared/data/sysmon/jsonl and the public 4688 EVTX of
// shared/cases/sources, each checked against tests/security_oracle.py: an
// independent reading of the same file (Python's json / python-evtx) that
// derives every process and its parent from the raw events.
#include <boost/test/unit_test.hpp>

#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>

BOOST_AUTO_TEST_SUITE(security_log_test)

using nlohmann::json;
using namespace proctrack_test;

namespace {

std::string source_dir() {
  const char *s = std::getenv("PROCTRACK_SOURCE");
  return s != nullptr ? s : "/work/wt-security";
}

std::string data(const std::string &rel) {
  if (const char *d = std::getenv("PROCTRACK_DATA"))
    return std::string{d} + "/" + rel;
  return source_dir() + "/../shared/data/" + rel;
}

std::string cases(const std::string &rel) {
  return source_dir() + "/../shared/cases/" + rel;
}

const char *const persistence =
    "sysmon/jsonl/"
    "empire_persistence_registry_modification_run_keys_standard_user_"
    "2020-09-04030609.jsonl.gz";

run_result oracle(const std::vector<std::string> &args) {
  std::vector<std::string> a{source_dir() + "/tests/security_oracle.py"};
  a.insert(a.end(), args.begin(), args.end());
  auto r = run("/usr/bin/python3", a, {}, std::chrono::seconds(300));
  if (r.status != 0)
    throw std::runtime_error("security_oracle.py failed:\n" + r.err);
  return r;
}

json expect(const std::string &file) {
  return json::parse(oracle({"expect", file}).out);
}

std::string lower(std::string s) {
  for (auto &c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// pslist entries by (host in lower case, Id), and Sysmon's by
// ("guid", ProcessGuid in lower case): a Sysmon process without a pid has
// the id "?-<start>" (".N" when several share the second).
std::map<std::pair<std::string, std::string>, json>
by_host_and_id(const json &pslist) {
  std::map<std::pair<std::string, std::string>, json> out;
  for (auto &e : pslist) {
    out[{lower(e["Data"].value("Computer", "")), e["Id"].get<std::string>()}] =
        e;
    if (e["Data"].contains("ProcessGuid"))
      out[{"guid", lower(e["Data"]["ProcessGuid"].get<std::string>())}] = e;
  }
  return out;
}

bool has(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

// Every process the oracle derives is listed once, with the oracle's
// parent; nothing else is listed. Returns how many parents were compared.
int check_against_oracle(const json &pslist, const json &want) {
  auto got = by_host_and_id(pslist);
  BOOST_TEST(pslist.size() == want["processes"].size());
  int parents = 0;
  for (auto &p : want["processes"]) {
    auto key =
        p["source"] == "sysmon"
            ? std::make_pair(std::string{"guid"}, p["guid"].get<std::string>())
            : std::make_pair(lower(p["host"].get<std::string>()),
                             p["id"].get<std::string>());
    auto it = got.find(key);
    BOOST_TEST_CONTEXT(p.dump()) {
      BOOST_TEST_REQUIRE((it != got.end()));
      auto &e = it->second;
      BOOST_TEST(e["Data"]["Exe"] == p["image"]);
      if (p["source"] == "security") {
        // Unless the table merged it into a Sysmon process (same pid
        // within 1 s, docs/semantics.md "Same process, two sources").
        BOOST_TEST(e["Data"].contains("ProcessGuid") == p.contains("merged"));
        if (!p["parent_id"].is_null()) {
          BOOST_TEST(e["ParentId"] == p["parent_id"]);
          ++parents;
        }
        if (!p["command_line"].is_null())
          BOOST_TEST(e["Data"]["CommandLine"] == p["command_line"]);
      } else {
        BOOST_TEST(e["Data"].contains("ProcessGuid"));
      }
    }
  }
  return parents;
}

} // namespace

// A Security-only log (the real export with its Sysmon lines filtered out)
// lists every 4688 process with the parent the oracle finds by pid and the
// start-time rule; hex pids, Exe, CommandLine and the account fields are
// the event's.
BOOST_AUTO_TEST_CASE(security_only_extract_lists_every_process_with_parent) {
  temp_dir dir;
  auto sec = (dir.path() / "security_only.jsonl").string();
  oracle({"extract", data(persistence), sec});
  auto want = expect(sec);
  BOOST_TEST_REQUIRE(want["processes"].size() == 546u);
  auto o = replay(sec, {"pslist", "stats"});
  int parents = check_against_oracle(o[0], want);
  BOOST_TEST(parents == 534); // 12 events lost their creator's ProcessId
  int known = 0;
  for (auto &e : o[0])
    known += e["ParentId"].get<std::string>().back() != '?';
  BOOST_TEST(known == 526); // 8 creators started before the log
  BOOST_TEST(counter_of(o[1], "SecurityProcessEvents") >= 546);
  BOOST_TEST(counter_of(o[1], "InputErrors") == 0);

  // One process as a user sees it: the powershell that the Run key starts
  // at pgustavo's logon (the persistence this data set records), and its
  // chain back to smss.exe.
  std::string ps;
  for (auto &p : want["processes"])
    if (p["command_line"].is_string()
        && has(p["command_line"].get<std::string>(), "CurrentVersion Debug"))
      ps = p["host"].get<std::string>() + "/" + p["id"].get<std::string>();
  BOOST_TEST_REQUIRE(!ps.empty());
  auto c = replay(sec, {"callchain:" + ps, "get:" + ps});
  // The oracle's chain: its parent ids walked up from that process.
  std::map<std::string, json> mine;
  for (auto &p : want["processes"])
    if (lower(p["host"].get<std::string>()) == "workstation5.theshire.local")
      mine[p["id"].get<std::string>()] = p;
  std::vector<std::string> walk;
  for (auto at = mine.find(ps.substr(ps.find('/') + 1)); at != mine.end();
       at = at->second["parent_id"].is_string()
                ? mine.find(at->second["parent_id"].get<std::string>())
                : mine.end())
    walk.push_back(at->first);
  std::reverse(walk.begin(), walk.end());
  BOOST_TEST(ids(c[0]) == walk, boost::test_tools::per_element());
  std::vector<std::string> exes;
  for (auto &e : c[0])
    exes.push_back(e["Data"]["Exe"].get<std::string>());
  BOOST_TEST(exes
                 == (std::vector<std::string>{
                     "C:\\Windows\\System32\\smss.exe",
                     "C:\\Windows\\System32\\smss.exe",
                     "C:\\Windows\\System32\\winlogon.exe",
                     "C:\\Windows\\System32\\userinit.exe",
                     "C:\\Windows\\explorer.exe",
                     "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\"
                     "powershell.exe"}),
             boost::test_tools::per_element());
  auto &e = c[1];
  BOOST_TEST(e["Id"] == "7184-1599203335");
  BOOST_TEST(e["ParentId"] == "6280-1599203305");
  BOOST_TEST(e["StartTime"] == "2020-09-04T07:08:55Z"); // EventTime + 4 h
  BOOST_TEST(e["Data"]["Name"] == "powershell.exe");
  BOOST_TEST(e["Data"]["Username"] == "THESHIRE\\pgustavo");
  BOOST_TEST(e["Data"]["ParentImage"] == "C:\\Windows\\explorer.exe");
  BOOST_TEST(e["Data"]["IntegrityLevel"] == "Medium");
  BOOST_TEST(e["Data"]["MandatoryLabel"] == "S-1-16-8192");
  BOOST_TEST(e["Data"]["TokenElevationType"] == "%%1938");
  BOOST_TEST(e["Data"]["Elevation"] == "Limited");
}

// The same export with its Sysmon events: each of the 120 Sysmon EID 1 has
// its 4688 twin, which is dropped (the Sysmon entry with its GUID is
// listed, once); the 426 processes only Security saw are listed with
// parents by pid, Sysmon processes among them.
BOOST_AUTO_TEST_CASE(mixed_log_counts_each_creation_once) {
  auto want = expect(data(persistence));
  BOOST_TEST_REQUIRE(want["sysmon_twins"] == 120);
  auto o = replay(data(persistence), {"pslist", "stats"});
  check_against_oracle(o[0], want);
  BOOST_TEST(counter_of(o[1], "SecurityStartsSysmonHad") == 120);
  // Security processes whose parent is a Sysmon process: the link crosses
  // the two providers.
  auto entries = by_host_and_id(o[0]);
  int crossing = 0;
  for (auto &p : want["processes"]) {
    if (p["source"] != "security" || p["parent_id"].is_null())
      continue;
    auto parent = entries.find({lower(p["host"].get<std::string>()),
                                p["parent_id"].get<std::string>()});
    crossing += parent != entries.end()
                && parent->second["Data"].contains("ProcessGuid");
  }
  BOOST_TEST(crossing > 0);
}

// An export whose TimeCreated is 16 hours off Sysmon's UtcTime: the
// Security times are moved onto Sysmon's clock (said on stderr), so all 36
// 4688 find their Sysmon twins and 37 processes are listed, not 73.
BOOST_AUTO_TEST_CASE(skewed_export_times_are_put_on_sysmon_clock) {
  auto file =
      data("sysmon/jsonl/aptsimulator_cobaltstrike_2021-06-11T21081492.jsonl");
  auto want = expect(file);
  BOOST_TEST(want["shift"]["workstation5"] == 57600);
  auto o = replay(file, {"pslist", "stats"});
  check_against_oracle(o[0], want);
  BOOST_TEST(o[0].size() == 37u);
  BOOST_TEST(counter_of(o[1], "SecurityStartsSysmonHad") == 36);
  BOOST_TEST(has(o.run.err, "host WORKSTATION5: Security event times moved "
                            "by +16h00m onto Sysmon's UtcTime"),
             o.run.err);
}

// A Security EVTX (version 1 events: no ParentProcessName, no Target
// account), read by libevtx, against python-evtx's reading.
BOOST_AUTO_TEST_CASE(security_evtx_against_python_evtx) {
  auto file = cases("sources/security_4688_only_no_diagnostic.evtx");
  auto want = expect(file);
  BOOST_TEST_REQUIRE(want["processes"].size() == 28u);
  auto o = replay(file, {"pslist"});
  BOOST_TEST(check_against_oracle(o[0], want) == 28);
}

// A Security log without process events (the real export's Security
// events other than 4688/4689) says so on stderr and in stats, with what
// it held.
BOOST_AUTO_TEST_CASE(security_log_without_process_events_says_what_it_held) {
  temp_dir dir;
  auto sec = (dir.path() / "security_only.jsonl").string();
  oracle({"extract", data(persistence), sec});
  // Drop the 4688/4689 lines with the oracle's own JSON reading.
  auto no_proc = (dir.path() / "no_process_events.jsonl").string();
  auto r = run("/usr/bin/python3",
               {"-c",
                "import json,sys,collections\n"
                "c=collections.Counter(); n=0\n"
                "with open(sys.argv[2],'w') as o:\n"
                "  for l in open(sys.argv[1]):\n"
                "    e=json.loads(l)\n"
                "    if e.get('SourceName') != 'Microsoft-Windows-Security-"
                "Auditing' or e.get('EventID') in (4688,4689): continue\n"
                "    o.write(l); n+=1\n"
                "    c[e.get('EventID')]+=1\n"
                "print(n, ' '.join('%s:%d'%kv for kv in c.most_common(2)))\n",
                sec, no_proc});
  BOOST_TEST_REQUIRE(r.status == 0, r.err);
  // "N ID1:N1 ID2:N2"
  std::istringstream in(r.out);
  std::string records, first, second;
  in >> records >> first >> second;
  auto o = replay(no_proc, {"pslist", "stats"});
  BOOST_TEST(o[0].size() == 0u);
  auto part = [](const std::string &kv) {
    return kv.substr(0, kv.find(':')) + "\xc3\x97"
           + kv.substr(kv.find(':') + 1);
  };
  BOOST_TEST(has(o.run.err, no_proc + ": Security log: 0 process events of "
                                + records + " records; event ids " + part(first)
                                + ", " + part(second) + ", "),
             o.run.err);
  BOOST_TEST(counter_of(o[1], "FilesWithoutProcessEvents") == 1);
  BOOST_TEST(counter_of(o[1], "SkippedSecurityEventID"
                                  + first.substr(0, first.find(':')))
             == std::stoll(first.substr(first.find(':') + 1)));
}

// A Security log saved by Event Viewer as CSV is no form proctrack reads:
// the replay says so, with what the file's first line holds, and counts it.
BOOST_AUTO_TEST_CASE(unrecognised_form_says_what_it_found) {
  temp_dir dir;
  auto csv =
      dir.write("security.csv",
                "Keywords,Date and Time,Source,Event ID,Task Category\n"
                "Audit Success,9/4/2020 3:06:24 AM,"
                "Microsoft-Windows-Security-Auditing,4688,Process Creation\n");
  auto r = proctrack({"replay", csv, "--query=stats"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(has(r.err, csv + ": unknown format (not EVTX"), r.err);
  BOOST_TEST(has(r.err, "; the first line is not a JSON object: "
                        "\"Keywords,Date and Time,Source,Event ID,T...\""),
             r.err);
  BOOST_TEST(counter_of(results(r, {"stats"})[0], "InputOpenFailures") == 1);
}

BOOST_AUTO_TEST_SUITE_END()
