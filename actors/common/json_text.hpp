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

/// Replaces each invalid UTF-8 byte of s (as utf8_sequence_length sees it)
/// by U+FFFD, in place. Returns how many were replaced.
std::size_t replace_invalid_utf8(std::string &s);

/// Makes one line of JSON text safe for a strict parser without losing it:
/// each invalid UTF-8 byte and each \u escape of a lone surrogate (after
/// pairing) becomes U+FFFD (written as UTF-8). Returns how many were
/// replaced; `out` holds the repaired text only when that is not 0, so the
/// usual clean line costs one pass and no copy.
std::size_t repair_json_text(std::string_view s, std::string &out);

/// Returns s as a quoted JSON string.
std::string json_string(std::string_view s);

} // namespace proctrack
