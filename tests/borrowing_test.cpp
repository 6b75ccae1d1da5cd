// with(args..., f): cache_data and cache_resource lend the cached object to f
// instead of copying it or its shared_ptr.
#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "recall/cache_data.hpp"
#include "recall/cache_resource.hpp"

using namespace std::chrono_literals;

TEST_CASE("cache_data with(): computes on a miss, lends the stored object on a hit") {
  int calls = 0;
  auto f = recall::cache_data(
      [&](int n) {
        ++calls;
        return std::vector<int>(static_cast<std::size_t>(n), n);
      },
      {.name = "borrow_data", .ttl = 1min});
  CHECK(f.with(3, [](const std::vector<int>& v) { return v.size(); }) == 3);
  const std::vector<int>* first = nullptr;
  const std::vector<int>* second = nullptr;
  f.with(3, [&](const std::vector<int>& v) { first = &v; });
  f.with(3, [&](const std::vector<int>& v) { second = &v; });
  CHECK(first == second);  // the stored object itself, not a copy
  CHECK(first == f.shared(3).get());
  CHECK(calls == 1);
  const auto s = f.stats();
  CHECK(s.hits == 3);
  CHECK(s.misses == 1);
}

TEST_CASE("cache_data with(): cached errors are rethrown, f's exceptions pass through") {
  int calls = 0;
  auto f = recall::cache_data(
      [&](int n) -> int {
        ++calls;
        if (n < 0) throw std::invalid_argument("negative");
        return n;
      },
      {.name = "borrow_errors", .ttl = 1min, .cache_errors = true});
  CHECK_THROWS_AS(f.with(-1, [](const int& v) { return v; }), std::invalid_argument);
  CHECK_THROWS_AS(f.with(-1, [](const int& v) { return v; }), std::invalid_argument);
  CHECK(calls == 1);
  CHECK_THROWS_WITH(f.with(2, [](const int&) -> int { throw std::runtime_error("in f"); }), "in f");
  CHECK(f.with(2, [](const int& v) { return v * 10; }) == 20);
}

TEST_CASE("cache_resource with(): lends the object, validates it, builds on a miss") {
  struct pool {
    int id;
    bool ok = true;
  };
  std::atomic<int> built{0};
  auto pools = recall::cache_resource(
      [&](int k) { return std::make_unique<pool>(pool{k * 100 + built++}); },
      {.name = "borrow_pool", .ttl = 1h, .validate = [](pool& p) { return p.ok; }});
  CHECK(pools.with(1, [](pool& p) { return p.id; }) == 100);
  CHECK(pools.with(1, [](pool& p) { return p.id; }) == 100);
  CHECK(built == 1);
  std::shared_ptr<pool> held = pools(1);
  pools.with(1, [](pool& p) { p.ok = false; });  // the next hit fails validate
  CHECK(pools.with(1, [](pool& p) { return p.id; }) == 101);
  CHECK(built == 2);
  CHECK(held->id == 100);  // the caller's reference still works
}

TEST_CASE("with() from many threads on the same keys agrees with the copying calls") {
  auto f = recall::cache_data([](int n) { return std::string(static_cast<std::size_t>(n), 'x'); },
                              {.name = "borrow_threads", .ttl = 1h});
  std::atomic<int> wrong{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        const int n = i % 16;
        if (f.with(n, [](const std::string& s) { return s.size(); }) !=
            static_cast<std::size_t>(n)) {
          ++wrong;
        }
        if (i % 100 == 0) f.invalidate(n);
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(wrong == 0);
}
