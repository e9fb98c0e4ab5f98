#include "actors/enricher/pe_version_reader.hpp"

#include "actors/common/json_text.hpp"
#include "actors/common/posix_io.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <unordered_map>

#include <sys/stat.h>

namespace proctrack::pe {

const char *to_string(error_kind k) {
  switch (k) {
  case error_kind::none:
    return "none";
  case error_kind::not_found:
    return "not_found";
  case error_kind::io_error:
    return "io_error";
  case error_kind::not_pe:
    return "not_pe";
  case error_kind::malformed:
    return "malformed";
  case error_kind::no_version_info:
    return "no_version_info";
  case error_kind::too_large:
    return "too_large";
  }
  return "?";
}

namespace {

// All positions are std::uint64_t: every value read from the file is at most
// 32 bits wide, so sums of two or three of them cannot wrap, and every access
// goes through view::has() which compares against the real size.
using u64 = std::uint64_t;

constexpr std::uint16_t rt_version = 16;
constexpr u64 fixed_info_size = 52;
constexpr std::uint32_t hard_max_depth = 64; // whatever limits says
// Work caps that keep hostile files cheap, whatever the limits say:
constexpr u64 max_sections = 8192;          // sections used for RVA mapping
constexpr u64 max_version_bytes = 16 << 20; // VS_VERSIONINFO bytes, all blobs
constexpr u64 max_table_entries = 65536;    // Strings, all tables

std::string hex(u64 v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

struct view {
  const std::uint8_t *d = nullptr;
  u64 n = 0;

  bool has(u64 off, u64 len) const {
    return off <= n && len <= n - off;
  }
  std::uint16_t u16(u64 off) const { // caller checked has(off, 2)
    return static_cast<std::uint16_t>(d[off] | (d[off + 1] << 8));
  }
  std::uint32_t u32(u64 off) const { // caller checked has(off, 4)
    return static_cast<std::uint32_t>(d[off])
           | (static_cast<std::uint32_t>(d[off + 1]) << 8)
           | (static_cast<std::uint32_t>(d[off + 2]) << 16)
           | (static_cast<std::uint32_t>(d[off + 3]) << 24);
  }
};

u64 align4(u64 x) {
  return (x + 3) & ~u64{3};
}

// UTF-16LE code units [off, off + 2 * units) to UTF-8; surrogate pairs are
// combined, lone surrogates become U+FFFD. Caller checked the range.
std::string utf16_to_utf8(const view &v, u64 off, u64 units) {
  std::string out;
  out.reserve(units);
  for (u64 i = 0; i < units; ++i) {
    std::uint32_t c = v.u16(off + 2 * i);
    if (c >= 0xD800 && c <= 0xDBFF) {
      if (i + 1 < units) {
        std::uint32_t c2 = v.u16(off + 2 * (i + 1));
        if (c2 >= 0xDC00 && c2 <= 0xDFFF) {
          append_utf8(out, 0x10000 + ((c - 0xD800) << 10) + (c2 - 0xDC00));
          ++i;
          continue;
        }
      }
      c = 0xFFFD;
    } else if (c >= 0xDC00 && c <= 0xDFFF) {
      c = 0xFFFD;
    }
    append_utf8(out, c);
  }
  return out;
}

std::string version_string(std::uint32_t ms, std::uint32_t ls) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", ms >> 16, ms & 0xFFFF, ls >> 16,
                ls & 0xFFFF);
  return buf;
}

// Collects damage: the first message is reported, the rest counted.
struct damage {
  std::string first;
  std::size_t count = 0;
  void add(std::string msg) {
    if (count++ == 0)
      first = std::move(msg);
  }
};

// --- VS_VERSIONINFO ------------------------------------------------------
// Node layout: WORD wLength; WORD wValueLength; WORD wType; WCHAR szKey[];
// pad to 4; Value; pad to 4; children up to wLength. A node is clamped to
// its parent; a child walk stops at a node shorter than its own header.

struct vs_node {
  u64 off = 0;
  u64 end = 0;  // clamped to the parent
  u64 next = 0; // off + wLength, unclamped: where a sibling would start
  std::uint16_t value_len = 0;
  u64 key_off = 0; // UTF-16 key, key_units code units
  u64 key_units = 0;
  u64 value_off = 0; // aligned, may lie past end
};

class vs_parser {
public:
  vs_parser(view blob, u64 file_off, damage &dmg, u64 &entries)
      : v_(blob), base_(file_off), dmg_(dmg), entries_(entries) {}

  // Appends what this blob holds to `out`; returns false if there is no
  // usable root node.
  bool run(version_info &out, bool &have_fixed) {
    vs_node root;
    if (!node(0, v_.n, root))
      return false;
    if (!key_is(root, "VS_VERSION_INFO"))
      dmg_.add(
          "VS_VERSIONINFO at offset " + hex(base_) + " has root key '"
          + utf16_to_utf8(v_, root.key_off, std::min<u64>(root.key_units, 40))
          + "'");
    if (root.value_len >= fixed_info_size && root.value_off <= root.end
        && fixed_info_size <= root.end - root.value_off) {
      if (!have_fixed) {
        auto f = root.value_off;
        fixed_file_info fi;
        fi.signature = v_.u32(f);
        fi.struc_version = v_.u32(f + 4);
        fi.file_version = version_string(v_.u32(f + 8), v_.u32(f + 12));
        fi.product_version = version_string(v_.u32(f + 16), v_.u32(f + 20));
        fi.file_flags_mask = v_.u32(f + 24);
        fi.file_flags = v_.u32(f + 28);
        fi.file_os = v_.u32(f + 32);
        fi.file_type = v_.u32(f + 36);
        fi.file_subtype = v_.u32(f + 40);
        fi.file_date = (u64{v_.u32(f + 44)} << 32) | v_.u32(f + 48);
        out.fixed = std::move(fi);
        have_fixed = true;
      }
    } else if (root.value_len != 0) {
      dmg_.add("VS_VERSIONINFO at offset " + hex(base_)
               + " has a fixed-info length of " + std::to_string(root.value_len)
               + " that does not fit (52 expected)");
    }
    for_children(root, root.value_off + root.value_len, [&](const vs_node &b) {
      if (key_is(b, "StringFileInfo")) {
        for_children(b, b.value_off + b.value_len, [&](const vs_node &t) {
          string_table st;
          st.lang_codepage = key(t);
          for_children(t, t.value_off + t.value_len, [&](const vs_node &s) {
            if (entries_ >= max_table_entries) {
              if (entries_++ == max_table_entries)
                dmg_.add("more than " + std::to_string(max_table_entries)
                         + " version strings");
              return;
            }
            ++entries_;
            st.entries.emplace_back(key(s), value_text(s));
          });
          out.tables.push_back(std::move(st));
        });
      } else if (key_is(b, "VarFileInfo")) {
        for_children(b, b.value_off + b.value_len, [&](const vs_node &var) {
          if (!key_is(var, "Translation") || var.value_off >= var.end)
            return;
          u64 len = std::min<u64>(var.value_len, var.end - var.value_off);
          for (u64 i = 0; i + 4 <= len; i += 4) {
            char buf[16];
            std::snprintf(buf, sizeof buf, "%04x%04x",
                          unsigned{v_.u16(var.value_off + i)},
                          unsigned{v_.u16(var.value_off + i + 2)});
            out.translations.emplace_back(buf);
          }
        });
      }
      // Other child blocks are ignored, as Windows does.
    });
    return true;
  }

private:
  bool node(u64 off, u64 limit, vs_node &out) {
    if (off > limit || limit - off < 6)
      return false;
    std::uint16_t wlen = v_.u16(off);
    if (wlen < 6) {
      dmg_.add("version node at offset " + hex(base_ + off) + " has wLength "
               + std::to_string(wlen));
      return false;
    }
    out.off = off;
    out.next = off + wlen;
    out.end = out.next;
    if (out.end > limit) {
      dmg_.add("version node at offset " + hex(base_ + off) + " (wLength "
               + std::to_string(wlen) + ") overruns its parent");
      out.end = limit;
    }
    out.value_len = v_.u16(off + 2);
    out.key_off = off + 6;
    u64 p = out.key_off;
    while (p + 2 <= out.end && v_.u16(p) != 0)
      p += 2;
    out.key_units = (p - out.key_off) / 2;
    if (p + 2 <= out.end) {
      p += 2; // the NUL
    } else {
      dmg_.add("version node at offset " + hex(base_ + off)
               + " has an unterminated key");
      p = out.end;
    }
    out.value_off = align4(p);
    return true;
  }

  template <class F>
  void for_children(const vs_node &parent, u64 first, F &&f) {
    // Each child is at least 6 bytes long and starts after the previous one,
    // so this ends after at most (end - first) / 6 steps.
    u64 p = align4(first);
    while (p < parent.end && parent.end - p >= 6) {
      vs_node c;
      if (!node(p, parent.end, c))
        break;
      f(c);
      p = align4(c.next);
    }
  }

  bool key_is(const vs_node &n, const char *ascii) const {
    u64 len = std::strlen(ascii);
    if (n.key_units != len)
      return false;
    for (u64 i = 0; i < len; ++i)
      if (v_.u16(n.key_off + 2 * i) != static_cast<unsigned char>(ascii[i]))
        return false;
    return true;
  }

  std::string key(const vs_node &n) const {
    return utf16_to_utf8(v_, n.key_off, n.key_units);
  }

  // The value runs from value_off to the node end (wValueLength is in WORDs
  // per the docs but bytes for some producers) and ends at its first NUL.
  std::string value_text(const vs_node &s) const {
    if (s.value_off >= s.end)
      return {};
    u64 units = (s.end - s.value_off) / 2;
    u64 n = 0;
    while (n < units && v_.u16(s.value_off + 2 * n) != 0)
      ++n;
    return utf16_to_utf8(v_, s.value_off, n);
  }

  view v_;
  u64 base_;
  damage &dmg_;
  u64 &entries_; // Strings so far, all blobs
};

// --- byte sources ---------------------------------------------------------
// pe_parser reads through a Source: has(off, len) checks a range against the
// size, u16/u32 read little-endian values (caller checked has), bytes() gives
// a contiguous view of a checked range (at most max_vs_size bytes).

// A VS_VERSIONINFO root's wLength is 16 bits, so nothing past this many
// bytes of a version resource is ever looked at.
constexpr u64 max_vs_size = 0x10000;

struct memory_source {
  view v;
  u64 size() const {
    return v.n;
  }
  bool has(u64 off, u64 len) const {
    return v.has(off, len);
  }
  std::uint8_t u8(u64 off) const {
    return v.d[off];
  }
  std::uint16_t u16(u64 off) const {
    return v.u16(off);
  }
  std::uint32_t u32(u64 off) const {
    return v.u32(off);
  }
  view bytes(u64 off, u64 len) const {
    return view{v.d + off, len};
  }
};

// Reads a file on demand through a few cached 4 KiB blocks: memory stays
// small whatever the file size, and only the headers, the resource tree and
// the version data are read. A file that shrinks while being read gives
// zeros past its new end and sets `short_read`.
class file_source {
public:
  file_source(int fd, u64 size) : fd_(fd), n_(size) {}
  u64 size() const {
    return n_;
  }
  bool has(u64 off, u64 len) const {
    return off <= n_ && len <= n_ - off;
  }
  std::uint8_t u8(u64 off) {
    return byte(off);
  }
  std::uint16_t u16(u64 off) {
    return static_cast<std::uint16_t>(byte(off) | (byte(off + 1) << 8));
  }
  std::uint32_t u32(u64 off) {
    return static_cast<std::uint32_t>(u16(off))
           | (static_cast<std::uint32_t>(u16(off + 2)) << 16);
  }
  view bytes(u64 off, u64 len) {
    buf_.assign(len, 0);
    read_at(off, len, buf_.data());
    return view{buf_.data(), len};
  }
  bool short_read = false;
  int read_errno = 0;

private:
  static constexpr u64 block_size = 4096;
  static constexpr std::size_t slots = 16;
  struct slot {
    u64 index = ~u64{0};
    std::uint8_t data[block_size];
  };

  void read_at(u64 off, u64 len, std::uint8_t *out) {
    u64 got = 0;
    while (got < len) {
      auto r = pread_at(fd_, out + got, len - got,
                        static_cast<std::int64_t>(off + got));
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0) {
        if (r < 0)
          read_errno = errno;
        short_read = true;
        std::memset(out + got, 0, len - got);
        return;
      }
      got += static_cast<u64>(r);
    }
  }

  std::uint8_t byte(u64 off) {
    if (!cache_)
      cache_.reset(new slot[slots]);
    u64 index = off / block_size;
    slot &s = cache_[index % slots];
    if (s.index != index) {
      u64 start = index * block_size;
      read_at(start, std::min(block_size, n_ - start), s.data);
      s.index = index;
    }
    return s.data[off % block_size];
  }

  int fd_;
  u64 n_;
  std::unique_ptr<slot[]> cache_;
  std::vector<std::uint8_t> buf_;
};

// --- PE headers and resource tree ---------------------------------------

// A section as the loader maps it (see map_rva).
struct section {
  u64 va_hdr = 0;  // VirtualAddress as in the header: sort key, trim point
  u64 va = 0;      // VirtualAddress, aligned down as pefile does
  u64 end = 0;     // end of the mapped range (RVA), trimmed at the next section
  u64 raw = 0;     // PointerToRawData, aligned down as pefile does
  u64 raw_end = 0; // file bytes end here: PointerToRawData + SizeOfRawData
};

// Where an RVA lands: `off` is its file offset; of the `mapped` bytes from
// there to the end of its section, the first `raw` come from the file (of
// which the first `file` exist: a truncated file has fewer) and the rest are
// the section's zero-filled virtual tail.
struct mapping {
  u64 off = 0;
  u64 mapped = 0;
  u64 raw = 0;
  u64 file = 0;
};

struct blob_ref {
  std::uint32_t rva;
  std::uint32_t size;
  u64 entry_off; // file offset of the IMAGE_RESOURCE_DATA_ENTRY
};

template <class Source>
class pe_parser {
public:
  pe_parser(Source &src, const limits &lim) : src_(src), lim_(lim) {
    max_depth_ = std::min(lim.max_depth, hard_max_depth);
  }

  result run() {
    result r;
    if (src_.size() > lim_.max_file_size) {
      r.error = error_kind::too_large;
      r.message = "input of " + std::to_string(src_.size()) + " bytes exceeds "
                  + std::to_string(lim_.max_file_size);
      return r;
    }
    u64 rsrc_rva = 0;
    if (!headers(r, rsrc_rva))
      return r;
    if (rsrc_rva == 0) {
      r.error = error_kind::no_version_info;
      r.message = "no resource directory";
      return r;
    }
    std::vector<blob_ref> blobs;
    resources(rsrc_rva, blobs);
    version_info info;
    bool have_info = false, have_fixed = false;
    u64 version_bytes = 0, table_entries = 0;
    std::vector<std::uint8_t> padded;
    for (const auto &b : blobs) {
      auto m = map_rva(b.rva);
      if (!m || (m->file == 0 && m->raw > 0)) {
        dmg_.add("RT_VERSION data entry at offset " + hex(b.entry_off)
                 + " points to RVA " + hex(b.rva) + " outside the file");
        continue;
      }
      if (m->raw == 0 && b.size > 0) {
        // Only zeros when loaded (pefile 2023.2.7 would read the file bytes
        // here: its parse_version_information does not clip).
        dmg_.add("RT_VERSION data at RVA " + hex(b.rva)
                 + " lies past its section's raw data (zeros when loaded)");
        continue;
      }
      const u64 off = m->off;
      // The blob is read as the loaded image holds it (map_rva): it ends
      // with its section, and past the section's raw data it is zeros.
      u64 len = b.size;
      if (len > m->mapped) {
        dmg_.add("RT_VERSION data at RVA " + hex(b.rva) + " (size "
                 + std::to_string(b.size)
                 + ") runs past the end of its section");
        len = m->mapped;
      }
      if (m->file < std::min(len, m->raw)) {
        dmg_.add("RT_VERSION data at offset " + hex(off) + " (size "
                 + std::to_string(b.size) + ") runs past the end of the file");
        len = m->file;
      }
      len = std::min<u64>(len, max_vs_size);
      if (version_bytes + len > max_version_bytes) {
        dmg_.add("more than " + std::to_string(max_version_bytes)
                 + " bytes of version data");
        break;
      }
      version_bytes += len;
      u64 from_file = std::min(len, m->file);
      view blob;
      if (from_file > 0)
        blob = src_.bytes(off, from_file);
      if (from_file < len) { // the rest lies in the zero-filled tail
        padded.assign(len, 0);
        if (from_file > 0)
          std::memcpy(padded.data(), blob.d, from_file);
        blob = view{padded.data(), len};
      }
      vs_parser vp(blob, off, dmg_, table_entries);
      if (vp.run(info, have_fixed))
        have_info = true;
      else
        dmg_.add("RT_VERSION data at offset " + hex(off)
                 + " holds no VS_VERSIONINFO node");
    }
    if (have_info)
      r.info = std::move(info);
    if (dmg_.count > 0) {
      r.error = error_kind::malformed;
      r.message = dmg_.first;
      if (dmg_.count > 1)
        r.message += " (and " + std::to_string(dmg_.count - 1) + " more defect"
                     + (dmg_.count > 2 ? "s)" : ")");
    } else if (blobs.empty()) {
      r.error = error_kind::no_version_info;
      r.message = "no RT_VERSION resource";
    }
    return r;
  }

private:
  bool fail(result &r, std::string msg) {
    r.error = error_kind::not_pe;
    r.message = std::move(msg);
    return false;
  }

  // DOS, PE signature, COFF, optional header, section table. Sets rsrc_rva
  // to the resource directory RVA (0: none).
  bool headers(result &r, u64 &rsrc_rva) {
    if (!src_.has(0, 2) || src_.u16(0) != 0x5A4D)
      return fail(r, "no MZ signature at offset 0");
    if (!src_.has(0, 64))
      return fail(r, "DOS header truncated (file is "
                         + std::to_string(src_.size()) + " bytes)");
    u64 nt = src_.u32(0x3C);
    if (!src_.has(nt, 4 + 20))
      return fail(r, "e_lfanew " + hex(nt)
                         + ": NT headers lie past the end of the file");
    if (src_.u32(nt) != 0x00004550)
      return fail(r, "no PE signature at offset " + hex(nt));
    u64 coff = nt + 4;
    u64 nsections = src_.u16(coff + 2);
    u64 opt_size = src_.u16(coff + 16);
    u64 opt = coff + 20;
    if (!src_.has(opt, 2))
      return fail(r, "optional header at offset " + hex(opt) + " truncated");
    std::uint16_t magic = src_.u16(opt);
    u64 fixed_part, ndirs_off;
    if (magic == 0x10B) {
      fixed_part = 96;
      ndirs_off = 92;
    } else if (magic == 0x20B) {
      fixed_part = 112;
      ndirs_off = 108;
    } else {
      return fail(r, "optional header at offset " + hex(opt) + " has magic "
                         + hex(magic) + " (neither PE32 nor PE32+)");
    }
    if (!src_.has(opt, fixed_part))
      return fail(r, "optional header at offset " + hex(opt) + " truncated");
    section_alignment_ = src_.u32(opt + 32);
    file_alignment_ = src_.u32(opt + 36);
    size_of_headers_ = src_.u32(opt + 60);
    u64 ndirs = src_.u32(opt + ndirs_off);
    u64 rsrc_dir = opt + fixed_part + 2 * 8;
    if (ndirs > 2 && rsrc_dir + 8 <= opt + opt_size && src_.has(rsrc_dir, 8))
      rsrc_rva = src_.u32(rsrc_dir);
    // Section table: keep the entries that fit in the file.
    u64 st = opt + opt_size;
    u64 fit = src_.has(st, 0) ? (src_.size() - st) / 40 : 0;
    if (fit < nsections) {
      if (fit == 0 && nsections > 0)
        return fail(r, "section table at offset " + hex(st)
                           + " lies past the end of the file");
      dmg_.add("section table at offset " + hex(st) + " declares "
               + std::to_string(nsections) + " sections, " + std::to_string(fit)
               + " fit in the file");
      nsections = fit;
    }
    if (nsections > max_sections) {
      dmg_.add("section table at offset " + hex(st) + " declares "
               + std::to_string(nsections) + " sections, only the first "
               + std::to_string(max_sections) + " are used");
      nsections = max_sections;
    }
    sections_.reserve(nsections);
    for (u64 i = 0; i < nsections; ++i) {
      u64 s = st + 40 * i;
      // pefile ends the table at the first all-zero header ("Invalid
      // section: contents are null-bytes"): garbage past it would otherwise
      // take part in the sorting and trimming below.
      bool zero = true;
      for (u64 k = 0; k < 40 && zero; k += 4)
        zero = src_.u32(s + k) == 0;
      if (zero)
        break;
      section sec;
      u64 vsize = src_.u32(s + 8);
      u64 va = src_.u32(s + 12);
      u64 raw_size = src_.u32(s + 16);
      u64 raw_ptr = src_.u32(s + 20);
      sec.va_hdr = va;
      // pefile's adjust_SectionAlignment / adjust_FileAlignment
      u64 sa = section_alignment_;
      if (sa < 0x1000)
        sa = file_alignment_;
      if (sa != 0 && va % sa != 0)
        va = sa * (va / sa);
      u64 raw_adj = raw_ptr;
      if (file_alignment_ >= 0x200)
        raw_adj = (raw_ptr / 0x200) * 0x200;
      sec.va = va;
      sec.raw = raw_adj;
      // pefile clips section reads at the unaligned PointerToRawData +
      // SizeOfRawData; a section without raw data has no file bytes at all
      // (the loader only zero-fills it).
      sec.raw_end = raw_size == 0 ? raw_adj : raw_ptr + raw_size;
      // pefile's contains_rva: a SizeOfRawData that runs past the end of the
      // file is not trusted for the extent.
      u64 extent = src_.size() < raw_adj || src_.size() - raw_adj < raw_size
                       ? vsize
                       : std::max(vsize, raw_size);
      sec.end = va + extent;
      sections_.push_back(sec);
    }
    // pefile sorts sections by VirtualAddress (stably) and cuts each one
    // where the next starts, so of two overlapping sections the later one
    // owns the overlap; the first match in this order wins.
    std::stable_sort(
        sections_.begin(), sections_.end(),
        [](const section &a, const section &b) { return a.va_hdr < b.va_hdr; });
    for (std::size_t i = 0; i + 1 < sections_.size(); ++i) {
      auto &s = sections_[i];
      u64 next = sections_[i + 1].va_hdr;
      if (next > s.va_hdr && s.end > next)
        s.end = next; // s.va <= va_hdr < next
    }
    return true;
  }

  // RVA -> file, as the Windows loader maps the image and as pefile
  // (2023.2.7: SectionStructure.contains_rva / get_data) reads it; PE/COFF
  // spec, section table: "If [VirtualSize] is greater than SizeOfRawData,
  // the section is zero-padded". So a section's bytes past its raw data are
  // zeros, never the file bytes that follow (another section, the overlay),
  // and a section with SizeOfRawData 0 has no file bytes. Sections are
  // searched in pefile's order (sorted, trimmed at the next section).
  // Outside every section only the headers (below SizeOfHeaders) are mapped.
  std::optional<mapping> map_rva(u64 rva) const {
    mapping m;
    u64 raw_end = 0;
    bool found = false;
    for (const auto &s : sections_) {
      if (rva >= s.va && rva < s.end) {
        m.off = s.raw + (rva - s.va);
        m.mapped = s.end - rva;
        raw_end = s.raw_end;
        found = true;
        break;
      }
    }
    if (!found) {
      if (rva >= size_of_headers_)
        return std::nullopt;
      m.off = rva; // headers are mapped 1:1
      m.mapped = size_of_headers_ - rva;
      raw_end = size_of_headers_;
    }
    if (m.off < raw_end)
      m.raw = std::min(raw_end - m.off, m.mapped);
    if (m.off < src_.size())
      m.file = std::min(m.raw, src_.size() - m.off);
    return m;
  }

  // Reads len (<= 16) bytes at an RVA as the loaded image holds them: file
  // bytes, then zeros for a section's virtual tail. Fails when the range
  // leaves its section or needs raw bytes the (truncated) file lacks.
  bool read_rva(u64 rva, u64 len, std::uint8_t *out, u64 *off = nullptr) {
    auto m = map_rva(rva);
    if (!m || m->mapped < len || m->file < std::min(len, m->raw))
      return false;
    for (u64 i = 0; i < len; ++i)
      out[i] = i < m->file ? src_.u8(m->off + i) : 0;
    if (off)
      *off = m->off;
    return true;
  }

  static std::uint16_t le16(const std::uint8_t *p) {
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
  }
  static std::uint32_t le32(const std::uint8_t *p) {
    return le16(p) | (static_cast<std::uint32_t>(le16(p + 2)) << 16);
  }

  void resources(u64 base, std::vector<blob_ref> &blobs) {
    std::uint8_t root[16];
    if (!read_rva(base, 16, root)) {
      dmg_.add("resource directory at RVA " + hex(base)
               + " lies outside the file");
      return;
    }
    visited_.push_back(0);
    entries(base, 0, 0, [&](std::uint32_t name, std::uint32_t target) {
      if ((name & 0x80000000u) != 0 || name != rt_version)
        return;
      descend(base, target, 1, blobs);
    });
  }

  // Follows one entry's OffsetToData: a subdirectory (high bit) or a data
  // entry. Everything below RT_VERSION that is data is a version blob.
  void descend(u64 base, std::uint32_t target, std::uint32_t depth,
               std::vector<blob_ref> &blobs) {
    u64 rel = target & 0x7FFFFFFFu;
    if ((target & 0x80000000u) == 0) {
      if (blobs.size() >= lim_.max_resource_entries) {
        if (!too_many_blobs_)
          dmg_.add("more than " + std::to_string(lim_.max_resource_entries)
                   + " RT_VERSION data entries");
        too_many_blobs_ = true;
        return;
      }
      std::uint8_t de[16];
      u64 off = 0;
      if (!read_rva(base + rel, 16, de, &off)) {
        dmg_.add("resource data entry at RVA " + hex(base + rel)
                 + " lies outside the file");
        return;
      }
      blobs.push_back({le32(de), le32(de + 4), off});
      return;
    }
    if (depth >= max_depth_) {
      dmg_.add("resource directory at RVA " + hex(base + rel)
               + " nested deeper than " + std::to_string(max_depth_));
      return;
    }
    if (std::find(visited_.begin(), visited_.end(), rel) != visited_.end()) {
      auto m = map_rva(base + rel);
      dmg_.add("resource directory at offset " + hex(m ? m->off : 0) + " (RVA "
               + hex(base + rel) + ") loops");
      return;
    }
    if (visited_.size() >= lim_.max_resource_entries) {
      dmg_.add("more than " + std::to_string(lim_.max_resource_entries)
               + " resource directories below RT_VERSION");
      return;
    }
    visited_.push_back(rel);
    entries(base, rel, depth, [&](std::uint32_t, std::uint32_t t) {
      descend(base, t, depth + 1, blobs);
    });
  }

  template <class F>
  void entries(u64 base, u64 rel, std::uint32_t, F &&f) {
    std::uint8_t hdr[16];
    u64 dir_off = 0;
    if (!read_rva(base + rel, 16, hdr, &dir_off)) {
      dmg_.add("resource directory at RVA " + hex(base + rel)
               + " lies outside the file");
      return;
    }
    u64 count = u64{le16(hdr + 12)} + le16(hdr + 14);
    if (count > lim_.max_resource_entries) {
      dmg_.add("resource directory at offset " + hex(dir_off) + " has "
               + std::to_string(count) + " entries (limit "
               + std::to_string(lim_.max_resource_entries) + ")");
      return;
    }
    // All directories together: a bound on the work for any tree shape.
    u64 budget = 4 * u64{lim_.max_resource_entries};
    if (count > budget - std::min(budget, entries_seen_)) {
      dmg_.add("resource tree has more than " + std::to_string(budget)
               + " entries (at directory offset " + hex(dir_off) + ")");
      return;
    }
    entries_seen_ += count;
    for (u64 i = 0; i < count; ++i) {
      // Entries are read through the RVA mapping like the header, so a
      // directory that straddles the file end is cut where the file ends
      // and one in a section's virtual tail reads as zeros.
      std::uint8_t e[8];
      if (!read_rva(base + rel + 16 + 8 * i, 8, e)) {
        dmg_.add("resource directory at offset " + hex(dir_off) + ": entry "
                 + std::to_string(i) + " of " + std::to_string(count)
                 + " lies outside the file");
        return;
      }
      f(le32(e), le32(e + 4));
    }
  }

  Source &src_;
  const limits &lim_;
  std::uint32_t max_depth_ = 8;
  u64 section_alignment_ = 0, file_alignment_ = 0, size_of_headers_ = 0;
  std::vector<section> sections_;
  std::vector<u64> visited_;
  bool too_many_blobs_ = false;
  u64 entries_seen_ = 0;
  damage dmg_;
};

void merge_strings(version_info &info) {
  std::unordered_map<std::string, std::size_t> index;
  for (const auto &t : info.tables)
    for (const auto &[k, val] : t.entries) {
      auto [it, fresh] = index.emplace(k, info.strings.size());
      if (fresh)
        info.strings.emplace_back(k, val);
      else
        info.strings[it->second].second = val;
    }
}

} // namespace

result parse(const std::uint8_t *data, std::size_t size, const limits &lim) {
  if (data == nullptr)
    size = 0;
  memory_source src{view{data, size}};
  auto r = pe_parser<memory_source>(src, lim).run();
  if (r.info)
    merge_strings(*r.info);
  return r;
}

result read_file(const std::string &path, const limits &lim) {
  result r;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    r.error = (e == ENOENT || e == ENOTDIR) ? error_kind::not_found
                                            : error_kind::io_error;
    r.message = "cannot open " + path + ": " + std::strerror(e);
    return r;
  }
  struct closer {
    int fd;
    ~closer() {
      ::close(fd);
    }
  } guard{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    r.error = error_kind::io_error;
    r.message = "cannot stat " + path + ": " + std::strerror(e);
    return r;
  }
  if (!S_ISREG(st.st_mode)) {
    r.error = error_kind::io_error;
    r.message = path + " is not a regular file";
    return r;
  }
  u64 size = static_cast<u64>(st.st_size);
  if (size > lim.max_file_size) {
    r.error = error_kind::too_large;
    r.message = path + " is " + std::to_string(size) + " bytes (limit "
                + std::to_string(lim.max_file_size) + ")";
    return r;
  }
  // Read on demand with pread rather than mmap: a file truncated while
  // mapped would raise SIGBUS; here a shrinking file is reported as an I/O
  // error. Only the blocks the parser needs are read.
  file_source src(fd, size);
  r = pe_parser<file_source>(src, lim).run();
  if (src.short_read) {
    result e;
    e.error = error_kind::io_error;
    e.message = "cannot read " + path + ": "
                + (src.read_errno ? std::strerror(src.read_errno)
                                  : "file shrank while being read");
    return e;
  }
  if (r.info)
    merge_strings(*r.info);
  return r;
}

std::string to_json(const version_info &info) {
  std::string out = "{";
  bool first = true;
  for (const auto &[k, v] : info.strings) {
    if (!first)
      out += ',';
    first = false;
    append_json_string(out, k);
    out += ':';
    append_json_string(out, v);
  }
  out += '}';
  return out;
}

} // namespace proctrack::pe
