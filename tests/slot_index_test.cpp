// slot_index (actors/cache/slot_index.hpp): the process table's
// open-addressing indexes, against std::unordered_map as the model.
#include <boost/test/unit_test.hpp>

#include "actors/cache/slot_index.hpp"

#include <random>
#include <string>
#include <unordered_map>
#include <vector>

BOOST_AUTO_TEST_SUITE(slot_index_test)

using namespace proctrack;

namespace {

// Slots hold their keys, as the table's entries do.
struct slots {
  std::vector<std::string> keys;
  auto key_of() const {
    return [this](std::uint32_t s) { return std::string_view{keys[s]}; };
  }
};

} // namespace

BOOST_AUTO_TEST_CASE(insert_keeps_the_first_assign_replaces) {
  slots s{{"4-1609497000", "4-1609497000", "17"}};
  slot_index ix;
  BOOST_TEST(ix.find("4-1609497000", s.key_of()) == slot_index::npos);
  BOOST_TEST(ix.insert("4-1609497000", 0, s.key_of()) == 0u);
  BOOST_TEST(ix.insert("4-1609497000", 1, s.key_of()) == 0u); // kept
  BOOST_TEST(ix.find("4-1609497000", s.key_of()) == 0u);
  ix.assign("4-1609497000", 1, s.key_of());
  BOOST_TEST(ix.find("4-1609497000", s.key_of()) == 1u);
  BOOST_TEST(ix.size() == 1u);
  // Erase names the slot: another slot's key of the same text stays.
  BOOST_TEST(!ix.erase("4-1609497000", 0, s.key_of()));
  BOOST_TEST(ix.find("4-1609497000", s.key_of()) == 1u);
  BOOST_TEST(ix.erase("4-1609497000", 1, s.key_of()));
  BOOST_TEST(ix.find("4-1609497000", s.key_of()) == slot_index::npos);
  BOOST_TEST(ix.empty());
  BOOST_TEST(!ix.erase("17", slot_index::npos, s.key_of()));
}

// Random inserts, replacements and erasures over a small key space (long
// probe runs, wrap-around at the end of the buckets, growth), checked
// against the model after every step; the backward-shift deletion must
// never cut a probe sequence.
BOOST_AUTO_TEST_CASE(agrees_with_a_model) {
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng{seed};
    const std::uint32_t n_keys = 50 + seed * 40;
    slots s;
    // Slot k holds key "k-<...>"; slot n_keys + k holds the same text, so
    // one key may be indexed to either of two slots.
    for (std::uint32_t k = 0; k < n_keys; ++k)
      s.keys.push_back(std::to_string(k) + "-" + std::to_string(k * 7919));
    for (std::uint32_t k = 0; k < n_keys; ++k)
      s.keys.push_back(s.keys[k]);
    slot_index ix;
    if (seed % 2)
      ix.reserve(n_keys / 3);
    std::unordered_map<std::string, std::uint32_t> model;
    for (int step = 0; step < 4000; ++step) {
      auto k = rng() % n_keys;
      auto slot = k + (rng() % 2 ? n_keys : 0);
      auto &key = s.keys[k];
      switch (rng() % 4) {
      case 0: {
        auto got = ix.insert(key, slot, s.key_of());
        auto [it, fresh] = model.emplace(key, slot);
        BOOST_TEST_REQUIRE(got == it->second);
        (void)fresh;
        break;
      }
      case 1:
        ix.assign(key, slot, s.key_of());
        model[key] = slot;
        break;
      default: {
        auto it = model.find(key);
        bool expect = it != model.end() && it->second == slot;
        BOOST_TEST_REQUIRE(ix.erase(key, slot, s.key_of()) == expect);
        if (expect)
          model.erase(it);
      }
      }
      BOOST_TEST_REQUIRE(ix.size() == model.size());
      if (step % 97 == 0 || step == 3999)
        for (std::uint32_t j = 0; j < n_keys; ++j) {
          auto it = model.find(s.keys[j]);
          auto want = it == model.end() ? slot_index::npos : it->second;
          BOOST_TEST_REQUIRE(ix.find(s.keys[j], s.key_of()) == want);
        }
    }
    std::size_t seen = 0;
    ix.for_each([&](std::uint32_t slot) {
      ++seen;
      BOOST_TEST_REQUIRE(model.at(s.keys[slot]) == slot);
    });
    BOOST_TEST(seen == model.size());
    ix.clear();
    BOOST_TEST(ix.find(s.keys[0], s.key_of()) == slot_index::npos);
  }
}

BOOST_AUTO_TEST_SUITE_END()
