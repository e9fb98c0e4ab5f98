// How BOOST_TEST prints proctrack's enums in a failed check's message. Inline:
// every suite is linked into one program.
#pragma once

#include "actors/ingest/format_sniffer.hpp"
#include "actors/ingest/update_row_decoder.hpp"
#include "messages/types.hpp"

#include <ostream>

namespace proctrack {

inline std::ostream &operator<<(std::ostream &os, update_kind k) {
  return os << to_string(k);
}

inline std::ostream &operator<<(std::ostream &os, input_format f) {
  return os << to_string(f);
}

inline std::ostream &operator<<(std::ostream &os, row_result r) {
  return os << static_cast<int>(r);
}

} // namespace proctrack
