#include "recall/cache_resource.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {

// Records, per object, how often it was released and destroyed, and in which
// order, so "exactly once, before destruction" can be checked object by object.
struct tracker {
  std::mutex mu;
  int next_id = 0;
  std::map<int, int> releases;
  std::map<int, int> destructions;
  std::map<int, bool> released_before_destroyed;

  int create() {
    std::lock_guard lock(mu);
    const int id = next_id++;
    releases[id] = 0;
    destructions[id] = 0;
    return id;
  }
  void release(int id) {
    std::lock_guard lock(mu);
    ++releases[id];
  }
  void destroy(int id) {
    std::lock_guard lock(mu);
    released_before_destroyed[id] = releases[id] > 0;
    ++destructions[id];
  }
  int released(int id) {
    std::lock_guard lock(mu);
    return releases[id];
  }
  int created() {
    std::lock_guard lock(mu);
    return next_id;
  }
  int total_released() {
    std::lock_guard lock(mu);
    int n = 0;
    for (const auto& [id, count] : releases) n += count;
    return n;
  }
  // Every object built so far was released exactly once and then destroyed once.
  void check_all_released_once() {
    std::lock_guard lock(mu);
    for (int id = 0; id < next_id; ++id) {
      INFO("object " << id);
      CHECK(releases[id] == 1);
      CHECK(destructions[id] == 1);
      CHECK(released_before_destroyed[id]);
    }
  }
};

// A resource that can be neither copied nor moved, like a pool with a mutex.
struct connection {
  connection(tracker& t, int key) : owner(&t), key(key), id(t.create()) {}
  ~connection() { owner->destroy(id); }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  tracker* owner;
  int key;
  int id;
  std::atomic<bool> healthy{true};
  std::atomic<bool> closed{false};
};

auto releasing(tracker& t) {
  return [&t](connection& c) {
    c.closed = true;
    t.release(c.id);
  };
}

}  // namespace

TEST_CASE("one object per argument list, shared by every caller") {
  tracker t;
  auto pool = recall::cache_resource([&](int key) { return std::make_unique<connection>(t, key); },
                                     {.name = "identity", .ttl = 1h});
  const auto a = pool(1);
  const auto b = pool(1);
  const auto c = pool(2);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(a->key == 1);
  CHECK(c->key == 2);
  CHECK(t.created() == 2);
  CHECK(pool.name() == "identity");
  const auto s = pool.stats();
  CHECK(s.hits == 1);
  CHECK(s.misses == 2);
  CHECK(s.loads == 2);
  CHECK(s.entries == 2);
}

TEST_CASE("without a name the factory's type is the identity") {
  auto factory = [](int x) { return x; };
  auto r = recall::cache_resource(factory, {.ttl = 1h});
  CHECK(r.name() == recall::detail::type_name<decltype(factory)>());
  CHECK(*r(3) == 3);
}

TEST_CASE("resource options are checked") {
  auto factory = [](int x) { return x; };
  CHECK_THROWS_AS(recall::cache_resource(factory, {.name = "no_ttl"}), recall::config_error);
  CHECK_THROWS_WITH(recall::cache_resource(factory, {.name = "no_ttl"}),
                    Catch::Matchers::Contains(".ttl =") &&
                        Catch::Matchers::Contains("recall::no_expiry") &&
                        Catch::Matchers::Contains("no_ttl"));
  CHECK_THROWS_AS(recall::cache_resource(factory, {.ttl = 0s}), recall::config_error);
  CHECK_THROWS_AS(recall::cache_resource(factory, {.ttl = 1h, .max_entries = 0}),
                  recall::config_error);
  CHECK_NOTHROW(recall::cache_resource(factory, {.ttl = recall::no_expiry}));
}

TEST_CASE("factories may return T, unique_ptr<T> or shared_ptr<T>") {
  tracker t;
  SECTION("T by value, even when it cannot be moved") {
    auto r = recall::cache_resource([&](int key) { return connection(t, key); },
                                    {.name = "by_value", .ttl = 1h, .on_release = releasing(t)});
    std::shared_ptr<connection> a = r(5);
    CHECK(a->key == 5);
    CHECK(r(5) == a);
    r.clear();
    CHECK(t.released(a->id) == 0);
    a.reset();
  }
  SECTION("unique_ptr<T>") {
    auto r = recall::cache_resource([&](int key) { return std::make_unique<connection>(t, key); },
                                    {.name = "unique", .ttl = 1h, .on_release = releasing(t)});
    CHECK(r(6)->key == 6);
    CHECK(r(6) == r(6));
    r.clear();
  }
  SECTION("shared_ptr<T>: on_release follows the cache's handles, not the factory's") {
    auto kept = std::make_shared<connection>(t, 7);
    auto r = recall::cache_resource([&](int) { return kept; },
                                    {.name = "shared", .ttl = 1h, .on_release = releasing(t)});
    auto a = r(7);
    CHECK(a.get() == kept.get());
    r.clear();
    a.reset();
    CHECK(t.released(kept->id) == 1);
    CHECK(kept->closed);  // released, yet still alive for its other owner
    kept.reset();
  }
  t.check_all_released_once();
}

TEST_CASE("a factory returning a null pointer is an error, and nothing is cached") {
  bool null = true;
  auto r = recall::cache_resource(
      [&](int x) { return null ? std::unique_ptr<int>() : std::make_unique<int>(x); },
      {.name = "null_factory", .ttl = 1h});
  CHECK_THROWS_AS(r(1), recall::error);
  CHECK_THROWS_WITH(
      r(1), Catch::Matchers::Contains("null_factory") && Catch::Matchers::Contains("null pointer"));
  CHECK(r.stats().entries == 0);
  CHECK(r.stats().load_failures == 2);
  null = false;
  CHECK(*r(1) == 1);
}

TEST_CASE("a failed validate releases the object and builds a new one") {
  tracker t;
  auto r = recall::cache_resource([&](int key) { return std::make_unique<connection>(t, key); },
                                  {.name = "validated",
                                   .ttl = 1h,
                                   .validate = [](connection& c) { return c.healthy.load(); },
                                   .on_release = releasing(t)});
  auto first = r(1);
  const int first_id = first->id;
  CHECK(r(1) == first);
  first->healthy = false;
  auto second = r(1);
  CHECK(second != first);
  CHECK(second->healthy);
  CHECK(r(1) == second);
  CHECK(r.stats().loads == 2);
  CHECK(r.stats().removed == 1);
  // The failed object is out of the cache, but this caller still uses it.
  CHECK(t.released(first_id) == 0);
  CHECK_FALSE(first->closed);
  first.reset();
  CHECK(t.released(first_id) == 1);
  second.reset();
  r.clear();
  t.check_all_released_once();
}

TEST_CASE("a throwing validate counts as a failure and leaves the cache consistent") {
  tracker t;
  auto r = recall::cache_resource([&](int key) { return std::make_unique<connection>(t, key); },
                                  {.name = "validate_throws",
                                   .ttl = 1h,
                                   .validate =
                                       [](connection& c) {
                                         if (!c.healthy) throw std::runtime_error("probe failed");
                                         return true;
                                       },
                                   .on_release = releasing(t)});
  const int first_id = r(1)->id;
  r(1)->healthy = false;
  const auto replacement = r(1);
  CHECK(replacement->id != first_id);
  CHECK(t.released(first_id) == 1);
  CHECK(r(1) == replacement);
  const auto s = r.stats();
  CHECK(s.entries == 1);
  CHECK(s.loads == 2);
  CHECK(s.load_failures == 0);
}

TEST_CASE("on_release runs exactly once per object for every way out") {
  tracker t;
  auto clock = std::make_shared<recall::manual_clock>();
  {
    auto r = recall::cache_resource([&](int key) { return std::make_unique<connection>(t, key); },
                                    {.name = "lifecycle",
                                     .ttl = 1min,
                                     .max_entries = 4,
                                     .on_release = releasing(t),
                                     .clock = clock});
    SECTION("ttl") {
      const int old_id = r(1)->id;
      clock->advance(30s);
      CHECK(r(1)->id == old_id);
      clock->advance(31s);
      CHECK(r.cleanup() == 1);
      CHECK(t.released(old_id) == 1);
      CHECK(r.stats().expired == 1);
      CHECK(r(1)->id != old_id);
    }
    SECTION("eviction") {
      for (int key = 0; key < 20; ++key) r(key);
      const auto s = r.stats();
      CHECK(s.entries <= 4);
      CHECK(s.evicted == 20 - s.entries);
      CHECK(t.total_released() == static_cast<int>(s.evicted));
    }
    SECTION("invalidate") {
      const int id = r(1)->id;
      CHECK(r.invalidate(1));
      CHECK_FALSE(r.invalidate(1));
      CHECK(t.released(id) == 1);
      CHECK(r(1)->id != id);
    }
    SECTION("clear") {
      for (int key = 0; key < 3; ++key) r(key);
      r.clear();
      CHECK(t.total_released() == 3);
      CHECK(r.stats().cleared == 3);
    }
    SECTION("destruction") {
      for (int key = 0; key < 3; ++key) r(key);
      CHECK(t.total_released() == 0);
    }
  }
  t.check_all_released_once();
}

TEST_CASE("holders keep a dropped object alive and on_release waits for them") {
  tracker t;
  auto r = recall::cache_resource(
      [&](int key) { return std::make_unique<connection>(t, key); },
      {.name = "holders", .ttl = 1h, .max_entries = 2, .on_release = releasing(t)});
  auto held = r(0);
  auto also_held = held;
  for (int key = 1; key < 50; ++key) r(key);
  CHECK(r.stats().evicted > 0);
  CHECK(r(0) != held);  // the cache let go of it and built a new one
  CHECK(held->key == 0);
  CHECK_FALSE(held->closed);
  CHECK(t.released(held->id) == 0);
  const int id = held->id;
  held.reset();
  CHECK(t.released(id) == 0);
  also_held.reset();
  CHECK(t.released(id) == 1);
}

TEST_CASE("single-flight construction: 32 threads, one object") {
  std::atomic<int> calls{0};
  std::atomic<bool> go{false};
  auto r = recall::cache_resource(
      [&](int x) {
        ++calls;
        while (!go.load()) std::this_thread::yield();
        return std::make_shared<int>(x);
      },
      {.name = "flight", .ttl = 1h});
  constexpr int threads = 32;
  std::latch started(threads);
  std::vector<std::future<std::shared_ptr<int>>> results;
  for (int i = 0; i < threads; ++i) {
    results.push_back(std::async(std::launch::async, [&] {
      started.count_down();
      return r(41);
    }));
  }
  started.wait();
  while (r.stats().misses < threads) std::this_thread::yield();
  go = true;
  std::vector<std::shared_ptr<int>> got;
  for (auto& f : results) got.push_back(f.get());
  for (const auto& p : got) CHECK(p == got.front());
  CHECK(*got.front() == 41);
  CHECK(calls == 1);
  CHECK(r.stats().loads == 1);
}

TEST_CASE("a throwing factory reaches every waiter and caches nothing") {
  std::atomic<int> calls{0};
  std::atomic<bool> go{false};
  std::atomic<bool> fail{true};
  auto r = recall::cache_resource(
      [&](int x) {
        ++calls;
        while (!go.load()) std::this_thread::yield();
        if (fail) throw std::runtime_error("database down");
        return x;
      },
      {.name = "flight_error", .ttl = 1h});
  constexpr int threads = 32;
  std::vector<std::future<std::shared_ptr<int>>> results;
  for (int i = 0; i < threads; ++i) {
    results.push_back(std::async(std::launch::async, [&] { return r(1); }));
  }
  while (r.stats().misses < threads) std::this_thread::yield();
  go = true;
  for (auto& f : results) CHECK_THROWS_WITH(f.get(), "database down");
  CHECK(r.stats().entries == 0);
  CHECK(r.stats().load_failures == static_cast<std::uint64_t>(calls.load()));
  fail = false;
  const int before = calls;
  CHECK(*r(1) == 1);
  CHECK(calls == before + 1);
  CHECK(r.stats().entries == 1);
}

TEST_CASE("a throwing on_release is counted and the object is still destroyed") {
  tracker t;
  auto r = recall::cache_resource(
      [&](int key) { return std::make_unique<connection>(t, key); },
      {.name = "release_throws", .ttl = 1h, .on_release = [&](connection& c) {
         t.release(c.id);
         throw std::runtime_error("close failed");
       }});
  r(1);
  r(2);
  CHECK(r.invalidate(1));
  r.clear();
  const auto s = r.stats();
  CHECK(s.release_failures == 2);
  CHECK(s.entries == 0);
  CHECK(r(1)->key == 1);
  r.clear();
  CHECK(r.stats().release_failures == 3);
  t.check_all_released_once();
}

TEST_CASE("a resource that builds itself is reported, not deadlocked") {
  std::function<int(int)> self;
  auto r = recall::cache_resource([&](int x) { return x > 0 ? self(x) : 0; },
                                  {.name = "recursive", .ttl = 1h});
  self = [&](int x) { return *r(x); };
  CHECK_THROWS_AS(r(1), recall::recursive_call_error);
  CHECK(*r(0) == 0);
  CHECK(r.stats().entries == 1);
}

TEST_CASE("session scope: per session, released when the session ends") {
  tracker t;
  auto r = recall::cache_resource(
      [&](int key) { return std::make_unique<connection>(t, key); },
      {.name = "scoped", .ttl = 1h, .on_release = releasing(t), .scope = recall::scope::session});
  CHECK_THROWS_AS(r(1), recall::no_session_error);
  CHECK_THROWS_WITH(
      r(1), Catch::Matchers::Contains("scoped") && Catch::Matchers::Contains("no session is open"));
  CHECK_THROWS_AS(r.invalidate(1), recall::no_session_error);
  int first_id = 0;
  {
    recall::detail::session_tag_guard s1(2001);
    first_id = r(1)->id;
    CHECK(r(1)->id == first_id);
  }
  int second_id = 0;
  {
    recall::detail::session_tag_guard s2(2002);
    second_id = r(1)->id;
  }
  CHECK(first_id != second_id);
  CHECK(r.stats().entries == 2);
  recall::detail::announce_session_end(2001);
  CHECK(r.stats().entries == 1);
  CHECK(t.released(first_id) == 1);
  CHECK(t.released(second_id) == 0);
  recall::detail::session_tag_guard s2(2002);
  CHECK(r(1)->id == second_id);
}

TEST_CASE("registered as a cache_resource and cleared by clear_all") {
  tracker t;
  auto r = recall::cache_resource(
      [&](int key) { return std::make_unique<connection>(t, key); },
      {.name = "registered_resource", .ttl = 1h, .on_release = releasing(t)});
  r(1);
  r(2);
  bool listed = false;
  for (const auto& o : recall::registered()) {
    if (o.name != "registered_resource") continue;
    listed = true;
    CHECK(o.kind == "cache_resource");
    bool has_release_failures = false;
    for (const auto& m : o.metrics) {
      if (m.name == "entries") CHECK(m.value == 2);
      if (m.name == "release_failures") has_release_failures = true;
    }
    CHECK(has_release_failures);
  }
  CHECK(listed);
  recall::clear_all();
  CHECK(r.stats().entries == 0);
  CHECK(t.total_released() == 2);
}

namespace {

// Runs `work` on its own thread; false if it has not finished within a
// generous bound (a deadlock), in which case the thread is left behind.
bool finishes(std::function<void()> work) {
  auto done = std::make_shared<std::promise<void>>();
  std::future<void> finished = done->get_future();
  std::thread([work = std::move(work), done] {
    work();
    done->set_value();
  }).detach();
  return finished.wait_for(std::chrono::seconds(60)) == std::future_status::ready;
}

}  // namespace

TEST_CASE("an on_release that creates and destroys caches does not deadlock clear_all") {
  std::atomic<int> made{0};
  auto doomed = std::make_unique<recall::cached_resource<std::shared_ptr<int>(int)>>(
      recall::cache_resource([](int k) { return std::make_shared<int>(k); },
                             {.name = "doomed_by_on_release", .ttl = 1h}));
  auto r = recall::cache_resource(
      [](int k) { return std::make_shared<int>(k); },
      {.name = "reentrant_release",
       .ttl = 1h,
       .on_release = [&](int&) {
         auto fresh = recall::cache_resource([](int k) { return std::make_shared<int>(k); },
                                             {.name = "made_by_on_release", .ttl = 1h});
         made += *fresh(7);
         doomed.reset();
       }});
  r(1);
  REQUIRE(finishes([] { recall::clear_all(); }));
  CHECK(made == 7);
  CHECK(doomed == nullptr);
}

TEST_CASE("an on_release run by a session's end may create and destroy scoped caches") {
  std::atomic<int> made{0};
  auto r = recall::cache_resource(
      [](int k) { return std::make_shared<int>(k); },
      {.name = "scoped_reentrant",
       .ttl = 1h,
       .on_release = [&](int&) {
         auto fresh = recall::cache_resource([](int k) { return std::make_shared<int>(k); },
                                             {.name = "scoped_made_by_on_release",
                                              .ttl = 1h,
                                              .scope = recall::scope::session});
         recall::detail::session_tag_guard inner(3002);
         made += *fresh(5);
       },
       .scope = recall::scope::session});
  {
    recall::detail::session_tag_guard s(3001);
    r(1);
  }
  REQUIRE(finishes([] { recall::detail::announce_session_end(3001); }));
  CHECK(made == 5);
  CHECK(r.stats().entries == 0);
}

TEST_CASE("concurrent use, failures, invalidation and eviction release every object once") {
  tracker t;
  {
    auto r = recall::cache_resource([&](int key) { return std::make_unique<connection>(t, key); },
                                    {.name = "stress",
                                     .ttl = 1h,
                                     .max_entries = 3,
                                     .validate = [](connection& c) { return c.healthy.load(); },
                                     .on_release = releasing(t)});
    constexpr int threads = 4;
    // Catch2 assertions are not thread-safe: workers count, the test checks.
    std::atomic<int> closed_while_held{0};
    std::atomic<int> wrong_object{0};
    std::latch start(threads);
    std::vector<std::thread> workers;
    for (int w = 0; w < threads; ++w) {
      workers.emplace_back([&, w] {
        start.arrive_and_wait();
        for (int i = 0; i < 500; ++i) {
          const int key = (i + w) % 5;
          auto c = r(key);
          if (c->closed) ++closed_while_held;
          if (c->key != key) ++wrong_object;
          if (i % 17 == w) c->healthy = false;
          if (i % 31 == w) r.invalidate(key);
          if (i % 97 == w) r.clear();
        }
      });
    }
    for (auto& th : workers) th.join();
    CHECK(closed_while_held == 0);
    CHECK(wrong_object == 0);
    CHECK(r.stats().entries <= 3);
  }
  t.check_all_released_once();
}
