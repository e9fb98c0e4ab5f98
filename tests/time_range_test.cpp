// Issue 15, kinds 1-3: times of years 0000-9999, the clock that
// decides expiry, and replaying proctrack's own output stream.
#include <boost/test/unit_test.hpp>

#include "actors/cache/process_table.hpp"
#include "actors/common/time.hpp"
#include "actors/ingest/sysmon_event.hpp"
#include "actors/ingest/update_row_decoder.hpp"
#include "tests/support/printers.hpp"
#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <string>

using namespace proctrack;
using nlohmann::json;
using namespace proctrack_test;

BOOST_AUTO_TEST_SUITE(time_range_test)

namespace {

std::string cases_dir() {
  const char *src = std::getenv("PROCTRACK_SOURCE");
  return std::string{src ? src : "."} + "/../shared/cases";
}

timestamp t(const char *text) {
  auto v = parse_time(text);
  BOOST_TEST_INFO("time: " << text);
  BOOST_REQUIRE(v.has_value());
  return *v;
}

std::string why_not(const char *text) {
  std::string why;
  auto v = parse_time(text, &why);
  BOOST_TEST(!v.has_value(), text);
  return why;
}

bool has(const std::string &text, const std::string &needle) {
  return text.find(needle) != std::string::npos;
}

} // namespace

// --- kind 1: times ----------------------------------------------------------

// Go's zero time is "unknown", read back as unknown and printed as itself.
BOOST_AUTO_TEST_CASE(go_zero_time_round_trips_as_unknown) {
  BOOST_TEST(t("0001-01-01T00:00:00Z") == unknown_time);
  BOOST_TEST(format_time(t("0001-01-01T00:00:00Z")) == "0001-01-01T00:00:00Z");
  BOOST_TEST(make_real_id("5", t("0001-01-01T00:00:00Z")) == "5-0");
}

// Years 0000-9999, what RFC 3339 and Go can say, are kept exactly (to
// 100 ns) and printed back as written: int64 nanoseconds stopped at 1677 and
// 2262 and a 2300 start came back as 2262 (issue 15, kind 1).
BOOST_AUTO_TEST_CASE(years_0000_to_9999_are_kept_exactly) {
  BOOST_TEST(format_time(min_time) == "0000-01-01T00:00:00Z");
  BOOST_TEST(format_time(max_time) == "9999-12-31T23:59:59.9999999Z");
  for (auto *text :
       {"2300-01-01T00:00:00Z", "2400-01-01T00:00:00Z", "1600-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:01Z",
        "0000-01-01T00:00:00Z", "1677-09-21T00:12:43Z", "2262-04-11T23:47:17Z",
        "1969-12-31T23:59:59.25Z", "2021-01-01T00:00:00.1234567Z"})
    BOOST_TEST(format_time(t(text)) == text);
  BOOST_TEST(t("0000-01-01T00:00:00Z") == min_time);
  BOOST_TEST(t("2300-01-01T00:00:00Z") != t("2400-01-01T00:00:00Z"));
  BOOST_TEST(t("1900-01-01T00:00:00Z") == -2208988800LL * hns_per_second);
  // Fractions finer than 100 ns are truncated.
  BOOST_TEST(format_time(t("2021-01-01T00:00:00.123456789Z"))
             == "2021-01-01T00:00:00.1234567Z");
  // An offset that takes a date out of the range is named.
  BOOST_TEST(has(why_not("0000-01-01T00:00:00+01:00"), "outside"));
  BOOST_TEST(has(why_not("9999-12-31T23:30:00-01:00"), "outside"));
  // Unix seconds: up to 9999-12-31, then not a time.
  BOOST_TEST(format_time(t("99999999999")) == "5138-11-16T09:46:39Z");
  BOOST_TEST(format_time(t("253402300799")) == "9999-12-31T23:59:59Z");
  BOOST_TEST(why_not("253402300800")
             == "Unix seconds past 9999-12-31T23:59:59Z");
  BOOST_TEST(why_not("999999999999.5")
             == "Unix seconds past 9999-12-31T23:59:59Z");
  BOOST_TEST(from_unix_seconds(1e11).value()
             == 100000000000LL * hns_per_second);
  BOOST_TEST(!from_unix_seconds(1e300).has_value());
  BOOST_TEST(!from_unix_seconds(-1.0).has_value());
  // Real ids: a start before 1970 gives "<pid>-0" (Velociraptor's
  // GetRealId), never "5--1"; later years give their own seconds.
  BOOST_TEST(make_real_id("5", t("1969-12-31T23:59:59Z")) == "5-0");
  BOOST_TEST(make_real_id("5", min_time) == "5-0");
  BOOST_TEST(make_real_id("6", t("2300-01-01T00:00:00Z")) == "6-10413792000");
  BOOST_TEST(make_real_id("6", t("9999-12-31T23:59:59Z")) == "6-253402300799");
}

BOOST_AUTO_TEST_CASE(impossible_values_are_named) {
  BOOST_TEST(why_not("2021-02-31T00:00:00Z")
             == "day 31 does not exist in 2021-02");
  BOOST_TEST(why_not("2021-02-29") == "day 29 does not exist in 2021-02");
  BOOST_TEST(t("2020-02-29T00:00:00Z") == 1582934400LL * hns_per_second);
  BOOST_TEST(why_not("2021-04-31T00:00:00Z")
             == "day 31 does not exist in 2021-04");
  BOOST_TEST(why_not("2021-13-01T00:00:00Z") == "month 13 does not exist");
  BOOST_TEST(why_not("2021-01-01T25:00:00Z")
             == "time of day 25:00:00 does not exist");
  BOOST_TEST(why_not("2021-01-01T00:00:00+99:99")
             == "offset +99:99 does not exist: hours 00-23, minutes 00-59");
  BOOST_TEST(why_not("2021-01-01T00:00:00-24:00")
             == "offset -24:00 does not exist: hours 00-23, minutes 00-59");
  BOOST_TEST(t("2021-01-01T00:00:00+23:59")
             == 1609459200LL * hns_per_second
                    - (23 * 3600 + 59 * 60) * hns_per_second);
  why_not("yesterday");
}

BOOST_AUTO_TEST_CASE(row_decoder_names_the_field_and_the_reason) {
  process_update u;
  std::string err;
  BOOST_TEST((
      decode_update_row(
          R"({"update_type":"start","id":2,"start_time":"2021-02-31T00:00:00Z"})",
          u, err)
      == row_result::error));
  BOOST_TEST(err
             == R"("start_time" is not a time: "2021-02-31T00:00:00Z")"
                R"( (day 31 does not exist in 2021-02))");
  BOOST_TEST((decode_update_row(R"({"update_type":"exit","id":2,)"
                                R"("end_time":"2021-01-01T00:00:00+99:99"})",
                                u, err)
              == row_result::error));
  BOOST_TEST(has(err, "\"end_time\""), err);
  // A number of Unix seconds is kept up to 9999-12-31, then named.
  BOOST_TEST((decode_update_row(
                  R"({"update_type":"exit","id":2,"end_time":1e11})", u, err)
              == row_result::update));
  BOOST_TEST(format_time(u.time) == "5138-11-16T09:46:40Z");
  BOOST_TEST((decode_update_row(
                  R"({"update_type":"exit","id":2,"end_time":1e12})", u, err)
              == row_result::error));
  BOOST_TEST(has(err, "\"end_time\" is not a time"), err);
}

// Sysmon: a start with an impossible UtcTime keeps its process (unknown
// start) and says why; an exit without a time cannot be applied.
BOOST_AUTO_TEST_CASE(sysmon_bad_utc_time_is_a_named_error) {
  sysmon_event ev;
  ev.provider = std::string{sysmon_provider};
  ev.event_id = 1;
  ev.set("ProcessId", "42");
  ev.set("Image", "C:\\x.exe");
  ev.set("UtcTime", "2021-02-31 10:00:00.000");
  std::string why;
  auto u = to_update(ev, why);
  BOOST_REQUIRE(u.has_value());
  BOOST_TEST(u->process.start_time == unknown_time);
  BOOST_TEST(why
             == "EventID 1: UtcTime \"2021-02-31 10:00:00.000\" is not a time"
                " (day 31 does not exist in 2021-02); start time kept unknown");
  ev.event_id = 5;
  why.clear();
  BOOST_TEST(!to_update(ev, why).has_value());
  BOOST_TEST(has(why, "EventID 5: UtcTime"), why);
  // A good time says nothing.
  ev.event_id = 1;
  ev.set("UtcTime", "2021-02-28 10:00:00.000");
  why.clear();
  BOOST_TEST(to_update(ev, why).has_value());
  BOOST_TEST(why.empty());
}

// The outsiders' case: the unknown time stays unknown, 2300 is 2300.
BOOST_AUTO_TEST_CASE(time_overflow_case) {
  auto r = replay(cases_dir() + "/replay/time_overflow.jsonl",
                  {"pslist", "get:5", "get:6", "stats"});
  BOOST_TEST(ids(r[0]) == (std::vector<std::string>{"5-0", "6-10413792000"}));
  BOOST_TEST(r[1].at("Id") == "5-0");
  BOOST_TEST(r[1].at("StartTime") == "0001-01-01T00:00:00Z");
  BOOST_TEST(r[1].at("Data").at("Name") == "unknown-start.exe");
  BOOST_TEST(r[2].at("Id") == "6-10413792000");
  BOOST_TEST(r[2].at("StartTime") == "2300-01-01T00:00:00Z");
  BOOST_TEST(counter_of(r[3], "InputErrors") == 0);
}

// Two processes of one pid in 2300 and 2400 stay two (a saturated range
// made them one), and the row, Sysmon and replayed-stream forms agree.
BOOST_AUTO_TEST_CASE(far_times_keep_processes_apart) {
  temp_dir dir;
  auto rows = dir.write_lines(
      "far.jsonl",
      {R"({"update_type":"start","id":11,"start_time":"2300-01-01T00:00:00Z","data":{"Name":"a"}})",
       R"({"update_type":"exit","id":11,"end_time":"2301-01-01T00:00:00Z"})",
       R"({"update_type":"start","id":11,"start_time":"2400-01-01T00:00:00Z","data":{"Name":"b"}})",
       R"({"update_type":"start","id":12,"start_time":"1600-01-01T00:00:00.5Z","data":{"Name":"c"}})"});
  auto r = replay(rows, {"pslist", "get:11-10413792000", "get:11"});
  BOOST_TEST(ids(r[0])
                 == (std::vector<std::string>{"12-0", "11-10413792000",
                                              "11-13569465600"}),
             r[0].dump());
  BOOST_TEST(r[1].at("EndTime") == "2301-01-01T00:00:00Z");
  BOOST_TEST(r[2].at("Id") == "11-13569465600");
  BOOST_TEST(r[2].at("EndTime") == "0001-01-01T00:00:00Z");
  BOOST_TEST(entry(r[0], "12-0").at("StartTime") == "1600-01-01T00:00:00.5Z");

  auto sysmon = dir.write_lines(
      "sysmon.jsonl",
      {R"({"EventID":1,"Computer":"h","EventData":{"UtcTime":"9999-12-31 23:59:59.999","ProcessGuid":"{11111111-0000-0000-0000-000000000001}","ProcessId":"40","Image":"C:\\x.exe"}})"});
  auto s = replay(sysmon, {"pslist"});
  BOOST_TEST(ids(s[0]) == (std::vector<std::string>{"40-253402300799"}));
  BOOST_TEST(s[0].at(0).at("StartTime") == "9999-12-31T23:59:59.999Z");
}

// Impossible times cost their row only, with file:line and the field; the
// rows around them are kept.
BOOST_AUTO_TEST_CASE(impossible_times_are_counted_input_errors) {
  temp_dir dir;
  auto file = dir.write_lines(
      "times.jsonl",
      {R"({"update_type":"start","id":1,"start_time":"2021-01-01T00:00:00Z"})",
       R"({"update_type":"start","id":2,"start_time":"2021-02-31T00:00:00Z"})",
       R"({"update_type":"start","id":3,"start_time":"2021-01-01T00:00:00+99:99"})",
       R"({"update_type":"start","id":4,"start_time":"2021-01-01T25:00:00Z"})",
       R"({"update_type":"start","id":5,"start_time":"1960-05-01T00:00:00Z"})",
       R"({"update_type":"exit","id":1,"end_time":"2021-01-01T00:00:05Z"})"});
  auto r = replay(file, {"pslist", "stats"});
  BOOST_TEST(ids(r[0]) == (std::vector<std::string>{"5-0", "1-1609459200"}));
  BOOST_TEST(entry(r[0], "5-0").at("StartTime") == "1960-05-01T00:00:00Z");
  BOOST_TEST(entry(r[0], "1-1609459200").at("EndTime")
             == "2021-01-01T00:00:05Z");
  BOOST_TEST(counter_of(r[1], "InputErrors") == 3);
  auto &err = r.run.err;
  BOOST_TEST(has(err, file
                          + ":2: \"start_time\" is not a time: "
                            "\"2021-02-31T00:00:00Z\" (day 31 does not "
                            "exist in 2021-02)"),
             err);
  BOOST_TEST(has(err, file + ":3: \"start_time\""), err);
  BOOST_TEST(has(err, file + ":4: \"start_time\""), err);
}

// Rows with the unknown, a pre-1970 and a saturated time, then eviction:
// every pid link still answers its own process and the output is JSON.
BOOST_AUTO_TEST_CASE(eviction_after_far_times_leaves_no_dangling_link) {
  temp_dir dir;
  std::vector<std::string> rows;
  const char *times[] = {"0001-01-01T00:00:00Z", "1900-01-01T00:00:00Z",
                         "2300-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
                         "2021-01-01T00:00:00Z"};
  int pid = 5;
  for (int round = 0; round < 3; ++round)
    for (auto *when : times) {
      rows.push_back(json{{"update_type", "start"},
                          {"id", pid},
                          {"parent_id", pid - 1},
                          {"start_time", when},
                          {"data", {{"Name", "p" + std::to_string(pid)}}}}
                         .dump());
      if (pid % 2 == 0)
        rows.push_back(json{{"update_type", "exit"},
                            {"id", pid},
                            {"end_time", "2021-01-01T00:00:01Z"}}
                           .dump());
      ++pid;
    }
  auto file = dir.write_lines("far.jsonl", rows);
  std::vector<std::string> queries{"pslist", "stats"};
  for (int p = 5; p < pid; ++p)
    queries.push_back("get:" + std::to_string(p));
  auto r = replay(file, queries, {"--tracker.max-size=4"});
  BOOST_TEST(r[0].size() == 4u);
  BOOST_TEST(counter_of(r[1], "Evictions") == pid - 5 - 4);
  BOOST_TEST(counter_of(r[1], "Links") == 4);
  for (int p = 5; p < pid; ++p) {
    auto &g = r[2 + static_cast<std::size_t>(p - 5)];
    if (g.is_null())
      continue;
    auto id = g.at("Id").get<std::string>();
    BOOST_TEST(id.substr(0, id.find('-')) == std::to_string(p), id);
    BOOST_TEST(id.find("--") == std::string::npos, id);
  }
}

// --- kind 2: the clock that decides expiry --------------------------------

namespace {

process_update start_at(const std::string &pid, const char *when) {
  process_update u;
  u.kind = update_kind::start;
  u.process.pid = pid;
  u.process.ppid = "1";
  u.process.start_time = t(when);
  return u;
}

process_update exit_at(const std::string &pid, const char *when) {
  process_update u;
  u.kind = update_kind::exit;
  u.target = pid;
  u.time = t(when);
  return u;
}

} // namespace

// One event far ahead of the clock does not move it; events of three
// distinct processes that agree with each other (a real gap in the log) do.
BOOST_AUTO_TEST_CASE(one_far_future_event_does_not_move_now) {
  table_config cfg;
  cfg.max_expiry = 3600 * hns_per_second;
  process_table tab{cfg};
  tab.apply(start_at("2", "2021-01-01T00:01:00Z"));
  tab.apply(exit_at("2", "2021-01-01T00:02:00Z"));
  tab.apply(start_at("3", "2100-01-01T00:00:00Z"));
  BOOST_TEST(tab.now() == t("2021-01-01T00:02:00Z"));
  BOOST_TEST(tab.counters().clock_outliers == 1);
  BOOST_TEST(tab.find("2-1609459260"));
  // Events in range go on moving the clock, and drop the candidate: a later
  // lone outlier is held back again.
  tab.apply(start_at("4", "2021-01-01T00:30:00Z"));
  BOOST_TEST(tab.now() == t("2021-01-01T00:30:00Z"));
  tab.apply(start_at("5", "2100-01-01T00:00:10Z"));
  BOOST_TEST(tab.now() == t("2021-01-01T00:30:00Z"));
  BOOST_TEST(tab.counters().clock_outliers == 2);
  BOOST_TEST(tab.counters().expired == 0);
  BOOST_TEST(tab.find("2-1609459260"));
  // A gap: three processes a day later, within max-expiry of each other.
  // The third confirms the others; the clock moves to the earliest and
  // expiry runs as usual.
  tab.apply(start_at("6", "2021-01-02T10:00:00Z"));
  tab.apply(start_at("7", "2021-01-02T10:05:00Z"));
  BOOST_TEST(tab.now() == t("2021-01-01T00:30:00Z"));
  tab.apply(start_at("8", "2021-01-02T10:06:00Z"));
  BOOST_TEST(tab.now() == t("2021-01-02T10:00:00Z"));
  BOOST_TEST(tab.counters().clock_outliers == 4);
  BOOST_TEST(!tab.find("2-1609459260"));
  BOOST_TEST(tab.counters().expired == 1);
  // The first held-back candidate travels with the state, as one witness.
  tab.apply(start_at("9", "2200-01-01T00:00:00Z"));
  auto s = tab.export_state();
  BOOST_TEST(s.clock_candidate == t("2200-01-01T00:00:00Z"));
  process_table mirror{cfg};
  mirror.import_state(std::move(s));
  for (auto *table : {&mirror, &tab}) {
    table->apply(start_at("10", "2200-01-01T00:10:00Z"));
    table->apply(start_at("11", "2200-01-01T00:20:00Z"));
  }
  BOOST_TEST(mirror.now() == t("2200-01-01T00:00:00Z"));
  BOOST_TEST(tab.now() == mirror.now());
}

// With expiry off there is no "too far ahead": the clock is the newest time.
BOOST_AUTO_TEST_CASE(no_outliers_without_expiry) {
  table_config cfg;
  cfg.max_expiry = 0;
  process_table tab{cfg};
  tab.apply(start_at("2", "2021-01-01T00:01:00Z"));
  tab.apply(start_at("3", "2100-01-01T00:00:00Z"));
  BOOST_TEST(tab.now() == t("2100-01-01T00:00:00Z"));
  BOOST_TEST(tab.counters().clock_outliers == 0);
}

// The outsiders' case: evil.exe stays, exited, and the outlier is counted.
BOOST_AUTO_TEST_CASE(future_time_purges_history_case) {
  // Replay's default does not expire at all; with the agent's 24 h the
  // outlier is held back.
  auto off = replay(cases_dir() + "/replay/future_time_purges_history.jsonl",
                    {"get:2", "stats"});
  BOOST_TEST(off[0].at("Data").at("Name") == "evil.exe");
  BOOST_TEST(counter_of(off[1], "Expired") == 0);
  auto r = replay(cases_dir() + "/replay/future_time_purges_history.jsonl",
                  {"get:2", "stats"}, {"--tracker.max-expiry=24h"});
  BOOST_TEST(r[0].at("Id") == "2-1609459260");
  BOOST_TEST(r[0].at("Data").at("Name") == "evil.exe");
  BOOST_TEST(r[0].at("EndTime") == "2021-01-01T00:02:00Z");
  BOOST_TEST(counter_of(r[1], "Expired") == 0);
  BOOST_TEST(counter_of(r[1], "ClockOutliers") == 1);
  BOOST_TEST(counter_of(r[1], "Length") == 3);
  // Said on stderr too, as the other counters of what was not applied are.
  BOOST_TEST(r.run.err.find("proctrack replay: 1 events dated more than "
                            "tracker.max-expiry ahead of the log's clock")
                 != std::string::npos,
             r.run.err);
  BOOST_TEST(off.run.err.find("ClockOutliers") == std::string::npos);
}

// --- kind 3: replaying proctrack's own stream ------------------------------

// The outsiders' case: the stream of 4 rows replays into the same cache.
BOOST_AUTO_TEST_CASE(output_stream_roundtrip_case) {
  auto r = replay(cases_dir() + "/replay/output_stream_roundtrip.jsonl",
                  {"pslist", "callchain:6", "stats"});
  BOOST_TEST(
      ids(r[0])
      == (std::vector<std::string>{"5-0", "6-1609495200", "7-1609495201"}));
  auto five = entry(r[0], "5-0");
  BOOST_TEST(five.at("StartTime") == "0001-01-01T00:00:00Z");
  BOOST_TEST(five.at("ParentId") == "1-?");
  BOOST_TEST(five.at("LastSyncTime") == "0001-01-01T00:00:00Z");
  BOOST_TEST(five.at("Children") == json::array({"6-1609495200"}));
  BOOST_TEST(entry(r[0], "6-1609495200").at("ParentId") == "5-0");
  auto seven = entry(r[0], "7-1609495201");
  BOOST_TEST(seven.at("EndTime") == "2021-01-01T10:00:02Z");
  BOOST_TEST(seven.at("ParentId") == "99-?");
  BOOST_TEST(ids(r[1]) == (std::vector<std::string>{"5-0", "6-1609495200"}));
  BOOST_TEST(counter_of(r[2], "InputErrors") == 0);
}

// A real Sysmon log: its replay's output stream (no query) replayed again
// gives the identical pslist, also under eviction and max-children.
BOOST_AUTO_TEST_CASE(sysmon_output_stream_round_trips) {
  const char *data = std::getenv("PROCTRACK_DATA");
  BOOST_REQUIRE(data);
  auto log = std::string{data} + "/sysmon/evtx/sysmon.evtx";
  temp_dir dir;
  for (auto flags : std::vector<std::vector<std::string>>{
           {}, {"--tracker.max-size=7", "--tracker.max-children=2"}}) {
    std::vector<std::string> args{"replay", log};
    args.insert(args.end(), flags.begin(), flags.end());
    auto stream = proctrack_test::proctrack(args);
    BOOST_REQUIRE(stream.status == 0);
    auto file = dir.write("stream.jsonl", stream.out);
    auto a = replay(log, {"pslist"}, flags);
    auto b = replay(file, {"pslist", "stats"}, flags);
    BOOST_TEST(a[0].size() >= 7u);
    BOOST_TEST(a[0].dump() == b[0].dump());
    BOOST_TEST(counter_of(b[1], "InputErrors") == 0);
  }
}

// Velociraptor's own sync shape: data keyed by id, unknown parents as "5-?".
BOOST_AUTO_TEST_CASE(velociraptor_keyed_sync_is_read) {
  temp_dir dir;
  auto file = dir.write_lines(
      "velo.jsonl",
      {R"({"update_type":"sync","data":{)"
       R"("5-1609495200":{"id":"5-1609495200","parent_id":"1-?",)"
       R"("start_time":"2021-01-01T10:00:00Z","end_time":"0001-01-01T00:00:00Z",)"
       R"("data":{"Name":"parent"}},)"
       R"("6-1609495201":{"parent_id":"5-1609495200",)"
       R"("start_time":"2021-01-01T10:00:01Z","end_time":"2021-01-01T10:00:05Z",)"
       R"("data":{"Name":"child"}}}})"});
  auto r = replay(file, {"pslist", "callchain:6"});
  BOOST_TEST(ids(r[0])
             == (std::vector<std::string>{"5-1609495200", "6-1609495201"}));
  auto p = entry(r[0], "5-1609495200");
  BOOST_TEST(p.at("ParentId") == "1-?");
  BOOST_TEST(p.at("EndTime") == "0001-01-01T00:00:00Z");
  auto c = entry(r[0], "6-1609495201");
  BOOST_TEST(c.at("ParentId") == "5-1609495200");
  BOOST_TEST(c.at("EndTime") == "2021-01-01T10:00:05Z");
  BOOST_TEST(c.at("Data").at("Name") == "child");
  BOOST_TEST(ids(r[1])
             == (std::vector<std::string>{"5-1609495200", "6-1609495201"}));
  // "5-?" as a parent in a plain row is the pid with an unknown parent.
  process_update u;
  std::string err;
  BOOST_TEST((decode_update_row(R"({"update_type":"start","id":6,)"
                                R"("parent_id":"5-?"})",
                                u, err)
              == row_result::update));
  BOOST_TEST(u.process.ppid == "5");
}

BOOST_AUTO_TEST_SUITE_END() // time_range_test
