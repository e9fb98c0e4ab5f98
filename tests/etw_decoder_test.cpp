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
#include "actors/common/time.hpp"
#include "actors/etw/sysmon_etw_decoder.hpp"
#include "actors/ingest/evtx_reader.hpp"
#include "actors/ingest/sysmon_event.hpp"
#include "actors/ingest/sysmon_json_reader.hpp"

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
  std::size_t image_is_cmdline = 0;   ///< EID 1 whose CommandLine is Image
};

// Both tables, in file order; every created process's chain alike
// (executables and real ids, oldest first).
void compare_chains(const std::vector<process_update> &from_a,
                    const std::vector<process_update> &from_b, file_result &r) {
  table_config cfg;
  cfg.max_size = 1'000'000;
  cfg.max_expiry = 100LL * 365 * 24 * 3600 * hns_per_second;
  process_table ta(cfg), tb(cfg);
  for (auto &u : from_a)
    ta.apply(u);
  for (auto &u : from_b)
    tb.apply(u);
  for (auto &u : from_a) {
    if (u.kind != update_kind::start)
      continue;
    ++r.chains;
    std::vector<std::string> a, b;
    for (auto *e : ta.callchain(u.process.guid, 64))
      a.push_back(exe_of(unpack_data(e->data)) + "|" + e->id.str());
    for (auto *e : tb.callchain(u.process.guid, 64))
      b.push_back(exe_of(unpack_data(e->data)) + "|" + e->id.str());
    if (!a.empty() && a == b)
      ++r.chains_same;
  }
}

// The in-type of each EventData name, as the EVTX records type it.
using type_map = std::map<std::string, std::uint16_t>;

// Both paths over one file. `mutate`, when given, changes every layout
// before decoding (to see the comparison catch a wrong decoder); `types`
// gets the in-type of each name.
file_result run_file(const fs::path &path,
                     void (*mutate)(etw::layout &) = nullptr,
                     type_map *types = nullptr) {
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
    if (ev.event_id == 1) {
      r.field_counts.insert(ev.fields.size());
      auto image = ev.find("Image"), cmd = ev.find("CommandLine");
      if (image && cmd && *image == *cmd)
        ++r.image_is_cmdline;
    }
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
      if (types != nullptr)
        types->emplace(ev.fields[i].first, type);
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

  compare_chains(from_evtx, from_etw, r);
  return r;
}

// UTF-8 (valid: the JSON reader replaces what is not) as a NUL-terminated
// UTF-16LE string.
void put_utf16(std::vector<unsigned char> &b, std::string_view s) {
  auto unit = [&](std::uint32_t u) {
    b.push_back(static_cast<unsigned char>(u));
    b.push_back(static_cast<unsigned char>(u >> 8));
  };
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    if (i + n > s.size())
      n = 1;
    std::uint32_t cp = n == 1 ? c : c & (0x7fu >> n);
    for (std::size_t k = 1; k < n; ++k)
      cp = cp << 6 | (static_cast<unsigned char>(s[i + k]) & 0x3fu);
    i += n;
    if (cp >= 0x10000) {
      unit(0xd800 + ((cp - 0x10000) >> 10));
      unit(0xdc00 + ((cp - 0x10000) & 0x3ff));
    } else {
      unit(cp);
    }
  }
  unit(0);
}

bool hex_value(std::string_view s, std::uint64_t &v) {
  if (s.empty() || s.size() > 16)
    return false;
  v = 0;
  for (char c : s) {
    int d = (c >= '0' && c <= '9')   ? c - '0'
            : (c >= 'a' && c <= 'f') ? c - 'a' + 10
            : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                     : -1;
    if (d < 0)
      return false;
    v = v << 4 | static_cast<std::uint64_t>(d);
  }
  return true;
}

void put_le(std::vector<unsigned char> &b, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i)
    b.push_back(static_cast<unsigned char>(v >> (8 * i)));
}

// A text value as the in-type its name has in the EVTX records; false when
// the text is not a value of that type (the caller sends it as a string).
bool typed_bytes(std::uint16_t type, const std::string &text,
                 std::vector<unsigned char> &b) {
  std::uint64_t v = 0;
  switch (type) {
  case etw::in_uint32:
  case etw::in_uint16: {
    if (text.empty() || text.size() > 10
        || text.find_first_not_of("0123456789") != std::string::npos)
      return false;
    v = std::stoull(text);
    int bytes = type == etw::in_uint32 ? 4 : 2;
    if (v >> (8 * bytes) != 0)
      return false;
    put_le(b, v, bytes);
    return true;
  }
  case etw::in_hexint64:
    if (text.size() < 3 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X')
        || !hex_value(std::string_view(text).substr(2), v))
      return false;
    put_le(b, v, 8);
    return true;
  case etw::in_guid: {
    // {xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}
    if (text.size() != 38 || text[0] != '{' || text[37] != '}')
      return false;
    std::uint64_t d1, d2, d3, d4, d5;
    std::string_view t(text);
    if (t[9] != '-' || t[14] != '-' || t[19] != '-' || t[24] != '-'
        || !hex_value(t.substr(1, 8), d1) || !hex_value(t.substr(10, 4), d2)
        || !hex_value(t.substr(15, 4), d3) || !hex_value(t.substr(20, 4), d4)
        || !hex_value(t.substr(25, 12), d5))
      return false;
    put_le(b, d1, 4);
    put_le(b, d2, 2);
    put_le(b, d3, 2);
    b.push_back(static_cast<unsigned char>(d4 >> 8));
    b.push_back(static_cast<unsigned char>(d4));
    for (int i = 5; i >= 0; --i)
      b.push_back(static_cast<unsigned char>(d5 >> (8 * i)));
    return true;
  }
  default:
    return false;
  }
}

// A JSON file's Sysmon EID 1/5 events: their text values laid out with the
// in-types the EVTX records give their names (strings otherwise), decoded,
// and the chains compared with the JSON path's. The text forms differ (a
// GUID's case, LogonId's width), so only the chains are compared, and the
// rows' identity fields.
file_result run_json_file(const fs::path &path, const type_map &types) {
  file_result r;
  sysmon_json_reader reader(path.string());
  std::string err;
  BOOST_REQUIRE_MESSAGE(reader.open(err), err);
  std::vector<process_update> from_json, from_etw;
  sysmon_event ev;
  while (reader.next(ev)) {
    if (!is_process_event(ev) || !is_sysmon_provider(ev.provider))
      continue;
    std::string why;
    auto want = to_update(ev, why);
    if (!want)
      continue;
    (ev.event_id == 1 ? r.eid1 : r.eid5)++;
    std::vector<unsigned char> payload;
    etw::layout props;
    for (auto &[name, value] : ev.fields) {
      auto it = types.find(name);
      std::uint16_t type = etw::in_unicode_string;
      if (it != types.end() && it->second != etw::in_unicode_string
          && typed_bytes(it->second, value, payload))
        type = it->second;
      else
        put_utf16(payload, value);
      props.push_back({name, type});
    }
    etw::envelope env;
    env.computer = ev.computer;
    env.record_number = ev.record_number;
    std::string why_etw;
    auto got =
        etw::decode_update(static_cast<std::uint16_t>(ev.event_id),
                           payload.data(), payload.size(), props, env, why_etw);
    BOOST_REQUIRE_MESSAGE(got, path.filename() << " record " << ev.record_number
                                               << ": " << why_etw);
    if (got->kind == want->kind && got->process.pid == want->process.pid
        && got->process.guid == want->process.guid
        && got->process.parent_guid == want->process.parent_guid
        && got->process.start_time == want->process.start_time
        && got->target == want->target && got->time == want->time)
      ++r.same;
    from_json.push_back(std::move(*want));
    from_etw.push_back(std::move(*got));
  }
  compare_chains(from_json, from_etw, r);
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
  type_map types;
  for (auto &f : manifest.at("files")) {
    auto rel = f.at("file").get<std::string>();
    if (fs::path(rel).extension() != ".evtx")
      continue;
    auto r = run_file(sysmon_dir() / rel, nullptr, &types);
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
  // What the EVTX records say of the types of the names ETW would send.
  BOOST_TEST(types.at("ProcessGuid") == etw::in_guid);
  BOOST_TEST(types.at("ProcessId") == etw::in_uint32);
  BOOST_TEST(types.at("LogonId") == etw::in_hexint64);
  BOOST_TEST(types.at("Image") == etw::in_unicode_string);

  // The JSON files of the corpus: their text values typed as the EVTX
  // records type them, so that every chain of the corpus (1,752 with the
  // EVTX files') is reproduced from synthesized payloads.
  std::size_t json_chains = 0, json_same = 0, json_rows = 0, json_ids = 0;
  for (auto &f : manifest.at("files")) {
    auto rel = f.at("file").get<std::string>();
    if (fs::path(rel).extension() == ".evtx")
      continue;
    auto r = run_json_file(sysmon_dir() / rel, types);
    BOOST_TEST_MESSAGE(rel << ": " << r.same << "/" << r.eid1 + r.eid5
                           << " rows with the same identity, " << r.chains_same
                           << "/" << r.chains << " chains");
    BOOST_TEST(r.eid1 == f.at("eid1").get<std::size_t>(), rel);
    BOOST_TEST(r.eid5 == f.at("eid5").get<std::size_t>(), rel);
    json_chains += r.chains;
    json_same += r.chains_same;
    json_rows += r.eid1 + r.eid5;
    json_ids += r.same;
  }
  BOOST_TEST_MESSAGE("JSON files: rows " << json_ids << "/" << json_rows
                                         << " same identity, chains "
                                         << json_same << "/" << json_chains);
  BOOST_TEST(json_ids == json_rows);
  BOOST_TEST(chains + json_chains == 1752u);
  BOOST_TEST(chains_same + json_same == 1752u);
}

// The comparison catches a wrong decoder: the same payloads decoded with a
// layout that swaps two string properties (CommandLine <-> Image) give rows
// that differ, all but those of the processes whose command line is their
// image's path (5 here), and chains that differ.
BOOST_AUTO_TEST_CASE(a_wrong_layout_is_caught) {
  auto r = run_file(sysmon_dir() / "evtx" / "sysmon.evtx", [](etw::layout &l) {
    for (auto &p : l)
      if (p.name == "Image")
        p.name = "CommandLine";
      else if (p.name == "CommandLine")
        p.name = "Image";
  });
  BOOST_TEST(r.eid1 == 227u);
  BOOST_TEST(r.image_is_cmdline == 5u);
  BOOST_TEST(r.same == r.image_is_cmdline);
  BOOST_TEST(r.chains_same <= r.image_is_cmdline);
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
  BOOST_TEST(std::string(to_string(u->kind)) == "exit");
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
