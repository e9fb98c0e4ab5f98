#include "actors/common/json_text.hpp"

namespace proctrack {

std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n;
  unsigned min;
  if (c < 0x80)
    return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size())
    return 0;
  unsigned cp = c & (0x7F >> n);
  for (size_t k = 1; k < n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

void append_json_string(std::string &out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  size_t i = 0;
  while (i < s.size()) {
    // A run of printable ASCII needing no escape is copied at once (keys
    // and most values are all of it).
    size_t j = i;
    while (j < s.size()) {
      auto p = static_cast<unsigned char>(s[j]);
      if (p < 0x20 || p >= 0x80 || p == '"' || p == '\\')
        break;
      ++j;
    }
    if (j > i) {
      out.append(s.data() + i, j - i);
      i = j;
      if (i == s.size())
        break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t n = utf8_sequence_length(s, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    case '\b':
      out += "\\b";
      break;
    case '\f':
      out += "\\f";
      break;
    default:
      if (c < 0x20) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
      } else {
        out += static_cast<char>(c);
      }
    }
    ++i;
  }
  out += '"';
}

void append_utf8(std::string &out, std::uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD"; // U+FFFD

// The value of the four hex digits at s[i], or -1.
int hex4(std::string_view s, std::size_t i) {
  if (i + 4 > s.size())
    return -1;
  int v = 0;
  for (std::size_t k = i; k < i + 4; ++k) {
    char c = s[k];
    int h = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (h < 0)
      return -1;
    v = v * 16 + h;
  }
  return v;
}

} // namespace

std::size_t replace_invalid_utf8(std::string &s) {
  std::size_t i = 0;
  while (i < s.size() && utf8_sequence_length(s, i) != 0)
    i += utf8_sequence_length(s, i);
  if (i == s.size())
    return 0;
  std::string out{s, 0, i};
  std::size_t count = 0;
  while (i < s.size()) {
    auto n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += replacement;
      ++count;
      ++i;
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  s = std::move(out);
  return count;
}

std::size_t repair_json_text(std::string_view s, std::string &out) {
  std::size_t count = 0;
  std::size_t copied = 0; // s[copied, i) is still to be copied to out
  auto replace = [&](std::size_t at, std::size_t len) {
    if (count++ == 0) {
      out.clear();
      out.reserve(s.size() + 16);
    }
    out.append(s.data() + copied, at - copied);
    out += replacement;
    copied = at + len;
  };
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80 && c != '\\') {
      ++i;
      continue;
    }
    if (c == '\\') {
      // A backslash is only valid inside a string, as an escape; any other
      // escape (\\ included) is two characters.
      int cp = i + 1 < s.size() && s[i + 1] == 'u' ? hex4(s, i + 2) : -1;
      if (cp >= 0xD800 && cp <= 0xDBFF) {
        int lo = i + 7 < s.size() && s[i + 6] == '\\' && s[i + 7] == 'u'
                     ? hex4(s, i + 8)
                     : -1;
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
          i += 12; // a valid pair
          continue;
        }
        replace(i, 6);
        i += 6;
      } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
        replace(i, 6);
        i += 6;
      } else if (i + 1 < s.size()
                 && static_cast<unsigned char>(s[i + 1]) < 0x80) {
        i += 2;
      } else {
        ++i; // not an escape (the line is bad anyway): check the next byte
      }
      continue;
    }
    auto n = utf8_sequence_length(s, i);
    if (n == 0) {
      replace(i, 1);
      ++i;
    } else {
      i += n;
    }
  }
  if (count > 0)
    out.append(s.data() + copied, s.size() - copied);
  return count;
}

std::string json_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_string(out, s);
  return out;
}

} // namespace proctrack
