// libFuzzer target: proctrack::evtx::chunk_decoder on one arbitrary chunk
// (the input, cut or zero-padded to 64 KiB), walked as evtx_reader walks a
// chunk: record headers from offset 512, each accepted record decoded.
// Besides the sanitizers it checks that every decoded string is valid UTF-8
// and that a failed decode says why. Seeds: the chunks of the corpus's EVTX
// files (scripts/fuzz.sh cuts them out).
#include "actors/ingest/evtx_binxml.hpp"
#include "tests/fuzz/valid_utf8.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using proctrack_fuzz::valid_utf8;

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
