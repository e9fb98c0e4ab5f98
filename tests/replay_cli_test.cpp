// The `proctrack replay` command line through the real binary: exit status
// and messages for bad usage (SPEC §9: 2, naming what was wrong), config
// files and flags (SPEC §8), --queries, --dump-config, the output stream
// without queries (SPEC §6) and standard input.
#include <boost/test/unit_test.hpp>

#include "support/run_binary.hpp"

BOOST_AUTO_TEST_SUITE(replay_cli_test)

using nlohmann::json;
using namespace proctrack_test;

namespace {

const char *updates =
    R"({"update_type":"start","id":1,"parent_id":0,"start_time":"2021-01-01T10:00:00Z","data":{"Name":"init"}}
{"update_type":"start","id":2,"parent_id":1,"start_time":"2021-01-01T10:30:00Z","data":{"Name":"sh"}}
{"update_type":"start","id":3,"parent_id":2,"start_time":"2021-01-01T10:31:00Z","data":{"Name":"ls"}}
{"update_type":"exit","id":3,"end_time":"2021-01-01T10:31:01Z"}
)";

bool has(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

// Many processes, so a small max-size shows in Length.
std::string many_starts(int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += json{{"update_type", "start"},
                {"id", 100 + i},
                {"parent_id", 1},
                {"start_time", 1609495200 + i},
                {"data", {{"Name", "p"}}}}
               .dump()
           + "\n";
  return out;
}

} // namespace

BOOST_AUTO_TEST_CASE(missing_input_file) {
  temp_dir dir;
  auto missing = (dir.path() / "no-such-file.jsonl").string();
  auto r = proctrack({"replay", missing, "--query=stats"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(has(r.err, missing), r.err);
  BOOST_TEST(r.out.empty());
}

BOOST_AUTO_TEST_CASE(unknown_query_verb) {
  temp_dir dir;
  auto file = dir.write("u.jsonl", updates);
  auto r = proctrack({"replay", file, "--query=ancestors:3"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(has(r.err, "ancestors"), r.err);
  BOOST_TEST(r.out.empty());
}

BOOST_AUTO_TEST_CASE(max_size_zero) {
  temp_dir dir;
  auto file = dir.write("u.jsonl", updates);
  auto r = proctrack({"replay", file, "--tracker.max-size=0", "--query=stats"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(has(r.err, "tracker.max-size"), r.err);
}

BOOST_AUTO_TEST_CASE(max_bytes_zero_or_absurd) {
  temp_dir dir;
  auto file = dir.write("u.jsonl", updates);
  for (std::string v : {"0", "-1", "1000", "99999999999999999"}) {
    auto r = proctrack(
        {"replay", file, "--tracker.max-bytes=" + v, "--query=stats"});
    BOOST_TEST(r.status == 2, v);
    BOOST_TEST(has(r.err, "tracker.max-bytes"), v << ": " << r.err);
    BOOST_TEST(r.out.empty(), v);
  }
}

BOOST_AUTO_TEST_CASE(negative_max_expiry) {
  temp_dir dir;
  auto file = dir.write("u.jsonl", updates);
  auto r =
      proctrack({"replay", file, "--tracker.max-expiry=-5s", "--query=stats"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(has(r.err, "tracker.max-expiry"), r.err);
}

// A duration too large for 64 bits of nanoseconds is refused by name, on
// the command line and in a config file: CAF's reader wrapped it (5124096h
// became 25 minutes and expired everything; 3000000h "negative").
BOOST_AUTO_TEST_CASE(durations_beyond_292_years_are_refused) {
  for (auto bad :
       {"--tracker.max-expiry=5124096h", "--tracker.max-expiry=3000000h",
        "--tracker.sync-period=999999999h",
        "--history.max-age=9223372036854775808ns",
        "--stats.interval=153722868min"}) {
    auto r = proctrack({"replay", "--dump-config", bad});
    BOOST_TEST(r.status == 2, bad);
    BOOST_TEST(has(r.err, "is out of range"), r.err);
    BOOST_TEST(has(r.err, std::string{bad}.substr(2, 10)), r.err);
  }
  auto edge =
      proctrack({"replay", "--dump-config", "--tracker.max-expiry=2562047h"});
  BOOST_TEST(edge.status == 0, edge.err);
  BOOST_TEST(has(edge.out, "max-expiry=2562047h"), edge.out);
  temp_dir dir;
  auto conf = dir.write("big.ini",
                        "[tracker]\nmax-size=10\nmax-expiry = 5124096h ; x\n");
  auto c = proctrack({"replay", "--config=" + conf, "--dump-config"});
  BOOST_TEST(c.status == 2);
  BOOST_TEST(has(c.err, ":3: tracker.max-expiry = 5124096h is out of range"),
             c.err);
}

BOOST_AUTO_TEST_CASE(live_flush_out_of_range) {
  // The agent's live.flush (the longest wait of a live update for the
  // cache) is checked with every other key, before anything starts.
  auto d = proctrack({"replay", "--dump-config"});
  BOOST_TEST(has(d.out, "[live]\nflush=0s"), d.out);
  for (auto bad : {"--live.flush=2s", "--live.flush=-1ms"}) {
    auto r = proctrack({"replay", "--dump-config", bad});
    BOOST_TEST(r.status == 2, bad);
    BOOST_TEST(has(r.err, "live.flush must be between 0 and 1s"), r.err);
  }
}

BOOST_AUTO_TEST_CASE(config_file_misspelled_key) {
  temp_dir dir;
  auto file = dir.write("u.jsonl", updates);
  auto conf = dir.write("bad.ini", "[tracker]\nmax-sise=10\n");
  auto r =
      proctrack({"replay", file, "--config-file=" + conf, "--query=stats"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(has(r.err, "max-sise"), r.err);
  // --config=FILE is the same thing
  auto r2 = proctrack({"replay", file, "--config=" + conf, "--query=stats"});
  BOOST_TEST(r2.status == 2);
  BOOST_TEST(has(r2.err, "max-sise"), r2.err);
}

BOOST_AUTO_TEST_CASE(config_file_wrong_type) {
  temp_dir dir;
  auto file = dir.write("u.jsonl", updates);
  auto conf = dir.write("bad.ini", "[tracker]\nmax-size=\"ten\"\n");
  auto r = proctrack({"replay", file, "--config=" + conf, "--query=stats"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(has(r.err, "tracker.max-size"), r.err);
}

BOOST_AUTO_TEST_CASE(config_file_values_are_honoured) {
  temp_dir dir;
  auto file = dir.write("u.jsonl", many_starts(25));
  auto conf = dir.write("good.ini", "[tracker]\nmax-size=10\n"
                                    "max-expiry=2h\n");
  auto r = replay(file, {"stats"}, {"--config=" + conf});
  BOOST_TEST(counter_of(r[0], "Capacity") == 10);
  BOOST_TEST(counter_of(r[0], "Length") == 10);
  BOOST_TEST(counter_of(r[0], "Evictions") == 15);
  auto d = proctrack({"replay", "--config=" + conf, "--dump-config"});
  BOOST_TEST(d.status == 0);
  BOOST_TEST(has(d.out, "max-size=10"), d.out);
  BOOST_TEST(has(d.out, "max-expiry=2h"), d.out);
}

BOOST_AUTO_TEST_CASE(flag_overrides_config_file) {
  temp_dir dir;
  auto file = dir.write("u.jsonl", many_starts(25));
  auto conf = dir.write("good.ini", "[tracker]\nmax-size=10\n");
  // The flag wins whether it comes before or after the file.
  for (auto order : {0, 1}) {
    std::vector<std::string> flags{"--config=" + conf, "--tracker.max-size=20"};
    if (order)
      std::swap(flags[0], flags[1]);
    auto r = replay(file, {"stats"}, flags);
    BOOST_TEST(counter_of(r[0], "Capacity") == 20);
    BOOST_TEST(counter_of(r[0], "Length") == 20);
  }
}

BOOST_AUTO_TEST_CASE(queries_file_preserves_order) {
  temp_dir dir;
  auto file = dir.write("u.jsonl", updates);
  auto qfile = dir.write("queries.txt", "# comment\n"
                                        "stats\n"
                                        "callchain:3\n"
                                        "\n"
                                        "get:2\n"
                                        "children:1\n"
                                        "get:1-1609495200\n");
  auto r = proctrack({"replay", file, "--queries=" + qfile});
  BOOST_TEST(r.status == 0, r.err);
  auto res = results(
      r, {"stats", "callchain:3", "get:2", "children:1", "get:1-1609495200"});
  BOOST_TEST(counter_of(res[0], "Length") == 3);
  BOOST_TEST(ids(res[1])
             == (std::vector<std::string>{"1-1609495200", "2-1609497000",
                                          "3-1609497060"}));
  BOOST_TEST(res[2].at("Id") == "2-1609497000");
  BOOST_TEST(ids(res[3]) == (std::vector<std::string>{"2-1609497000"}));
  BOOST_TEST(res[4].at("Data").at("Name") == "init");

  // --queries=FILE and --query=Q together: the file's first, then the flags.
  auto r2 = proctrack({"replay", file, "--queries=" + qfile, "--query=get:3",
                       "--query=pslist"});
  BOOST_TEST(r2.status == 0, r2.err);
  auto res2 = results(r2, {"stats", "callchain:3", "get:2", "children:1",
                           "get:1-1609495200", "get:3", "pslist"});
  BOOST_TEST(res2[5].at("EndTime") == "2021-01-01T10:31:01Z");
  BOOST_TEST(res2[6].size() == 3u);

  auto missing = (dir.path() / "nope.txt").string();
  auto r3 = proctrack({"replay", file, "--queries=" + missing});
  BOOST_TEST(r3.status == 2);
  BOOST_TEST(has(r3.err, missing), r3.err);
}

BOOST_AUTO_TEST_CASE(dump_config_prints_the_keys) {
  auto r = proctrack({"replay", "--dump-config"});
  BOOST_TEST(r.status == 0, r.err);
  for (auto key :
       // replay's own default: expiry off unless asked (docs/semantics.md)
       {"[tracker]", "max-size=10000", "max-children=10", "max-expiry=0s",
        "also-forward-updates=false", "add-enrichments=false",
        "sysmon-file-location=", "sync-period=60s", "sources=\"auto\"",
        "[stats]", "interval=10s"})
    BOOST_TEST(has(r.out, key), key << " in\n" << r.out);
  auto r2 = proctrack({"replay", "--dump-config", "--tracker.max-size=42"});
  BOOST_TEST(r2.status == 0, r2.err);
  BOOST_TEST(has(r2.out, "max-size=42"), r2.out);
}

// tracker.sources: auto or pslist; pslist alone is the Windows agent's
// fallback without Sysmon, which the Linux agent refuses by name.
BOOST_AUTO_TEST_CASE(tracker_sources_is_checked) {
  auto r = proctrack({"replay", "--dump-config", "--tracker.sources=etw"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(has(r.err, "tracker.sources must be auto or pslist (got \"etw\")"),
             r.err);
  auto r2 = proctrack({"run", "--tracker.sources=pslist", "--query.socket="});
  BOOST_TEST(r2.status == 2);
  BOOST_TEST(has(r2.err, "tracker.sources=pslist is the Windows agent's "
                         "fallback without Sysmon"),
             r2.err);
}

BOOST_AUTO_TEST_CASE(output_stream_without_queries) {
  temp_dir dir;
  auto file = dir.write("u.jsonl", updates);
  auto r = proctrack({"replay", file});
  BOOST_TEST(r.status == 0, r.err);
  auto rows = json_lines(r.out);
  BOOST_REQUIRE(rows.size() >= 2u);
  BOOST_TEST(rows.front().at("update_type") == "sync");
  BOOST_TEST(rows.back().at("update_type") == "stats");
  BOOST_TEST(counter_of(rows.back().at("data"), "Length") == 3);
  // The first row holds the whole cache.
  auto dump = rows.front().dump();
  for (auto id : {"1-1609495200", "2-1609497000", "3-1609497060"})
    BOOST_TEST(has(dump, id), id << " in " << dump);
}

BOOST_AUTO_TEST_CASE(replay_reads_stdin) {
  auto r = proctrack({"replay", "-", "--query=callchain:3", "--query=stats"},
                     updates);
  BOOST_TEST(r.status == 0, r.err);
  if (r.status != 0)
    return; // one failure, not a cascade
  auto res = results(r, {"callchain:3", "stats"});
  BOOST_TEST(ids(res[0])
             == (std::vector<std::string>{"1-1609495200", "2-1609497000",
                                          "3-1609497060"}));
  BOOST_TEST(counter_of(res[1], "Length") == 3);
}

// Issue 18 item 6: the replay ends with one line saying what it read.
BOOST_AUTO_TEST_CASE(summary_line_at_the_end) {
  temp_dir dir;
  auto good = dir.write("u.jsonl", updates);
  auto bad = dir.write(
      "bad.jsonl",
      R"({"update_type":"start","id":9,"parent_id":0,"start_time":1609495200}
not json
{"update_type":"start"}
)");
  auto r = proctrack({"replay", good, bad, "--query=stats"});
  BOOST_TEST(r.status == 0, r.err);
  BOOST_TEST(has(r.err, "replay: 2 files, 7 records, 5 process updates, "
                        "2 input errors in "),
             r.err);
  // --log.level=warn silences it, like every other note of a good run.
  auto quiet = proctrack({"replay", good, "--log.level=warn", "--query=stats"});
  BOOST_TEST(!has(quiet.err, "replay: "), quiet.err);
}

BOOST_AUTO_TEST_CASE(no_input_files) {
  auto r = proctrack({"replay", "--query=stats"});
  BOOST_TEST(r.status == 2);
  BOOST_TEST(!r.err.empty());
}

// Issue 14 kind 6 through the binary: 40 exited processes with 1 MB command
// lines and a 1 MiB budget. Each command line is kept at 32 KiB and named in
// Truncated; the table's Data stays within the budget.
BOOST_AUTO_TEST_CASE(huge_command_lines_stay_within_max_bytes) {
  temp_dir dir;
  std::string rows;
  const std::string cmd(1 << 20, 'A');
  for (int i = 0; i < 40; ++i) {
    auto pid = std::to_string(100 + i);
    rows += R"({"update_type":"start","id":)" + pid
            + R"(,"parent_id":1,"start_time":)" + std::to_string(1609495200 + i)
            + R"(,"data":{"Name":"big.exe","CommandLine":")" + cmd + "\"}}\n";
    rows += R"({"update_type":"exit","id":)" + pid + R"(,"end_time":)"
            + std::to_string(1609495201 + i) + "}\n";
  }
  auto file = dir.write("flood.jsonl", rows);
  auto r = replay(file, {"stats", "get:139"}, {"--tracker.max-bytes=1048576"});
  auto &stats = r[0];
  BOOST_TEST(stats.at("MaxBytes") == 1048576);
  BOOST_TEST(stats.at("DataBytes").get<std::int64_t>() <= 1048576);
  BOOST_TEST(stats.at("DataBytes").get<std::int64_t>() > 900000);
  BOOST_TEST(stats.at("TruncatedFields") == 40);
  BOOST_TEST(stats.at("Length").get<std::int64_t>() == 31);
  BOOST_TEST(stats.at("ByteEvictions") == 9);
  auto &d = r[1].at("Data");
  BOOST_TEST(d.at("CommandLine").get<std::string>().size() == (32u << 10) - 2);
  BOOST_TEST(d.at("Truncated") == json::array({"CommandLine"}));
  BOOST_TEST(r[1].at("EndTime") == "2021-01-01T10:00:40Z");
}

BOOST_AUTO_TEST_SUITE_END() // replay_cli_test
