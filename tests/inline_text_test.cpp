// inline_text (actors/cache/inline_text.hpp): the process table's short
// texts (ids, GUIDs) kept inside the entry, longer ones on the heap. Every
// form must read back exactly what was assigned (also in the ASan build).
#include <boost/test/unit_test.hpp>

#include "actors/cache/inline_text.hpp"

#include <random>
#include <string>
#include <utility>
#include <vector>

BOOST_AUTO_TEST_SUITE(inline_text_test)

using namespace proctrack;

BOOST_AUTO_TEST_CASE(ids_and_guids_fit_inline) {
  static_assert(sizeof(id_text) == 32 && sizeof(guid_text) == 40);
  id_text id{"4294967295-16094952000.12345678"}; // 31 bytes
  BOOST_TEST(id.view() == "4294967295-16094952000.12345678");
  BOOST_TEST(!id.on_heap());
  guid_text g{"{8a9d0e6b-1234-5678-9abc-def012345678}"};
  BOOST_TEST(!g.on_heap());
  BOOST_TEST(g == "{8a9d0e6b-1234-5678-9abc-def012345678}");
}

BOOST_AUTO_TEST_CASE(longer_texts_go_to_the_heap_exactly) {
  std::string long_id(200, 'x');
  long_id[7] = '\0'; // any byte, NUL included
  id_text id{long_id};
  BOOST_TEST(id.on_heap());
  BOOST_TEST(id.size() == 200u);
  BOOST_TEST(id == long_id);
  id = "5-1609495200"; // back inline, the heap text freed
  BOOST_TEST(!id.on_heap());
  BOOST_TEST(id == "5-1609495200");
  id.clear();
  BOOST_TEST(id.empty());
  BOOST_TEST(id.view().empty());
}

BOOST_AUTO_TEST_CASE(assigning_a_view_of_itself) {
  id_text a{"12345-1609495200.7"};
  a = a.view().substr(6); // inline into inline, overlapping
  BOOST_TEST(a == "1609495200.7");
  std::string big(100, 'y');
  big += "tail";
  id_text b{big};
  b = b.view().substr(90); // heap text into inline
  BOOST_TEST(b == "yyyyyyyyyytail");
  id_text c{big};
  c = c.view().substr(1); // heap text into a new heap text
  BOOST_TEST(c == big.substr(1));
}

BOOST_AUTO_TEST_CASE(copies_moves_and_order) {
  std::string big(64, 'z');
  std::vector<id_text> v{id_text{"2-1"}, id_text{big}, id_text{"1-9"}};
  auto w = v; // copies own their heap texts
  v.clear();
  BOOST_TEST(w[1] == big);
  id_text m{std::move(w[1])};
  BOOST_TEST(m == big);
  BOOST_TEST(w[1].empty());
  w[1] = std::move(m);
  BOOST_TEST(w[1] == big);
  BOOST_TEST(w[2] < w[0]);
  BOOST_TEST(!(w[0] < w[0]));
  BOOST_TEST(w[0] != w[2]);
  BOOST_TEST(std::string{"2-1"} == w[0]);
}

// Random lengths around the inline limit against std::string as the model.
BOOST_AUTO_TEST_CASE(random_assignments_match_std_string) {
  std::mt19937 rng{16};
  std::vector<id_text> got(8);
  std::vector<std::string> want(8);
  for (int step = 0; step < 20000; ++step) {
    auto i = rng() % got.size();
    switch (rng() % 4) {
    case 0: {
      std::string s(rng() % 70, 'a');
      for (auto &c : s)
        c = static_cast<char>('a' + rng() % 26);
      got[i] = s;
      want[i] = s;
      break;
    }
    case 1: {
      auto j = rng() % got.size();
      got[i] = got[j];
      want[i] = want[j];
      break;
    }
    case 2: {
      auto j = rng() % got.size();
      if (i == j)
        break;
      got[i] = std::move(got[j]);
      want[i] = std::move(want[j]);
      got[j].clear();
      want[j].clear();
      break;
    }
    default: {
      auto from = want[i].empty() ? 0 : rng() % want[i].size();
      got[i] = got[i].view().substr(from);
      want[i] = want[i].substr(from);
    }
    }
    BOOST_TEST_REQUIRE(got[i].view() == want[i]);
  }
  for (std::size_t i = 0; i < got.size(); ++i)
    BOOST_TEST(got[i].view() == want[i]);
}

BOOST_AUTO_TEST_SUITE_END()
