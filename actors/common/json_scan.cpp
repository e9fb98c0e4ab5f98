#include "actors/common/json_scan.hpp"

#include "actors/common/json_text.hpp"

#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace proctrack::json_scan {

namespace {

constexpr int max_depth = 64;

bool is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int hex_val(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

} // namespace

bool scanner::fail(const char *what) {
  if (error_.empty())
    error_ = std::string{what} + " at offset " + std::to_string(i_);
  return false;
}

bool scanner::skip_ws() {
  while (i_ < s_.size() && is_ws(s_[i_]))
    ++i_;
  return i_ < s_.size();
}

bool scanner::at_end() {
  skip_ws();
  return i_ == s_.size();
}

// Bytes a string may hold without a closer look: printable ASCII other
// than '"' and '\\'.
struct plain_table {
  bool plain[256] = {};
  constexpr plain_table() {
    for (int c = 0x20; c < 0x80; ++c)
      plain[c] = c != '"' && c != '\\';
  }
};
constexpr plain_table plain_bytes{};

bool scanner::scan_string(value &out) {
  auto start = i_;
  ++i_; // opening quote
  out.has_escapes = false;
  const auto *p = reinterpret_cast<const unsigned char *>(s_.data());
  const auto n = s_.size();
  while (i_ < n) {
    while (i_ < n && plain_bytes.plain[p[i_]])
      ++i_;
    if (i_ >= n)
      break;
    auto c = p[i_];
    if (c == '"') {
      ++i_;
      out.k = kind::string;
      out.raw = s_.substr(start, i_ - start);
      return true;
    }
    if (c < 0x20)
      return fail("control character in string");
    if (c == '\\') {
      out.has_escapes = true;
      if (++i_ >= s_.size())
        return fail("unterminated string");
      switch (s_[i_]) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        ++i_;
        break;
      case 'u':
        if (i_ + 4 >= s_.size())
          return fail("short \\u escape");
        for (int k = 1; k <= 4; ++k)
          if (hex_val(s_[i_ + k]) < 0)
            return fail("bad \\u escape");
        i_ += 5;
        break;
      default:
        return fail("bad escape");
      }
      continue;
    }
    if (c < 0x80) {
      ++i_;
      continue;
    }
    // UTF-8: validate the sequence.
    auto n = utf8_sequence_length(s_, i_);
    if (n == 0)
      return fail("invalid UTF-8");
    i_ += n;
  }
  return fail("unterminated string");
}

bool scanner::scan_number(value &out) {
  auto start = i_;
  if (s_[i_] == '-')
    ++i_;
  if (i_ >= s_.size())
    return fail("bad number");
  if (s_[i_] == '0') {
    ++i_;
  } else if (s_[i_] >= '1' && s_[i_] <= '9') {
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
      ++i_;
  } else {
    return fail("bad number");
  }
  if (i_ < s_.size() && s_[i_] == '.') {
    ++i_;
    auto d = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
      ++i_;
    if (i_ == d)
      return fail("bad number");
  }
  if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
    ++i_;
    if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-'))
      ++i_;
    auto d = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
      ++i_;
    if (i_ == d)
      return fail("bad number");
  }
  out.k = kind::number;
  out.raw = s_.substr(start, i_ - start);
  return true;
}

bool scanner::scan_literal(std::string_view word, kind k, value &out) {
  if (s_.substr(i_, word.size()) != word)
    return fail("unexpected character");
  out.k = k;
  out.raw = s_.substr(i_, word.size());
  i_ += word.size();
  return true;
}

bool scanner::scan_container(value &out, int depth) {
  if (depth > max_depth)
    return fail("nesting too deep");
  auto start = i_;
  char close = s_[i_] == '{' ? '}' : ']';
  bool is_object = close == '}';
  ++i_;
  if (!skip_ws())
    return fail("unterminated container");
  if (s_[i_] == close) {
    ++i_;
  } else {
    for (;;) {
      value v;
      if (is_object) {
        if (!skip_ws() || s_[i_] != '"')
          return fail("expected a key");
        if (!scan_string(v))
          return false;
        if (!skip_ws() || s_[i_] != ':')
          return fail("expected ':'");
        ++i_;
      }
      if (!scan_any(v, depth + 1))
        return false;
      if (!skip_ws())
        return fail("unterminated container");
      if (s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (s_[i_] == close) {
        ++i_;
        break;
      }
      return fail("expected ',' or end of container");
    }
  }
  out.k = is_object ? kind::object : kind::array;
  out.raw = s_.substr(start, i_ - start);
  return true;
}

bool scanner::scan_any(value &out, int depth) {
  if (!skip_ws())
    return fail("unexpected end");
  switch (s_[i_]) {
  case '"':
    return scan_string(out);
  case '{':
  case '[':
    return scan_container(out, depth);
  case 't':
    return scan_literal("true", kind::boolean, out);
  case 'f':
    return scan_literal("false", kind::boolean, out);
  case 'n':
    return scan_literal("null", kind::null, out);
  default:
    if (s_[i_] == '-' || (s_[i_] >= '0' && s_[i_] <= '9'))
      return scan_number(out);
    return fail("unexpected character");
  }
}

bool scanner::scan(value &out) {
  return scan_any(out, 1);
}

char scanner::peek() {
  return skip_ws() ? s_[i_] : '\0';
}

bool scanner::begin_object(bool &first) {
  if (!skip_ws() || s_[i_] != '{')
    return fail("expected an object");
  ++i_;
  first = true;
  return true;
}

bool scanner::next_key(bool &first, std::string_view &raw_key,
                       bool &key_escaped) {
  if (!skip_ws())
    return fail("unterminated object");
  if (first) {
    first = false;
    if (s_[i_] == '}') {
      ++i_;
      return false;
    }
  } else {
    if (s_[i_] == '}') {
      ++i_;
      return false;
    }
    if (s_[i_] != ',')
      return fail("expected ',' or '}'");
    ++i_;
    if (!skip_ws())
      return fail("unterminated object");
  }
  if (s_[i_] != '"')
    return fail("expected a key");
  value k;
  if (!scan_string(k))
    return false;
  raw_key = k.raw.substr(1, k.raw.size() - 2);
  key_escaped = k.has_escapes;
  if (!skip_ws() || s_[i_] != ':')
    return fail("expected ':'");
  ++i_;
  return true;
}

bool scanner::begin_array(bool &first) {
  if (!skip_ws() || s_[i_] != '[')
    return fail("expected an array");
  ++i_;
  first = true;
  return true;
}

bool scanner::next_element(bool &first) {
  if (!skip_ws())
    return fail("unterminated array");
  if (first) {
    first = false;
    if (s_[i_] == ']') {
      ++i_;
      return false;
    }
    return true;
  }
  if (s_[i_] == ']') {
    ++i_;
    return false;
  }
  if (s_[i_] != ',')
    return fail("expected ',' or ']'");
  ++i_;
  return true;
}

void unescape(std::string_view raw, std::string &out) {
  out.clear();
  auto s = raw.substr(1, raw.size() - 2);
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    char e = s[++i];
    switch (e) {
    case 'b':
      out += '\b';
      break;
    case 'f':
      out += '\f';
      break;
    case 'n':
      out += '\n';
      break;
    case 'r':
      out += '\r';
      break;
    case 't':
      out += '\t';
      break;
    case 'u': {
      std::uint32_t cp = 0;
      for (int k = 1; k <= 4; ++k)
        cp = cp * 16 + static_cast<std::uint32_t>(hex_val(s[i + k]));
      i += 4;
      if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < s.size() && s[i + 1] == '\\'
          && s[i + 2] == 'u') {
        std::uint32_t lo = 0;
        bool ok = true;
        for (int k = 3; k <= 6; ++k) {
          int h = hex_val(s[i + k]);
          ok = ok && h >= 0;
          lo = lo * 16 + static_cast<std::uint32_t>(h < 0 ? 0 : h);
        }
        if (ok && lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          i += 6;
        } else {
          cp = 0xFFFD;
        }
      } else if (cp >= 0xD800 && cp <= 0xDFFF) {
        cp = 0xFFFD; // a lone surrogate
      }
      append_utf8(out, cp);
      break;
    }
    default:
      out += e; // " \ /
    }
  }
}

std::string_view string_text(const value &v, std::string &buf) {
  if (!v.has_escapes)
    return v.raw.substr(1, v.raw.size() - 2);
  unescape(v.raw, buf);
  return buf;
}

std::string_view key_text(std::string_view k, bool escaped, std::string &buf) {
  if (!escaped)
    return k;
  std::string quoted;
  quoted.reserve(k.size() + 2);
  quoted += '"';
  quoted += k;
  quoted += '"';
  unescape(quoted, buf);
  return buf;
}

namespace {

// Whether an object in the value at the scanner's cursor repeats a key.
// The scanner has validated nothing yet: a failure is "no" (the caller
// keeps the text as it is).
bool repeats_key(scanner &sc, int depth) {
  if (depth > 64)
    return false;
  auto c = sc.peek();
  bool first = true;
  if (c == '{') {
    if (!sc.begin_object(first))
      return false;
    std::unordered_set<std::string> keys; // a hostile line has 100k
    std::string_view k;
    bool esc = false;
    std::string buf;
    bool repeated = false;
    while (sc.next_key(first, k, esc)) {
      if (!keys.emplace(key_text(k, esc, buf)).second)
        repeated = true;
      if (repeats_key(sc, depth + 1))
        repeated = true;
      if (!sc.ok())
        return false;
    }
    return sc.ok() && repeated;
  }
  if (c == '[') {
    if (!sc.begin_array(first))
      return false;
    bool repeated = false;
    while (sc.next_element(first)) {
      if (repeats_key(sc, depth + 1))
        repeated = true;
      if (!sc.ok())
        return false;
    }
    return sc.ok() && repeated;
  }
  value v;
  sc.scan(v);
  return false;
}

// Writes the value at the cursor with unique keys (repeats_key said the
// text is valid).
void write_unique(scanner &sc, std::string &out) {
  auto c = sc.peek();
  bool first = true;
  if (c == '{') {
    sc.begin_object(first);
    struct member {
      std::string_view raw_key;
      std::string value;
    };
    std::vector<member> members;
    std::unordered_map<std::string, std::size_t> position;
    std::string_view k;
    bool esc = false;
    std::string buf;
    while (sc.next_key(first, k, esc)) {
      std::string v;
      write_unique(sc, v);
      auto [at, fresh] =
          position.emplace(key_text(k, esc, buf), members.size());
      if (!fresh)
        members[at->second].value = std::move(v);
      else
        members.push_back({k, std::move(v)});
    }
    out += '{';
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (i > 0)
        out += ',';
      out += '"'; // next_key gives the key's text between its quotes
      out += members[i].raw_key;
      out += "\":";
      out += members[i].value;
    }
    out += '}';
    return;
  }
  if (c == '[') {
    sc.begin_array(first);
    out += '[';
    bool any = false;
    while (sc.next_element(first)) {
      if (any)
        out += ',';
      any = true;
      write_unique(sc, out);
    }
    out += ']';
    return;
  }
  value v;
  sc.scan(v);
  out += v.raw;
}

} // namespace

bool unique_keys(std::string_view raw, std::string &out) {
  scanner check{raw};
  if (!repeats_key(check, 0) || !check.at_end())
    return false;
  scanner sc{raw};
  std::string result;
  write_unique(sc, result);
  out = std::move(result);
  return true;
}

} // namespace proctrack::json_scan
