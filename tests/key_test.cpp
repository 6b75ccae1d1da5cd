#include "recall/key.hpp"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
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

TEST_CASE("empty containers hash") {
  // data() of an empty vector is a null pointer; hashing zero bytes from it
  // must not reach memcpy (UBSan flags memcpy(dst, nullptr, 0)).
  CHECK(recall::make_key("f", "v1", std::vector<int>{}) ==
        recall::make_key("f", "v1", std::vector<int>{}));
  CHECK(recall::make_key("f", "v1", std::vector<int>{}) !=
        recall::make_key("f", "v1", std::vector<int>{0}));
  CHECK(recall::make_key("f", "v1", std::string(300, 'x'), std::vector<double>{}) ==
        recall::make_key("f", "v1", std::string(300, 'x'), std::vector<double>{}));
}

namespace {

template <class C>
std::vector<typename C::value_type> in_iteration_order(const C& c) {
  return {c.begin(), c.end()};
}

}  // namespace

TEST_CASE("keys of unordered containers do not depend on iteration order") {
  std::unordered_map<std::string, int> forward;
  std::unordered_map<std::string, int> backward;
  backward.rehash(4096);
  for (int i = 0; i < 200; ++i) forward.emplace("k" + std::to_string(i), i);
  for (int i = 199; i >= 0; --i) backward.emplace("k" + std::to_string(i), i);
  std::unordered_map<std::string, int> rehashed = forward;
  for (int i = 200; i < 5000; ++i) rehashed.emplace("k" + std::to_string(i), i);
  for (int i = 200; i < 5000; ++i) rehashed.erase("k" + std::to_string(i));
  REQUIRE(forward == backward);
  REQUIRE(forward == rehashed);
  // The test means something only if the orders really differ.
  REQUIRE(in_iteration_order(forward) != in_iteration_order(backward));
  REQUIRE(in_iteration_order(forward) != in_iteration_order(rehashed));
  CHECK(recall::make_key("f", "", forward) == recall::make_key("f", "", backward));
  CHECK(recall::make_key("f", "", forward) == recall::make_key("f", "", rehashed));

  std::unordered_set<int> up;
  std::unordered_set<int> down(1000);
  for (int i = 0; i < 300; ++i) up.insert(i * 7919);
  for (int i = 299; i >= 0; --i) down.insert(i * 7919);
  REQUIRE(in_iteration_order(up) != in_iteration_order(down));
  CHECK(recall::make_key("f", "", up) == recall::make_key("f", "", down));

  // Multi-containers: the same multiset of elements, whatever the order.
  std::unordered_multimap<int, std::string> m1{{1, "a"}, {2, "b"}, {1, "c"}, {3, "d"}};
  std::unordered_multimap<int, std::string> m2{{3, "d"}, {1, "c"}, {2, "b"}, {1, "a"}};
  m2.rehash(97);
  REQUIRE(m1 == m2);
  CHECK(recall::make_key("f", "", m1) == recall::make_key("f", "", m2));
  std::unordered_multiset<int> s1{5, 5, 9, 1, 5};
  std::unordered_multiset<int> s2{1, 5, 9, 5, 5};
  CHECK(recall::make_key("f", "", s1) == recall::make_key("f", "", s2));

  // Nested: each inner container is hashed the same way.
  using nested = std::vector<std::unordered_map<std::string, std::unordered_set<int>>>;
  nested n1{{{"a", up}, {"b", {}}}};
  nested n2{{{"b", {}}, {"a", down}}};
  CHECK(recall::make_key("f", "", n1) == recall::make_key("f", "", n2));
}

TEST_CASE("keys of unordered containers still tell different contents apart") {
  using m = std::unordered_map<std::string, int>;
  CHECK(recall::make_key("f", "", m{{"a", 1}, {"b", 2}}) !=
        recall::make_key("f", "", m{{"a", 2}, {"b", 1}}));
  CHECK(recall::make_key("f", "", m{}) != recall::make_key("f", "", m{{"", 0}}));
  CHECK(recall::make_key("f", "", m{{"a", 1}}) != recall::make_key("f", "", m{{"a", 1}, {"b", 1}}));
  using ms = std::unordered_multiset<int>;
  CHECK(recall::make_key("f", "", ms{1, 1, 2}) != recall::make_key("f", "", ms{1, 2, 2}));
  CHECK(recall::make_key("f", "", ms{7, 7}) != recall::make_key("f", "", ms{8, 8}));
  CHECK(recall::make_key("f", "", ms{7, 7}) != recall::make_key("f", "", ms{7}));
  // The elements' own boundaries still count: ("ab","c") is not ("a","bc").
  using s = std::unordered_set<std::string>;
  CHECK(recall::make_key("f", "", s{"ab", "c"}) != recall::make_key("f", "", s{"a", "bc"}));
  // Same elements, other container kind: the type fingerprint differs.
  CHECK(recall::make_key("f", "", std::unordered_set<int>{1}) !=
        recall::make_key("f", "", std::unordered_multiset<int>{1}));
}

namespace {

struct db_pool {
  int queries = 0;
  int query(std::string_view sql) { return ++queries + static_cast<int>(sql.size()); }
};

}  // namespace

TEST_CASE("unhashed pointers behave like the pointer") {
  db_pool pool;
  // docs/key.md's example: -> on unhashed<T*> reaches the pointee.
  auto q = [](recall::unhashed<db_pool*> p, const std::string& sql) { return p->query(sql); };
  CHECK(q(recall::unhashed{&pool}, "select 1") == 1 + 8);
  recall::unhashed<db_pool*> raw{&pool};
  CHECK((*raw).queries == 1);
  CHECK(raw.get() == &pool);

  recall::unhashed<std::shared_ptr<db_pool>> shared{std::make_shared<db_pool>()};
  CHECK(shared->query("x") == 2);
  CHECK((*shared).queries == 1);
  CHECK(shared.get().use_count() == 1);
  const recall::unhashed<std::unique_ptr<db_pool>> owned{std::make_unique<db_pool>()};
  CHECK(owned->query("xy") == 3);

  // Anything else: -> reaches the value itself, as before.
  recall::unhashed<std::string> text{"abc"};
  CHECK(text->size() == 3);
}
