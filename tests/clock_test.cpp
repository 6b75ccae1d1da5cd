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

TEST_CASE("steady clock does not go backwards") {
  const auto& c = recall::default_clock();
  const auto a = c->now();
  const auto b = c->now();
  CHECK(b >= a);
}
