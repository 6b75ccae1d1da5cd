#include "recall/key.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "catch.hpp"

namespace {

struct point {
  int x = 0;
  int y = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(x, y);
  }
};

struct account {
  long id = 0;
  std::string display_name;  // not part of identity
};
void recall_hash(recall::key_builder& b, const account& a) { b.add(a.id); }

}  // namespace

TEST_CASE("equal arguments give equal keys, different arguments different keys") {
  CHECK(recall::make_key("f", "", std::string("EU"), 42) ==
        recall::make_key("f", "", std::string("EU"), 42));
  CHECK(recall::make_key("f", "", std::string("EU"), 42) !=
        recall::make_key("f", "", std::string("EU"), 43));
  CHECK(recall::make_key("f", "", std::string("EU"), 42) !=
        recall::make_key("f", "", std::string("US"), 42));
}

TEST_CASE("argument boundaries are length-prefixed") {
  using s = std::string;
  CHECK(recall::make_key("f", "", s("ab"), s("c")) != recall::make_key("f", "", s("a"), s("bc")));
  CHECK(recall::make_key("f", "", s(""), s("abc")) != recall::make_key("f", "", s("abc"), s("")));
  CHECK(recall::make_key("f", "", std::vector<int>{1, 2}, std::vector<int>{3}) !=
        recall::make_key("f", "", std::vector<int>{1}, std::vector<int>{2, 3}));
  CHECK(recall::make_key("ab", "c") != recall::make_key("a", "bc"));
}

TEST_CASE("same bytes of different types give different keys") {
  CHECK(recall::make_key("f", "", 1) != recall::make_key("f", "", 1u));
  CHECK(recall::make_key("f", "", std::int64_t{1}) != recall::make_key("f", "", std::uint64_t{1}));
  CHECK(recall::make_key("f", "", 0.0f) != recall::make_key("f", "", 0));
  CHECK(recall::make_key("f", "", point{1, 2}) != recall::make_key("f", "", std::pair{1, 2}));
}

TEST_CASE("function identity and version are part of the key") {
  CHECK(recall::make_key("f", "", 1) != recall::make_key("g", "", 1));
  CHECK(recall::make_key("f", "1", 1) != recall::make_key("f", "2", 1));
}

TEST_CASE("const and reference qualifiers do not change the key") {
  const std::string a = "EU";
  std::string b = "EU";
  const std::string& ref = b;
  CHECK(recall::make_key("f", "", a) == recall::make_key("f", "", ref));
}

TEST_CASE("user types hash through cereal or their own recall_hash") {
  CHECK(recall::make_key("f", "", point{1, 2}) == recall::make_key("f", "", point{1, 2}));
  CHECK(recall::make_key("f", "", point{1, 2}) != recall::make_key("f", "", point{2, 1}));
  CHECK(recall::make_key("f", "", account{7, "Ann"}) ==
        recall::make_key("f", "", account{7, "Bo"}));
  CHECK(recall::make_key("f", "", account{7, "Ann"}) !=
        recall::make_key("f", "", account{8, "Ann"}));
  std::map<std::string, std::set<int>> m{{"a", {1, 2}}};
  auto m2 = m;
  CHECK(recall::make_key("f", "", m) == recall::make_key("f", "", m2));
  m2["a"].insert(3);
  CHECK(recall::make_key("f", "", m) != recall::make_key("f", "", m2));
}

TEST_CASE("unhashed arguments are left out of the key") {
  int conn_a = 1;
  int conn_b = 2;
  CHECK(recall::make_key("f", "", recall::unhashed{&conn_a}, 5) ==
        recall::make_key("f", "", recall::unhashed{&conn_b}, 5));
  CHECK(recall::make_key("f", "", recall::unhashed{&conn_a}, 5) !=
        recall::make_key("f", "", recall::unhashed{&conn_a}, 6));
}

TEST_CASE("long arguments stream through the hash state") {
  const std::string long_a(5000, 'x');
  std::string long_b = long_a;
  CHECK(recall::make_key("f", "", long_a) == recall::make_key("f", "", long_b));
  long_b[4999] = 'y';
  CHECK(recall::make_key("f", "", long_a) != recall::make_key("f", "", long_b));
  long_b = long_a;
  long_b[0] = 'y';
  CHECK(recall::make_key("f", "", long_a) != recall::make_key("f", "", long_b));
}

TEST_CASE("hashability is a concept") {
  STATIC_REQUIRE(recall::hashable<std::string>);
  STATIC_REQUIRE(recall::hashable<point>);
  STATIC_REQUIRE(recall::hashable<account>);
  STATIC_REQUIRE(recall::hashable<recall::unhashed<int*>>);
  STATIC_REQUIRE_FALSE(recall::hashable<int*>);
  struct hidden {
    int v;
  };
  STATIC_REQUIRE_FALSE(recall::hashable<hidden>);
}

TEST_CASE("to_hex prints 32 hex digits") {
  const auto k = recall::key{0x1, 0xabc};
  CHECK(k.to_hex() == "0000000000000abc0000000000000001");
}

TEST_CASE("the string and arithmetic shortcuts write the bytes cereal would") {
  const std::string text = "EU-west";
  const std::int32_t day = 42;
  recall::key_builder through_cereal(7);
  through_cereal.add(recall::detail::type_fingerprint<std::string>);
  {
    recall::detail::hash_archive archive(through_cereal);
    archive(text);
  }
  through_cereal.add(recall::detail::type_fingerprint<std::int32_t>);
  {
    recall::detail::hash_archive archive(through_cereal);
    archive(day);
  }
  CHECK(through_cereal.finish() == recall::make_key_with_seed(7, text, day));
}

TEST_CASE("identity and version seed the key without ambiguity") {
  CHECK(recall::key_seed("ab", "c") != recall::key_seed("a", "bc"));
  CHECK(recall::make_key("f", "v", 1) == recall::make_key_with_seed(recall::key_seed("f", "v"), 1));
}
