// Tests of the PE version-information reader against the shared corpus
// (../shared/data/pe: reference.json, malformed/manifest.json) plus
// synthetic images, truncations and seeded byte flips.
#include <boost/test/unit_test.hpp>

#include "actors/enricher/pe_version_reader.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <ostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace proctrack::pe {
// So BOOST_TEST can print error kinds.
std::ostream &operator<<(std::ostream &os, error_kind k) {
  return os << to_string(k);
}
} // namespace proctrack::pe

BOOST_AUTO_TEST_SUITE(pe_reader_test)

namespace pe = proctrack::pe;
using ojson = nlohmann::ordered_json;

namespace {

std::string data_dir() {
  if (const char *d = std::getenv("PROCTRACK_DATA"); d && *d)
    return d;
  if (const char *s = std::getenv("PROCTRACK_SOURCE"); s && *s)
    return std::string(s) + "/../shared/data";
  return "../shared/data";
}

std::string pe_dir() {
  return data_dir() + "/pe";
}

std::vector<std::uint8_t> slurp(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  BOOST_REQUIRE_MESSAGE(in, "cannot open " << path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

ojson load_json(const std::string &path) {
  std::ifstream in(path);
  BOOST_REQUIRE_MESSAGE(in, "cannot open " << path);
  return ojson::parse(in);
}

bool has_data(const ojson &exp) {
  return !exp["fixed"].is_null() || !exp["strings"].empty()
         || !exp["tables"].empty() || !exp["translations"].empty();
}

ojson entries_json(const std::vector<std::pair<std::string, std::string>> &v) {
  ojson o = ojson::object();
  for (const auto &[k, val] : v)
    o[k] = val;
  return o;
}

// Runs parse() on an exact-size heap copy so ASan sees any overread.
pe::result parse_copy(const std::uint8_t *d, std::size_t n,
                      const pe::limits &lim = {}) {
  std::unique_ptr<std::uint8_t[]> buf(new std::uint8_t[n ? n : 1]);
  if (n)
    std::memcpy(buf.get(), d, n);
  return pe::parse(n ? buf.get() : nullptr, n, lim);
}

// --- synthetic images ----------------------------------------------------

using bytes = std::vector<std::uint8_t>;

void put16(bytes &b, std::size_t off, std::uint16_t v) {
  if (b.size() < off + 2)
    b.resize(off + 2);
  b[off] = v & 0xFF;
  b[off + 1] = v >> 8;
}

void put32(bytes &b, std::size_t off, std::uint32_t v) {
  put16(b, off, v & 0xFFFF);
  put16(b, off + 2, v >> 16);
}

void pad4(bytes &b) {
  while (b.size() % 4)
    b.push_back(0);
}

void append_u16s(bytes &b, const std::u16string &s, bool nul = true) {
  for (char16_t c : s) {
    b.push_back(c & 0xFF);
    b.push_back(c >> 8);
  }
  if (nul) {
    b.push_back(0);
    b.push_back(0);
  }
}

// One VS node: header, key, padding, value, padding, children.
bytes vs_node(const std::u16string &key, const bytes &value,
              std::uint16_t value_len, std::uint16_t type,
              const std::vector<bytes> &children = {}) {
  bytes b(6, 0);
  append_u16s(b, key);
  pad4(b);
  b.insert(b.end(), value.begin(), value.end());
  for (const auto &c : children) {
    pad4(b);
    b.insert(b.end(), c.begin(), c.end());
  }
  put16(b, 0, static_cast<std::uint16_t>(b.size()));
  put16(b, 2, value_len);
  put16(b, 4, type);
  return b;
}

bytes vs_string(const std::u16string &key, const std::u16string &value) {
  bytes v;
  append_u16s(v, value);
  return vs_node(key, v, static_cast<std::uint16_t>(value.size() + 1), 1);
}

bytes fixed_info(std::uint32_t ms, std::uint32_t ls) {
  bytes f;
  put32(f, 0, 0xFEEF04BD);
  put32(f, 4, 0x10000);
  put32(f, 8, ms);
  put32(f, 12, ls);
  put32(f, 16, ms);
  put32(f, 20, ls);
  put32(f, 24, 0x3F);
  for (std::size_t o = 28; o < 52; o += 4)
    put32(f, o, 0);
  put32(f, 36, 1); // VFT_APP
  return f;
}

bytes version_blob(const std::vector<bytes> &strings, bool with_fixed = true) {
  bytes table = vs_node(u"040904B0", {}, 0, 1, strings);
  bytes sfi = vs_node(u"StringFileInfo", {}, 0, 1, {table});
  bytes tr;
  put32(tr, 0, 0x04B00409);
  bytes var = vs_node(u"Translation", tr, 4, 0);
  bytes vfi = vs_node(u"VarFileInfo", {}, 0, 1, {var});
  bytes fx = with_fixed ? fixed_info(0x00010002, 0x00030004) : bytes{};
  return vs_node(u"VS_VERSION_INFO", fx, static_cast<std::uint16_t>(fx.size()),
                 0, {sfi, vfi});
}

// A PE32+ image with one .rsrc section (RVA 0x1000, file offset 0x200) that
// holds root -> 16 -> 1 -> 0x409 -> data entry -> blob. Offsets of the three
// directories in the section: 0x00, 0x18, 0x30; data entry 0x48; blob 0x58.
// With n_lang > 1 the language level has n_lang entries that all point at
// the same data entry (which then follows them).
bytes make_pe(const bytes &blob, std::uint16_t n_lang = 1) {
  bytes f(0x200, 0);
  f[0] = 'M';
  f[1] = 'Z';
  put32(f, 0x3C, 0x40);
  put32(f, 0x40, 0x00004550);
  put16(f, 0x44, 0x8664);
  put16(f, 0x46, 1);   // NumberOfSections
  put16(f, 0x54, 240); // SizeOfOptionalHeader
  const std::size_t opt = 0x58;
  put16(f, opt, 0x20B);
  put32(f, opt + 32, 0x1000); // SectionAlignment
  put32(f, opt + 36, 0x200);  // FileAlignment
  put32(f, opt + 60, 0x200);  // SizeOfHeaders
  put32(f, opt + 108, 16);    // NumberOfRvaAndSizes
  const std::size_t data_entry = 0x40 + 8 * std::size_t{n_lang};
  bytes rs(data_entry + 0x10, 0);
  put16(rs, 0x0E, 1); // root: one ID entry
  put32(rs, 0x10, 16);
  put32(rs, 0x14, 0x80000018u);
  put16(rs, 0x18 + 0x0E, 1); // name level
  put32(rs, 0x28, 1);
  put32(rs, 0x2C, 0x80000030u);
  put16(rs, 0x30 + 0x0E, n_lang); // language level
  for (std::size_t i = 0; i < n_lang; ++i) {
    put32(rs, 0x40 + 8 * i, static_cast<std::uint32_t>(0x409 + i));
    put32(rs, 0x44 + 8 * i, static_cast<std::uint32_t>(data_entry));
  }
  put32(rs, data_entry, static_cast<std::uint32_t>(0x1000 + rs.size()));
  put32(rs, data_entry + 4, static_cast<std::uint32_t>(blob.size()));
  rs.insert(rs.end(), blob.begin(), blob.end());
  put32(f, opt + 112 + 16, 0x1000);
  put32(f, opt + 112 + 20, static_cast<std::uint32_t>(rs.size()));
  const std::size_t sh = opt + 240;
  std::memcpy(&f[sh], ".rsrc", 5);
  put32(f, sh + 8, static_cast<std::uint32_t>(rs.size()));
  put32(f, sh + 12, 0x1000);
  std::size_t raw = (rs.size() + 0x1FF) & ~std::size_t{0x1FF};
  put32(f, sh + 16, static_cast<std::uint32_t>(raw));
  put32(f, sh + 20, 0x200);
  rs.resize(raw, 0);
  f.insert(f.end(), rs.begin(), rs.end());
  return f;
}

} // namespace

// --- reference corpus ----------------------------------------------------

BOOST_AUTO_TEST_CASE(reference_corpus) {
  auto ref = load_json(pe_dir() + "/reference.json");
  int checked = 0, without = 0;
  for (const auto &rec : ref) {
    std::string file = rec["file"];
    if (file.rfind("malformed/", 0) == 0)
      continue;
    BOOST_TEST_CONTEXT(file) {
      auto r = pe::read_file(pe_dir() + "/" + file);
      // read_file (on-demand reads) and parse (memory) agree.
      auto d = slurp(pe_dir() + "/" + file);
      auto rm = parse_copy(d.data(), d.size());
      BOOST_TEST(rm.error == r.error);
      BOOST_TEST(rm.message == r.message);
      BOOST_TEST(rm.info.has_value() == r.info.has_value());
      if (rm.info && r.info)
        BOOST_TEST(pe::to_json(*rm.info) == pe::to_json(*r.info));
      const auto &exp = rec["expected"];
      if (!has_data(exp)) {
        ++without;
        BOOST_TEST(pe::to_string(r.error)
                   == pe::to_string(pe::error_kind::no_version_info));
        BOOST_TEST(!r.info.has_value());
        continue;
      }
      ++checked;
      BOOST_TEST(pe::to_string(r.error) == "none", r.message);
      BOOST_REQUIRE(r.info.has_value());
      const auto &info = *r.info;
      const auto &ef = exp["fixed"];
      BOOST_TEST(info.fixed.has_value() == !ef.is_null());
      if (info.fixed && !ef.is_null()) {
        const auto &f = *info.fixed;
        BOOST_TEST(f.file_version == ef["FileVersion"].get<std::string>());
        BOOST_TEST(f.product_version
                   == ef["ProductVersion"].get<std::string>());
        BOOST_TEST(f.signature == ef["Signature"].get<std::uint32_t>());
        BOOST_TEST(f.struc_version == ef["StrucVersion"].get<std::uint32_t>());
        BOOST_TEST(f.file_flags_mask
                   == ef["FileFlagsMask"].get<std::uint32_t>());
        BOOST_TEST(f.file_flags == ef["FileFlags"].get<std::uint32_t>());
        BOOST_TEST(f.file_os == ef["FileOS"].get<std::uint32_t>());
        BOOST_TEST(f.file_type == ef["FileType"].get<std::uint32_t>());
        BOOST_TEST(f.file_subtype == ef["FileSubtype"].get<std::uint32_t>());
        BOOST_TEST(f.file_date == ef["FileDate"].get<std::uint64_t>());
      }
      // Merged strings: same map, and the same (first-seen) key order.
      ojson got = entries_json(info.strings);
      BOOST_TEST(got == exp["strings"], "strings: got "
                                            << got.dump() << " expected "
                                            << exp["strings"].dump());
      BOOST_TEST(got.dump() == exp["strings"].dump());
      // The JSON text of SPEC §7 parses back to the same object.
      BOOST_TEST(ojson::parse(pe::to_json(info)) == exp["strings"]);
      if (exp.contains("tables")) {
        BOOST_REQUIRE_EQUAL(info.tables.size(), exp["tables"].size());
        for (std::size_t i = 0; i < info.tables.size(); ++i) {
          const auto &et = exp["tables"][i];
          BOOST_TEST(info.tables[i].lang_codepage
                     == et["lang_codepage"].get<std::string>());
          BOOST_TEST(entries_json(info.tables[i].entries).dump()
                     == et["entries"].dump());
        }
      }
      if (exp.contains("translations"))
        BOOST_TEST(info.translations
                       == exp["translations"].get<std::vector<std::string>>(),
                   boost::test_tools::per_element());
    }
  }
  BOOST_TEST_MESSAGE("reference records checked: " << checked << " with data, "
                                                   << without << " without");
  BOOST_TEST(checked >= 50);
}

BOOST_AUTO_TEST_CASE(malformed_corpus) {
  auto manifest = load_json(pe_dir() + "/malformed/manifest.json");
  int n = 0;
  for (const auto &m : manifest) {
    std::string file = m["file"];
    std::string expect = m["expect"];
    BOOST_TEST_CONTEXT(file << " (" << expect << ")") {
      auto data = slurp(pe_dir() + "/" + file);
      auto r = parse_copy(data.data(), data.size());
      auto rf = pe::read_file(pe_dir() + "/" + file);
      BOOST_TEST(rf.error == r.error);
      BOOST_TEST_MESSAGE(file << ": " << pe::to_string(r.error) << " "
                              << r.message
                              << (r.info ? " (partial data)" : ""));
      if (expect == "not_pe") {
        BOOST_TEST(r.error != pe::error_kind::none);
        BOOST_TEST(!r.message.empty());
      } else {
        BOOST_TEST(expect == "damaged");
        BOOST_TEST((r.error != pe::error_kind::none || r.info.has_value()));
      }
      if (r.error != pe::error_kind::none)
        BOOST_TEST(!r.message.empty());
      ++n;
    }
  }
  BOOST_TEST_MESSAGE("malformed files checked: " << n);
  BOOST_TEST(n == 29);
}

// Specific malformed files: the kind and the message name the defect.
BOOST_AUTO_TEST_CASE(malformed_specifics) {
  struct want {
    const char *file;
    pe::error_kind kind;
    const char *in_message;
  };
  const want cases[] = {
      {"empty.exe", pe::error_kind::not_pe, "MZ"},
      {"bad_pe_signature.exe", pe::error_kind::not_pe, "PE signature"},
      {"bad_e_lfanew_huge.exe", pe::error_kind::not_pe, "e_lfanew"},
      {"rsrc_loop_self.exe", pe::error_kind::malformed, "loops"},
      {"rsrc_loop_mutual.exe", pe::error_kind::malformed, "loops"},
      {"rsrc_huge_entry_count.exe", pe::error_kind::malformed, "65535 entries"},
      {"rsrc_dir_outside.exe", pe::error_kind::malformed, "outside the file"},
  };
  for (const auto &c : cases) {
    BOOST_TEST_CONTEXT(c.file) {
      auto r = pe::read_file(pe_dir() + "/malformed/" + c.file);
      BOOST_TEST(pe::to_string(r.error) == pe::to_string(c.kind));
      BOOST_TEST(r.message.find(c.in_message) != std::string::npos, r.message);
    }
  }
  // Damage inside the version data still yields what could be read.
  auto r = pe::read_file(pe_dir() + "/malformed/rsrc_data_huge_size.exe");
  BOOST_TEST(r.error == pe::error_kind::malformed);
  BOOST_REQUIRE(r.info.has_value());
  BOOST_TEST(r.info->strings.size() == 12u);
  BOOST_REQUIRE(r.info->fixed.has_value());
  BOOST_TEST(r.info->fixed->file_version == "1.2.3.4");
}

// --- files, limits, JSON -------------------------------------------------

BOOST_AUTO_TEST_CASE(file_errors_and_limits) {
  auto r = pe::read_file(pe_dir() + "/does/not/exist.exe");
  BOOST_TEST(r.error == pe::error_kind::not_found);
  BOOST_TEST(!r.message.empty());
  r = pe::read_file(pe_dir());
  BOOST_TEST(r.error == pe::error_kind::io_error);
  r = pe::read_file(pe_dir() + "/README.md");
  BOOST_TEST(r.error == pe::error_kind::not_pe);
  pe::limits small;
  small.max_file_size = 1000;
  r = pe::read_file(pe_dir() + "/bin/basic64.exe", small);
  BOOST_TEST(r.error == pe::error_kind::too_large);
  auto d = slurp(pe_dir() + "/bin/basic64.exe");
  r = pe::parse(d.data(), d.size(), small);
  BOOST_TEST(r.error == pe::error_kind::too_large);
  r = pe::parse(nullptr, 0);
  BOOST_TEST(r.error == pe::error_kind::not_pe);
  BOOST_TEST(std::string(pe::to_string(pe::error_kind::malformed))
             == "malformed");
}

BOOST_AUTO_TEST_CASE(json_escaping) {
  pe::version_info vi;
  vi.strings = {{"A\"b", "line\nbreak\\"}, {"Empty", ""}};
  BOOST_TEST(pe::to_json(vi) == R"({"A\"b":"line\nbreak\\","Empty":""})");
  BOOST_TEST(pe::to_json(pe::version_info{}) == "{}");
}

// --- synthetic images ----------------------------------------------------

BOOST_AUTO_TEST_CASE(synthetic_utf16) {
  std::u16string lone = u"a";
  lone += static_cast<char16_t>(0xD800); // high surrogate, then 'b'
  lone += u"b";
  lone += static_cast<char16_t>(0xDC00); // low surrogate at the end
  auto img = make_pe(version_blob({
      vs_string(u"CompanyName", u"ACME"),
      vs_string(u"Comments", u"rocket \U0001F680!"),
      vs_string(u"Lone", lone),
      vs_string(u"Ключ", u"значение"),
      vs_string(u"CompanyName", u"later wins"),
  }));
  auto r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.error == pe::error_kind::none, r.message);
  BOOST_REQUIRE(r.info.has_value());
  const auto &s = r.info->strings;
  BOOST_REQUIRE_EQUAL(s.size(), 4u);
  BOOST_TEST(s[0].first == "CompanyName");
  BOOST_TEST(s[0].second == "later wins");
  BOOST_TEST(s[1].second == "rocket \xF0\x9F\x9A\x80!");
  BOOST_TEST(s[2].second
             == "a\xEF\xBF\xBD"
                "b\xEF\xBF\xBD");
  BOOST_TEST(s[3].first == "Ключ");
  BOOST_TEST(s[3].second == "значение");
  BOOST_REQUIRE(r.info->fixed.has_value());
  BOOST_TEST(r.info->fixed->file_version == "1.2.3.4");
  BOOST_TEST(r.info->fixed->file_type == 1u);
  BOOST_TEST(r.info->translations == std::vector<std::string>{"040904b0"},
             boost::test_tools::per_element());
  BOOST_REQUIRE_EQUAL(r.info->tables.size(), 1u);
  BOOST_TEST(r.info->tables[0].lang_codepage == "040904B0");
  BOOST_TEST(r.info->tables[0].entries.size() == 5u);
}

BOOST_AUTO_TEST_CASE(synthetic_no_fixed) {
  auto img = make_pe(version_blob({vs_string(u"K", u"V")}, false));
  auto r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.error == pe::error_kind::none, r.message);
  BOOST_REQUIRE(r.info.has_value());
  BOOST_TEST(!r.info->fixed.has_value());
  BOOST_TEST(pe::to_json(*r.info) == R"({"K":"V"})");
}

BOOST_AUTO_TEST_CASE(synthetic_loops_and_depth) {
  auto good = make_pe(version_blob({vs_string(u"K", u"V")}));
  const std::size_t rs = 0x200;
  // language entry turned into a directory pointing at the name level
  auto img = good;
  put32(img, rs + 0x44, 0x80000018u);
  auto r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.error == pe::error_kind::malformed);
  BOOST_TEST(r.message.find("loops") != std::string::npos, r.message);
  // name level pointing at itself
  img = good;
  put32(img, rs + 0x2C, 0x80000018u);
  r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.message.find("loops") != std::string::npos, r.message);
  // depth cap: with max_depth 2 the language level is not reached
  pe::limits lim;
  lim.max_depth = 2;
  r = parse_copy(good.data(), good.size(), lim);
  BOOST_TEST(r.error == pe::error_kind::malformed);
  BOOST_TEST(r.message.find("deeper") != std::string::npos, r.message);
  // entry cap
  lim = {};
  lim.max_resource_entries = 0;
  r = parse_copy(good.data(), good.size(), lim);
  BOOST_TEST(r.error == pe::error_kind::malformed);
  // String with wLength 0 inside a table: the walk stops there
  img = good;
  bool patched = false;
  for (std::size_t i = rs + 0x58; i + 4 < img.size(); i += 2)
    if (img[i] == 'K' && img[i + 1] == 0 && img[i + 2] == 0
        && img[i + 3] == 0) {
      put16(img, i - 6, 0);
      patched = true;
      break;
    }
  BOOST_REQUIRE(patched);
  r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.error == pe::error_kind::malformed);
  BOOST_TEST(r.message.find("wLength 0") != std::string::npos, r.message);
  BOOST_REQUIRE(r.info.has_value());
  BOOST_TEST(r.info->fixed.has_value());
}

// --- robustness ----------------------------------------------------------

// 4000 language entries all naming one 64 KB blob of ~3000 Strings: the
// work caps (version bytes, table entries) end it quickly with an error.
BOOST_AUTO_TEST_CASE(amplification_is_bounded) {
  std::vector<bytes> strings(3000, vs_string(u"K", u""));
  auto blob = version_blob(strings);
  BOOST_REQUIRE_LT(blob.size(), 65536u);
  auto img = make_pe(blob, 4000);
  auto t0 = std::chrono::steady_clock::now();
  auto r = parse_copy(img.data(), img.size());
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  BOOST_TEST_MESSAGE("amplification: " << secs << " s, " << r.message);
  BOOST_TEST(r.error == pe::error_kind::malformed);
  BOOST_TEST(secs < 5.0);
  BOOST_REQUIRE(r.info.has_value());
  std::size_t entries = 0;
  for (const auto &t : r.info->tables)
    entries += t.entries.size();
  BOOST_TEST(entries <= 65536u);
  BOOST_TEST(r.info->strings.size() == 1u);
  // One language entry: the same blob is fine.
  img = make_pe(blob);
  r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.error == pe::error_kind::none, r.message);
}

BOOST_AUTO_TEST_CASE(every_prefix) {
  for (const char *f :
       {"bin/basic64.exe", "bin/basic32.exe", "bin/rawvarfirst.exe"}) {
    auto d = slurp(pe_dir() + "/" + f);
    std::size_t with_info = 0;
    for (std::size_t n = 0; n <= d.size(); ++n) {
      auto r = parse_copy(d.data(), n);
      if (r.info)
        ++with_info;
      if (r.error == pe::error_kind::none)
        BOOST_REQUIRE(r.info.has_value());
    }
    BOOST_TEST_MESSAGE(f << ": " << d.size() + 1 << " prefixes, " << with_info
                         << " with (partial) data");
    auto full = parse_copy(d.data(), d.size());
    BOOST_TEST(full.error == pe::error_kind::none);
  }
}

BOOST_AUTO_TEST_CASE(random_flips) {
  std::mt19937_64 rng(20240611);
  std::size_t runs = 0;
  for (const char *f :
       {"bin/basic64.exe", "bin/basic32.exe", "bin/multilang.exe",
        "bin/multires_id.exe", "wine/x86_64-windows/winver.exe"}) {
    auto orig = slurp(pe_dir() + "/" + f);
    // Flips land anywhere, or (half the time) in the headers and the last
    // 16 KiB where the resources usually are.
    for (int it = 0; it < 3000; ++it) {
      auto d = orig;
      int flips = 1 + static_cast<int>(rng() % 8);
      for (int k = 0; k < flips; ++k) {
        std::size_t pos;
        switch (rng() % 3) {
        case 0:
          pos = rng() % d.size();
          break;
        case 1:
          pos = rng() % std::min<std::size_t>(d.size(), 0x400);
          break;
        default: {
          std::size_t tail = std::min<std::size_t>(d.size(), 0x4000);
          pos = d.size() - tail + rng() % tail;
        }
        }
        d[pos] = (rng() % 2) ? static_cast<std::uint8_t>(rng())
                             : static_cast<std::uint8_t>(d[pos] ^ 0xFF);
      }
      auto r = parse_copy(d.data(), d.size());
      if (r.error == pe::error_kind::none)
        BOOST_REQUIRE(r.info.has_value());
      ++runs;
    }
  }
  BOOST_TEST(runs == 15000u);
}

BOOST_AUTO_TEST_SUITE_END() // pe_reader_test
