// pending_exits: the exits the table could not apply yet (SPEC §2: an exit
// whose start has not come), remembered by the key the exit named (a GUID,
// a real id or a bare pid) with its end time, oldest first, at most
// `max` of them (table_config::max_pending_exits; the oldest goes first).
//
// Every start looks here (up to three keys), so a lookup is one probe of an
// open-addressing index (slot_index) and no string is built; an entry
// leaves the arrival order in O(1) (a doubly linked list through the
// entries). Before this, a std::unordered_map<std::string, timestamp> and a
// std::deque of its keys took ~14% of the bare table's time in this
// lookup, and a linear search of the deque on every late exit applied.
// Plain C++, not thread-safe, like the table.
#pragma once

#include "actors/cache/slot_index.hpp"
#include "messages/types.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace proctrack {

class pending_exits {
public:
  static constexpr std::uint32_t npos = slot_index::npos;

private:
  // First: key_of() is used below, and its type is deduced here.
  struct entry {
    std::string key;
    timestamp end = unknown_time;
    std::uint32_t prev = npos;
    std::uint32_t next = npos;
    bool used = false;
  };
  auto key_of() const {
    return
        [this](std::uint32_t i) { return std::string_view{entries_[i].key}; };
  }

public:
  explicit pending_exits(std::size_t max = 4096) : max_(max) {}

  std::size_t size() const {
    return index_.size();
  }
  bool empty() const {
    return index_.empty();
  }
  std::size_t max() const {
    return max_;
  }

  /// Remembers `key` (not empty) with its end time `end` unless the key is
  /// remembered already (the first exit stays). Beyond max(), the oldest
  /// entries are dropped. True when added; never adds when max() is 0.
  bool add(std::string_view key, timestamp end) {
    if (key.empty() || max_ == 0 || index_.find(key, key_of()) != npos)
      return false;
    std::uint32_t i;
    if (!free_.empty()) {
      i = free_.back();
      free_.pop_back();
    } else {
      i = static_cast<std::uint32_t>(entries_.size());
      entries_.emplace_back();
    }
    auto &e = entries_[i];
    e.key.assign(key.data(), key.size());
    e.end = end;
    e.used = true;
    e.prev = tail_;
    e.next = npos;
    if (tail_ != npos)
      entries_[tail_].next = i;
    else
      head_ = i;
    tail_ = i;
    index_.insert(e.key, i, key_of());
    while (index_.size() > max_)
      erase(head_);
    return true;
  }

  /// The entry remembered under `key`, npos when none.
  std::uint32_t find(std::string_view key) const {
    if (key.empty())
      return npos;
    return index_.find(key, key_of());
  }
  /// The end time of entry `i` (from find()), in timestamp units.
  timestamp end(std::uint32_t i) const {
    return entries_[i].end;
  }
  const std::string &key(std::uint32_t i) const {
    return entries_[i].key;
  }

  /// Forgets entry `i` (from find()).
  void erase(std::uint32_t i) {
    auto &e = entries_[i];
    index_.erase(e.key, i, key_of());
    if (e.prev != npos)
      entries_[e.prev].next = e.next;
    else
      head_ = e.next;
    if (e.next != npos)
      entries_[e.next].prev = e.prev;
    else
      tail_ = e.prev;
    e.used = false;
    // A hostile log's keys may be long: a freed key keeps no large buffer.
    if (e.key.capacity() > 128)
      std::string{}.swap(e.key);
    free_.push_back(i);
  }

  /// Calls f(key, end) for every entry, oldest first.
  template <class F>
  void for_each(F &&f) const {
    for (auto i = head_; i != npos; i = entries_[i].next)
      f(entries_[i].key, entries_[i].end);
  }

private:
  std::size_t max_;
  std::vector<entry> entries_;
  std::vector<std::uint32_t> free_;
  std::uint32_t head_ = npos;
  std::uint32_t tail_ = npos;
  slot_index index_;
};

} // namespace proctrack
