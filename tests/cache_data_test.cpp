#include "recall/cache_data.hpp"

#include <atomic>
#include <functional>
#include <future>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"

using namespace std::chrono_literals;

namespace {

struct table {
  std::string name;
  std::vector<double> values;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, values);
  }
};

// Runs background refreshes only when told to, on the test's thread.
struct manual_executor {
  std::vector<std::function<void()>> tasks;
  std::function<void(std::function<void()>)> hook() {
    return [this](std::function<void()> t) { tasks.push_back(std::move(t)); };
  }
  std::size_t run_all() {
    auto now = std::move(tasks);
    tasks.clear();
    for (auto& t : now) t();
    return now.size();
  }
};

}  // namespace

TEST_CASE("a hit returns an independent copy") {
  int calls = 0;
  auto f = recall::cache_data(
      [&](const std::string& region, int day) {
        ++calls;
        return table{region + std::to_string(day), {1.0, 2.0}};
      },
      {.name = "copy", .ttl = 1min});
  table a = f("EU", 1);
  a.name = "mutated";
  a.values.push_back(3.0);
  const table b = f("EU", 1);
  CHECK(b.name == "EU1");
  CHECK(b.values.size() == 2);
  CHECK(calls == 1);
  f("EU", 2);
  CHECK(calls == 2);
}

TEST_CASE("options are checked") {
  auto fn = [](int x) { return x; };
  CHECK_THROWS_AS(recall::cache_data(fn, {.name = "no_ttl"}), recall::config_error);
  CHECK_THROWS_WITH(recall::cache_data(fn, {.name = "no_ttl"}),
                    Catch::Matchers::Contains("recall::no_expiry"));
  CHECK_THROWS_AS(recall::cache_data(fn, {.ttl = 1min, .refresh_after = 2min}),
                  recall::config_error);
  CHECK_THROWS_AS(recall::cache_data(fn, {.ttl = 1min, .max_entries = 0}), recall::config_error);
  CHECK_NOTHROW(recall::cache_data(fn, {.ttl = recall::no_expiry}));
}

TEST_CASE("TTL and refresh-ahead with a manual clock") {
  auto clock = std::make_shared<recall::manual_clock>();
  manual_executor executor;
  int generation = 0;
  bool fail = false;
  auto f = recall::cache_data(
      [&](int x) {
        if (fail) throw std::runtime_error("warehouse down");
        return x * 100 + ++generation;
      },
      {.name = "refresh",
       .ttl = 10min,
       .refresh_after = 4min,
       .clock = clock,
       .executor = executor.hook()});

  const auto t0 = clock->now();
  auto r = f.lookup(1);
  CHECK(r.value == 101);
  CHECK_FALSE(r.from_cache);
  CHECK(r.computed_at == t0);

  SECTION("fresh") {
    clock->advance(4min - 1ns);
    r = f.lookup(1);
    CHECK(r.from_cache);
    CHECK_FALSE(r.stale);
    CHECK(r.age == 4min - 1ns);
    CHECK(executor.tasks.empty());
  }
  SECTION("stale served, one refresh, then refreshed") {
    clock->advance(5min);
    r = f.lookup(1);
    CHECK(r.value == 101);
    CHECK(r.stale);
    CHECK(r.age == 5min);
    CHECK(f(1) == 101);  // still stale, refresh already claimed
    CHECK(executor.tasks.size() == 1);
    CHECK(executor.run_all() == 1);
    r = f.lookup(1);
    CHECK(r.value == 102);
    CHECK_FALSE(r.stale);
    CHECK(r.computed_at == t0 + 5min);
    const auto s = f.stats();
    CHECK(s.loads == 2);
    CHECK(s.refreshes == 1);
    CHECK(s.stale_hits == 2);
  }
  SECTION("a failed refresh keeps the old value until ttl") {
    clock->advance(5min);
    fail = true;
    CHECK(f(1) == 101);
    executor.run_all();
    CHECK(f.stats().refresh_failures == 1);
    CHECK(f(1) == 101);  // a new refresh is claimed again
    CHECK(executor.tasks.size() == 1);
    clock->advance(5min);
    CHECK_THROWS_AS(f(1), std::runtime_error);
  }
  SECTION("expired") {
    clock->advance(10min);
    CHECK_FALSE(f.peek(1));
    r = f.lookup(1);
    CHECK(r.value == 102);
    CHECK_FALSE(r.from_cache);
    CHECK(f.stats().expired == 1);
  }
}

TEST_CASE("single-flight: 32 threads, one computation") {
  std::atomic<int> calls{0};
  std::atomic<bool> release{false};
  auto f = recall::cache_data(
      [&](int x) {
        ++calls;
        while (!release.load()) std::this_thread::yield();
        return x + 1;
      },
      {.name = "flight", .ttl = 1min});
  constexpr int threads = 32;
  std::latch started(threads);
  std::vector<std::future<int>> results;
  for (int i = 0; i < threads; ++i) {
    results.push_back(std::async(std::launch::async, [&] {
      started.count_down();
      return f(41);
    }));
  }
  started.wait();
  while (f.stats().misses < threads) std::this_thread::yield();
  release = true;
  for (auto& r : results) CHECK(r.get() == 42);
  CHECK(calls == 1);
  // As documented in stats.hpp: every caller that found no value is a miss,
  // waiters of the single flight included; loads counts the computations.
  CHECK(f.stats().misses == threads);
  CHECK(f.stats().loads == 1);
}

TEST_CASE("single-flight: every waiter gets the exception, nothing is cached") {
  std::atomic<int> calls{0};
  std::atomic<bool> release{false};
  auto f = recall::cache_data(
      [&](int) -> int {
        ++calls;
        while (!release.load()) std::this_thread::yield();
        throw std::runtime_error("boom");
      },
      {.name = "flight_error", .ttl = 1min});
  constexpr int threads = 32;
  std::vector<std::future<void>> results;
  for (int i = 0; i < threads; ++i) {
    results.push_back(std::async(std::launch::async, [&] { f(1); }));
  }
  while (f.stats().misses < threads) std::this_thread::yield();
  release = true;
  for (auto& r : results) CHECK_THROWS_WITH(r.get(), "boom");
  CHECK(f.stats().entries == 0);
  CHECK(f.stats().load_failures == static_cast<std::uint64_t>(calls.load()));
  const int before = calls;
  CHECK_THROWS(f(1));
  CHECK(calls == before + 1);
}

TEST_CASE("a slow key does not delay a fast key") {
  std::promise<void> gate;
  auto gate_open = gate.get_future().share();
  auto f = recall::cache_data(
      [&](int x) {
        if (x == 1) gate_open.wait();
        return x;
      },
      {.name = "cross_key", .ttl = 1min});
  auto slow = std::async(std::launch::async, [&] { return f(1); });
  while (f.stats().loads < 1) std::this_thread::yield();
  auto fast = std::async(std::launch::async, [&] { return f(2); });
  REQUIRE(fast.wait_for(30s) == std::future_status::ready);
  CHECK(fast.get() == 2);
  CHECK(slow.wait_for(0s) == std::future_status::timeout);
  gate.set_value();
  CHECK(slow.get() == 1);
}

TEST_CASE("a recursive call with the same key is reported, not deadlocked") {
  std::function<int(int)> self;
  auto f = recall::cache_data([&](int x) { return x > 0 ? self(x) : 0; },
                              {.name = "recursive", .ttl = 1min});
  self = [&](int x) { return f(x); };
  CHECK_THROWS_AS(f(1), recall::recursive_call_error);
  CHECK(f(0) == 0);
}

TEST_CASE("entry and byte bounds hold") {
  auto f = recall::cache_data([](int x) { return std::string(static_cast<std::size_t>(x), 'x'); },
                              {.name = "bounds", .ttl = 1min, .max_entries = 3, .max_bytes = 400});
  for (int i = 1; i <= 20; ++i) f(i);
  CHECK(f.stats().entries <= 3);
  for (int i = 100; i < 110; ++i) f(i);
  auto s = f.stats();
  CHECK(s.bytes <= 400);
  CHECK(s.entries >= 1);
  CHECK(f(1000).size() == 1000);  // larger than the whole budget: returned, not cached
  CHECK(f.stats().rejected == 1);
  CHECK_FALSE(f.peek(1000));
}

TEST_CASE("invalidate, clear, stats") {
  int calls = 0;
  auto f = recall::cache_data([&](int x) { return ++calls + x; }, {.name = "inv", .ttl = 1min});
  CHECK(f(1) == 2);
  CHECK(f(1) == 2);
  CHECK(f.invalidate(1));
  CHECK_FALSE(f.invalidate(1));
  CHECK(f(1) == 3);
  f(2);
  f.clear();
  CHECK(f.stats().entries == 0);
  CHECK(f(2) == 6);
  const auto s = f.stats();
  CHECK(s.hits == 1);
  CHECK(s.misses == 4);
  CHECK(s.loads == 4);
  CHECK(s.removed == 1);
  CHECK(s.cleared == 2);
  CHECK(s.entries == 1);
  CHECK(s.bytes == recall::encode(6).size());
}

TEST_CASE("cache_errors stores the exception for the ttl") {
  int calls = 0;
  auto f = recall::cache_data(
      [&](int) -> int {
        ++calls;
        throw std::runtime_error("down");
      },
      {.name = "errors", .ttl = 1min, .cache_errors = true});
  CHECK_THROWS_WITH(f(1), "down");
  CHECK_THROWS_WITH(f(1), "down");
  CHECK(calls == 1);
}

TEST_CASE("with cache_errors, a failed refresh keeps the good value") {
  auto clock = std::make_shared<recall::manual_clock>();
  manual_executor executor;
  bool fail = false;
  auto f = recall::cache_data(
      [&](int x) {
        if (fail) throw std::runtime_error("warehouse down");
        return x;
      },
      {.name = "errors_refresh", .ttl = 10min, .refresh_after = 4min, .cache_errors = true,
       .clock = clock, .executor = executor.hook()});
  CHECK(f(7) == 7);
  clock->advance(5min);
  fail = true;
  CHECK(f(7) == 7);  // stale: served, refresh queued
  CHECK(executor.run_all() == 1);
  CHECK(f.stats().refresh_failures == 1);
  // The error of a background refresh is not cached over the good value.
  CHECK(f(7) == 7);
  CHECK(f.lookup(7).computed_at == clock->now() - 5min);
}

TEST_CASE("an executor that throws does not block later refreshes") {
  auto clock = std::make_shared<recall::manual_clock>();
  manual_executor executor;
  bool refuse = true;
  auto f = recall::cache_data(
      [&, n = 0](int x) mutable { return x * 100 + ++n; },
      {.name = "throwing_executor", .ttl = 10min, .refresh_after = 4min, .clock = clock,
       .executor = [&](std::function<void()> task) {
         if (refuse) throw std::runtime_error("executor shutting down");
         executor.tasks.push_back(std::move(task));
       }});
  CHECK(f(1) == 101);
  clock->advance(5min);
  // The caller has its value; the refusal is counted, not thrown at it.
  CHECK(f(1) == 101);
  CHECK(f.stats().refreshes_dropped == 1);
  refuse = false;
  CHECK(f(1) == 101);  // the refresh is claimed again
  CHECK(executor.run_all() == 1);
  CHECK(f(1) == 102);
}

TEST_CASE("session scope: per session, dropped when the session ends") {
  int calls = 0;
  auto f = recall::cache_data([&](int x) { return x + ++calls; },
                              {.name = "scoped", .ttl = 1min, .scope = recall::scope::session});
  CHECK_THROWS_AS(f(1), recall::no_session_error);
  {
    recall::detail::session_tag_guard s1(1001);
    CHECK(f(1) == 2);
    CHECK(f(1) == 2);
  }
  {
    recall::detail::session_tag_guard s2(1002);
    CHECK(f(1) == 3);
  }
  CHECK(f.stats().entries == 2);
  recall::detail::announce_session_end(1001);
  CHECK(f.stats().entries == 1);
  recall::detail::session_tag_guard s2(1002);
  CHECK(f(1) == 3);
}

TEST_CASE("registry lists the cache and clear_all clears it") {
  auto f = recall::cache_data([](int x) { return x; }, {.name = "registered_fn", .ttl = 1min});
  f(1);
  bool listed = false;
  for (const auto& o : recall::registered()) {
    if (o.name == "registered_fn" && o.kind == "cache_data") {
      listed = true;
      for (const auto& m : o.metrics) {
        if (m.name == "entries") CHECK(m.value == 1);
      }
    }
  }
  CHECK(listed);
  recall::clear_all();
  CHECK(f.stats().entries == 0);
}

TEST_CASE("shared() gives the stored object without a copy") {
  auto f = recall::cache_data([](int x) { return std::vector<int>(100, x); },
                              {.name = "shared", .ttl = 1min});
  auto a = f.shared(7);
  auto b = f.shared(7);
  CHECK(a == b);
  CHECK((*a)[0] == 7);
}

TEST_CASE("a refresh queued for a destroyed cache does nothing") {
  auto clock = std::make_shared<recall::manual_clock>();
  manual_executor executor;
  {
    auto f = recall::cache_data([](int x) { return x; }, {.name = "gone",
                                                          .ttl = 10min,
                                                          .refresh_after = 1min,
                                                          .clock = clock,
                                                          .executor = executor.hook()});
    f(1);
    clock->advance(2min);
    f(1);
  }
  CHECK(executor.run_all() == 1);
}

TEST_CASE("the library's refresh threads refresh in the background") {
  auto clock = std::make_shared<recall::manual_clock>();
  std::atomic<int> generation{0};
  auto f =
      recall::cache_data([&](int) { return ++generation; },
                         {.name = "pool", .ttl = 10min, .refresh_after = 1min, .clock = clock});
  CHECK(f(0) == 1);
  clock->advance(2min);
  CHECK(f(0) == 1);
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  while (f.stats().refreshes == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::yield();
  }
  CHECK(f(0) == 2);
}

TEST_CASE("fail-safe serves an expired value while the function fails, then retries") {
  auto clock = std::make_shared<recall::manual_clock>();
  int calls = 0;
  bool fail = false;
  auto f = recall::cache_data(
      [&](int x) {
        ++calls;
        if (fail) throw std::runtime_error("warehouse down");
        return x * 10 + calls;
      },
      {.name = "fail_safe", .ttl = 10min, .clock = clock, .fail_safe = 1h,
       .fail_safe_retry = 30s});
  const auto t0 = clock->now();
  CHECK(f(1) == 11);
  clock->advance(11min);
  fail = true;
  auto r = f.lookup(1);
  CHECK(r.value == 11);
  CHECK(r.fail_safe);
  CHECK(r.stale);
  CHECK(r.from_cache);
  CHECK(r.computed_at == t0);
  CHECK(r.age == 11min);
  CHECK(calls == 2);
  // Within fail_safe_retry the function is not called again.
  clock->advance(29s);
  CHECK(f(1) == 11);
  CHECK(f.lookup(1).fail_safe);
  CHECK(calls == 2);
  // Then it is, and while it fails the old value stays.
  clock->advance(2s);
  CHECK(f(1) == 11);
  CHECK(calls == 3);
  auto s = f.stats();
  CHECK(s.load_failures == 2);
  CHECK(s.fail_safe_hits == 4);  // two from failed loads, two from hits in between
  // It recovers: a fresh value, no longer flagged.
  fail = false;
  clock->advance(31s);
  r = f.lookup(1);
  CHECK(r.value == 14);
  CHECK_FALSE(r.fail_safe);
  CHECK_FALSE(r.from_cache);
  // Past ttl + fail_safe nothing is served: the failure reaches the caller.
  clock->advance(10min + 1h);
  fail = true;
  CHECK_THROWS_WITH(f(1), "warehouse down");
}

TEST_CASE("fail-safe is off by default") {
  auto clock = std::make_shared<recall::manual_clock>();
  bool fail = false;
  auto f = recall::cache_data(
      [&](int x) {
        if (fail) throw std::runtime_error("down");
        return x;
      },
      {.name = "no_fail_safe", .ttl = 10min, .clock = clock});
  CHECK(f(3) == 3);
  clock->advance(10min);
  fail = true;
  CHECK_THROWS_WITH(f(3), "down");
  CHECK(f.stats().fail_safe_hits == 0);
  CHECK_THROWS_AS(
      recall::cache_data([](int x) { return x; }, {.ttl = 1min, .fail_safe = recall::duration(0)}),
      recall::config_error);
}

TEST_CASE("tags: invalidate_tag drops every cache carrying the tag, and only those") {
  int sales_calls = 0, stock_calls = 0, other_calls = 0;
  auto sales = recall::cache_data([&](int x) { return x + ++sales_calls; },
                                  {.name = "tagged_sales", .ttl = 1h, .tags = {"sales"}});
  auto stock = recall::cache_data([&](int x) { return x + ++stock_calls; },
                                  {.name = "tagged_stock", .ttl = 1h, .tags = {"stock", "sales"}});
  auto other = recall::cache_data([&](int x) { return x + ++other_calls; },
                                  {.name = "untagged", .ttl = 1h});
  sales(1), stock(1), other(1);
  sales(1), stock(1), other(1);
  CHECK(sales_calls + stock_calls + other_calls == 3);
  const recall::tag_invalidation done = recall::invalidate_tag("sales");
  CHECK(done.caches == 2);
  CHECK(done.unreachable_stores == 0);
  sales(1), stock(1), other(1);
  CHECK(sales_calls == 2);
  CHECK(stock_calls == 2);
  CHECK(other_calls == 1);
  CHECK(recall::invalidate_tag("nobody").caches == 0);
}

TEST_CASE("a result computed across an invalidation is returned but not kept") {
  int calls = 0;
  std::function<void()> during;
  auto f = recall::cache_data(
      [&](int x) {
        ++calls;
        if (during) std::exchange(during, nullptr)();
        return x + calls;
      },
      {.name = "invalidated_while_computing", .ttl = 1h});
  during = [&] { f.invalidate(5); };
  CHECK(f(5) == 6);  // the caller still gets what it asked for
  CHECK(f(5) == 7);  // ... but it was not cached
  CHECK(f(5) == 7);
  during = [&] { f.clear(); };
  f.invalidate(5);
  CHECK(f(5) == 8);
  CHECK(f(5) == 9);
  during = [] { recall::invalidate_tag("unrelated"); };
  f.invalidate(5);
  CHECK(f(5) == 10);
  CHECK(f(5) == 10);  // a tag the cache does not carry changes nothing
}
