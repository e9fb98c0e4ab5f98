// The few POSIX file calls proctrack's portable code uses, on Linux and in
// the Windows build (mingw-w64's CRT has open/read/write/close/fstat but no
// pread and no O_CLOEXEC, and opens files in text mode by default).
#pragma once

#include <cstddef>
#include <cstdint>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#ifdef _WIN32
// Windows: every file proctrack opens is binary (no CR LF translation: the
// bytes are the Linux build's) and not inherited by child processes (the
// meaning of O_CLOEXEC).
#undef O_CLOEXEC
#define O_CLOEXEC (_O_BINARY | _O_NOINHERIT)
#endif

namespace proctrack {

/// Reads up to n bytes at offset `off` of fd without using its file
/// position (pread(2); on Windows ReadFile at an offset). The bytes read,
/// 0 at the end, -1 with errno set.
#ifdef _WIN32
long long pread_at(int fd, void *buf, std::size_t n, std::int64_t off);
#else
inline long long pread_at(int fd, void *buf, std::size_t n, std::int64_t off) {
  return ::pread(fd, buf, n, static_cast<off_t>(off));
}
#endif

/// A file's modification time from stat(2) as "SECONDS.NANOSECONDS" (a
/// cache key part: a rewritten file gets a new one). The Windows CRT's stat
/// has whole seconds only: "SECONDS.0".
inline std::string mtime_text(const struct stat &sb) {
#ifdef _WIN32
  return std::to_string(static_cast<long long>(sb.st_mtime)) + ".0";
#else
  return std::to_string(sb.st_mtim.tv_sec) + '.'
         + std::to_string(sb.st_mtim.tv_nsec);
#endif
}

} // namespace proctrack
