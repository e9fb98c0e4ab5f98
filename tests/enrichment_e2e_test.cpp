// End to end: `proctrack replay` of Sysmon events (flat JSON lines) whose
// Images are Windows paths of the PE corpus, mapped with enrich.path-map;
// `get` shows VersionInformation and the filled OriginalFilename, a missing
// exe counts as EnrichFailed, and the output is the same on every run.
#include <boost/test/unit_test.hpp>

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>
#include <vector>

BOOST_AUTO_TEST_SUITE(enrichment_e2e_test)

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string data_dir() {
  if (const char *d = std::getenv("PROCTRACK_DATA"); d && *d)
    return d;
  if (const char *s = std::getenv("PROCTRACK_SOURCE"); s && *s)
    return std::string(s) + "/../shared/data";
  return "../shared/data";
}

std::string bin() {
  const char *b = std::getenv("PROCTRACK_BIN");
  BOOST_REQUIRE_MESSAGE(b && *b, "PROCTRACK_BIN is not set");
  return b;
}

std::string quote(const std::string &s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

struct run_result {
  int status = -1;
  std::string out;
};

run_result run(const std::vector<std::string> &args) {
  std::string cmd = quote(bin());
  for (auto &a : args)
    cmd += " " + quote(a);
  cmd += " 2>/dev/null";
  run_result r;
  FILE *p = ::popen(cmd.c_str(), "r");
  BOOST_REQUIRE(p);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    r.out.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// One Sysmon process-create event in the flat (OTRF / winlogbeat) form.
json create(int pid, int ppid, const std::string &image,
            const std::string &original, const std::string &time) {
  auto guid = [](int p) {
    char b[64];
    std::snprintf(b, sizeof b, "{e2c04bb9-0000-0000-0000-%012d}", p);
    return std::string{b};
  };
  return {{"SourceName", "Microsoft-Windows-Sysmon"},
          {"Channel", "Microsoft-Windows-Sysmon/Operational"},
          {"Hostname", "WORKSTATION5"},
          {"EventID", 1},
          {"UtcTime", time},
          {"ProcessGuid", guid(pid)},
          {"ProcessId", std::to_string(pid)},
          {"Image", image},
          {"OriginalFileName", original},
          {"CommandLine", image},
          {"CurrentDirectory", "C:\\Users\\x\\"},
          {"User", "WORKSTATION5\\x"},
          {"ParentProcessGuid", guid(ppid)},
          {"ParentProcessId", std::to_string(ppid)},
          {"ParentImage", "C:\\Windows\\explorer.exe"},
          {"ParentCommandLine", "explorer.exe"}};
}

struct fixture {
  fs::path dir = fs::temp_directory_path()
                 / ("proctrack-e2e-" + std::to_string(::getpid()));
  fs::path events = dir / "sysmon.jsonl";
  std::string map =
      "--enrich.path-map=[\"C:/Fixtures/=" + data_dir() + "/pe/bin/\"]";

  fixture() {
    fs::create_directories(dir);
    std::ofstream out{events};
    // 100: a fixture whose OriginalFilename Sysmon left as "-".
    out << create(100, 4, "C:\\Fixtures\\basic64.exe", "-",
                  "2021-06-12 01:07:15.633")
        << "\n";
    // 101: Sysmon's own OriginalFilename is kept.
    out << create(101, 100, "C:\\Fixtures\\unicode.exe", "sysmon-said.exe",
                  "2021-06-12 01:07:16.000")
        << "\n";
    // 102: the same file as 100 (one read), lower-case drive letter.
    out << create(102, 100, "c:\\Fixtures\\basic64.exe", "-",
                  "2021-06-12 01:07:17.000")
        << "\n";
    // 103: missing on the mounted image.
    out << create(103, 100, "C:\\Fixtures\\no-such-file.exe", "-",
                  "2021-06-12 01:07:18.000")
        << "\n";
    // 104: no path-map entry for D:.
    out << create(104, 100, "D:\\tools\\x.exe", "-", "2021-06-12 01:07:19.000")
        << "\n";
    // 105..120: more of the corpus, to keep several workers busy.
    const char *more[] = {
        "basic32.exe",       "multilang.exe",      "multires_id.exe",
        "multires_lang.exe", "rawbadsig.exe",      "rawbytelen.exe",
        "rawnofixed.exe",    "rawshorttables.exe", "rawvarfirst.exe",
        "longvals.exe",      "fixture64.dll",      "fixture32.dll",
        "noversion64.exe",   "nostrings.exe",      "emptyvals.exe",
        "unicode32.exe"};
    int pid = 105;
    for (auto f : more)
      out << create(pid++, 100, std::string{"C:\\Fixtures\\"} + f, "-",
                    "2021-06-12 01:08:00.000")
          << "\n";
  }

  ~fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  std::vector<std::string> args(std::vector<std::string> extra) {
    std::vector<std::string> a{"replay", events.string(),
                               "--format=sysmon-json"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  }

  // Query results by query text.
  static std::vector<json> lines(const std::string &out) {
    std::vector<json> v;
    std::size_t pos = 0;
    while (pos < out.size()) {
      auto nl = out.find('\n', pos);
      if (nl == std::string::npos)
        nl = out.size();
      if (nl > pos)
        v.push_back(json::parse(out.substr(pos, nl - pos)));
      pos = nl + 1;
    }
    return v;
  }
};

std::vector<std::string> queries() {
  std::vector<std::string> q;
  for (int pid = 100; pid <= 120; ++pid)
    q.push_back("--query=get:" + std::to_string(pid));
  q.push_back("--query=stats");
  return q;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(e2e, fixture)

BOOST_AUTO_TEST_CASE(replay_shows_version_information) {
  auto extra = queries();
  extra.push_back("--tracker.add-enrichments=true");
  extra.push_back(map);
  extra.push_back("--enrich.workers=4");
  auto r = run(args(extra));
  BOOST_REQUIRE_EQUAL(r.status, 0);
  auto v = lines(r.out);
  BOOST_REQUIRE_EQUAL(v.size(), 22u);
  auto data = [&](int pid) {
    auto &row = v[static_cast<std::size_t>(pid - 100)];
    BOOST_REQUIRE_EQUAL(row["query"], "get:" + std::to_string(pid));
    return row["result"]["Data"];
  };
  auto d100 = data(100);
  BOOST_CHECK_EQUAL(d100["Exe"], "C:\\Fixtures\\basic64.exe");
  BOOST_CHECK_EQUAL(d100["VersionInformation"]["CompanyName"],
                    "Example Fixtures Ltd");
  BOOST_CHECK_EQUAL(d100["VersionInformation"]["OriginalFilename"],
                    "basic64.exe");
  BOOST_CHECK_EQUAL(d100["OriginalFilename"], "basic64.exe");
  auto d101 = data(101);
  BOOST_CHECK_EQUAL(d101["VersionInformation"]["CompanyName"],
                    "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale \u00a9");
  BOOST_CHECK_EQUAL(d101["OriginalFilename"], "sysmon-said.exe");
  auto d102 = data(102);
  BOOST_CHECK_EQUAL(d102["VersionInformation"], d100["VersionInformation"]);
  BOOST_CHECK_EQUAL(d102["OriginalFilename"], "basic64.exe");
  auto d103 = data(103);
  BOOST_CHECK(!d103.contains("VersionInformation"));
  BOOST_CHECK_EQUAL(d103["OriginalFilename"], "-");
  auto d104 = data(104);
  BOOST_CHECK(!d104.contains("VersionInformation"));
  BOOST_CHECK_EQUAL(d104["OriginalFilename"], "-");
  BOOST_CHECK_EQUAL(data(105)["OriginalFilename"], "basic32.exe");
  BOOST_CHECK(!data(117).contains("VersionInformation")); // noversion64.exe
  auto &stats = v.back();
  BOOST_REQUIRE_EQUAL(stats["query"], "stats");
  // 21 distinct Image strings (basic64.exe under two spellings: the cache
  // asks per path, the enricher reads the file once); failed: no-such-file,
  // D:, noversion64.exe.
  BOOST_CHECK_EQUAL(stats["result"]["EnrichRequests"], 21);
  BOOST_CHECK_EQUAL(stats["result"]["EnrichFailed"], 3);
  BOOST_CHECK_EQUAL(stats["result"]["EnrichDone"], 18);
}

// The answers and counters, with the enricher's EnrichCacheHits and
// EnrichCoalesced replaced by their sum: whether the second request for
// basic64.exe finds the file's read finished (a cache hit) or still running
// (coalesced with it) depends on the workers' timing; that it is answered
// without a second read does not.
std::string without_timing(const std::string &out) {
  std::string text;
  for (auto j : fixture::lines(out)) {
    if (j.value("query", "") == "stats") {
      auto &r = j["result"];
      r["EnrichCacheHitsOrCoalesced"] =
          r.value("EnrichCacheHits", 0) + r.value("EnrichCoalesced", 0);
      r.erase("EnrichCacheHits");
      r.erase("EnrichCoalesced");
    }
    text += j.dump() + "\n";
  }
  return text;
}

BOOST_AUTO_TEST_CASE(output_is_the_same_on_every_run) {
  auto extra = queries();
  extra.push_back("--tracker.add-enrichments");
  extra.push_back(map);
  extra.push_back("--enrich.workers=8");
  auto first = run(args(extra));
  BOOST_REQUIRE_EQUAL(first.status, 0);
  BOOST_CHECK_NE(first.out.find("VersionInformation"), std::string::npos);
  BOOST_CHECK_NE(first.out.find("\"EnrichFilesRead\""), std::string::npos);
  for (int i = 0; i < 2; ++i) {
    auto again = run(args(extra));
    BOOST_CHECK_EQUAL(again.status, 0);
    BOOST_CHECK(without_timing(again.out) == without_timing(first.out));
  }
}

BOOST_AUTO_TEST_CASE(bare_path_map_string_works_too) {
  auto r =
      run(args({"--tracker.add-enrichments=true",
                "--enrich.path-map=C:/Fixtures/=" + data_dir() + "/pe/bin/",
                "--query=get:100"}));
  BOOST_REQUIRE_EQUAL(r.status, 0);
  auto v = lines(r.out);
  BOOST_REQUIRE_EQUAL(v.size(), 1u);
  BOOST_CHECK_EQUAL(v[0]["result"]["Data"]["OriginalFilename"], "basic64.exe");
}

// Processes a pslist sync brings in get their version information too, and
// a later sync's fresh data (which carries none) does not take it away.
BOOST_AUTO_TEST_CASE(syncs_enrich_listed_processes_and_keep_it) {
  auto rows = dir / "updates.jsonl";
  {
    auto proc = [](int pid, const char *exe) {
      return json{{"id", pid},
                  {"parent_id", 4},
                  {"start_time", "2021-06-12T01:00:00Z"},
                  {"data", {{"Name", "p"}, {"Exe", exe}}}};
    };
    json start = proc(300, "C:\\Fixtures\\basic64.exe");
    start["update_type"] = "start";
    json sync1{{"update_type", "sync"},
               {"time", "2021-06-12T01:00:10Z"},
               {"processes",
                {proc(300, "C:\\Fixtures\\basic64.exe"),
                 proc(301, "C:\\Fixtures\\unicode.exe")}}};
    json sync2 = sync1;
    sync2["time"] = "2021-06-12T01:01:10Z";
    std::ofstream out{rows};
    out << start.dump() << "\n" << sync1.dump() << "\n" << sync2.dump() << "\n";
  }
  auto r = run({"replay", rows.string(), "--format=updates",
                "--tracker.add-enrichments=true", map, "--ingest.batch-size=1",
                "--query=get:300", "--query=get:301"});
  BOOST_REQUIRE_EQUAL(r.status, 0);
  auto v = lines(r.out);
  BOOST_REQUIRE_EQUAL(v.size(), 2u);
  auto d300 = v[0]["result"]["Data"], d301 = v[1]["result"]["Data"];
  BOOST_CHECK_EQUAL(d300["VersionInformation"]["OriginalFilename"],
                    "basic64.exe");
  BOOST_CHECK_EQUAL(d301["VersionInformation"]["CompanyName"],
                    "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale \u00a9");
  BOOST_CHECK_EQUAL(v[1]["result"]["LastSyncTime"], "2021-06-12T01:01:10Z");
}

BOOST_AUTO_TEST_CASE(without_enrichments_nothing_is_added) {
  auto r = run(args({map, "--query=get:100", "--query=stats"}));
  BOOST_REQUIRE_EQUAL(r.status, 0);
  auto v = lines(r.out);
  BOOST_REQUIRE_EQUAL(v.size(), 2u);
  BOOST_CHECK(!v[0]["result"]["Data"].contains("VersionInformation"));
  BOOST_CHECK_EQUAL(v[0]["result"]["Data"]["OriginalFilename"], "-");
  BOOST_CHECK_EQUAL(v[1]["result"]["EnrichRequests"], 0);
}

BOOST_AUTO_TEST_CASE(a_bad_path_map_is_a_usage_error) {
  auto r = run(args({"--tracker.add-enrichments", "--enrich.path-map==/x",
                     "--query=get:100"}));
  BOOST_CHECK_EQUAL(r.status, 2);
  BOOST_CHECK(r.out.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END() // enrichment_e2e_test
