// Decodes Velociraptor's update rows (SPEC §5, first bullet) from JSON text.
#pragma once

#include "messages/types.hpp"

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
row_result decode_update_row(std::string_view line, process_update &out,
                             std::string &error);

} // namespace proctrack
