// A sync listing in parts (issue 15 kind 4): the decoder hands a long
// listing out in bounded parts and the table applies them as they come, so
// memory follows max-size, not the listing's length. What must not change
// is the cache: every sync case answers exactly as the whole listing does.
#include <boost/test/unit_test.hpp>

#include "actors/cache/output_rows.hpp"
#include "actors/cache/process_table.hpp"
#include "actors/ingest/update_row_decoder.hpp"
#include "actors/ingest/update_source.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

BOOST_AUTO_TEST_SUITE(sync_parts_test)

using namespace proctrack;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string cases_dir() {
  const char *src = std::getenv("PROCTRACK_SOURCE");
  return std::string{src ? src : "."} + "/../shared/cases";
}

std::vector<std::string> lines_of(const std::string &path) {
  std::ifstream in{path};
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);)
    out.push_back(l);
  return out;
}

// What a user sees of a table: its pslist and its counters.
std::string answers(const process_table &t) {
  std::string out = t.pslist_json();
  for (auto &c : t.counter_list())
    out += "\n" + c.name + "=" + std::to_string(c.value);
  return out;
}

// Applies the lines with the whole-row decoder.
void apply_whole(process_table &t, const std::vector<std::string> &lines) {
  for (auto &l : lines) {
    process_update u;
    std::string err;
    if (decode_update_row(l, u, err) == row_result::update)
      t.apply(std::move(u));
  }
}

// Applies the lines with listings cut in parts of `rows` processes;
// returns how many parts there were, and the largest.
std::pair<std::size_t, std::size_t>
apply_parts(process_table &t, const std::vector<std::string> &lines,
            std::size_t rows) {
  update_row_reader reader{rows};
  std::size_t parts = 0, largest = 0;
  for (auto &l : lines) {
    process_update u;
    std::string err;
    if (reader.decode(l, u, err) != row_result::update)
      continue;
    for (;;) {
      if (u.part != sync_part::whole)
        ++parts;
      largest = std::max(largest, u.processes.size());
      t.apply(std::move(u));
      if (!reader.more())
        break;
      reader.next_part(u);
    }
  }
  return {parts, largest};
}

std::string temp_file(const std::string &text) {
  char name[] = "/tmp/proctrack_sync_parts_XXXXXX";
  int fd = mkstemp(name);
  BOOST_REQUIRE(fd >= 0);
  close(fd);
  std::ofstream{name} << text;
  return name;
}

// A plain listing of `n` processes (each a child of the one before, the
// first of pid 1) with a duplicate row and a child listed before its
// parent, so that parts cut across both.
std::string long_sync_row(int n, const char *time = "2021-01-01T10:00:00Z") {
  json procs = json::array();
  procs.push_back({{"id", 90001},
                   {"parent_id", 90000},
                   {"start_time", "2021-01-01T09:40:00Z"},
                   {"data", {{"Name", "child"}}}});
  for (int i = 0; i < n; ++i)
    procs.push_back({{"id", 1000 + i},
                     {"parent_id", i == 0 ? 1 : 1000 + (i - 1) / 2},
                     {"start_time", "2021-01-01T09:30:00Z"},
                     {"data", {{"Name", "p" + std::to_string(i)}}}});
  procs.push_back({{"id", 90000},
                   {"parent_id", 1},
                   {"start_time", "2021-01-01T09:40:00Z"},
                   {"data", {{"Name", "parent"}}}});
  procs.push_back({{"id", 1000},
                   {"parent_id", 1},
                   {"start_time", "2021-01-01T09:30:00Z"},
                   {"data", {{"Name", "last row"}}}});
  return json{{"update_type", "sync"}, {"time", time}, {"processes", procs}}
      .dump();
}

// Velociraptor's keyed sync of `n` entries.
std::string keyed_sync_row(int n) {
  json data = json::object();
  for (int i = 0; i < n; ++i) {
    auto id = std::to_string(2000 + i) + "-1609491600";
    data[id] = {{"Id", id},
                {"ParentId",
                 i == 0 ? std::string{"1-?"}
                        : std::to_string(2000 + (i - 1) / 2) + "-1609491600"},
                {"StartTime", "2021-01-01T09:00:00Z"},
                {"EndTime",
                 i % 7 == 3 ? "2021-01-01T09:10:00Z" : "0001-01-01T00:00:00Z"},
                {"Data", {{"Name", "k" + std::to_string(i)}}},
                {"Children", json::array()}};
  }
  return json{{"update_type", "sync"}, {"data", data}}.dump();
}

} // namespace

// Every update-row case the outsiders filed (syncs listing a process twice,
// unknown parents and the reaper, restored output streams, ...) gives the
// same cache whether its listings come whole or in parts of 1, 2 or 3
// processes, with room for everything and under eviction.
BOOST_AUTO_TEST_CASE(every_replay_case_answers_the_same_in_parts) {
  std::vector<std::string> files;
  for (auto &e : fs::directory_iterator(cases_dir() + "/replay"))
    if (e.path().extension() == ".jsonl")
      files.push_back(e.path().string());
  BOOST_REQUIRE(files.size() >= 5u);
  std::size_t cut = 0;
  for (auto &f : files) {
    auto lines = lines_of(f);
    for (std::size_t max_size : {std::size_t{10000}, std::size_t{3}}) {
      table_config cfg;
      cfg.max_size = max_size;
      process_table whole{cfg};
      apply_whole(whole, lines);
      for (std::size_t rows : {1, 2, 3}) {
        process_table parts{cfg};
        cut += apply_parts(parts, lines, rows).first;
        BOOST_TEST_CONTEXT(f << " max-size " << max_size << ", parts of "
                             << rows) {
          BOOST_TEST(answers(parts) == answers(whole));
        }
      }
    }
  }
  BOOST_TEST(cut > 0u); // some listings were really cut
}

// A long listing with its traps across the parts' boundaries, and
// Velociraptor's keyed form, under eviction and not.
BOOST_AUTO_TEST_CASE(long_listings_answer_the_same_in_parts) {
  for (auto row : {long_sync_row(3000), keyed_sync_row(2500)}) {
    std::vector<std::string> lines = {
        R"({"update_type":"start","id":7,"parent_id":1,"start_time":"2021-01-01T08:00:00Z","data":{"Name":"not listed"}})",
        row,
        R"({"update_type":"start","id":8,"parent_id":1000,"start_time":"2021-01-01T10:01:00Z","data":{"Name":"after"}})",
        long_sync_row(40, "2021-01-01T11:00:00Z")};
    for (std::size_t max_size : {std::size_t{10000}, std::size_t{10}}) {
      table_config cfg;
      cfg.max_size = max_size;
      process_table whole{cfg};
      apply_whole(whole, lines);
      process_table parts{cfg};
      auto [n, largest] = apply_parts(parts, lines, 256);
      BOOST_TEST(n >= 10u);
      BOOST_TEST(largest <= 256u);
      BOOST_TEST(answers(parts) == answers(whole));
    }
  }
}

// The replay's reader: a 5000-process sync row leaves it as parts of at
// most one batch's worth, first to last, in order, whatever the batches.
BOOST_AUTO_TEST_CASE(update_rows_source_hands_a_long_listing_out_in_parts) {
  auto path =
      temp_file(long_sync_row(5000) + "\n" + keyed_sync_row(3000) + "\n");
  std::string err;
  auto src = open_update_source(path, input_format::updates, err);
  BOOST_REQUIRE_MESSAGE(src, err);
  std::vector<process_update> all;
  std::size_t calls = 0, most = 0;
  for (bool more = true; more; ++calls) {
    std::vector<process_update> batch;
    more = src->read(batch, 1024);
    std::size_t rows = 0;
    for (auto &u : batch)
      rows += u.processes.size();
    most = std::max(most, rows);
    for (auto &u : batch)
      all.push_back(std::move(u));
  }
  fs::remove(path);
  // Never a whole listing in one batch: at most the batch's 1024 rows, and
  // the first part of a listing that begins in it.
  BOOST_TEST(most < 1024u + update_row_reader::default_part_rows);
  std::vector<std::size_t> sizes;
  std::size_t total = 0;
  for (std::size_t i = 0; i < all.size(); ++i) {
    auto &u = all[i];
    BOOST_REQUIRE(u.kind == update_kind::sync);
    BOOST_TEST(u.processes.size() <= update_row_reader::default_part_rows);
    total += u.processes.size();
    bool starts = i == 0 || all[i - 1].part == sync_part::last;
    BOOST_TEST((u.part == sync_part::first) == starts);
    if (u.part == sync_part::last) {
      sizes.push_back(total);
      total = 0;
    }
  }
  BOOST_TEST(sizes == (std::vector<std::size_t>{5003, 3000}));
  BOOST_TEST(calls >= 6u);
}

// A bad process at the very end of a long listing rejects the whole row:
// no part of it is applied, so nothing is marked exited by half a listing.
BOOST_AUTO_TEST_CASE(a_bad_process_anywhere_rejects_the_whole_listing) {
  auto row = long_sync_row(3000);
  row.insert(row.rfind(']'), R"(,{"id":"not a pid"})");
  update_row_reader reader{256};
  process_update u;
  std::string err;
  BOOST_TEST((reader.decode(row, u, err) == row_result::error));
  BOOST_TEST(err
             == "sync row: processes[3003]: \"id\" must be a pid "
                "(number or string)");
  BOOST_TEST(!reader.more());
}

// The output stream writes a listing in parts as the one row it was.
BOOST_AUTO_TEST_CASE(a_listing_in_parts_is_written_as_one_row) {
  auto row = long_sync_row(700);
  process_update whole;
  std::string err;
  BOOST_REQUIRE((decode_update_row(row, whole, err) == row_result::update));
  update_row_reader reader{100};
  process_update u;
  BOOST_REQUIRE((reader.decode(row, u, err) == row_result::update));
  std::string text = update_row_json(u, true);
  while (reader.more()) {
    reader.next_part(u);
    text += update_row_json(u, true);
  }
  BOOST_TEST(text == update_row_json(whole, true));
  BOOST_TEST(json::parse(text)["processes"].size() == 703u);
}

BOOST_AUTO_TEST_SUITE_END() // sync_parts_test
