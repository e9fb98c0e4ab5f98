// libFuzzer target: proctrack::evtx::chunk_decoder on one arbitrary chunk
// (the input, cut or zero-padded to 64 KiB), walked as evtx_reader walks a
// chunk: record headers from offset 512, each accepted record decoded.
// Besides the sanitizers it checks that every decoded string is valid UTF-8
// and that a failed decode says why. Seeds: the chunks of the corpus's EVTX
// files (scripts/fuzz.sh cuts them out).
#include "actors/ingest/evtx_binxml.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

bool valid_utf8(const std::string &s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp, min;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + n > s.size())
      return false;
    for (std::size_t k = 1; k < n; ++k) {
      auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80)
        return false;
      cp = cp << 6 | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

void check(const std::string &s) {
  if (!valid_utf8(s))
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data,
                                      std::size_t size) {
  using namespace proctrack;
  // A heap copy of exactly the chunk, so that ASan sees any read past it.
  std::size_t n = size < evtx::chunk_size ? size : evtx::chunk_size;
  std::vector<unsigned char> chunk(data, data + n);
  evtx::chunk_decoder d;
  d.reset(chunk.data(), chunk.size());
  sysmon_event ev;
  std::size_t off = evtx::chunk_header_size;
  while (off + evtx::record_header_size + 4 <= chunk.size()) {
    std::uint32_t rsize = 0;
    if (!d.record_at(off, rsize)) {
      off += 8;
      continue;
    }
    std::string why;
    std::uint64_t invalid = 0;
    if (d.decode(off, ev, why, &invalid)) {
      check(ev.provider);
      check(ev.computer);
      check(ev.time_created);
      for (auto &[k, v] : ev.fields) {
        check(k);
        check(v);
      }
    } else if (why.empty()) {
      std::abort();
    }
    off += rsize;
  }
  return 0;
}
