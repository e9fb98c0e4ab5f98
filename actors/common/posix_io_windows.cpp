// pread_at() in the Windows build (actors/common/posix_io.hpp).
#include "actors/common/posix_io.hpp"

#include <cerrno>
#include <io.h>
#include <windows.h>

namespace proctrack {

long long pread_at(int fd, void *buf, std::size_t n, std::int64_t off) {
  auto h = reinterpret_cast<HANDLE>(_get_osfhandle(fd));
  if (h == INVALID_HANDLE_VALUE) {
    errno = EBADF;
    return -1;
  }
  OVERLAPPED ov{};
  ov.Offset = static_cast<DWORD>(static_cast<std::uint64_t>(off));
  ov.OffsetHigh = static_cast<DWORD>(static_cast<std::uint64_t>(off) >> 32);
  DWORD want = n > 0x40000000u ? 0x40000000u : static_cast<DWORD>(n);
  DWORD got = 0;
  if (!ReadFile(h, buf, want, &got, &ov)) {
    if (GetLastError() == ERROR_HANDLE_EOF)
      return 0;
    errno = EIO;
    return -1;
  }
  return got;
}

} // namespace proctrack
