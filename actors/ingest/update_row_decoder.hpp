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
/// form parse_time() accepts. On error `error` names the field at fault
/// (and, for a time, why: `"start_time" is not a time: "..." (day 31 does
/// not exist in 2021-02)`). A `parent_id` may be a pid, a real id, `5-?`
/// (unknown parent) or `?-<start>`. A sync's listed process that carries
/// its cache `entry` (proctrack's output stream), and every entry of
/// Velociraptor's `{"update_type":"sync","data":{ID: entry}}`, comes with
/// its state to restore (process_record's end_time, real_id,
/// parent_real_id, last_sync_time, children).
/// Text that is not valid Unicode (invalid UTF-8 bytes, \u escapes of lone
/// surrogates) is replaced by U+FFFD rather than losing the row; when
/// `invalid_text` is given, the number replaced in a row that was not an
/// error is added to it.
row_result decode_update_row(std::string_view line, process_update &out,
                             std::string &error,
                             std::int64_t *invalid_text = nullptr);

} // namespace proctrack
