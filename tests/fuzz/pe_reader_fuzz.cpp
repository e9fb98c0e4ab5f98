// libFuzzer target: proctrack::pe::parse on arbitrary bytes. Besides the
// sanitizers it checks the result's invariants: a result without error holds
// info, every error has a message, every string is valid UTF-8 and to_json
// gives a JSON object. Inputs up to 1 MiB also go through read_file (via a
// memfd), which reads on demand, and must give the same result as parse.
#include "actors/enricher/pe_version_reader.hpp"
#include "tests/fuzz/valid_utf8.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <sys/mman.h>
#include <unistd.h>

namespace {

using proctrack_fuzz::valid_utf8;

void check(const proctrack::pe::result &r) {
  using proctrack::pe::error_kind;
  if (r.error == error_kind::none && !r.info)
    std::abort();
  if (r.error != error_kind::none && r.message.empty())
    std::abort();
  if (!r.info)
    return;
  const auto &info = *r.info;
  for (const auto &t : info.tables) {
    if (!valid_utf8(t.lang_codepage))
      std::abort();
    for (const auto &[k, v] : t.entries)
      if (!valid_utf8(k) || !valid_utf8(v))
        std::abort();
  }
  for (const auto &[k, v] : info.strings)
    if (!valid_utf8(k) || !valid_utf8(v))
      std::abort();
  for (const auto &t : info.translations)
    if (t.size() != 8)
      std::abort();
  auto json = proctrack::pe::to_json(info);
  if (json.size() < 2 || json.front() != '{' || json.back() != '}')
    std::abort();
}

} // namespace

void same(const proctrack::pe::result &a, const proctrack::pe::result &b) {
  if (a.error != b.error || a.message != b.message
      || a.info.has_value() != b.info.has_value())
    std::abort();
  if (a.info
      && proctrack::pe::to_json(*a.info) != proctrack::pe::to_json(*b.info))
    std::abort();
}

int memfd = -1;

void via_file(const std::uint8_t *data, std::size_t size,
              const proctrack::pe::result &expected) {
  if (size > (1u << 20))
    return;
  if (memfd < 0)
    memfd = ::memfd_create("pe_reader_fuzz", MFD_CLOEXEC);
  if (memfd < 0 || ::ftruncate(memfd, 0) != 0
      || ::pwrite(memfd, data, size, 0) != static_cast<ssize_t>(size))
    return;
  same(expected,
       proctrack::pe::read_file("/proc/self/fd/" + std::to_string(memfd)));
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data,
                                      std::size_t size) {
  auto r = proctrack::pe::parse(data, size);
  check(r);
  via_file(data, size, r);
  // Tight limits exercise the caps (depth, entry counts, file size).
  proctrack::pe::limits tight;
  tight.max_depth = 3;
  tight.max_resource_entries = 4;
  tight.max_file_size = 1u << 16;
  check(proctrack::pe::parse(data, size, tight));
  return 0;
}
