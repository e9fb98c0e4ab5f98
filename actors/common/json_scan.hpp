// A small validating JSON scanner for the ingest hot path: it walks one
// line of JSON without building a DOM and hands out the raw text of values,
// so update rows' data values are stored as they came (never re-serialised).
// It accepts exactly RFC 8259 JSON (UTF-8 checked); anything else is an
// error with the offset. Plain C++, no CAF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace proctrack::json_scan {

enum class kind { string, number, object, array, boolean, null };

/// A scanned value: its kind and its raw text (for strings, with quotes).
struct value {
  kind k = kind::null;
  std::string_view raw;
  bool has_escapes = false; ///< strings only: raw contains a backslash
};

class scanner {
public:
  explicit scanner(std::string_view text) : s_(text) {}

  /// Skips white space; true if input remains.
  bool skip_ws();

  /// Scans any value at the cursor, validating it completely (nested
  /// objects and arrays to a depth of 64).
  bool scan(value &out);

  /// For objects: call begin_object(first), then next_key(first, ...) until
  /// it returns false (end of object, or an error: check ok()), scanning
  /// each value. `first` is the caller's, so objects can nest.
  bool begin_object(bool &first);
  bool next_key(bool &first, std::string_view &raw_key, bool &key_escaped);

  /// For arrays: begin_array(first), then next_element(first) until false.
  bool begin_array(bool &first);
  bool next_element(bool &first);

  /// The next non-space character, or '\0' at the end.
  char peek();

  /// True when nothing but white space is left.
  bool at_end();

  bool ok() const {
    return error_.empty();
  }
  const std::string &error() const {
    return error_;
  }

private:
  bool fail(const char *what);
  bool scan_string(value &out);
  bool scan_number(value &out);
  bool scan_literal(std::string_view word, kind k, value &out);
  bool scan_container(value &out, int depth);
  bool scan_any(value &out, int depth);

  std::string_view s_;
  std::size_t i_ = 0;
  std::string error_;
};

/// The text of a JSON string value (raw, with quotes), unescaped into out.
/// Assumes `raw` was validated by the scanner.
void unescape(std::string_view raw, std::string &out);

/// The string's content: a view into raw when it has no escapes, else
/// unescaped into `buf`.
std::string_view string_text(const value &v, std::string &buf);

/// A key's text as next_key() gives it (between its quotes, `escaped`
/// when it holds a backslash), unescaped into `buf` only when needed.
std::string_view key_text(std::string_view raw_key, bool escaped,
                          std::string &buf);

/// Makes the keys of every object in `raw`, a JSON value, unique at every
/// depth: a key given twice keeps the position of its first occurrence
/// and the value of its last, as Python's json and jq read such an object
/// (RFC 8259 §4 leaves it to the reader). Values keep their text; white
/// space between tokens goes. True with the result in `out` when some
/// object repeated a key; false, and `out` unchanged, when none did or
/// `raw` is not valid JSON (the usual case costs one scan, no copy).
bool unique_keys(std::string_view raw, std::string &out);

} // namespace proctrack::json_scan
