// The ETW decoder of Sysmon's events (actors/etw/sysmon_etw_decoder) against
// the EVTX path, on the real logs of the corpus. An ETW event's UserData is
// its template's properties back to back (TDH in-types; the header of
// sysmon_etw_decoder.hpp gives the sizes), and an EVTX record of the same
// event holds the same typed values in the same order as its template's
// substitution values. So for every Sysmon EID 1/5 record of every EVTX
// file, the test lays out the record's EventData values as ETW would
// deliver them, with the layout (names and in-types) taken from the record,
// decodes that payload, and checks that it gives the very update row the
// EVTX path gives; then that the process tables built from either path
// answer every call chain alike.
#include <boost/test/unit_test.hpp>

#include "actors/cache/process_table.hpp"
#include "actors/etw/sysmon_etw_decoder.hpp"
#include "actors/ingest/evtx_reader.hpp"
#include "actors/ingest/sysmon_event.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

BOOST_AUTO_TEST_SUITE(etw_decoder_test)

using namespace proctrack;
namespace fs = std::filesystem;
using raw_value = evtx::chunk_decoder::raw_value;

namespace {

fs::path sysmon_dir() {
  if (const char *d = std::getenv("PROCTRACK_DATA"))
    return fs::path(d) / "sysmon";
  return "/work/shared/data/sysmon";
}

// The in-type and the ETW bytes of one EVTX substitution value. A UTF-16
// string is cut at its first NUL and NUL-terminated (ETW's UnicodeString);
// a null value (an empty string in the record) becomes its declared type's
// empty form. False for what ETW could not have sent as such.
bool to_etw(const raw_value &v, std::uint16_t &type,
            std::vector<unsigned char> &out, std::string &why) {
  type = v.type != 0 ? v.type : v.declared;
  if (type == etw::in_unicode_string) {
    std::size_t n = 0;
    if (v.type != 0)
      while (2 * n + 1 < v.size && (v.p[2 * n] | v.p[2 * n + 1]) != 0)
        ++n;
    out.insert(out.end(), v.p, v.p + 2 * n);
    out.push_back(0);
    out.push_back(0);
    return true;
  }
  if (v.type == 0) {
    why = "null value of in-type " + std::to_string(type);
    return false;
  }
  out.insert(out.end(), v.p, v.p + v.size);
  return true;
}

std::string show(const process_update &u) {
  std::ostringstream o;
  o << to_string(u.kind) << " host=" << u.host << " target=" << u.target
    << " time=" << u.time << " pid=" << u.process.pid
    << " ppid=" << u.process.ppid << " guid=" << u.process.guid
    << " parent=" << u.process.parent_guid << " start=" << u.process.start_time
    << " data={";
  for (auto &f : u.process.data)
    o << f.key << ":" << f.json << ",";
  o << "}";
  return o.str();
}

std::string exe_of(const data_fields &d) {
  for (auto &f : d)
    if (f.key == "Exe")
      return f.json;
  return "";
}

struct file_result {
  std::size_t eid1 = 0, eid5 = 0; ///< Sysmon EID 1 / 5 rows of the EVTX path
  std::size_t same = 0;           ///< ETW rows identical to them
  std::size_t chains = 0, chains_same = 0;
  std::set<std::size_t> field_counts; ///< of EID 1 (16, 21, 22, 23...)
};

// Both paths over one file. `mutate`, when given, changes every layout
// before decoding (to see the comparison catch a wrong decoder).
file_result run_file(const fs::path &path,
                     void (*mutate)(etw::layout &) = nullptr) {
  file_result r;
  evtx_reader reader(path.string());
  reader.keep_raw_values(true);
  std::string err;
  BOOST_REQUIRE_MESSAGE(reader.open(err), err);
  std::vector<process_update> from_evtx, from_etw;
  sysmon_event ev;
  std::vector<unsigned char> payload;
  etw::layout props;
  while (reader.next(ev)) {
    if (!is_sysmon_provider(ev.provider) || ev.provider.empty()
        || (ev.event_id != 1 && ev.event_id != 5))
      continue;
    std::string why;
    auto want = to_update(ev, why);
    BOOST_REQUIRE_MESSAGE(
        want, path.filename() << " record " << ev.record_number << ": " << why);
    (ev.event_id == 1 ? r.eid1 : r.eid5)++;
    if (ev.event_id == 1)
      r.field_counts.insert(ev.fields.size());
    auto &raw = reader.raw_values();
    BOOST_REQUIRE_EQUAL(raw.size(), ev.fields.size());
    payload.clear();
    props.clear();
    for (std::size_t i = 0; i < raw.size(); ++i) {
      std::uint16_t type = 0;
      BOOST_REQUIRE_MESSAGE(to_etw(raw[i], type, payload, why),
                            path.filename()
                                << " record " << ev.record_number << " "
                                << ev.fields[i].first << ": " << why);
      props.push_back({ev.fields[i].first, type});
    }
    if (mutate)
      mutate(props);
    etw::envelope env;
    env.computer = ev.computer;
    env.record_number = ev.record_number;
    std::string why_etw;
    auto got =
        etw::decode_update(static_cast<std::uint16_t>(ev.event_id),
                           payload.data(), payload.size(), props, env, why_etw);
    from_evtx.push_back(*want);
    if (!got) {
      BOOST_TEST_MESSAGE(path.filename() << " record " << ev.record_number
                                         << ": ETW decode failed: " << why_etw);
      continue;
    }
    BOOST_TEST(why_etw == why);
    auto a = show(*want), b = show(*got);
    if (a == b)
      ++r.same;
    else if (!mutate)
      BOOST_ERROR(path.filename() << " record " << ev.record_number
                                  << ":\n evtx " << a << "\n etw  " << b);
    from_etw.push_back(std::move(*got));
  }

  // Both tables, in file order; every created process's chain alike.
  table_config cfg;
  cfg.max_size = 1'000'000;
  cfg.max_expiry = 100LL * 365 * 24 * 3600 * hns_per_second;
  process_table te(cfg), tw(cfg);
  for (auto &u : from_evtx)
    te.apply(u);
  for (auto &u : from_etw)
    tw.apply(u);
  for (auto &u : from_evtx) {
    if (u.kind != update_kind::start)
      continue;
    ++r.chains;
    std::vector<std::string> a, b;
    for (auto *e : te.callchain(u.process.guid, 64))
      a.push_back(exe_of(unpack_data(e->data)) + "|" + e->id);
    for (auto *e : tw.callchain(u.process.guid, 64))
      b.push_back(exe_of(unpack_data(e->data)) + "|" + e->id);
    if (!a.empty() && a == b)
      ++r.chains_same;
  }
  return r;
}

} // namespace

BOOST_AUTO_TEST_CASE(every_sysmon_record_of_the_corpus_decodes_as_from_evtx) {
  std::ifstream in(sysmon_dir() / "manifest.json");
  BOOST_REQUIRE(in);
  auto manifest = nlohmann::json::parse(in);
  std::size_t files = 0, eid1 = 0, eid5 = 0, same = 0, chains = 0,
              chains_same = 0;
  std::set<std::size_t> field_counts;
  for (auto &f : manifest.at("files")) {
    auto rel = f.at("file").get<std::string>();
    if (fs::path(rel).extension() != ".evtx")
      continue;
    auto r = run_file(sysmon_dir() / rel);
    BOOST_TEST_MESSAGE(rel << ": " << r.same << "/" << r.eid1 + r.eid5
                           << " rows identical, " << r.chains_same << "/"
                           << r.chains << " chains");
    BOOST_TEST(r.eid1 == f.at("eid1").get<std::size_t>(), rel);
    BOOST_TEST(r.eid5 == f.at("eid5").get<std::size_t>(), rel);
    ++files;
    eid1 += r.eid1;
    eid5 += r.eid5;
    same += r.same;
    chains += r.chains;
    chains_same += r.chains_same;
    field_counts.insert(r.field_counts.begin(), r.field_counts.end());
  }
  BOOST_TEST_MESSAGE("EVTX files " << files << ": EID 1 " << eid1 << ", EID 5 "
                                   << eid5 << ", rows identical " << same
                                   << ", chains " << chains_same << "/"
                                   << chains);
  BOOST_TEST(files == 16u);
  BOOST_TEST(eid1 == 1235u);
  BOOST_TEST(eid5 == 27u);
  BOOST_TEST(same == eid1 + eid5);
  BOOST_TEST(chains == 1235u);
  BOOST_TEST(chains_same == chains);
  // The layouts really differ between Sysmon releases.
  BOOST_TEST(field_counts.size() >= 3u);
}

// The comparison catches a wrong decoder: the same payloads decoded with a
// layout that swaps two string properties (CommandLine <-> Image) give rows
// that differ, and chains that differ.
BOOST_AUTO_TEST_CASE(a_wrong_layout_is_caught) {
  auto r = run_file(sysmon_dir() / "evtx" / "sysmon.evtx", [](etw::layout &l) {
    for (auto &p : l)
      if (p.name == "Image")
        p.name = "CommandLine";
      else if (p.name == "CommandLine")
        p.name = "Image";
  });
  BOOST_TEST(r.eid1 == 227u);
  BOOST_TEST(r.same == 0u);
  BOOST_TEST(r.chains_same == 0u);
}

namespace {

void put16(std::vector<unsigned char> &b, std::uint16_t v) {
  b.push_back(static_cast<unsigned char>(v));
  b.push_back(static_cast<unsigned char>(v >> 8));
}

void put32(std::vector<unsigned char> &b, std::uint32_t v) {
  for (int i = 0; i < 4; ++i)
    b.push_back(static_cast<unsigned char>(v >> (8 * i)));
}

void put_str(std::vector<unsigned char> &b, std::string_view s) {
  for (char c : s)
    put16(b, static_cast<unsigned char>(c));
  put16(b, 0);
}

// An EID 5 as Sysmon 13 lays it out: RuleName, UtcTime, ProcessGuid,
// ProcessId, Image, User.
etw::layout eid5_layout() {
  return {
      {"RuleName", etw::in_unicode_string}, {"UtcTime", etw::in_unicode_string},
      {"ProcessGuid", etw::in_guid},        {"ProcessId", etw::in_uint32},
      {"Image", etw::in_unicode_string},    {"User", etw::in_unicode_string}};
}

std::vector<unsigned char> eid5_payload() {
  std::vector<unsigned char> b;
  put_str(b, "-");
  put_str(b, "2021-06-11 21:08:15.123");
  put32(b, 0x747f3d96);
  put16(b, 0x2c1f);
  put16(b, 0x60c3);
  for (unsigned char c : {0x15, 0x02, 0, 0, 0, 0x10, 0x50, 0})
    b.push_back(c);
  put32(b, 4242);
  put_str(b, "C:\\Windows\\System32\\cmd.exe");
  put_str(b, "NT AUTHORITY\\SYSTEM");
  return b;
}

} // namespace

BOOST_AUTO_TEST_CASE(an_exit_payload_gives_the_exit_row) {
  auto b = eid5_payload();
  std::string why;
  etw::envelope env;
  env.computer = "WS01";
  auto u = etw::decode_update(5, b.data(), b.size(), eid5_layout(), env, why);
  BOOST_REQUIRE_MESSAGE(u, why);
  BOOST_TEST(u->kind == update_kind::exit);
  BOOST_TEST(u->target == "{747f3d96-2c1f-60c3-1502-000000105000}");
  BOOST_TEST(u->process.pid == "4242");
  BOOST_TEST(u->host == "WS01");
  BOOST_TEST(format_time(u->time) == "2021-06-11T21:08:15.123Z");
}

// Every truncation of a payload and every wrong layout length fails with a
// message naming the property and offset; nothing reads past the payload
// (the ASan suite runs this too via the fuzz target's corpus).
BOOST_AUTO_TEST_CASE(truncated_and_hostile_payloads_fail_clearly) {
  auto full = eid5_payload();
  auto props = eid5_layout();
  sysmon_event ev;
  std::string why;
  for (std::size_t n = 0; n < full.size(); ++n) {
    // A heap copy of exactly n bytes.
    std::vector<unsigned char> cut(full.begin(), full.begin() + n);
    why.clear();
    BOOST_TEST(
        !etw::decode_payload(5, cut.data(), cut.size(), props, {}, ev, why));
    BOOST_TEST(why.rfind("property ", 0) == 0, why);
  }
  BOOST_TEST(
      etw::decode_payload(5, full.data(), full.size(), props, {}, ev, why));
  // One property fewer: bytes left over.
  auto fewer = props;
  fewer.pop_back();
  BOOST_TEST(
      !etw::decode_payload(5, full.data(), full.size(), fewer, {}, ev, why));
  BOOST_TEST(why.find("bytes left after the last of 5 properties")
                 != std::string::npos,
             why);
  // An in-type whose length is another property: refused by name.
  auto bin = props;
  bin[4].type = etw::in_binary;
  BOOST_TEST(
      !etw::decode_payload(5, full.data(), full.size(), bin, {}, ev, why));
  BOOST_TEST(why.find("property Image at byte") == 0, why);
  BOOST_TEST(why.find("in-type 14 not supported") != std::string::npos, why);
  // A string with no NUL up to the end.
  std::vector<unsigned char> open;
  put16(open, 'a');
  put16(open, 'b');
  etw::layout one{{"Image", etw::in_unicode_string}};
  BOOST_TEST(
      !etw::decode_payload(1, open.data(), open.size(), one, {}, ev, why));
  BOOST_TEST(why == "property Image at byte 0: UTF-16 string not terminated");
  // Oversized payloads and layouts are refused before any read.
  std::vector<unsigned char> big(etw::max_payload + 1, 'a');
  BOOST_TEST(!etw::decode_payload(1, big.data(), big.size(), one, {}, ev, why));
  etw::layout many(etw::max_properties + 1, {"X", etw::in_uint8});
  BOOST_TEST(!etw::decode_payload(1, big.data(), 10, many, {}, ev, why));
  // A SID claiming more sub-authorities than it has.
  std::vector<unsigned char> sid{1, 5, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0};
  etw::layout s{{"Sid", etw::in_sid}};
  BOOST_TEST(!etw::decode_payload(1, sid.data(), sid.size(), s, {}, ev, why));
  BOOST_TEST(why == "property Sid at byte 0: SID cut off");
  sid[1] = 1;
  BOOST_TEST(etw::decode_payload(1, sid.data(), sid.size(), s, {}, ev, why));
  BOOST_TEST(ev.fields.at(0).second == "S-1-5-18");
}

BOOST_AUTO_TEST_SUITE_END() // etw_decoder_test
