// Call chains over the Sysmon corpus: every EID 1 of every log is fed to the
// process table in file order, and for every created process the chain the
// table returns must equal the chain ProcessGuid -> ParentProcessGuid worked
// out here from the decoded events alone, image by image.
#include <boost/test/unit_test.hpp>

#include "actors/cache/process_table.hpp"
#include "actors/ingest/evtx_reader.hpp"
#include "actors/ingest/format_sniffer.hpp"
#include "actors/ingest/sysmon_event.hpp"
#include "actors/ingest/sysmon_json_reader.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <unordered_map>

BOOST_AUTO_TEST_SUITE(sysmon_chains_test)

using namespace proctrack;
namespace fs = std::filesystem;

namespace {

fs::path sysmon_dir() {
  if (const char *d = std::getenv("PROCTRACK_DATA"))
    return fs::path(d) / "sysmon";
  if (const char *s = std::getenv("PROCTRACK_SOURCE"))
    return fs::path(s) / ".." / "shared" / "data" / "sysmon";
  return "/work/shared/data/sysmon";
}

std::vector<process_update> decode(const fs::path &p) {
  std::vector<process_update> out;
  std::string err, why;
  sysmon_event ev;
  auto fmt = sniff_format(p.string(), err);
  BOOST_REQUIRE_MESSAGE(
      fmt == input_format::evtx || fmt == input_format::sysmon_json, err);
  if (fmt == input_format::evtx) {
    evtx_reader r(p.string());
    BOOST_REQUIRE_MESSAGE(r.open(err), err);
    while (r.next(ev))
      if (auto u = to_update(ev, why))
        out.push_back(std::move(*u));
  } else {
    sysmon_json_reader r(p.string());
    BOOST_REQUIRE_MESSAGE(r.open(err), err);
    while (r.next(ev))
      if (auto u = to_update(ev, why))
        out.push_back(std::move(*u));
  }
  return out;
}

std::string exe_of(const data_fields &d) {
  for (auto &f : d)
    if (f.key == "Exe")
      return f.json;
  return "";
}

} // namespace

BOOST_AUTO_TEST_CASE(callchains_match_guid_lineage) {
  std::ifstream in(sysmon_dir() / "manifest.json");
  BOOST_REQUIRE(in);
  auto manifest = nlohmann::json::parse(in);
  std::size_t checked = 0, correct = 0, total_links = 0;
  constexpr std::size_t max_chain = 64;
  for (auto &f : manifest.at("files")) {
    auto rel = f.at("file").get<std::string>();
    auto updates = decode(sysmon_dir() / rel);

    // Independent lineage: GUID -> (parent GUID, Exe) over the creates.
    struct node {
      std::string parent;
      std::string exe;
    };
    std::unordered_map<std::string, node> creates;
    std::vector<std::string> order;
    for (auto &u : updates)
      if (u.kind == update_kind::start) {
        creates[u.process.guid] = {u.process.parent_guid,
                                   exe_of(u.process.data)};
        order.push_back(u.process.guid);
      }

    table_config cfg;
    cfg.max_size = 1'000'000;
    cfg.max_expiry = 100LL * 365 * 24 * 3600 * hns_per_second;
    process_table table(cfg);
    for (auto &u : updates)
      table.apply(u);

    std::size_t file_checked = 0, file_correct = 0;
    std::size_t deepest = 0;
    for (auto &g : order) {
      std::vector<std::string> expect; // oldest first, exe per link
      std::set<std::string> seen;
      for (std::string cur = g; !cur.empty() && expect.size() < max_chain;) {
        auto it = creates.find(cur);
        if (it == creates.end() || !seen.insert(cur).second)
          break;
        expect.insert(expect.begin(), it->second.exe);
        cur = it->second.parent;
      }
      std::vector<std::string> got;
      for (auto *e : table.callchain(g, max_chain))
        got.push_back(exe_of(unpack_data(e->data)));
      ++file_checked;
      deepest = std::max(deepest, expect.size());
      total_links += expect.size();
      if (got == expect) {
        ++file_correct;
      } else {
        std::string a, b;
        for (auto &x : expect)
          a += x + " <- ";
        for (auto &x : got)
          b += x + " <- ";
        BOOST_ERROR(rel << ": chain of " << g << " expected [" << a << "] got ["
                        << b << "]");
      }
    }
    BOOST_TEST_MESSAGE(rel << ": " << file_correct << "/" << file_checked
                           << " chains correct, deepest " << deepest);
    BOOST_TEST(file_checked == f.at("eid1").get<std::size_t>());
    BOOST_TEST(deepest == f.at("max_depth").get<std::size_t>(), rel);
    checked += file_checked;
    correct += file_correct;
  }
  BOOST_TEST_MESSAGE("chains checked " << checked << ", correct " << correct
                                       << ", links " << total_links);
  BOOST_TEST(checked == 1752u);
  BOOST_TEST(correct == checked);
}

BOOST_AUTO_TEST_SUITE_END() // sysmon_chains_test
