// Decodes Velociraptor's update rows (SPEC §5, first bullet) from JSON text.
#pragma once

#include "messages/types.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
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

/// decode_update_row() for a stream of lines, handing a long sync listing
/// out in parts (sync_part) so that no more than `part_rows` decoded
/// processes exist at once, whatever the listing's length: the table then
/// applies them as they come (docs/semantics.md, "A listing larger than the
/// table"). The whole line is checked before the first part is given, so a
/// bad process anywhere rejects the whole row (no part is ever applied) and
/// a listing is never cut short. Memory: the line, plus `part_rows`
/// decoded processes.
class update_row_reader {
public:
  static constexpr std::size_t default_part_rows = 1024;

  explicit update_row_reader(std::size_t part_rows = default_part_rows);
  ~update_row_reader();
  update_row_reader(const update_row_reader &) = delete;
  update_row_reader &operator=(const update_row_reader &) = delete;

  /// As decode_update_row(). A sync listing more than part_rows processes
  /// gives its first part (`out.part` first, the first part_rows
  /// processes) and more() is true: next_part() then reads the rest from
  /// `line`, which must stay unchanged until more() is false.
  row_result decode(std::string_view line, process_update &out,
                    std::string &error, std::int64_t *invalid_text = nullptr);
  bool more() const {
    return more_;
  }
  /// The next part of the listing: at most part_rows processes, `out.part`
  /// middle or (the end) last, with the row's time and host.
  void next_part(process_update &out);

private:
  struct cursor;
  std::size_t part_rows_;
  bool more_ = false;
  std::unique_ptr<cursor> cur_;
};

} // namespace proctrack
