// Small helpers to write JSON text directly (no DOM) on hot paths.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace proctrack {

/// Appends s as a quoted JSON string, escaping what JSON requires. Invalid
/// UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON.
void append_json_string(std::string &out, std::string_view s);

/// Appends the UTF-8 encoding of code point cp (at most U+10FFFF).
void append_utf8(std::string &out, std::uint32_t cp);

/// Length of the valid UTF-8 sequence starting at s[i] (1 for ASCII), 0
/// when it is invalid (overlong, surrogate, beyond U+10FFFF, cut short).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

/// Returns s as a quoted JSON string.
std::string json_string(std::string_view s);

} // namespace proctrack
