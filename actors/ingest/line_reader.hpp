// Reads a text file line by line, plain or gzip-compressed (zlib's gzread
// reads both transparently). Lines are bounded: a longer line is an error,
// skipped, and reading goes on after it. No CAF include.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace proctrack {

class line_reader {
public:
  /// 16 MiB: the longest line accepted by default.
  static constexpr std::size_t default_max_line = std::size_t{16} << 20;

  enum class status {
    ok,       ///< `line` holds the next line (without '\n' or "\r\n")
    too_long, ///< the line exceeded max_line; it was skipped
    eof,      ///< no more lines (a read error, if any, is in last_error())
    piece,    ///< with pieces(true): max_line bytes of a longer line, whose
              ///< rest comes in the next calls (the last part as ok)
  };

  explicit line_reader(std::string path,
                       std::size_t max_line = default_max_line);
  ~line_reader();
  line_reader(const line_reader &) = delete;
  line_reader &operator=(const line_reader &) = delete;

  /// Opens the file; false and a message naming the file if it cannot.
  bool open(std::string &error);

  /// Reads the next line. A UTF-8 byte order mark at the start of the file
  /// is dropped. The last line need not end in '\n'.
  status next(std::string &line);
  /// The same without a copy: `line` views the reader's buffer and stays
  /// valid until the next call (a 16 MiB sync row is held once, not twice).
  status next(std::string_view &line);

  /// A line longer than max_line is returned in pieces of max_line bytes
  /// (status::piece, then the rest as status::ok) instead of skipped: for
  /// text whose records do not follow its lines (event XML, which wevtutil
  /// writes as one line). Off by default.
  void pieces(bool on) {
    pieces_ = on;
  }

  /// 1-based number of the line last returned (or skipped as too long).
  std::uint64_t line_number() const {
    return line_no_;
  }

  /// Non-empty after eof when the input ended in a read error (a corrupt or
  /// truncated gzip stream): "FILE: why".
  const std::string &last_error() const {
    return error_;
  }

  const std::string &path() const {
    return path_;
  }

  /// The longest line accepted, in bytes.
  std::size_t max_line() const {
    return max_line_;
  }

private:
  bool fill();

  std::string path_;
  std::size_t max_line_;
  void *gz_ = nullptr; // gzFile
  std::vector<char> buf_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  bool eof_ = false;
  bool first_ = true;
  bool pieces_ = false;
  bool in_piece_ = false; ///< the last return was a piece of this line
  std::uint64_t line_no_ = 0;
  std::string error_;
};

} // namespace proctrack
