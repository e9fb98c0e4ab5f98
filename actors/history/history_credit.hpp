// Backpressure toward the history (docs/history.md "Backpressure"): the
// changed processes an owner (the cache, the fleet collector) has sent to
// the history and the history has not yet acknowledged, counted in rows and
// in bytes. While either is over its bound the owner is "behind" and holds
// what paces its sources (the cache its batch answers, the collector its
// hosts' acks). Plain C++, no CAF.
#pragma once

#include "messages/types.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace proctrack {

class history_credit {
public:
  /// history.max-unacked-rows and history.max-unacked-bytes.
  history_credit(std::size_t max_rows, std::size_t max_bytes)
      : max_rows_(max_rows), max_bytes_(max_bytes) {}

  /// Counts `rows` as sent; returns the bytes counted for them (what
  /// acked() gives back): each row's strings plus its fixed size.
  std::uint64_t sent(const std::vector<history_row> &rows) {
    std::uint64_t bytes = 0;
    for (auto &r : rows)
      bytes += sizeof(history_row) + r.id.size() + r.parent_id.size()
               + r.guid.size() + r.host.size() + r.data.size();
    unacked_rows_ += rows.size();
    unacked_bytes_ += bytes;
    rows_sent_ += static_cast<std::int64_t>(rows.size());
    return bytes;
  }

  /// The history acknowledged (or failed) `rows` rows of `bytes` bytes.
  void acked(std::uint64_t rows, std::uint64_t bytes) {
    unacked_rows_ -= std::min(unacked_rows_, rows);
    unacked_bytes_ -= std::min(unacked_bytes_, bytes);
  }

  /// More rows, or more bytes of them, unacknowledged than the bounds.
  bool behind() const {
    return unacked_rows_ > max_rows_ || unacked_bytes_ > max_bytes_;
  }

  std::uint64_t unacked_rows() const {
    return unacked_rows_;
  }
  std::int64_t rows_sent() const {
    return rows_sent_;
  }

private:
  std::size_t max_rows_;
  std::size_t max_bytes_;
  std::uint64_t unacked_rows_ = 0;
  std::uint64_t unacked_bytes_ = 0;
  std::int64_t rows_sent_ = 0;
};

} // namespace proctrack
