// The cache's enrichment bookkeeping (SPEC §7): the version information
// already read, by Exe path (bounded, oldest forgotten first), and the paths
// asked of the enricher and not yet answered, so that one path is read once
// however many processes run it. Plain C++, no CAF: the cache actor owns one
// and does the asking.
#pragma once

#include "messages/types.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace proctrack {

class enrichment_memory {
public:
  /// Remembers the results of at most `max_paths` paths
  /// (cache_config::max_enrichment_cache); 0 remembers none.
  explicit enrichment_memory(std::size_t max_paths = 4096)
      : max_paths_(max_paths) {}

  /// The result remembered for `path`, or nullptr.
  const enrichment *find(const std::string &path) const {
    auto it = results_.find(path);
    return it == results_.end() ? nullptr : &it->second;
  }

  /// Notes that `path` is to be asked; false when it is asked already
  /// (its answer enriches every process of it), so ask only on true.
  bool ask(const std::string &path) {
    if (!in_flight_.insert(path).second)
      return false;
    ++requests_;
    return true;
  }

  /// The enricher's answer: `path` is no longer in flight; a result (read
  /// or failed) is remembered, so a failing path is not read again.
  void answered(const enrichment &r) {
    in_flight_.erase(r.path);
    ++(r.ok ? done_ : failed_);
    remember(r);
  }

  /// The enricher did not answer for `path` (it stopped): not remembered,
  /// so the next process of it asks again.
  void unanswered(const std::string &path) {
    in_flight_.erase(path);
    ++failed_;
  }

  /// True when no path is in flight (a flush may be answered).
  bool idle() const {
    return in_flight_.empty();
  }

  std::int64_t requests() const {
    return requests_;
  }
  std::int64_t done() const {
    return done_;
  }
  std::int64_t failed() const {
    return failed_;
  }

private:
  void remember(const enrichment &r) {
    if (max_paths_ == 0 || !results_.emplace(r.path, r).second)
      return;
    order_.push_back(r.path);
    while (order_.size() > max_paths_) {
      results_.erase(order_.front());
      order_.pop_front();
    }
  }

  std::size_t max_paths_;
  std::unordered_map<std::string, enrichment> results_;
  std::deque<std::string> order_; ///< remembered paths, oldest first
  std::unordered_set<std::string> in_flight_;
  std::int64_t requests_ = 0, done_ = 0, failed_ = 0;
};

} // namespace proctrack
