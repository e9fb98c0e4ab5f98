// slot_index: an open-addressing hash index from a text key to a slot of
// the process table, for the table's own indexes (real id, pid, GUID).
//
// The key is not copied: it lives in the slot (an entry's id, its pid, its
// GUID), and the index keeps only the slot number and the key's 32-bit hash
// (8 bytes a key, no heap node, no string). Lookups take a string_view, so
// a probe allocates nothing. Every call that must compare keys is given
// `key_of(slot) -> std::string_view`, the key the slot is indexed under;
// that key must not change while the slot is in the index.
//
// Linear probing with backward-shift deletion (no tombstones: a table that
// inserts and erases forever never fills with them); at most 1/2 full, so
// a probe is short. Capacity doubles as keys are added and is never given
// back (it follows the table's max-size). Not thread-safe, like the table.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace proctrack {

class slot_index {
public:
  static constexpr std::uint32_t npos = 0xFFFFFFFFu;

  std::size_t size() const {
    return size_;
  }
  bool empty() const {
    return size_ == 0;
  }
  /// Room for `n` keys without growing.
  void reserve(std::size_t n) {
    std::size_t cap = 16;
    while (cap < 2 * n)
      cap *= 2;
    if (cap > buckets_.size())
      rehash(cap);
  }
  void clear() {
    for (auto &b : buckets_)
      b = bucket{};
    size_ = 0;
  }

  /// The slot indexed under `key`, npos when none.
  template <class KeyOf>
  std::uint32_t find(std::string_view key, KeyOf &&key_of) const {
    if (size_ == 0)
      return npos;
    auto h = hash(key);
    for (auto i = h & mask(); buckets_[i].slot != npos; i = (i + 1) & mask())
      if (buckets_[i].hash == h && key_of(buckets_[i].slot) == key)
        return buckets_[i].slot;
    return npos;
  }

  /// Indexes `slot` under `key` unless the key is indexed already. Returns
  /// the slot the key has now (`slot` when inserted).
  template <class KeyOf>
  std::uint32_t insert(std::string_view key, std::uint32_t slot,
                       KeyOf &&key_of) {
    return put(key, slot, key_of, false);
  }
  /// Indexes `slot` under `key`, replacing the key's slot if any.
  template <class KeyOf>
  void assign(std::string_view key, std::uint32_t slot, KeyOf &&key_of) {
    put(key, slot, key_of, true);
  }

  /// Removes `key` if it is indexed to `slot` (any slot when `slot` is
  /// npos). True when removed.
  template <class KeyOf>
  bool erase(std::string_view key, std::uint32_t slot, KeyOf &&key_of) {
    if (size_ == 0)
      return false;
    auto h = hash(key);
    for (auto i = h & mask(); buckets_[i].slot != npos; i = (i + 1) & mask()) {
      auto &b = buckets_[i];
      if (b.hash != h || key_of(b.slot) != key)
        continue;
      if (slot != npos && b.slot != slot)
        return false;
      erase_at(i);
      return true;
    }
    return false;
  }

  /// Calls f(slot) for every indexed slot (in no particular order).
  template <class F>
  void for_each(F &&f) const {
    for (auto &b : buckets_)
      if (b.slot != npos)
        f(b.slot);
  }

private:
  struct bucket {
    std::uint32_t slot = npos;
    std::uint32_t hash = 0;
  };

  static std::uint32_t hash(std::string_view key) {
    auto h = std::hash<std::string_view>{}(key);
    return static_cast<std::uint32_t>(h ^ (h >> 32));
  }
  std::uint32_t mask() const {
    return static_cast<std::uint32_t>(buckets_.size() - 1);
  }

  template <class KeyOf>
  std::uint32_t put(std::string_view key, std::uint32_t slot, KeyOf &key_of,
                    bool replace) {
    if (2 * (size_ + 1) > buckets_.size())
      rehash(buckets_.empty() ? 16 : 2 * buckets_.size());
    auto h = hash(key);
    auto i = h & mask();
    for (; buckets_[i].slot != npos; i = (i + 1) & mask()) {
      auto &b = buckets_[i];
      if (b.hash == h && key_of(b.slot) == key) {
        if (replace)
          b.slot = slot;
        return b.slot;
      }
    }
    buckets_[i] = bucket{slot, h};
    ++size_;
    return slot;
  }

  // Backward shift: the keys after the hole that would be found through it
  // move into it, so no probe sequence is ever cut.
  void erase_at(std::uint32_t hole) {
    auto i = hole;
    for (;;) {
      i = (i + 1) & mask();
      if (buckets_[i].slot == npos)
        break;
      auto home = buckets_[i].hash & mask();
      // Movable when its home is not in (hole, i] (cyclically).
      bool between =
          hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
      if (!between) {
        buckets_[hole] = buckets_[i];
        hole = i;
      }
    }
    buckets_[hole] = bucket{};
    --size_;
  }

  void rehash(std::size_t cap) {
    std::vector<bucket> old(cap);
    old.swap(buckets_);
    auto m = mask();
    for (auto &b : old) {
      if (b.slot == npos)
        continue;
      auto i = b.hash & m;
      while (buckets_[i].slot != npos)
        i = (i + 1) & m;
      buckets_[i] = b;
    }
  }

  std::vector<bucket> buckets_;
  std::size_t size_ = 0;
};

} // namespace proctrack
