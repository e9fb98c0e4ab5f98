// libFuzzer target: proctrack::etw::decode_payload / decode_update (the
// Sysmon ETW payload decoder) on an arbitrary layout and payload. The input's
// first byte gives the event id (bit 0: 1 or 5) and the number of
// properties (bits 1-5); one byte per property gives its in-type (any value
// 0-31, so refused types are tried too); the rest is the payload, copied to
// the heap at its exact size so that ASan sees any read past it. Properties
// take Sysmon EID 1's names, so decoded events reach the shared mapping.
// Besides the sanitizers it checks that a failure says why and that every
// decoded value is valid UTF-8.
#include "actors/etw/sysmon_etw_decoder.hpp"
#include "tests/fuzz/valid_utf8.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

using proctrack_fuzz::valid_utf8;

const char *const names[] = {"RuleName",
                             "UtcTime",
                             "ProcessGuid",
                             "ProcessId",
                             "Image",
                             "FileVersion",
                             "Description",
                             "Product",
                             "Company",
                             "OriginalFileName",
                             "CommandLine",
                             "CurrentDirectory",
                             "User",
                             "LogonGuid",
                             "LogonId",
                             "TerminalSessionId",
                             "IntegrityLevel",
                             "Hashes",
                             "ParentProcessGuid",
                             "ParentProcessId",
                             "ParentImage",
                             "ParentCommandLine",
                             "ParentUser",
                             "Extra0",
                             "Extra1",
                             "Extra2",
                             "Extra3",
                             "Extra4",
                             "Extra5",
                             "Extra6",
                             "Extra7",
                             "Extra8"};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data,
                                      std::size_t size) {
  using namespace proctrack;
  if (size < 1)
    return 0;
  std::uint16_t id = (data[0] & 1) ? 5 : 1;
  std::size_t n = (data[0] >> 1) & 31;
  if (size < 1 + n)
    return 0;
  etw::layout props;
  for (std::size_t i = 0; i < n; ++i)
    props.push_back({names[i], static_cast<std::uint16_t>(data[1 + i] & 31)});
  std::vector<unsigned char> payload(data + 1 + n, data + size);
  etw::envelope env;
  env.computer = "fuzz";
  env.pointer_64 = (data[0] & 0x40) == 0;
  sysmon_event ev;
  std::string why;
  if (etw::decode_payload(id, payload.data(), payload.size(), props, env, ev,
                          why)) {
    for (auto &[k, v] : ev.fields)
      if (!valid_utf8(v))
        std::abort();
  } else if (why.empty()) {
    std::abort();
  }
  why.clear();
  auto u =
      etw::decode_update(id, payload.data(), payload.size(), props, env, why);
  if (!u && why.empty())
    std::abort();
  return 0;
}
