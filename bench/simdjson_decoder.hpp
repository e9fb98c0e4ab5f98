// A simdjson (On-Demand) decoder of update rows, for the parser comparison
// of issue 6 only: it fills the same process_update as decode_update_row()
// (ids as numbers or strings, every time form parse_time() accepts, data
// values kept as JSON text, GUIDs normalised) so both do the same work.
// Not used by proctrack itself.
#pragma once

#include "messages/types.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace proctrack::bench {

#define PROCTRACK_BENCH_DECODER_CLASS(NAME)                                    \
  class NAME {                                                                 \
  public:                                                                      \
    NAME();                                                                    \
    ~NAME();                                                                   \
    bool decode(std::string_view line, std::size_t capacity,                   \
                process_update &out, std::string &error);                      \
    static const char *implementation();                                       \
                                                                               \
  private:                                                                     \
    struct impl;                                                               \
    std::unique_ptr<impl> impl_;                                               \
  };

/// `line` must be followed by at least 64 readable bytes (simdjson's
/// padding), e.g. the rest of the file buffer. decode() gives false and
/// `error` on a bad row; a blank line or a stats row gives false with an
/// empty error. Two builds of the same code: for the baseline x86-64 target
/// (what a distribution binary gets: simdjson's On-Demand API picks its
/// kernel at compile time) and for -march=native.
PROCTRACK_BENCH_DECODER_CLASS(simdjson_row_decoder)
PROCTRACK_BENCH_DECODER_CLASS(simdjson_row_decoder_native)

bool simdjson_available();

} // namespace proctrack::bench
