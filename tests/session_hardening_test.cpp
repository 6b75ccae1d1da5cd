// Regression tests for the session findings of issue 15 (6-12) and the
// session papercuts of issue 14. Each failed on the store before the fix.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "recall/cache_data.hpp"
#include "recall/cookie.hpp"
#include "recall/session.hpp"
#include "recall/session_id.hpp"
#include "support/sanitizers.hpp"

using namespace std::chrono_literals;
using recall::rejected_id_reason;
using recall::session_errc;

namespace {

using recall_test::sanitized;

// A session that holds one value, and its id.
std::string written(recall::session_store& store, const recall::identity& who = {}) {
  auto s = store.open("", who);
  s.set("v", 1);
  return s.id();
}

}  // namespace

TEST_CASE("end_all ends every session of the user, even those being rotated (finding 6)") {
  recall::session_store store(
      {.name = "end_all_race", .max_sessions = 100'000, .max_sessions_per_user = SIZE_MAX});
  const recall::identity alice{.user = "alice"};
  const int rounds = sanitized ? 3 : 10;
  constexpr int sessions = 2000;
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::string> ids;
    for (int i = 0; i < sessions; ++i) ids.push_back(written(store, alice));
    std::atomic<bool> done{false};
    std::atomic<int> rotations{0};
    std::atomic<bool> other_error{false};
    std::vector<std::thread> rotators;
    for (int t = 0; t < 2; ++t) {
      rotators.emplace_back([&, t] {
        while (!done) {
          for (int i = t; i < sessions && !done; i += 2) {
            auto s = store.open(ids[i], alice);
            if (s.is_new()) continue;  // end_all came first
            try {
              s.rotate();
              ids[i] = s.id();
              ++rotations;
            } catch (const recall::session_error& e) {
              if (e.code() != session_errc::ended) other_error = true;
            }
          }
        }
      });
    }
    while (rotations < 200) std::this_thread::yield();
    store.end_all("alice");
    done = true;
    for (auto& r : rotators) r.join();
    REQUIRE_FALSE(other_error);
    // No session of alice's survived, under its old id or its new one.
    int survivors = 0;
    for (const auto& id : ids) survivors += store.open(id, alice).is_new() ? 0 : 1;
    REQUIRE(survivors == 0);
    REQUIRE(store.stats().live == 0);
  }
}

TEST_CASE("a request without a cookie stores nothing and needs no cookie (finding 7)") {
  auto clock = std::make_shared<recall::manual_clock>();
  recall::session_store store({.name = "lazy", .clock = clock});
  {
    auto s = store.open("");
    CHECK(s.is_new());
    CHECK(s.id().empty());
    CHECK_FALSE(s.id_changed());
    CHECK(s.get<int>("missing") == std::nullopt);
    CHECK_FALSE(s.contains("x"));
    CHECK(s.list<int>("l", 3).empty());
    CHECK(store.stats().live == 0);
    CHECK(store.stats().bytes == 0);
  }
  CHECK(store.stats().live == 0);
  CHECK(store.stats().created == 0);
  CHECK(store.stats().rejected_empty == 1);

  // The first write stores it; that request sends the cookie.
  auto s = store.open("");
  s.list<int>("l", 3).push_back(7);
  CHECK(s.id_changed());
  CHECK(recall::is_well_formed_session_id(s.id()));
  CHECK(store.stats().live == 1);
  CHECK(store.stats().created == 1);
  CHECK(store.open(s.id()).list<int>("l", 3).items() == std::vector<int>{7});
}

TEST_CASE("floods of cookieless requests and of one account's sign-ins evict no one else (7)") {
  const std::size_t flood = sanitized ? 10'000 : 100'000;
  recall::session_store store({.name = "flood", .max_sessions = 1000});
  std::vector<std::pair<std::string, recall::identity>> users;
  for (int i = 0; i < 100; ++i) {
    const recall::identity who{.user = "user" + std::to_string(i)};
    users.emplace_back(written(store, who), who);
  }
  std::vector<std::string> visitors;  // anonymous visitors who wrote something
  for (int i = 0; i < 100; ++i) visitors.push_back(written(store));

  for (std::size_t i = 0; i < flood; ++i) store.open("");  // bots without cookies
  for (std::size_t i = 0; i < flood; ++i) {
    auto s = store.open("", {.user = "mallory"});  // one account signing in over and over
    s.set("v", static_cast<int>(i));
  }
  const auto st = store.stats();
  CHECK(st.evicted == 0);
  CHECK(st.ended_user_limit == flood - 16);
  CHECK(st.live == 100 + 100 + 16);
  for (const auto& [id, who] : users) REQUIRE_FALSE(store.open(id, who).is_new());
  for (const auto& id : visitors) REQUIRE_FALSE(store.open(id).is_new());
}

TEST_CASE("max_sessions_per_user ends the user's oldest session first (7)") {
  recall::session_store store({.name = "per_user", .max_sessions_per_user = 3});
  const recall::identity bob{.user = "bob"};
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(written(store, bob));
  CHECK(store.open(ids[0], bob).is_new());
  CHECK(store.open(ids[1], bob).is_new());
  for (int i = 2; i < 5; ++i) CHECK_FALSE(store.open(ids[i], bob).is_new());
  CHECK(store.stats().ended_user_limit == 2);

  // Signing in an anonymous session counts too.
  auto anon = store.open("");
  anon.set("cart", 1);
  const auto signed_in = store.open(anon.id(), bob);
  CHECK(signed_in.id_changed());
  CHECK(store.open(ids[2], bob).is_new());
  CHECK(store.end_all("bob") == 3);
}

TEST_CASE("rotate() on a session past its timeout but not yet reclaimed throws ended (finding 9)") {
  auto clock = std::make_shared<recall::manual_clock>();
  recall::session_store store({.name = "rotate_expired", .clock = clock});
  auto s = store.open("");
  s.set("v", 1);
  clock->advance(31min);
  try {
    s.rotate();
    FAIL("rotate() of an expired session must throw");
  } catch (const recall::session_error& e) {
    CHECK(e.code() == session_errc::ended);
  }
  CHECK(s.ended());
  CHECK_FALSE(s.id_changed());
  CHECK(store.stats().expired_idle == 1);
  CHECK(store.stats().live == 0);
}

TEST_CASE("a session is not evicted under a request that holds it (finding 10)") {
  recall::session_store store({.name = "pinned", .max_sessions = 2});
  const recall::session_cookie cookie;
  auto held = store.open("");
  held.set("mine", 1);
  for (int i = 0; i < 20; ++i) written(store);
  CHECK_FALSE(held.ended());
  CHECK(held.id_changed());
  CHECK_NOTHROW(cookie.set(held.id()));
  held.set("later", 2);  // no session_error(ended)
  CHECK(store.stats().pinned_over_bound == 1);
  CHECK(store.stats().live == 3);
  const std::string id = held.id();
  held = store.open("");  // the request ends: the session is stored again
  CHECK(store.stats().pinned_over_bound == 0);
  CHECK(store.stats().live == 2);
  auto back = store.open(id);
  CHECK_FALSE(back.is_new());
  CHECK(back.get<int>("later") == 2);
}

TEST_CASE("the Set-Cookie idiom never throws under eviction pressure (10)") {
  recall::session_store store({.name = "idiom", .max_sessions = 4});
  const recall::session_cookie cookie;
  const int threads = 8;
  const int opens = sanitized ? 2'000 : 20'000;
  std::atomic<int> failures{0}, cookies{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int i = 0; i < opens; ++i) {
        try {
          auto s = store.open("");
          s.set("n", i);
          s.list<int>("l", 4).push_back(t);
          if (s.id_changed()) {
            (void)cookie.set(s.id());
            ++cookies;
          }
          s.set("after", i);
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(failures == 0);
  CHECK(cookies == threads * opens);
  const auto st = store.stats();
  CHECK(st.pinned_over_bound == 0);
  CHECK(st.live <= 4);
}

TEST_CASE("a request without identity keeps the signed-in user's cookie (finding 11)") {
  std::vector<rejected_id_reason> hooked;
  recall::session_store store(
      {.name = "no_identity",
       .on_rejected_id = [&](const recall::rejected_id& r) { hooked.push_back(r.reason); }});
  const recall::identity alice{.user = "alice"};
  const std::string id = written(store, alice);
  // A path the proxy does not authenticate: alice's cookie, no identity.
  auto s = store.open(id);
  CHECK(s.is_new());
  CHECK(s.rejected_reason() == rejected_id_reason::identity_mismatch);
  CHECK(hooked.back() == rejected_id_reason::identity_mismatch);
  CHECK_FALSE(s.id_changed());  // no Set-Cookie: alice's browser keeps her session
  CHECK_FALSE(store.open(id, alice).is_new());
}

TEST_CASE("a sign-in racing a logout gives a fresh session, never an exception (finding 12)") {
  recall::session_store store({.name = "sign_in_race"});
  const int rounds = sanitized ? 300 : 3000;
  int fresh = 0, signed_in = 0;
  for (int round = 0; round < rounds; ++round) {
    auto anon = store.open("");
    anon.set("cart", round);
    const std::string id = anon.id();
    std::atomic<bool> go{false};
    std::thread ender([&] {
      while (!go) std::this_thread::yield();
      anon.end();
    });
    go = true;
    try {
      auto s = store.open(id, {.user = "alice"});
      (s.is_new() ? fresh : signed_in) += 1;
      REQUIRE(s.user() == "alice");
    } catch (const std::exception& e) {
      ender.join();
      FAIL("open() threw: " << e.what());
    }
    ender.join();
  }
  CHECK(fresh + signed_in == rounds);
}

TEST_CASE("a session handle can be move-assigned, and the thread mark follows it") {
  recall::session_store store({.name = "move_assign"});
  const std::string a = written(store);
  const std::string b = written(store);
  int calls = 0;
  auto per_session =
      recall::cache_data([&](int x) { return ++calls + x; },
                         {.name = "move_assign_cache", .ttl = 1h, .scope = recall::scope::session});
  CHECK(recall::detail::current_session_tag() == 0);
  {
    auto s = store.open(a);
    const auto tag_a = s.tag();
    CHECK(recall::detail::current_session_tag() == tag_a);
    (void)per_session(1);
    s = store.open(b);
    CHECK(s.id() == b);
    CHECK(s.tag() != tag_a);
    CHECK(recall::detail::current_session_tag() == s.tag());
    CHECK(per_session(1) == 2 + 1);  // b's own entry, not a's
    s = store.open(a);
    CHECK(s.tag() == tag_a);
    CHECK(per_session(1) == 1 + 1);  // a's entry again
  }
  CHECK(recall::detail::current_session_tag() == 0);
}

TEST_CASE("session_store{} and session_store({}) both mean the defaults") {
  recall::session_store braces{};
  recall::session_store parens({});
  CHECK(braces.options().max_sessions == 10'000);
  CHECK(parens.options().max_sessions == 10'000);
  CHECK(parens.options().idle_timeout == 30min);
  recall::session_store named({.name = "named"});
  CHECK(named.options().name == "named");
}

// The engine's priority classes must hold across shards: it empties class 0
// in every shard before it touches class 1.
TEST_CASE("no signed-in session is evicted while any anonymous one exists") {
  recall::session_store store({.name = "classes", .max_sessions = 4096});  // 16 shards
  std::vector<std::pair<std::string, recall::identity>> users;
  for (int i = 0; i < 4090; ++i) {
    const recall::identity who{.user = "u" + std::to_string(i)};
    users.emplace_back(written(store, who), who);
  }
  // A few anonymous sessions, in a few of the shards: the store is full.
  for (int i = 0; i < 6; ++i) written(store);
  // Each new one must push out an anonymous session, whatever its shard.
  for (int i = 0; i < 100; ++i) written(store);
  int lost = 0;
  for (const auto& [id, who] : users) lost += store.open(id, who).is_new() ? 1 : 0;
  CHECK(lost == 0);
  CHECK(store.stats().evicted == 100);
}
