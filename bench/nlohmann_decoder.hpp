// The update-row decoder as it was before commit 309f8c2 (a DOM parse with
// nlohmann/json, then field extraction), kept in bench/ so the parser
// comparison of issue 6 can put nlohmann/json, proctrack's own scanner
// (decode_update_row) and simdjson side by side on the same rows.
#pragma once

#include "actors/ingest/update_row_decoder.hpp"

namespace proctrack::bench {

/// decode_update_row() of commit 4dcb7a4: nlohmann::json::parse, then the
/// same checks and the same process_update.
row_result decode_update_row_nlohmann(std::string_view line,
                                      process_update &out, std::string &error);

} // namespace proctrack::bench
