// The history's settings are checked on every platform (the config file
// is the same); the store itself is Linux-only (SQLite).
#include "actors/history/history.hpp"

#include "actors/common/time.hpp"

#include <string>

namespace proctrack {

std::string history_config::validate() const {
  if (path.empty())
    return "history.path is empty";
  if (flush_interval < min_flush_interval
      || flush_interval > max_flush_interval)
    return "history.flush-interval must be between 10ms and 1h (got "
           + std::to_string(flush_interval / hns_per_ms) + "ms)";
  if (max_bytes < min_max_bytes)
    return "history.max-bytes must be at least " + std::to_string(min_max_bytes)
           + " (1 MiB) (got " + std::to_string(max_bytes) + ")";
  if (max_age < 0)
    return "history.max-age must not be negative (0: no age limit)";
  if (max_pending == 0)
    return "history max_pending must be at least 1";
  if (cache_bytes < (std::uint64_t{256} << 10))
    return "history cache_bytes must be at least 256 KiB (got "
           + std::to_string(cache_bytes) + ")";
  if (auto why = cache.validate(); !why.empty())
    return why;
  return {};
}

} // namespace proctrack
