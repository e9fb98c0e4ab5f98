#include "actors/ingest/line_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <string_view>
#include <unistd.h>
#include <zlib.h>

namespace proctrack {

namespace {
constexpr std::size_t chunk_size = 256 * 1024;

// When the text starts as UTF-16 does (a BOM, or two ASCII characters each
// with a zero byte): what it is, and the name iconv reads it by.
struct utf16_kind {
  const char *what;
  const char *iconv;
};

std::optional<utf16_kind> utf16_encoding(std::string_view head) {
  auto b = [&](std::size_t i) {
    return i < head.size() ? static_cast<unsigned char>(head[i]) : 0x100u;
  };
  auto ascii = [](unsigned c) { return c != 0 && c < 0x80; };
  if (b(0) == 0xFF && b(1) == 0xFE)
    return utf16_kind{"UTF-16LE (with a byte order mark)", "UTF-16"};
  if (b(0) == 0xFE && b(1) == 0xFF)
    return utf16_kind{"UTF-16BE (with a byte order mark)", "UTF-16"};
  if (ascii(b(0)) && b(1) == 0 && ascii(b(2)) && b(3) == 0)
    return utf16_kind{"UTF-16LE", "UTF-16LE"};
  if (b(0) == 0 && ascii(b(1)) && b(2) == 0 && ascii(b(3)))
    return utf16_kind{"UTF-16BE", "UTF-16BE"};
  return std::nullopt;
}
} // namespace

line_reader::line_reader(std::string path, std::size_t max_line)
    : path_(std::move(path)), max_line_(max_line) {}

line_reader::~line_reader() {
  if (gz_ != nullptr)
    gzclose(static_cast<gzFile>(gz_));
}

bool line_reader::open(std::string &error) {
  errno = 0;
  // "-" is standard input (plain or gzip'd, like any file).
  gzFile f = path_ == "-" ? gzdopen(dup(STDIN_FILENO), "rb")
                          : gzopen(path_.c_str(), "rb");
  if (f == nullptr) {
    error = path_ + ": cannot open: "
            + (errno != 0 ? std::strerror(errno) : "out of memory");
    return false;
  }
  gzbuffer(f, 128 * 1024);
  gz_ = f;
  buf_.resize(chunk_size);
  pos_ = end_ = 0;
  eof_ = false;
  first_ = true;
  line_no_ = 0;
  error_.clear();
  // UTF-16 (PowerShell 5.1's Out-File, "Unicode" in Windows' tools) would
  // read as one line of junk per line: say what it is and how to convert it.
  fill();
  if (auto enc = utf16_encoding({buf_.data(), end_})) {
    // Standard input ("-", or replay's spooled /proc/self/fd/N) has no
    // name to convert.
    bool no_name = path_ == "-" || path_.rfind("/proc/self/fd/", 0) == 0;
    auto name = no_name ? std::string{"FILE"} : path_;
    error = path_ + ": is " + enc->what
            + " text, not UTF-8: convert it first, e.g. iconv -f " + enc->iconv
            + " -t UTF-8 " + name + " > " + name + ".utf8";
    gzclose(f);
    gz_ = nullptr;
    return false;
  }
  return true;
}

// Moves unread bytes to the front and reads more. False when nothing more
// can be read (end of input or read error).
bool line_reader::fill() {
  if (eof_ || gz_ == nullptr)
    return false;
  if (pos_ > 0) {
    std::memmove(buf_.data(), buf_.data() + pos_, end_ - pos_);
    end_ -= pos_;
    pos_ = 0;
  }
  // Doubling, but never far past what the longest line needs (+1 byte to
  // see that it is longer): a long sync row costs about its size.
  if (end_ == buf_.size())
    buf_.resize(
        std::max(buf_.size() + chunk_size,
                 std::min(buf_.size() * 2, max_line_ + 1 + chunk_size)));
  auto f = static_cast<gzFile>(gz_);
  int n =
      gzread(f, buf_.data() + end_, static_cast<unsigned>(buf_.size() - end_));
  if (n > 0) {
    end_ += static_cast<std::size_t>(n);
    return true;
  }
  eof_ = true;
  int code = Z_OK;
  const char *msg = gzerror(f, &code);
  if (code != Z_OK || n < 0)
    error_ = path_ + ": read error after line " + std::to_string(line_no_)
             + ": " + (msg != nullptr && *msg != '\0' ? msg : "unknown");
  return false;
}

line_reader::status line_reader::next(std::string &line) {
  std::string_view v;
  auto st = next(v);
  if (st == status::ok || st == status::piece)
    line.assign(v.data(), v.size());
  return st;
}

line_reader::status line_reader::next(std::string_view &line) {
  if (gz_ == nullptr)
    return status::eof;
  bool skipping = false; // inside a line that is too long
  std::size_t scanned = 0;
  for (;;) {
    const char *base = buf_.data() + pos_;
    std::size_t avail = end_ - pos_;
    const void *nl = scanned < avail
                         ? std::memchr(base + scanned, '\n', avail - scanned)
                         : nullptr;
    std::size_t to_nl =
        nl != nullptr
            ? static_cast<std::size_t>(static_cast<const char *>(nl) - base)
            : avail;
    if (pieces_ && to_nl > max_line_) {
      // The next max_line bytes of a longer line.
      if (!in_piece_)
        ++line_no_;
      in_piece_ = true;
      std::size_t off = 0;
      if (first_ && std::memcmp(base, "\xEF\xBB\xBF", 3) == 0)
        off = 3;
      first_ = false;
      line = std::string_view{base + off, max_line_ - off};
      pos_ += max_line_;
      return status::piece;
    }
    if (nl != nullptr || (eof_ && avail > 0) || (eof_ && skipping)) {
      std::size_t len = to_nl;
      pos_ += len + (nl != nullptr ? 1 : 0);
      if (!in_piece_)
        ++line_no_;
      in_piece_ = false;
      if (skipping || len > max_line_) {
        first_ = false;
        return status::too_long;
      }
      if (len > 0 && base[len - 1] == '\r')
        --len;
      std::size_t off = 0;
      if (first_ && len >= 3 && std::memcmp(base, "\xEF\xBB\xBF", 3) == 0)
        off = 3;
      first_ = false;
      line = std::string_view{base + off, len - off};
      return status::ok;
    }
    if (eof_)
      return status::eof;
    scanned = avail;
    if (avail > max_line_) {
      // Drop what we have of the over-long line and keep scanning for its
      // end without buffering it.
      skipping = true;
      pos_ = end_;
      scanned = 0;
    }
    if (!fill() && end_ == pos_ && !skipping)
      return status::eof;
    if (skipping && eof_ && end_ == pos_) {
      ++line_no_;
      first_ = false;
      return status::too_long;
    }
  }
}

} // namespace proctrack
