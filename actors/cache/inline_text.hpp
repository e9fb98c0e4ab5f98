// inline_text<N>: a string kept inside its owner, for the process table's
// short texts (real ids, parent ids, GUIDs, child ids).
//
// A real id ("1234-1609459200", "1234-1609459200.1") is 16-25 bytes and a
// GUID 38: one byte past std::string's 15-byte small buffer, so each was a
// heap block of its own (32-48 bytes plus malloc's header) per cached
// process, per parent link and per child link. Here a text of up to N bytes
// lives in the object (sizeof is N + 1, no heap); a longer one (a hostile
// or replayed id) goes on the heap, so any length is still kept exactly.
// The value is the same bytes either way: readers see a std::string_view.
// Not thread-safe, like the table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>

namespace proctrack {

template <std::size_t N>
class inline_text {
  static_assert(N >= sizeof(char *) + sizeof(std::size_t) && N < 255,
                "the heap form (pointer, size) must fit in the buffer");

public:
  inline_text() = default;
  inline_text(std::string_view s) { // NOLINT: implicit, as std::string's
    assign(s);
  }
  inline_text(const inline_text &o) {
    assign(o.view());
  }
  inline_text(inline_text &&o) noexcept {
    std::memcpy(buf_, o.buf_, N);
    len_ = o.len_;
    o.len_ = 0;
  }
  inline_text &operator=(const inline_text &o) {
    if (this != &o)
      assign(o.view());
    return *this;
  }
  inline_text &operator=(inline_text &&o) noexcept {
    if (this != &o) {
      release();
      std::memcpy(buf_, o.buf_, N);
      len_ = o.len_;
      o.len_ = 0;
    }
    return *this;
  }
  inline_text &operator=(std::string_view s) {
    assign(s);
    return *this;
  }
  ~inline_text() {
    release();
  }

  /// Replaces the text; allocates only for a text longer than N bytes.
  void assign(std::string_view s) {
    // `s` may point into this object (its buffer or its heap text): the
    // old heap text is freed only after the copy.
    char *old = heap_text();
    if (s.size() <= N) {
      std::memmove(buf_, s.data(), s.size());
      len_ = static_cast<std::uint8_t>(s.size());
    } else {
      auto *p = new char[s.size()];
      std::memcpy(p, s.data(), s.size());
      std::size_t n = s.size();
      std::memcpy(buf_, &p, sizeof p);
      std::memcpy(buf_ + sizeof p, &n, sizeof n);
      len_ = heap;
    }
    delete[] old;
  }
  void clear() {
    release();
    len_ = 0;
  }

  std::string_view view() const {
    if (len_ != heap)
      return {buf_, len_};
    char *p;
    std::size_t n;
    std::memcpy(&p, buf_, sizeof p);
    std::memcpy(&n, buf_ + sizeof p, sizeof n);
    return {p, n};
  }
  operator std::string_view() const { // NOLINT: reads as a string
    return view();
  }
  std::string str() const {
    return std::string{view()};
  }
  std::size_t size() const {
    return view().size();
  }
  bool empty() const {
    return len_ == 0;
  }
  /// True when the text is on the heap (longer than N bytes).
  bool on_heap() const {
    return len_ == heap;
  }

  friend bool operator==(const inline_text &a, const inline_text &b) {
    return a.view() == b.view();
  }
  friend bool operator!=(const inline_text &a, const inline_text &b) {
    return !(a == b);
  }
  friend bool operator<(const inline_text &a, const inline_text &b) {
    return a.view() < b.view();
  }
  friend bool operator==(const inline_text &a, std::string_view b) {
    return a.view() == b;
  }
  friend bool operator==(std::string_view a, const inline_text &b) {
    return a == b.view();
  }
  friend bool operator!=(const inline_text &a, std::string_view b) {
    return a.view() != b;
  }
  friend bool operator!=(std::string_view a, const inline_text &b) {
    return a != b.view();
  }
  friend bool operator==(const inline_text &a, const char *b) {
    return a.view() == std::string_view{b};
  }
  friend bool operator!=(const inline_text &a, const char *b) {
    return a.view() != std::string_view{b};
  }
  friend bool operator==(const inline_text &a, const std::string &b) {
    return a.view() == std::string_view{b};
  }
  friend bool operator==(const std::string &a, const inline_text &b) {
    return std::string_view{a} == b.view();
  }
  friend bool operator!=(const inline_text &a, const std::string &b) {
    return a.view() != std::string_view{b};
  }
  friend bool operator!=(const std::string &a, const inline_text &b) {
    return std::string_view{a} != b.view();
  }

  friend std::ostream &operator<<(std::ostream &o, const inline_text &t) {
    return o << t.view();
  }

private:
  static constexpr std::uint8_t heap = 0xFF;
  char *heap_text() const {
    if (len_ != heap)
      return nullptr;
    char *p;
    std::memcpy(&p, buf_, sizeof p);
    return p;
  }
  void release() {
    delete[] heap_text();
    len_ = 0;
  }

  char buf_[N] = {};
  std::uint8_t len_ = 0; ///< bytes in buf_, or `heap`
};

/// A real id or a parent id: "<pid>-<seconds>[.N]" fits (at most 31 bytes
/// inline: a 10-digit pid, 11-digit seconds and a ".N" up to 8 digits).
using id_text = inline_text<31>;
/// A GUID: "{xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx}" is 38 bytes.
using guid_text = inline_text<39>;

} // namespace proctrack
