#include "recall/detail/backoff.hpp"

#include <set>

#include "catch.hpp"

using namespace std::chrono_literals;
using recall::duration;
using recall::detail::backoff;

TEST_CASE("backoff doubles from min to max, each delay in [ceiling/2, ceiling]") {
  backoff b(10ms, 1s, 42);
  duration ceiling = 10ms;
  for (int i = 0; i < 12; ++i) {
    const duration d = b.next_delay();
    CHECK(d >= ceiling / 2);
    CHECK(d <= ceiling);
    ceiling = std::min<duration>(ceiling * 2, 1s);
  }
  CHECK(b.failures() == 12);
}

TEST_CASE("backoff saturates at max without overflow after many failures") {
  backoff b(1ns, duration::max(), 7);
  for (int i = 0; i < 200; ++i) CHECK(b.next_delay() >= duration::zero());
}

TEST_CASE("reset starts again from min") {
  backoff b(10ms, 1s, 1);
  for (int i = 0; i < 8; ++i) b.next_delay();
  b.reset();
  CHECK(b.failures() == 0);
  CHECK(b.next_delay() <= 10ms);
}

TEST_CASE("the jitter spreads delays, and differs between seeds") {
  std::set<duration::rep> seen;
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    backoff b(10ms, 1s, seed);
    for (int i = 0; i < 5; ++i) b.next_delay();
    seen.insert(b.next_delay().count());
  }
  CHECK(seen.size() > 40);
}
