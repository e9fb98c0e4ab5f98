// path_map, and the enricher actor with real threads: corpus files, errors,
// the result cache, coalescing of concurrent requests and the worker pool.
#include <boost/test/unit_test.hpp>

#include "actors/enricher/enricher.hpp"
#include "actors/enricher/path_map.hpp"
#include "messages/actors.hpp"

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <stdexcept>
#include <thread>

BOOST_AUTO_TEST_SUITE(enricher_test)

using namespace proctrack;
namespace fs = std::filesystem;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

std::string data_dir() {
  if (const char *d = std::getenv("PROCTRACK_DATA"); d && *d)
    return d;
  if (const char *s = std::getenv("PROCTRACK_SOURCE"); s && *s)
    return std::string(s) + "/../shared/data";
  return "../shared/data";
}

path_map make_map(std::vector<std::string> entries) {
  std::string error;
  auto m = path_map::parse(entries, error);
  BOOST_REQUIRE_MESSAGE(m, error);
  return *m;
}

struct test_config : caf::actor_system_config {
  test_config() {
    proctrack::add_message_types(*this);
    set("logger.verbosity", caf::atom("quiet"));
  }
};

struct fixture {
  test_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  std::vector<enricher_actor> spawned;

  ~fixture() {
    for (auto &e : spawned)
      self->send_exit(e, caf::exit_reason::user_shutdown);
  }

  enricher_actor spawn(enricher_config c) {
    auto e = spawn_enricher(sys, c);
    if (!e)
      BOOST_FAIL("spawn_enricher: " << sys.render(e.error()));
    spawned.push_back(*e);
    return *e;
  }

  enrichment ask(const enricher_actor &e, const std::string &path) {
    enrichment out;
    bool got = false;
    self->request(e, 30s, atom::enrich_v, path)
        .receive(
            [&](enrichment &r) {
              out = std::move(r);
              got = true;
            },
            [&](caf::error &err) {
              BOOST_FAIL("enrich " << path << ": " << sys.render(err));
            });
    BOOST_REQUIRE(got);
    return out;
  }

  std::map<std::string, std::int64_t> stats(const enricher_actor &e) {
    std::map<std::string, std::int64_t> out;
    self->request(e, 30s, atom::stats_v)
        .receive(
            [&](stats_report &r) {
              BOOST_CHECK_EQUAL(r.source, "proctrack.enricher");
              for (auto &c : r.counters)
                out[c.name] = c.value;
            },
            [&](caf::error &err) { BOOST_FAIL(sys.render(err)); });
    return out;
  }
};

// A reader that blocks on a gate and counts its calls.
struct gated_reader {
  std::promise<void> open;
  std::shared_future<void> gate = open.get_future().share();
  std::shared_ptr<std::atomic<int>> calls =
      std::make_shared<std::atomic<int>>(0);

  pe_reader_fn fn(std::string blocked_substring = {}) {
    auto g = gate;
    auto c = calls;
    return [g, c, blocked_substring](const std::string &p) {
      ++*c;
      if (blocked_substring.empty()
          || p.find(blocked_substring) != std::string::npos)
        g.wait();
      return pe::read_file(p);
    };
  }
};

} // namespace

// -- path_map ----------------------------------------------------------------

BOOST_AUTO_TEST_SUITE(path_map_tests)

BOOST_AUTO_TEST_CASE(maps_drive_prefix_with_backslashes) {
  auto m = make_map({"C:/=/mnt/evidence/c/"});
  BOOST_CHECK_EQUAL(*m.map("C:\\Windows\\System32\\cmd.exe"),
                    "/mnt/evidence/c/Windows/System32/cmd.exe");
  BOOST_CHECK_EQUAL(*m.map("C:/Windows/System32/cmd.exe"),
                    "/mnt/evidence/c/Windows/System32/cmd.exe");
}

BOOST_AUTO_TEST_CASE(drive_letter_is_case_insensitive) {
  auto m = make_map({"C:/=/mnt/c/"});
  BOOST_CHECK_EQUAL(*m.map("c:\\x.exe"), "/mnt/c/x.exe");
  auto lower = make_map({"c:\\=/mnt/c"});
  BOOST_CHECK_EQUAL(*lower.map("C:\\x.exe"), "/mnt/c/x.exe");
}

BOOST_AUTO_TEST_CASE(longest_prefix_wins) {
  auto m = make_map({"C:/=/mnt/c/", "C:/Program Files/=/mnt/pf/",
                     "C:/Program Files/Foo/=/mnt/foo"});
  BOOST_CHECK_EQUAL(*m.map("C:\\Program Files\\Foo\\a.exe"), "/mnt/foo/a.exe");
  BOOST_CHECK_EQUAL(*m.map("C:\\Program Files\\Bar\\b.exe"),
                    "/mnt/pf/Bar/b.exe");
  BOOST_CHECK_EQUAL(*m.map("C:\\Windows\\c.exe"), "/mnt/c/Windows/c.exe");
}

BOOST_AUTO_TEST_CASE(prefix_matches_at_path_boundary_only) {
  auto m = make_map({"C:/Win=/mnt/win"});
  BOOST_CHECK(!m.map("C:\\Windows\\x.exe"));
  BOOST_CHECK_EQUAL(*m.map("C:\\Win\\x.exe"), "/mnt/win/x.exe");
  auto d = make_map({"D:=/mnt/d"});
  BOOST_CHECK_EQUAL(*d.map("D:\\x.exe"), "/mnt/d/x.exe");
}

BOOST_AUTO_TEST_CASE(joins_with_one_slash) {
  auto m = make_map({"C:/=/mnt/c"});
  BOOST_CHECK_EQUAL(*m.map("C:\\x.exe"), "/mnt/c/x.exe");
  auto n = make_map({"C:=/mnt/c/"});
  BOOST_CHECK_EQUAL(*n.map("C:\\x.exe"), "/mnt/c/x.exe");
}

BOOST_AUTO_TEST_CASE(nt_prefixes_are_dropped) {
  auto m = make_map({"C:/=/mnt/c/"});
  BOOST_CHECK_EQUAL(*m.map("\\\\?\\C:\\x.exe"), "/mnt/c/x.exe");
  BOOST_CHECK_EQUAL(*m.map("\\??\\C:\\x.exe"), "/mnt/c/x.exe");
}

BOOST_AUTO_TEST_CASE(unmapped_paths) {
  auto m = make_map({"C:/=/mnt/c/"});
  BOOST_CHECK(!m.map("D:\\x.exe"));
  BOOST_CHECK(!m.map("x.exe"));
  BOOST_CHECK(!m.map(""));
  BOOST_CHECK_EQUAL(*m.map("/usr/bin/ls"), "/usr/bin/ls");
  path_map none;
  BOOST_CHECK(!none.map("C:\\Windows\\x.exe"));
  BOOST_CHECK_EQUAL(*none.map("/bin/sh"), "/bin/sh");
}

BOOST_AUTO_TEST_CASE(refuses_to_leave_the_mount) {
  auto m = make_map({"C:/=/mnt/c/"});
  BOOST_CHECK(!m.map("C:\\Windows\\..\\..\\etc\\passwd"));
  BOOST_CHECK_EQUAL(*m.map("C:\\a..b\\x.exe"), "/mnt/c/a..b/x.exe");
}

BOOST_AUTO_TEST_CASE(bad_entries) {
  std::string error;
  BOOST_CHECK(!path_map::parse({"C:/"}, error));
  BOOST_CHECK_NE(error.find("PREFIX=MOUNTPOINT"), std::string::npos);
  BOOST_CHECK(!path_map::parse({"=/mnt"}, error));
  BOOST_CHECK(!path_map::parse({"C:/="}, error));
  BOOST_CHECK(path_map::parse({}, error));
}

BOOST_AUTO_TEST_SUITE_END()

// -- the actor ---------------------------------------------------------------

BOOST_FIXTURE_TEST_SUITE(enricher_actor_tests, fixture)

BOOST_AUTO_TEST_CASE(config_is_validated) {
  enricher_config c;
  BOOST_CHECK(c.validate().empty());
  c.workers = 0;
  BOOST_CHECK_NE(c.validate().find("enrich.workers"), std::string::npos);
  BOOST_CHECK(!spawn_enricher(sys, c));
  c.workers = 2;
  c.path_map = {"C:/"};
  BOOST_CHECK_NE(c.validate().find("enrich.path-map"), std::string::npos);
  BOOST_CHECK(!spawn_enricher(sys, c));
}

BOOST_AUTO_TEST_CASE(corpus_files_give_their_reference_strings) {
  auto e = spawn({4, {"C:/Corpus/=" + data_dir() + "/pe/"}});
  std::ifstream in{data_dir() + "/pe/reference.json"};
  BOOST_REQUIRE(in);
  auto ref = json::parse(in);
  // (file, expected strings; null when the file has no version resource)
  std::vector<std::pair<std::string, json>> cases;
  for (auto &r : ref) {
    auto file = r["file"].get<std::string>();
    if (file.rfind("malformed/", 0) == 0)
      continue;
    bool has_version = r.value("version_resources", 0) > 0;
    cases.emplace_back(file, has_version ? r["expected"]["strings"] : json{});
  }
  BOOST_REQUIRE_GT(cases.size(), 50u);
  // All requests at once: the pool reads them concurrently.
  using handle = decltype(self->request(e, 60s, atom::enrich_v, std::string{}));
  std::vector<handle> handles;
  for (auto &c : cases) {
    std::string win = "C:\\Corpus\\" + c.first;
    std::replace(win.begin(), win.end(), '/', '\\');
    handles.push_back(self->request(e, 60s, atom::enrich_v, win));
  }
  std::map<std::string, enrichment> got;
  for (std::size_t i = 0; i < cases.size(); ++i)
    handles[i].receive(
        [&](enrichment &r) { got[cases[i].first] = std::move(r); },
        [&](caf::error &err) { BOOST_FAIL(sys.render(err)); });
  std::size_t with_strings = 0;
  for (auto &[file, expected] : cases) {
    BOOST_TEST_CONTEXT(file) {
      auto &r = got[file];
      BOOST_CHECK_EQUAL(r.path.find("C:\\Corpus\\"), 0u);
      auto &strings = expected;
      if (strings.is_object()) {
        BOOST_REQUIRE_MESSAGE(r.ok, r.error);
        ++with_strings;
        auto vi = json::parse(r.version_info_json);
        BOOST_CHECK(vi == strings);
        if (strings.contains("CompanyName"))
          BOOST_CHECK_EQUAL(vi["CompanyName"].get<std::string>(),
                            strings["CompanyName"].get<std::string>());
        BOOST_CHECK_EQUAL(r.original_filename,
                          strings.value("OriginalFilename", std::string{}));
      } else {
        BOOST_CHECK(!r.ok);
        BOOST_CHECK(!r.error.empty());
      }
    }
  }
  BOOST_CHECK_GT(with_strings, 40u);
  auto s = stats(e);
  BOOST_CHECK_EQUAL(s["EnricherRequests"],
                    static_cast<std::int64_t>(cases.size()));
  BOOST_CHECK_EQUAL(s["EnrichFilesRead"],
                    static_cast<std::int64_t>(cases.size()));
}

BOOST_AUTO_TEST_CASE(basic64_company_and_original_filename) {
  auto e = spawn({1, {"C:/Fixtures/=" + data_dir() + "/pe/bin/"}});
  auto r = ask(e, "C:\\Fixtures\\basic64.exe");
  BOOST_REQUIRE_MESSAGE(r.ok, r.error);
  BOOST_CHECK_EQUAL(r.path, "C:\\Fixtures\\basic64.exe");
  BOOST_CHECK_EQUAL(r.original_filename, "basic64.exe");
  BOOST_CHECK(r.error.empty());
  auto vi = json::parse(r.version_info_json);
  BOOST_CHECK_EQUAL(vi["CompanyName"].get<std::string>(),
                    "Example Fixtures Ltd");
}

// Issue 15: the resource directory RVA of this file lies in a section's
// zero-filled virtual tail; the spoofed strings in the file bytes after it
// are not what the loaded image holds.
BOOST_AUTO_TEST_CASE(virtual_tail_spoof_gives_no_version_info) {
  auto e = spawn({1, {"C:/Cases/=" + data_dir() + "/../cases/pe/"}});
  auto r = ask(e, "C:\\Cases\\pe_rva_virtual_tail_spoof.exe");
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_EQUAL(r.error.rfind("no_version_info: ", 0), 0u);
  BOOST_CHECK(r.version_info_json.empty());
  BOOST_CHECK(r.original_filename.empty());
  auto s = stats(e);
  BOOST_CHECK_EQUAL(s["EnrichErrors"], 1);
  BOOST_CHECK_EQUAL(s["EnrichErrorsNoVersionInfo"], 1);
  BOOST_CHECK_EQUAL(s["EnrichOk"], 0);
}

BOOST_AUTO_TEST_CASE(missing_unmapped_and_malformed_files_fail_cleanly) {
  auto pe = data_dir() + "/pe/";
  auto e = spawn({2, {"C:/Fixtures/=" + pe}});
  auto missing = ask(e, "C:\\Fixtures\\bin\\no-such-file.exe");
  BOOST_CHECK(!missing.ok);
  BOOST_CHECK_EQUAL(missing.error.rfind("not_found: ", 0), 0u);
  BOOST_CHECK(missing.version_info_json.empty());
  auto unmapped = ask(e, "D:\\x.exe");
  BOOST_CHECK(!unmapped.ok);
  BOOST_CHECK_EQUAL(unmapped.error.rfind("unmapped: ", 0), 0u);
  auto notpe = ask(e, "C:\\Fixtures\\malformed\\bad_pe_signature.exe");
  BOOST_CHECK(!notpe.ok);
  BOOST_CHECK_EQUAL(notpe.error.rfind("not_pe: ", 0), 0u);
  auto dir = ask(e, "C:\\Fixtures\\bin");
  BOOST_CHECK(!dir.ok);
  BOOST_CHECK_EQUAL(dir.error.rfind("io_error: ", 0), 0u);
  auto nover = ask(e, "C:\\Fixtures\\bin\\noversion64.exe");
  BOOST_CHECK(!nover.ok);
  BOOST_CHECK_EQUAL(nover.error.rfind("no_version_info: ", 0), 0u);
  // Every malformed file: not_pe ones fail, damaged ones fail or give data.
  std::ifstream in{pe + "malformed/manifest.json"};
  BOOST_REQUIRE(in);
  std::int64_t n = 0;
  for (auto &m : json::parse(in)) {
    auto file = m["file"].get<std::string>();
    BOOST_TEST_CONTEXT(file) {
      auto r = ask(e, "C:/Fixtures/" + file);
      ++n;
      if (m["expect"] == "not_pe") {
        BOOST_CHECK(!r.ok);
        BOOST_CHECK(!r.error.empty());
      } else if (r.ok) {
        BOOST_CHECK(json::parse(r.version_info_json).is_object());
        BOOST_CHECK(!json::parse(r.version_info_json).empty());
      } else {
        BOOST_CHECK(!r.error.empty());
      }
    }
  }
  auto s = stats(e);
  BOOST_CHECK_EQUAL(s["EnricherRequests"], n + 5);
  BOOST_CHECK_EQUAL(s["EnrichOk"] + s["EnrichErrors"], n + 5);
  BOOST_CHECK_GE(s["EnrichErrorsNotFound"], 1);
  BOOST_CHECK_EQUAL(s["EnrichErrorsUnmapped"], 1);
  BOOST_CHECK_GE(s["EnrichErrorsNotPe"], 10);
  BOOST_CHECK_EQUAL(s["EnrichErrorsNoVersionInfo"], 1);
  BOOST_CHECK_EQUAL(s["EnrichErrorsIoError"], 1);
  // rsrc_data_huge_size.exe is damaged but all its strings are read.
  BOOST_CHECK_GE(s["EnrichPartial"], 1);
}

BOOST_AUTO_TEST_CASE(results_are_cached_per_path_size_and_mtime) {
  auto tmp = fs::temp_directory_path()
             / ("proctrack-enricher-" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  // The corpus is read-only and copy_file copies that: on Windows a
  // read-only file can be neither overwritten nor removed.
  auto writable = [&] {
    fs::permissions(tmp / "a.exe", fs::perms::owner_write,
                    fs::perm_options::add);
  };
  fs::copy_file(data_dir() + "/pe/bin/basic64.exe", tmp / "a.exe",
                fs::copy_options::overwrite_existing);
  writable();
  auto e = spawn({2, {"C:/T/=" + tmp.string()}});
  BOOST_CHECK(ask(e, "C:\\T\\a.exe").ok);
  BOOST_CHECK(ask(e, "c:/t/a.exe").ok); // same local file: a cache hit
  auto s = stats(e);
  BOOST_CHECK_EQUAL(s["EnrichFilesRead"], 1);
  BOOST_CHECK_EQUAL(s["EnrichCacheHits"], 1);
  // A changed file (other size and mtime) is read again.
  fs::copy_file(data_dir() + "/pe/bin/unicode.exe", tmp / "a.exe",
                fs::copy_options::overwrite_existing);
  writable();
  fs::last_write_time(tmp / "a.exe", fs::last_write_time(tmp / "a.exe") + 10s);
  auto r = ask(e, "C:\\T\\a.exe");
  BOOST_REQUIRE(r.ok);
  BOOST_CHECK_EQUAL(r.original_filename, "unicode.exe");
  s = stats(e);
  BOOST_CHECK_EQUAL(s["EnrichFilesRead"], 2);
  fs::remove_all(tmp);
}

BOOST_AUTO_TEST_CASE(cache_is_bounded) {
  auto bin = data_dir() + "/pe/bin/";
  enricher_config c{1, {}, 2};
  auto e = spawn(c);
  for (auto f : {"basic64.exe", "basic32.exe", "unicode.exe", "basic64.exe"})
    BOOST_CHECK(ask(e, bin + f).ok);
  auto s = stats(e);
  BOOST_CHECK_EQUAL(s["EnrichCacheSize"], 2);
  BOOST_CHECK_EQUAL(s["EnrichCacheEvictions"], 2);
  BOOST_CHECK_EQUAL(s["EnrichFilesRead"], 4); // basic64 was evicted (LRU)
  BOOST_CHECK(ask(e, bin + "unicode.exe").ok);
  BOOST_CHECK_EQUAL(stats(e)["EnrichCacheHits"], 1);
}

BOOST_AUTO_TEST_CASE(concurrent_requests_for_one_file_share_one_read) {
  gated_reader g;
  enricher_config c{2, {"C:/F/=" + data_dir() + "/pe/bin/"}};
  c.reader = g.fn();
  auto e = spawn(c);
  auto h1 =
      self->request(e, 30s, atom::enrich_v, std::string{"C:\\F\\basic64.exe"});
  auto h2 =
      self->request(e, 30s, atom::enrich_v, std::string{"c:/f/basic64.exe"});
  // The stats answer comes after both requests were handled (one mailbox).
  auto s = stats(e);
  BOOST_CHECK_EQUAL(s["EnricherRequests"], 2);
  BOOST_CHECK_EQUAL(s["EnrichCoalesced"], 1);
  g.open.set_value();
  std::vector<enrichment> got;
  for (auto *h : {&h1, &h2})
    h->receive([&](enrichment &r) { got.push_back(std::move(r)); },
               [&](caf::error &err) { BOOST_FAIL(sys.render(err)); });
  BOOST_REQUIRE_EQUAL(got.size(), 2u);
  BOOST_CHECK(got[0].ok && got[1].ok);
  BOOST_CHECK_EQUAL(got[0].path, "C:\\F\\basic64.exe");
  BOOST_CHECK_EQUAL(got[1].path, "c:/f/basic64.exe");
  BOOST_CHECK_EQUAL(got[0].version_info_json, got[1].version_info_json);
  BOOST_CHECK_EQUAL(g.calls->load(), 1);
  BOOST_CHECK_EQUAL(stats(e)["EnrichFilesRead"], 1);
}

BOOST_AUTO_TEST_CASE(a_slow_file_does_not_delay_others) {
  gated_reader g;
  enricher_config c{2, {"C:/F/=" + data_dir() + "/pe/bin/"}};
  c.reader = g.fn("basic32");
  auto e = spawn(c);
  auto slow =
      self->request(e, 60s, atom::enrich_v, std::string{"C:\\F\\basic32.exe"});
  // Answered while basic32.exe still holds the other worker.
  for (auto f : {"basic64.exe", "unicode.exe", "multilang.exe"})
    BOOST_CHECK(ask(e, std::string{"C:\\F\\"} + f).ok);
  g.open.set_value();
  bool ok = false;
  slow.receive([&](enrichment &r) { ok = r.ok; },
               [&](caf::error &err) { BOOST_FAIL(sys.render(err)); });
  BOOST_CHECK(ok);
}

BOOST_AUTO_TEST_CASE(a_failing_reader_is_an_error_not_a_crash) {
  enricher_config c{1, {}};
  c.reader = [](const std::string &) -> pe::result {
    throw std::runtime_error("boom");
  };
  auto e = spawn(c);
  auto bin = data_dir() + "/pe/bin/";
  auto r = ask(e, bin + "basic64.exe");
  BOOST_CHECK(!r.ok);
  BOOST_CHECK_NE(r.error.find("boom"), std::string::npos);
  // Not remembered: asked again, read again; the worker still serves.
  BOOST_CHECK(!ask(e, bin + "basic64.exe").ok);
  auto s = stats(e);
  BOOST_CHECK_EQUAL(s["EnrichFilesRead"], 2);
  BOOST_CHECK_EQUAL(s["EnrichErrorsWorkerFailed"], 2);
}

BOOST_AUTO_TEST_CASE(enrichment_serializes) {
  enrichment x{"C:\\a.exe", true, "{\"A\":\"b\"}", "a.exe", ""};
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  BOOST_REQUIRE(!sink(x));
  enrichment y;
  caf::binary_deserializer source{sys, buf};
  BOOST_REQUIRE(!source(y));
  BOOST_CHECK_EQUAL(y.path, x.path);
  BOOST_CHECK_EQUAL(y.ok, x.ok);
  BOOST_CHECK_EQUAL(y.version_info_json, x.version_info_json);
  BOOST_CHECK_EQUAL(y.original_filename, x.original_filename);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE_END() // enricher_test
