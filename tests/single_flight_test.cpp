#include "recall/detail/single_flight.hpp"

#include <atomic>
#include <stdexcept>
#include <thread>

#include "catch.hpp"

using recall::detail::active_flights;
using recall::detail::single_flight;

namespace {

// A result whose move fails on demand: storing it in the flight throws.
struct fragile {
  static inline bool fail_moves = false;
  int value = 0;

  explicit fragile(int v) : value(v) {}
  fragile(const fragile&) = default;
  fragile(fragile&& other) : value(other.value) {
    if (fail_moves) throw std::runtime_error("move failed");
  }
  fragile& operator=(const fragile&) = default;
  fragile& operator=(fragile&& other) {
    if (fail_moves) throw std::runtime_error("move failed");
    value = other.value;
    return *this;
  }
};

const recall::key some_key{1, 2};

}  // namespace

TEST_CASE("a result that cannot be stored ends the flight once, with that exception") {
  single_flight<fragile> flights;
  // An outer flight of another table is running on this thread: its mark must
  // survive whatever happens to the inner one.
  const int outer = 0;
  active_flights().emplace_back(&outer, recall::key{3, 4});
  fragile::fail_moves = true;
  CHECK_THROWS_WITH(flights.run(some_key, "f", [] { return fragile(1); }), "move failed");
  fragile::fail_moves = false;
  REQUIRE(active_flights().size() == 1);
  CHECK(active_flights().back().first == &outer);
  active_flights().pop_back();
  // The key's flight is over: the next call computes instead of waiting forever.
  CHECK(flights.run(some_key, "f", [] { return fragile(2); }).value == 2);
  CHECK(active_flights().empty());
}

TEST_CASE("a failed flight's exception reaches the leader and every waiter") {
  // Catch2's assertions are not thread-safe, so the threads only count.
  struct load_failed {};
  single_flight<int> flights;
  std::atomic<bool> computing{false};
  std::atomic<bool> release{false};
  std::atomic<int> failed{0};
  std::thread leader([&] {
    try {
      flights.run(some_key, "f", [&]() -> int {
        computing = true;
        while (!release) std::this_thread::yield();
        throw load_failed{};
      });
    } catch (const load_failed&) {
      ++failed;
    }
  });
  while (!computing) std::this_thread::yield();
  std::thread waiter([&] {
    try {
      flights.run(some_key, "f", [] { return 5; });
    } catch (const load_failed&) {
      ++failed;
    }
  });
  release = true;
  leader.join();
  waiter.join();
  // The waiter either joined the failed flight or ran its own after it.
  CHECK(failed >= 1);
  CHECK(flights.run(some_key, "f", [] { return 6; }) == 6);
}
