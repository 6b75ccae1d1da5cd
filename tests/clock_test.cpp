#include "recall/clock.hpp"

#include "catch.hpp"

using namespace std::chrono_literals;

TEST_CASE("manual clock moves only when advanced") {
  recall::manual_clock c;
  const auto t0 = c.now();
  CHECK(c.now() == t0);
  c.advance(5min);
  CHECK(c.now() - t0 == 5min);
}

TEST_CASE("manual clock's calendar time moves with it, and only with it") {
  recall::manual_clock c;
  const auto w0 = c.wall_now();
  CHECK(c.wall_now() == w0);
  c.advance(90s);
  CHECK(c.wall_now() - w0 == 90s);
  // A fixed day, not today: tests never depend on the real date.
  recall::manual_clock other;
  CHECK(other.wall_now() == w0);
}

TEST_CASE("steady clock's calendar time is the system's") {
  const auto& c = recall::default_clock();
  const auto system = std::chrono::system_clock::now();
  // The coarse calendar clock lags the fine one by at most a few ticks.
  CHECK(std::chrono::abs(c->wall_now() - system) < 1s);
}

TEST_CASE("steady clock does not go backwards") {
  const auto& c = recall::default_clock();
  const auto a = c->now();
  const auto b = c->now();
  CHECK(b >= a);
}
