// Decodes Velociraptor's update rows (SPEC §5, first bullet) from JSON text.
#pragma once

#include "messages/types.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace proctrack {

enum class row_result {
  update, ///< `out` holds an update
  skip,   ///< a row that carries no update (blank line, a `stats` row)
  error,  ///< malformed; `error` says why
};

/// Decodes one JSON line. Ids may be numbers or strings; times take every
/// form parse_time() accepts. On error `error` names the field at fault.
/// Text that is not valid Unicode (invalid UTF-8 bytes, \u escapes of lone
/// surrogates) is replaced by U+FFFD rather than losing the row; when
/// `invalid_text` is given, the number replaced in a row that was not an
/// error is added to it.
row_result decode_update_row(std::string_view line, process_update &out,
                             std::string &error,
                             std::int64_t *invalid_text = nullptr);

} // namespace proctrack
