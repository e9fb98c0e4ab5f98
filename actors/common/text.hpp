// Small text helpers shared by the decoders, the table and the history.
#pragma once

#include <cctype>
#include <string_view>

namespace proctrack {

/// `s` without leading and trailing whitespace (std::isspace, "C" locale
/// bytes); a view into the same characters.
inline std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

} // namespace proctrack
