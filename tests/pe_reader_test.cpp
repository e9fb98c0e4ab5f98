// Tests of the PE version-information reader against the shared corpus
// (../shared/data/pe: reference.json, malformed/manifest.json) plus
// synthetic images, truncations and seeded byte flips.
#include <boost/test/unit_test.hpp>

#include "actors/enricher/pe_version_reader.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
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

#include <unistd.h>

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

// A resource tree root -> 16 -> 1 -> 0x409 -> data entry -> blob, to be
// loaded at RVA `rva`. Offsets of the three directories: 0x00, 0x18, 0x30;
// data entry 0x40 + 8 * n_lang; blob after it. With n_lang > 1 the language
// level has n_lang entries that all point at the same data entry.
bytes rsrc_tree(const bytes &blob, std::uint32_t rva,
                std::uint16_t n_lang = 1) {
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
  put32(rs, data_entry, static_cast<std::uint32_t>(rva + rs.size()));
  put32(rs, data_entry + 4, static_cast<std::uint32_t>(blob.size()));
  rs.insert(rs.end(), blob.begin(), blob.end());
  return rs;
}

struct sec_spec {
  std::uint32_t va, vsize, raw_ptr, raw_size;
};

// A PE32+ image (SectionAlignment 0x1000, FileAlignment 0x200, headers
// 0x200 bytes) with the given section headers and resource directory RVA;
// the file is `size` bytes, contents placed with place().
bytes make_image(const std::vector<sec_spec> &secs, std::uint32_t rsrc_rva,
                 std::uint32_t rsrc_size, std::size_t size) {
  bytes f(std::max<std::size_t>(size, 0x200), 0);
  f[0] = 'M';
  f[1] = 'Z';
  put32(f, 0x3C, 0x40);
  put32(f, 0x40, 0x00004550);
  put16(f, 0x44, 0x8664);
  put16(f, 0x46, static_cast<std::uint16_t>(secs.size()));
  put16(f, 0x54, 240); // SizeOfOptionalHeader
  const std::size_t opt = 0x58;
  put16(f, opt, 0x20B);
  put32(f, opt + 32, 0x1000); // SectionAlignment
  put32(f, opt + 36, 0x200);  // FileAlignment
  put32(f, opt + 60, 0x200);  // SizeOfHeaders
  put32(f, opt + 108, 16);    // NumberOfRvaAndSizes
  put32(f, opt + 112 + 16, rsrc_rva);
  put32(f, opt + 112 + 20, rsrc_size);
  for (std::size_t i = 0; i < secs.size(); ++i) {
    const std::size_t sh = opt + 240 + 40 * i;
    std::memcpy(&f[sh], ".sect", 5);
    f[sh + 5] = static_cast<std::uint8_t>('0' + i);
    put32(f, sh + 8, secs[i].vsize);
    put32(f, sh + 12, secs[i].va);
    put32(f, sh + 16, secs[i].raw_size);
    put32(f, sh + 20, secs[i].raw_ptr);
    put32(f, sh + 36, 0x40000040u); // initialised data, readable
  }
  return f;
}

void place(bytes &f, std::size_t off, const bytes &data) {
  if (f.size() < off + data.size())
    f.resize(off + data.size(), 0);
  std::copy(data.begin(), data.end(), f.begin() + off);
}

// A PE32+ image with one .rsrc section (RVA 0x1000, file offset 0x200) that
// holds rsrc_tree(blob, 0x1000, n_lang).
bytes make_pe(const bytes &blob, std::uint16_t n_lang = 1) {
  bytes rs = rsrc_tree(blob, 0x1000, n_lang);
  auto size = static_cast<std::uint32_t>(rs.size());
  std::uint32_t raw = (size + 0x1FF) & ~std::uint32_t{0x1FF};
  bytes f = make_image({{0x1000, size, 0x200, raw}}, 0x1000, size, 0x200 + raw);
  place(f, 0x200, rs);
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

// --- RVA mapping: what the loader (and pefile) maps ------------------------
// Reads of the resource tree and the version data follow the loaded image:
// a section's bytes past SizeOfRawData are zeros, never the file bytes that
// follow; overlapping sections are cut where the next one starts.

namespace {

std::string strings_json(const pe::result &r) {
  return r.info ? pe::to_json(*r.info) : "null";
}

// Merged StringFileInfo strings per python3-pefile (fast_load + resource
// directory, as reference.json), as JSON with keys sorted; "" when pefile is
// not installed (/usr/bin/python3 is the interpreter that sees it).
std::string pefile_strings(const bytes &img, const std::string &tag) {
  static const bool have = std::system("/usr/bin/python3 -c 'import pefile' "
                                       ">/dev/null 2>&1")
                           == 0;
  if (!have)
    return {};
  std::string path =
      "pe_reader_test_" + std::to_string(::getpid()) + "_" + tag + ".exe";
  {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char *>(img.data()),
              static_cast<std::streamsize>(img.size()));
  }
  std::string cmd =
      "/usr/bin/python3 -c '\n"
      "import json, sys, pefile\n"
      "pe = pefile.PE(sys.argv[1], fast_load=True)\n"
      "pe.parse_data_directories([pefile.DIRECTORY_ENTRY["
      "\"IMAGE_DIRECTORY_ENTRY_RESOURCE\"]])\n"
      "out = None\n"
      "for fi in getattr(pe, \"FileInfo\", None) or []:\n"
      "  for e in fi:\n"
      "    for st in getattr(e, \"StringTable\", []):\n"
      "      out = out or {}\n"
      "      out.update({k.decode(\"utf-8\", \"replace\"): v.decode(\"utf-8\", "
      "\"replace\") for k, v in st.entries.items()})\n"
      "print(json.dumps(out, sort_keys=True))\n"
      "' "
      + path + " 2>/dev/null";
  std::string text;
  if (FILE *p = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
      text.append(buf, n);
    ::pclose(p);
  }
  std::remove(path.c_str());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  return text;
}

// Our merged strings in pefile_strings' form (keys sorted), or "null".
std::string sorted_strings(const pe::result &r) {
  if (!r.info || r.info->tables.empty())
    return "null";
  nlohmann::json o = nlohmann::json::object(); // std::map: sorted keys
  for (const auto &[k, v] : r.info->strings)
    o[k] = v;
  return o.dump();
}

// Compares with pefile when it is installed.
void check_against_pefile(const bytes &img, const std::string &tag,
                          const pe::result &r) {
  auto want = pefile_strings(img, tag);
  if (want.empty()) {
    BOOST_TEST_MESSAGE(tag << ": python3-pefile not installed, not compared");
    return;
  }
  auto theirs = nlohmann::json::parse(want, nullptr, false);
  BOOST_TEST(nlohmann::json::parse(sorted_strings(r)) == theirs,
             tag << ": pefile says " << want << ", we say "
                 << sorted_strings(r));
}

bytes spoof_blob() {
  return version_blob({vs_string(u"CompanyName", u"Spoofed Corp"),
                       vs_string(u"OriginalFilename", u"spoof.exe")});
}

} // namespace

// The case file of issue 15: the resource directory RVA lies in .data's
// virtual tail; the file bytes after .data's raw data (.other) hold a tree
// with spoofed strings. The loaded image has zeros there.
BOOST_AUTO_TEST_CASE(case_virtual_tail_spoof) {
  const std::string path =
      data_dir() + "/../cases/pe/pe_rva_virtual_tail_spoof.exe";
  auto d = slurp(path);
  auto r = parse_copy(d.data(), d.size());
  BOOST_TEST(r.error == pe::error_kind::no_version_info, r.message);
  BOOST_TEST(!r.info.has_value(), strings_json(r));
  auto rf = pe::read_file(path);
  BOOST_TEST(rf.error == pe::error_kind::no_version_info, rf.message);
  BOOST_TEST(!rf.info.has_value());
  check_against_pefile(d, "case", r);
}

// (a) Resource RVA in a section's virtual tail beyond SizeOfRawData.
BOOST_AUTO_TEST_CASE(rva_in_virtual_tail) {
  // .s0: RVA 0x1000, VirtualSize 0x2000, raw 0x200..0x400 (zeros);
  // .s1: RVA 0x3000, raw 0x400..0x800, holds a tree built for RVA 0x1200.
  auto build = [](std::uint32_t tree_rva) {
    bytes tree = rsrc_tree(spoof_blob(), tree_rva);
    bytes f = make_image(
        {{0x1000, 0x2000, 0x200, 0x200}, {0x3000, 0x1000, 0x400, 0x400}},
        tree_rva, static_cast<std::uint32_t>(tree.size()), 0x800);
    place(f, 0x400, tree);
    return f;
  };
  auto img = build(0x1200);
  auto r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.error == pe::error_kind::no_version_info, r.message);
  BOOST_TEST(!r.info.has_value(), strings_json(r));
  check_against_pefile(img, "tail", r);
  // The same bytes at the RVA where they are loaded (.s1) are read.
  img = build(0x3000);
  r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.error == pe::error_kind::none, r.message);
  BOOST_TEST(
      strings_json(r)
      == R"({"CompanyName":"Spoofed Corp","OriginalFilename":"spoof.exe"})");
  check_against_pefile(img, "tail_control", r);

  // Tree in the raw data, version data RVA in the tail: the blob is zeros,
  // not the file bytes after the raw data.
  bytes tree = rsrc_tree({}, 0x1000);
  bytes blob = spoof_blob();
  put32(tree, tree.size() - 16, 0x1200); // data entry: RVA
  put32(tree, tree.size() - 12, static_cast<std::uint32_t>(blob.size()));
  img = make_image(
      {{0x1000, 0x2000, 0x200, 0x200}, {0x3000, 0x1000, 0x400, 0x400}}, 0x1000,
      static_cast<std::uint32_t>(tree.size()), 0x800);
  place(img, 0x200, tree);
  place(img, 0x400, blob);
  r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.error == pe::error_kind::malformed, r.message);
  BOOST_TEST(!r.info.has_value(), strings_json(r));
  BOOST_TEST(r.message.find("past its section's raw data") != std::string::npos,
             r.message);
  // A blob that starts in the raw data and ends in the tail: the part in
  // the tail is zeros, so the strings that lie there are cut off.
  bytes two = version_blob(
      {vs_string(u"CompanyName", u"Real"), vs_string(u"Comments", u"tail")});
  tree = rsrc_tree(two, 0x1000);
  std::size_t cut = 0; // the "Comments" String node starts here
  const std::u16string key = u"Comments";
  for (std::size_t i = 0; i + 2 * key.size() <= tree.size() && !cut; i += 2) {
    bool match = true;
    for (std::size_t k = 0; k < key.size() && match; ++k)
      match = tree[i + 2 * k] == (key[k] & 0xFF) && tree[i + 2 * k + 1] == 0;
    if (match)
      cut = i - 6;
  }
  BOOST_REQUIRE(cut > 0);
  img = make_image({{0x1000, 0x2000, 0x200, static_cast<std::uint32_t>(cut)},
                    {0x3000, 0x1000, 0x400, 0x400}},
                   0x1000, static_cast<std::uint32_t>(tree.size()), 0x800);
  place(img, 0x200, tree); // the rest of the tree lies past the raw data
  r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.error == pe::error_kind::malformed, r.message);
  BOOST_REQUIRE(r.info.has_value());
  BOOST_TEST(strings_json(r) == R"({"CompanyName":"Real"})");
  BOOST_TEST(r.message.find("wLength 0") != std::string::npos, r.message);
}

// (b) A section with SizeOfRawData 0 has no file bytes, whatever lies at
// its PointerToRawData (mutants m07_053 / m12_055, max_sec_rawsize_0).
BOOST_AUTO_TEST_CASE(raw_size_zero) {
  auto build = [](std::uint32_t raw_size) {
    bytes tree = rsrc_tree(spoof_blob(), 0x1000);
    bytes f = make_image({{0x1000, 0x1000, 0x200, raw_size}}, 0x1000,
                         static_cast<std::uint32_t>(tree.size()), 0x400);
    place(f, 0x200, tree);
    return f;
  };
  auto img = build(0);
  auto r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.error == pe::error_kind::no_version_info, r.message);
  BOOST_TEST(!r.info.has_value(), strings_json(r));
  check_against_pefile(img, "rawsize0", r);
  auto rf = [&] {
    std::string path =
        "pe_reader_test_" + std::to_string(::getpid()) + "_rawsize0.exe";
    {
      std::ofstream out(path, std::ios::binary);
      out.write(reinterpret_cast<const char *>(img.data()),
                static_cast<std::streamsize>(img.size()));
    }
    auto res = pe::read_file(path);
    std::remove(path.c_str());
    return res;
  }();
  BOOST_TEST(rf.error == pe::error_kind::no_version_info, rf.message);
  // With its raw data declared, the same file gives the strings.
  img = build(0x200);
  r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.error == pe::error_kind::none, r.message);
  BOOST_TEST(
      strings_json(r)
      == R"({"CompanyName":"Spoofed Corp","OriginalFilename":"spoof.exe"})");
  check_against_pefile(img, "rawsize200", r);
}

// (c) Overlapping sections: pefile sorts by VirtualAddress and cuts each
// section where the next begins, so the later section owns the overlap,
// whatever the order in the section table.
BOOST_AUTO_TEST_CASE(overlapping_sections) {
  // .big: RVA 0x1000, VirtualSize 0x3000, raw 0x200..0x1400; RVA 0x2000
  // in it would be file offset 0x1200 (a decoy tree). .small: RVA 0x2000,
  // raw 0x1400..0x1600, the real tree.
  bytes decoy =
      rsrc_tree(version_blob({vs_string(u"CompanyName", u"Decoy")}), 0x2000);
  bytes real =
      rsrc_tree(version_blob({vs_string(u"CompanyName", u"Real")}), 0x2000);
  const sec_spec big{0x1000, 0x3000, 0x200, 0x1200};
  const sec_spec small{0x2000, 0x200, 0x1400, 0x200};
  for (bool big_first : {true, false}) {
    BOOST_TEST_CONTEXT("big section first in the table: " << big_first) {
      std::vector<sec_spec> secs{big, small};
      if (!big_first)
        std::swap(secs[0], secs[1]);
      bytes img = make_image(secs, 0x2000,
                             static_cast<std::uint32_t>(real.size()), 0x1600);
      place(img, 0x1200, decoy);
      place(img, 0x1400, real);
      auto r = parse_copy(img.data(), img.size());
      BOOST_TEST(r.error == pe::error_kind::none, r.message);
      BOOST_TEST(strings_json(r) == R"({"CompanyName":"Real"})");
      check_against_pefile(img, big_first ? "overlap1" : "overlap2", r);
    }
  }
  // Below the next section's start the first section still maps: a tree at
  // RVA 0x1800 is read from .big's raw data (offset 0xA00).
  bytes low =
      rsrc_tree(version_blob({vs_string(u"CompanyName", u"Low")}), 0x1800);
  bytes img = make_image({big, small}, 0x1800,
                         static_cast<std::uint32_t>(low.size()), 0x1600);
  place(img, 0xA00, low);
  auto r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.error == pe::error_kind::none, r.message);
  BOOST_TEST(strings_json(r) == R"({"CompanyName":"Low"})");
  check_against_pefile(img, "overlap_low", r);
}

// (d) A normal image: the mapping changes nothing.
BOOST_AUTO_TEST_CASE(normal_image_mapping) {
  auto blob = version_blob({vs_string(u"CompanyName", u"ACME"),
                            vs_string(u"OriginalFilename", u"acme.exe"),
                            vs_string(u"FileVersion", u"1.2.3.4")});
  // .text (code) first, then .rsrc at RVA 0x2000, raw 0x400.
  bytes tree = rsrc_tree(blob, 0x2000);
  auto raw = static_cast<std::uint32_t>((tree.size() + 0x1FF) & ~0x1FFu);
  bytes img = make_image(
      {{0x1000, 0x10, 0x200, 0x200},
       {0x2000, static_cast<std::uint32_t>(tree.size()), 0x400, raw}},
      0x2000, static_cast<std::uint32_t>(tree.size()), 0x400 + raw);
  place(img, 0x400, tree);
  auto r = parse_copy(img.data(), img.size());
  BOOST_TEST(r.error == pe::error_kind::none, r.message);
  BOOST_TEST(
      strings_json(r)
      == R"({"CompanyName":"ACME","OriginalFilename":"acme.exe","FileVersion":"1.2.3.4"})");
  BOOST_REQUIRE(r.info.has_value());
  BOOST_REQUIRE(r.info->fixed.has_value());
  BOOST_TEST(r.info->fixed->file_version == "1.2.3.4");
  BOOST_TEST(r.info->translations == std::vector<std::string>{"040904b0"},
             boost::test_tools::per_element());
  check_against_pefile(img, "normal", r);
}

// Corpus files against pefile itself (reference.json was made with it;
// this also covers a pefile newer than the stored reference). Truncated
// version data is left out: there the reader keeps the strings it could
// read and pefile drops them all; so are several version resources, which
// pe.FileInfo does not merge (reference.json does). Both are apart from the
// RVA mapping.
BOOST_AUTO_TEST_CASE(corpus_against_pefile) {
  if (pefile_strings(make_pe(version_blob({})), "probe").empty()) {
    BOOST_TEST_MESSAGE("python3-pefile not installed: corpus not compared");
    return;
  }
  int n = 0;
  for (const char *f :
       {"bin/basic64.exe", "bin/basic32.exe", "bin/multilang.exe",
        "bin/noversion64.exe", "wine/x86_64-windows/winver.exe",
        "malformed/section_rawptr_outside.exe",
        "malformed/trunc_random_2.exe"}) {
    BOOST_TEST_CONTEXT(f) {
      auto d = slurp(pe_dir() + "/" + f);
      auto r = parse_copy(d.data(), d.size());
      check_against_pefile(d, "corpus", r);
      ++n;
    }
  }
  BOOST_TEST(n == 7);
}

BOOST_AUTO_TEST_SUITE_END() // pe_reader_test
