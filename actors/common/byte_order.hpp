// Little-endian integers read from bytes of any alignment: the EVTX file
// format, ETW's event payloads and PE files all store them so (Microsoft's
// formats are little-endian on every platform). Plain C++.
#pragma once

#include <cstdint>

namespace proctrack {

/// The 16-bit little-endian value at p (2 bytes readable).
inline std::uint16_t le16(const unsigned char *p) {
  return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}

/// The 32-bit little-endian value at p (4 bytes readable).
inline std::uint32_t le32(const unsigned char *p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8
         | std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
}

/// The 64-bit little-endian value at p (8 bytes readable).
inline std::uint64_t le64(const unsigned char *p) {
  return std::uint64_t{le32(p)} | std::uint64_t{le32(p + 4)} << 32;
}

} // namespace proctrack
