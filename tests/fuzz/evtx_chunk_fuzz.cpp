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
    std::string damage;
    // As evtx_reader: a record framed by its header, or one whose framing
    // is damaged but two of its three checks hold (read by its header's
    // size); else, as for a record whose size field alone is damaged, a
    // decode by the distance to the next record (not the header's size).
    bool framed = d.record_at(off, rsize)
                  || d.damaged_record_at(off, chunk.size(), rsize, damage);
    if (!framed) {
      std::size_t next = off + 8;
      std::uint32_t next_size = 0;
      while (next + evtx::record_header_size + 4 <= chunk.size()
             && !d.record_at(next, next_size))
        next += 8;
      std::size_t gap = next - off;
      if (next + evtx::record_header_size + 4 <= chunk.size()
          && gap >= evtx::record_header_size + 4) {
        std::string why;
        if (!d.decode(off, static_cast<std::uint32_t>(gap), ev, why)
            && why.empty())
          std::abort();
      }
      off = next; // as the reader resumes: linear in the chunk
      continue;
    }
    std::string why;
    std::uint64_t invalid = 0;
    if (d.decode(off, rsize, ev, why, &invalid)) {
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
