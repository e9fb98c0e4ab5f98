// The history store on real SQLite files: writes and reads back, as-of
// answers on a scripted timeline, retention, and damaged files (truncated,
// garbage, someone else's database).
#include <boost/test/unit_test.hpp>

#include "actors/common/defaults.hpp"
#include "actors/common/time.hpp"
#include "actors/history/history.hpp"
#include "actors/history/history_store.hpp"
#include "tests/support/run_binary.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sqlite3.h>
#include <sys/stat.h>

BOOST_AUTO_TEST_SUITE(history_store_test)

using namespace proctrack;
using nlohmann::json;
using proctrack_test::temp_dir;

namespace {

timestamp t(const char *text) {
  return *parse_time(text);
}

history_row row(std::string id, std::string parent, const char *start,
                const char *end = nullptr, std::string name = "x.exe") {
  history_row r;
  r.id = std::move(id);
  r.parent_id = std::move(parent);
  r.start_time = t(start);
  r.end_time = end ? t(end) : unknown_time;
  r.data = "{\"Name\":\"" + name + "\"}";
  return r;
}

std::unique_ptr<history_store> open_rw(const std::string &path,
                                       std::string *recovered = nullptr) {
  std::string error;
  auto s = history_store::open(path, history_store::mode::read_write, error,
                               recovered);
  BOOST_REQUIRE_MESSAGE(s, error);
  return s;
}

json ask(history_store &s, const std::string &verb, const std::string &id,
         timestamp as_of = unknown_time, std::int64_t max = 0) {
  std::string error;
  auto a = s.answer(query{verb, id, max}, as_of, error);
  BOOST_REQUIRE_MESSAGE(a, error);
  return json::parse(*a);
}

std::vector<std::string> ids_of(const json &list) {
  std::vector<std::string> out;
  for (auto &e : list)
    out.push_back(e.at("Id").get<std::string>());
  return out;
}

// A timeline: init (1) starts explorer (100) at 10:00, explorer starts cmd
// (200) at 10:30, cmd starts evil (300) at 10:45, which exits at 10:50;
// at 11:00 pid 300 is reused by calc.
void write_timeline(history_store &s) {
  std::vector<history_row> rows{
      row("1-1609491600", "0-?", "2021-01-01T09:00:00Z", nullptr, "init"),
      row("100-1609495200", "1-1609491600", "2021-01-01T10:00:00Z", nullptr,
          "explorer.exe"),
      row("200-1609497000", "100-1609495200", "2021-01-01T10:30:00Z", nullptr,
          "cmd.exe"),
      row("300-1609497900", "200-1609497000", "2021-01-01T10:45:00Z",
          "2021-01-01T10:50:00Z", "evil.exe"),
      row("300-1609498800", "100-1609495200", "2021-01-01T11:00:00Z", nullptr,
          "calc.exe"),
  };
  rows[3].guid = "{aaaaaaaa-0000-0000-0000-000000000300}";
  std::string error;
  BOOST_REQUIRE_MESSAGE(s.write(rows, 1000, error), error);
}

std::uintmax_t size_of(const std::string &p) {
  return std::filesystem::file_size(p);
}

std::vector<std::string> damaged_copies(const temp_dir &d) {
  std::vector<std::string> out;
  for (auto &e : std::filesystem::directory_iterator(d.path()))
    if (e.path().filename().string().find(".damaged-") != std::string::npos
        && e.path().extension() != ".db-wal")
      out.push_back(e.path().string());
  return out;
}

// `n` processes with Sysmon-like Data: repeated paths and names, random
// hex (command-line arguments, hashes).
std::vector<history_row> sysmon_like_rows(int n) {
  const char *exes[] = {"C:\\\\Windows\\\\System32\\\\cmd.exe",
                        "C:\\\\Windows\\\\explorer.exe",
                        "C:\\\\Windows\\\\System32\\\\svchost.exe"};
  std::vector<history_row> all;
  unsigned long long x = 17;
  auto hex = [&x] {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    char b[17];
    std::snprintf(b, sizeof b, "%016llx", x);
    return std::string{b};
  };
  for (int i = 0; i < n; ++i) {
    history_row r;
    r.id = std::to_string(1000 + i) + "-1609459200";
    r.parent_id = "4-1609459000";
    r.start_time = t("2021-01-01T00:00:00Z") + i;
    std::string exe = exes[i % 3];
    r.data = "{\"Name\":\"n" + std::to_string(i % 3) + "\",\"Exe\":\"" + exe
             + "\",\"CommandLine\":\"" + exe + " /a:" + hex() + " /b:" + hex()
             + "\",\"User\":\"CORP\\\\user" + std::to_string(i % 50)
             + "\",\"Hashes\":\"SHA1=" + hex() + hex()
             + "\",\"Company\":\"Microsoft Corporation\",\"Description\":"
               "\"Windows Command Processor\",\"Product\":\"Microsoft "
               "Windows Operating System\",\"FileVersion\":\"10.0.19041.746\"}";
    all.push_back(std::move(r));
  }
  return all;
}

} // namespace

BOOST_AUTO_TEST_CASE(rows_survive_a_reopen_and_keep_their_first_seen) {
  temp_dir d;
  auto path = (d.path() / "h.db").string();
  {
    auto s = open_rw(path);
    write_timeline(*s);
    // The same process again, later, now ended: last_seen moves, first_seen
    // stays.
    std::string error;
    auto r = row("200-1609497000", "100-1609495200", "2021-01-01T10:30:00Z",
                 "2021-01-01T12:00:00Z", "cmd.exe");
    BOOST_REQUIRE(s->write({r}, 2000, error));
    BOOST_TEST(s->counters().rows_written == 6);
    BOOST_TEST(s->counters().transactions == 2);
  }
  std::string error;
  auto s = history_store::open(path, history_store::mode::read_only, error);
  BOOST_REQUIRE_MESSAGE(s, error);
  BOOST_TEST(s->row_count() == 5);
  auto cmd = s->find("", "200-1609497000");
  BOOST_REQUIRE(cmd);
  BOOST_TEST(cmd->first_seen == 1000);
  BOOST_TEST(cmd->last_seen == 2000);
  BOOST_TEST(cmd->end_time == t("2021-01-01T12:00:00Z"));
  BOOST_TEST(cmd->parent_id == "100-1609495200");
  BOOST_TEST(cmd->data == "{\"Name\":\"cmd.exe\"}");
  // A read-only store refuses writes.
  BOOST_TEST(!s->write({*cmd}, 3000, error));
}

// An exit arrives as a row without Data (history_row::data_kept): the
// store keeps the Data its start wrote, compressed or not; a row it never
// had is written with an empty object, so answers stay JSON.
BOOST_AUTO_TEST_CASE(a_row_that_keeps_its_data_changes_only_the_rest) {
  temp_dir d;
  auto path = (d.path() / "h.db").string();
  auto all = sysmon_like_rows(2500); // past the dictionary's training
  auto s = open_rw(path);
  std::string error;
  BOOST_REQUIRE_MESSAGE(s->write(all, 1000, error), error);
  auto small = row("7-1609459200", "4-1609459000", "2021-01-01T00:00:00Z");
  BOOST_REQUIRE_MESSAGE(s->write({small}, 1000, error), error);
  std::vector<history_row> exits;
  for (auto *r : {&all[0], &all[2400], &small}) {
    history_row x = *r;
    x.data.clear();
    x.data_kept = true;
    x.end_time = x.start_time + 5 * hns_per_second;
    exits.push_back(std::move(x));
  }
  history_row unknown = exits.back();
  unknown.id = "8-1609459200";
  exits.push_back(unknown);
  // A listing that also gives another parent and a GUID (a fork relinked
  // from the reaper): those change too, Data stays.
  history_row relinked = all[10];
  relinked.data.clear();
  relinked.data_kept = true;
  relinked.parent_id = "1010-1609459200";
  relinked.guid = "{11111111-0000-0000-0000-000000000010}";
  relinked.last_sync_time = relinked.start_time + hns_per_second;
  exits.push_back(relinked);
  BOOST_REQUIRE_MESSAGE(s->write(exits, 2000, error), error);
  for (auto *r : {&all[0], &all[2400], &small}) {
    auto got = s->find("", r->id);
    BOOST_REQUIRE(got);
    BOOST_TEST(got->data == r->data);
    BOOST_TEST(got->end_time == r->start_time + 5 * hns_per_second);
    BOOST_TEST(got->first_seen == 1000);
    BOOST_TEST(got->last_seen == 2000);
  }
  auto moved = s->find("", all[10].id);
  BOOST_REQUIRE(moved);
  BOOST_TEST(moved->data == all[10].data);
  BOOST_TEST(moved->parent_id == "1010-1609459200");
  BOOST_TEST(moved->guid == relinked.guid);
  BOOST_TEST(moved->end_time == unknown_time);
  BOOST_TEST(moved->last_sync_time == relinked.last_sync_time);
  BOOST_TEST(moved->last_seen == 2000);
  BOOST_TEST(ids_of(ask(*s, "children", "1010-1609459200"))
             == std::vector<std::string>{all[10].id});
  BOOST_TEST(ask(*s, "get", "{11111111-0000-0000-0000-000000000010}").at("Id")
             == all[10].id);
  auto got = s->find("", "8-1609459200");
  BOOST_REQUIRE(got);
  BOOST_TEST(got->data == "{}");
  auto answer = ask(*s, "get", "8-1609459200");
  BOOST_TEST(answer.at("Data") == json::object());
  BOOST_TEST(answer.at("EndTime") == "2021-01-01T00:00:05Z");
}

// The store holds command lines: whatever the umask, its files are not
// every local user's (created 0600; an older store's bits for others go,
// a group its owner granted stays).
BOOST_AUTO_TEST_CASE(the_store_is_closed_to_other_users) {
  namespace fs = std::filesystem;
  temp_dir d;
  auto path = (d.path() / "h.db").string();
  auto old_mask = ::umask(022);
  {
    auto s = open_rw(path);
    write_timeline(*s);
    for (auto *suffix : {"", "-wal", "-shm"}) {
      auto p = fs::status(path + suffix).permissions();
      BOOST_TEST_CONTEXT(suffix) {
        BOOST_TEST(static_cast<int>(p & fs::perms::mask) == 0600);
      }
    }
  }
  auto older = (d.path() / "older.db").string();
  fs::copy_file(path, older);
  fs::permissions(older, fs::perms::owner_read | fs::perms::owner_write
                             | fs::perms::group_read | fs::perms::others_read);
  { auto s = open_rw(older); }
  ::umask(old_mask);
  auto p = fs::status(older).permissions();
  BOOST_TEST(static_cast<int>(p & fs::perms::mask) == 0640);
}

BOOST_AUTO_TEST_CASE(answers_as_of_a_time) {
  temp_dir d;
  auto s = open_rw((d.path() / "h.db").string());
  write_timeline(*s);
  // Now: everything stored, evil ended.
  BOOST_TEST(ids_of(ask(*s, "pslist", "")).size() == 5u);
  // At 10:47 evil ran, calc did not exist yet.
  auto at1047 = ask(*s, "pslist", "", t("2021-01-01T10:47:00Z"));
  BOOST_TEST(ids_of(at1047)
             == (std::vector<std::string>{"1-1609491600", "100-1609495200",
                                          "200-1609497000", "300-1609497900"}));
  // At 10:50 exactly evil has ended.
  auto at1050 = ask(*s, "pslist", "", t("2021-01-01T10:50:00Z"));
  BOOST_TEST(ids_of(at1050).size() == 3u);
  // Bare pid 300: the newest holder now (calc), evil as of 10:47.
  BOOST_TEST(ask(*s, "get", "300").at("Data").at("Name") == "calc.exe");
  BOOST_TEST(
      ask(*s, "get", "300", t("2021-01-01T10:47:00Z")).at("Data").at("Name")
      == "evil.exe");
  BOOST_TEST(ask(*s, "get", "300", t("2021-01-01T10:47:00Z")).at("EndTime")
             == "2021-01-01T10:50:00Z");
  // By GUID, any case.
  BOOST_TEST(ask(*s, "get", "{AAAAAAAA-0000-0000-0000-000000000300}").at("Id")
             == "300-1609497900");
  // The chain, oldest first.
  BOOST_TEST(ids_of(ask(*s, "callchain", "300-1609497900"))
             == (std::vector<std::string>{"1-1609491600", "100-1609495200",
                                          "200-1609497000", "300-1609497900"}));
  // As of 10:15 cmd had not started: no chain for it.
  BOOST_TEST(ask(*s, "callchain", "200-1609497000", t("2021-01-01T10:15:00Z"))
                 .empty());
  // Explorer's children now and as of 10:45.
  BOOST_TEST(ids_of(ask(*s, "children", "100-1609495200"))
             == (std::vector<std::string>{"200-1609497000", "300-1609498800"}));
  BOOST_TEST(
      ids_of(ask(*s, "children", "100-1609495200", t("2021-01-01T10:45:00Z")))
      == (std::vector<std::string>{"200-1609497000"}));
  BOOST_TEST(ask(*s, "get", "100-1609495200").at("Children").size() == 2u);
  BOOST_TEST(ask(*s, "get", "999").is_null());
  std::string error;
  BOOST_TEST(!s->answer(query{"stats", "", 0}, unknown_time, error));
  BOOST_TEST(error.find("stats") != std::string::npos);
  // Explorer's tree as of 10:45: cmd only, then the whole of it.
  auto then = s->answer(query{"tree", "100-1609495200", 0},
                        t("2021-01-01T10:45:00Z"), error);
  BOOST_REQUIRE(then);
  BOOST_TEST(nlohmann::json::parse(*then)["children"].size() == 1u);
  auto now = s->answer(query{"tree", "100-1609495200", 0}, unknown_time, error);
  BOOST_REQUIRE(now);
  BOOST_TEST(nlohmann::json::parse(*now)["children"].size() == 2u);
}

BOOST_AUTO_TEST_CASE(hosts_are_kept_apart) {
  temp_dir d;
  auto s = open_rw((d.path() / "h.db").string());
  auto a = row("5-1609495200", "4-?", "2021-01-01T10:00:00Z", nullptr, "a");
  auto b = a;
  a.host = "HOSTA";
  b.host = "HOSTB";
  b.data = "{\"Name\":\"b\"}";
  std::string error;
  BOOST_REQUIRE(s->write({a, b}, 1, error));
  BOOST_TEST(s->row_count() == 2);
  BOOST_TEST(ask(*s, "get", "HOSTB/5-1609495200").at("Data").at("Name") == "b");
  BOOST_TEST(ask(*s, "get", "HOSTA/5").at("Host") == "HOSTA");
  BOOST_TEST(ask(*s, "pslist", "HOSTA").size() == 1u);
}

BOOST_AUTO_TEST_CASE(retention_by_age_and_by_bytes) {
  temp_dir d;
  auto path = (d.path() / "h.db").string();
  auto s = open_rw(path);
  // 4000 exited processes written at time 1..4000 s, one running written
  // first, 4 KB of Data each that no compression shrinks much (random
  // characters of a 64-letter alphabet: about 3 KB stored).
  std::uint64_t x = 88172645463325252ull;
  auto noise = [&x] {
    static const char letters[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
    std::string out(4000, ' ');
    for (auto &c : out) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      c = letters[x % 64];
    }
    return out;
  };
  std::vector<history_row> rows;
  auto running = row("1-1", "0-?", "2021-01-01T00:00:00Z", nullptr, noise());
  std::string error;
  BOOST_REQUIRE(s->write({running}, hns_per_second, error));
  for (int i = 0; i < 4000; ++i) {
    auto r = row(std::to_string(i + 2) + "-1", "1-1", "2021-01-01T00:00:00Z",
                 "2021-01-01T01:00:00Z", noise());
    BOOST_REQUIRE(s->write({r}, (i + 1) * hns_per_second, error));
  }
  BOOST_TEST(s->row_count() == 4001);
  // Age: written more than 1000 s before 4000 s -> the first 2999 exited
  // go (written at 1..2999 s); the running one stays whatever its age.
  auto dropped =
      s->retire(0, 1000 * hns_per_second, 4000 * hns_per_second, error);
  BOOST_TEST(dropped == 2999);
  BOOST_TEST(s->row_count() == 1002);
  BOOST_TEST(s->find("", "1-1").has_value());
  BOOST_TEST(!s->find("", "2-1").has_value());
  // Bytes: down to 1 MiB; the oldest exited go first, the running one stays.
  auto before = s->used_bytes();
  BOOST_TEST(before > (std::uint64_t{2} << 20));
  dropped = s->retire(std::uint64_t{1} << 20, 0, 4000 * hns_per_second, error);
  BOOST_TEST(dropped > 0);
  BOOST_TEST(s->used_bytes() <= (std::uint64_t{1} << 20));
  BOOST_TEST(s->find("", "1-1").has_value());
  BOOST_TEST(s->find("", "4001-1").has_value());  // the newest stays
  BOOST_TEST(!s->find("", "3001-1").has_value()); // an old one went
  // The freed pages went back to the file system (after a checkpoint).
  s.reset();
  auto size = size_of(path);
  BOOST_TEST(size <= (std::uintmax_t{3} << 19));
}

BOOST_AUTO_TEST_CASE(a_truncated_file_is_moved_aside_and_replaced) {
  temp_dir d;
  auto path = (d.path() / "h.db").string();
  {
    auto s = open_rw(path);
    std::vector<history_row> rows;
    for (int i = 0; i < 2000; ++i)
      rows.push_back(row(std::to_string(i) + "-1", "0-?",
                         "2021-01-01T00:00:00Z", nullptr,
                         std::string(300, 'a')));
    std::string error;
    BOOST_REQUIRE(s->write(rows, 1, error));
  }
  auto full = size_of(path);
  BOOST_REQUIRE(full > 100000);
  std::filesystem::resize_file(path, full / 2 + 123);
  // Read-only (a query) reports it and leaves the file alone.
  std::string error;
  BOOST_TEST(!history_store::open(path, history_store::mode::read_only, error));
  BOOST_TEST_MESSAGE(error);
  BOOST_TEST(error.find(path) != std::string::npos);
  BOOST_TEST(damaged_copies(d).empty());
  // Read-write (the agent, a replay) keeps it aside and starts anew.
  std::string recovered;
  auto s = open_rw(path, &recovered);
  BOOST_TEST_MESSAGE(recovered);
  BOOST_TEST(recovered.find("damaged") != std::string::npos);
  BOOST_TEST(s->row_count() == 0);
  auto aside = damaged_copies(d);
  BOOST_REQUIRE(aside.size() == 1u);
  BOOST_TEST(size_of(aside[0]) == full / 2 + 123);
  BOOST_TEST(recovered.find(aside[0]) != std::string::npos);
  // The new store works.
  BOOST_REQUIRE(
      s->write({row("7-1", "0-?", "2021-01-01T00:00:00Z")}, 1, error));
  BOOST_TEST(s->row_count() == 1);
}

BOOST_AUTO_TEST_CASE(a_garbage_file_is_moved_aside_and_replaced) {
  temp_dir d;
  std::string garbage;
  for (int i = 0; i < 50000; ++i)
    garbage += static_cast<char>((i * 7919) % 251);
  auto path = d.write("h.db", garbage);
  std::string recovered;
  auto s = open_rw(path, &recovered);
  BOOST_TEST(recovered.find("not a database") != std::string::npos);
  BOOST_TEST(s->row_count() == 0);
  auto aside = damaged_copies(d);
  BOOST_REQUIRE(aside.size() == 1u);
  std::ifstream in{aside[0], std::ios::binary};
  std::string kept((std::istreambuf_iterator<char>(in)), {});
  BOOST_TEST((kept == garbage));
}

BOOST_AUTO_TEST_CASE(a_page_of_garbage_inside_a_store_is_found) {
  temp_dir d;
  auto path = (d.path() / "h.db").string();
  {
    auto s = open_rw(path);
    std::vector<history_row> rows;
    for (int i = 0; i < 3000; ++i)
      rows.push_back(row(std::to_string(i) + "-1", "0-?",
                         "2021-01-01T00:00:00Z", nullptr,
                         std::string(200, 'b')));
    std::string error;
    BOOST_REQUIRE(s->write(rows, 1, error));
  }
  {
    // Overwrite page 5 (bytes 16384..20479) with garbage: a torn write.
    std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(4 * 4096);
    std::string junk(4096, '\xA5');
    f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  {
    // A reader (query --history) does not read every page at open (that
    // costs a second per GB per query). Page 5 holds no row a pslist
    // reads: all 3,000 are answered.
    std::string error;
    auto r = history_store::open(path, history_store::mode::read_only, error);
    BOOST_REQUIRE_MESSAGE(r, error);
    auto a = r->answer(query{"pslist", "", 0}, unknown_time, error);
    BOOST_REQUIRE_MESSAGE(a, error);
    BOOST_TEST(json::parse(*a).size() == 3000u);
  }
  {
    // Garbage in every 4th page from page 12 on, rows among them: the
    // query that meets one fails with the file named, never a list that
    // is silently shorter; the file stays as it is.
    std::string copy = path + ".copy";
    std::filesystem::copy_file(path, copy);
    std::fstream f{copy, std::ios::in | std::ios::out | std::ios::binary};
    std::string junk(4096, '\x5A');
    for (std::uintmax_t page = 11; (page + 1) * 4096 <= size_of(copy);
         page += 4) {
      f.seekp(static_cast<std::streamoff>(page * 4096));
      f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
    f.close();
    std::string error;
    auto r = history_store::open(copy, history_store::mode::read_only, error);
    BOOST_REQUIRE_MESSAGE(r, error);
    auto a = r->answer(query{"pslist", "", 0}, unknown_time, error);
    BOOST_TEST(!a.has_value());
    BOOST_TEST_MESSAGE(error);
    BOOST_TEST(error.find("history store " + copy + ": ") == 0u);
    BOOST_TEST(error.find("malformed") != std::string::npos);
    std::filesystem::remove(copy);
    BOOST_TEST(damaged_copies(d).empty());
  }
  std::string recovered;
  auto s = open_rw(path, &recovered);
  BOOST_TEST_MESSAGE(recovered);
  BOOST_TEST(!recovered.empty());
  BOOST_TEST(s->row_count() == 0);
  BOOST_TEST(damaged_copies(d).size() == 1u);
}

BOOST_AUTO_TEST_CASE(another_programs_database_is_left_alone) {
  temp_dir d;
  auto path = (d.path() / "other.db").string();
  sqlite3 *db = nullptr;
  BOOST_REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  BOOST_REQUIRE(sqlite3_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES(1)",
                             nullptr, nullptr, nullptr)
                == SQLITE_OK);
  sqlite3_close(db);
  auto before = size_of(path);
  std::string error;
  BOOST_TEST(
      !history_store::open(path, history_store::mode::read_write, error));
  BOOST_TEST(error.find("not a proctrack history") != std::string::npos);
  BOOST_TEST(size_of(path) == before);
  BOOST_TEST(damaged_copies(d).empty());
}

// Sysmon-sized Data (as bench/history.sh writes): the store trains its
// dictionary after its first rows and compresses Data with it; every row
// reads back as written, before and after the dictionary, across a reopen.
BOOST_AUTO_TEST_CASE(data_is_compressed_with_the_stores_dictionary) {
  temp_dir d;
  auto path = (d.path() / "h.db").string();
  auto all = sysmon_like_rows(5000);
  {
    auto s = open_rw(path);
    std::string error;
    // In batches as the history writes them: 500 rows before the
    // dictionary exists, the rest after.
    for (std::size_t i = 0; i < all.size(); i += 500) {
      std::vector<history_row> batch(all.begin() + i, all.begin() + i + 500);
      BOOST_REQUIRE_MESSAGE(s->write(batch, 1000 + i, error), error);
    }
    auto &c = s->counters();
    BOOST_TEST(c.rows_written == 5000);
    // The first rows as frames without a dictionary, the rest with it:
    // well under half of the text in all.
    BOOST_TEST(c.stored_bytes * 2 < c.data_bytes,
               c.stored_bytes << " of " << c.data_bytes);
  }
  sqlite3 *db = nullptr;
  BOOST_REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt *st = nullptr;
  sqlite3_prepare_v2(db,
                     "SELECT (SELECT count(*) FROM dictionary), (SELECT "
                     "count(*) FROM process WHERE typeof(data) = 'blob')",
                     -1, &st, nullptr);
  BOOST_REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  BOOST_TEST(sqlite3_column_int(st, 0) == 1);
  BOOST_TEST(sqlite3_column_int(st, 1) == 5000);
  sqlite3_finalize(st);
  sqlite3_close(db);
  std::string error;
  auto s = history_store::open(path, history_store::mode::read_only, error);
  BOOST_REQUIRE_MESSAGE(s, error);
  for (auto i : {0, 1999, 2000, 2500, 4999}) {
    auto r = s->find("", all[static_cast<std::size_t>(i)].id);
    BOOST_REQUIRE(r);
    BOOST_TEST(r->data == all[static_cast<std::size_t>(i)].data);
    BOOST_TEST(json::parse(r->data).at("Company") == "Microsoft Corporation");
  }
}

// The agent's reader connection (mode::reader) opens beside the writer
// before the writer trains its dictionary, and still reads the rows
// compressed with it.
BOOST_AUTO_TEST_CASE(a_reader_beside_the_writer_reads_a_later_dictionary) {
  temp_dir d;
  auto path = (d.path() / "h.db").string();
  auto w = open_rw(path);
  std::string error;
  auto r = history_store::open(path, history_store::mode::reader, error);
  BOOST_REQUIRE_MESSAGE(r, error);
  auto all = sysmon_like_rows(5000);
  for (std::size_t i = 0; i < all.size(); i += 500) {
    std::vector<history_row> batch(all.begin() + i, all.begin() + i + 500);
    BOOST_REQUIRE_MESSAGE(w->write(batch, 1000 + i, error), error);
  }
  for (auto i : {0, 2500, 4999}) {
    auto got = r->find("", all[static_cast<std::size_t>(i)].id);
    BOOST_REQUIRE(got);
    BOOST_TEST(got->data == all[static_cast<std::size_t>(i)].data);
  }
  // Read-only: it refuses to write.
  BOOST_TEST(!r->write({all[0]}, 5, error));
}

// An agent's pslist@T is bounded: more processes than the bound is an
// error saying so, never a list cut short.
BOOST_AUTO_TEST_CASE(a_bounded_pslist_says_when_it_is_over_the_bound) {
  temp_dir d;
  auto s = open_rw((d.path() / "h.db").string());
  write_timeline(*s);
  std::string error;
  // Running at 10:47: init, explorer, cmd, evil.
  auto at = t("2021-01-01T10:47:00Z");
  BOOST_TEST(!s->answer(query{"pslist", "", 0}, at, error, 3));
  BOOST_TEST(error.find("more than 3 processes running at "
                        "2021-01-01T10:47:00Z")
                 != std::string::npos,
             error);
  auto four = s->answer(query{"pslist", "", 0}, at, error, 4);
  BOOST_REQUIRE_MESSAGE(four, error);
  BOOST_TEST(json::parse(*four).size() == 4u);
}

// A store written by the previous version (2: Data as text, no dictionary
// table) is read as it is, and opened read-write becomes a version 3.
BOOST_AUTO_TEST_CASE(a_version_2_store_is_read_and_upgraded) {
  temp_dir d;
  auto path = (d.path() / "v2.db").string();
  sqlite3 *db = nullptr;
  BOOST_REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  BOOST_REQUIRE(
      sqlite3_exec(
          db,
          "PRAGMA application_id=1347703371; PRAGMA user_version=2;"
          "CREATE TABLE process(host TEXT NOT NULL, id TEXT NOT NULL, "
          "parent_id TEXT NOT NULL, guid TEXT NOT NULL, pid TEXT NOT NULL, "
          "start_time INTEGER NOT NULL, end_time INTEGER NOT NULL, "
          "end_estimate INTEGER NOT NULL, last_sync_time INTEGER NOT NULL, "
          "data TEXT NOT NULL, first_seen INTEGER NOT NULL, last_seen "
          "INTEGER NOT NULL, UNIQUE(id, host));"
          "CREATE INDEX process_start ON process(start_time);"
          "INSERT INTO process VALUES('', '7-1609459200', '1-?', '', '7', "
          "16094592000000000, 0, 0, 0, '{\"Name\":\"old\"}', 1, 1);",
          nullptr, nullptr, nullptr)
      == SQLITE_OK);
  sqlite3_close(db);
  std::string error;
  {
    auto s = history_store::open(path, history_store::mode::read_only, error);
    BOOST_REQUIRE_MESSAGE(s, error);
    auto r = s->find("", "7");
    BOOST_REQUIRE(r);
    BOOST_TEST(r->data == "{\"Name\":\"old\"}");
  }
  {
    auto s = open_rw(path);
    BOOST_TEST(ask(*s, "pslist", "", t("2021-01-01T00:00:01Z")).size() == 1u);
  }
  BOOST_REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt *st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
  BOOST_REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  BOOST_TEST(sqlite3_column_int(st, 0) == 3);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

// The writer's page cache: 32 MiB as opened (a replay's bulk writes), set
// smaller for the agent (defaults::agent_history_cache_bytes), whose
// memory is its hot cache's; a config below 256 KiB is refused.
BOOST_AUTO_TEST_CASE(the_page_cache_is_bounded_as_configured) {
  temp_dir d;
  auto s = open_rw((d.path() / "h.db").string());
  BOOST_TEST(s->cache_bytes() == (std::uint64_t{32} << 20));
  std::string error;
  BOOST_REQUIRE_MESSAGE(
      s->set_cache_bytes(defaults::agent_history_cache_bytes, error), error);
  BOOST_TEST(s->cache_bytes() == (std::uint64_t{4} << 20));
  write_timeline(*s);
  BOOST_TEST(ask(*s, "pslist", "").size() == 5u);
  history_config cfg;
  cfg.path = (d.path() / "other.db").string();
  BOOST_TEST(cfg.validate() == "");
  cfg.cache_bytes = 1000;
  BOOST_TEST(cfg.validate()
             == "history cache_bytes must be at least 256 KiB (got 1000)");
}

BOOST_AUTO_TEST_CASE(a_missing_store_is_an_error_for_a_reader) {
  temp_dir d;
  std::string error;
  auto path = (d.path() / "none.db").string();
  BOOST_TEST(!history_store::open(path, history_store::mode::read_only, error));
  BOOST_TEST(error == "history store " + path + ": no such file");
  BOOST_TEST(!std::filesystem::exists(path));
}

BOOST_AUTO_TEST_SUITE_END()
