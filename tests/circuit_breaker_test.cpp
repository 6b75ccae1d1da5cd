#include "recall/detail/circuit_breaker.hpp"

#include <memory>

#include "catch.hpp"
#include "recall/clock.hpp"

using namespace std::chrono_literals;
using recall::breaker_state;
using recall::detail::circuit_breaker;
using admission = circuit_breaker::admission;

namespace {

struct fixture {
  std::shared_ptr<recall::manual_clock> clock = std::make_shared<recall::manual_clock>();
  circuit_breaker breaker{3, 1s, clock};

  void fail_times(int n) {
    for (int i = 0; i < n; ++i) breaker.on_failure(breaker.admit());
  }
};

}  // namespace

TEST_CASE("the breaker opens after the threshold of consecutive failures") {
  fixture f;
  f.fail_times(2);
  CHECK(f.breaker.state() == breaker_state::closed);
  CHECK(f.breaker.admit() == admission::allowed);
  CHECK(f.breaker.on_failure(admission::allowed));  // the third opens it
  CHECK(f.breaker.state() == breaker_state::open);
  CHECK(f.breaker.admit() == admission::rejected);
  CHECK(f.breaker.remaining_open() == 1s);
}

TEST_CASE("a success resets the count of consecutive failures") {
  fixture f;
  f.fail_times(2);
  f.breaker.on_success(f.breaker.admit());
  f.fail_times(2);
  CHECK(f.breaker.state() == breaker_state::closed);
}

TEST_CASE("after open_for one probe goes through; the others are still refused") {
  fixture f;
  f.fail_times(3);
  f.clock->advance(999ms);
  CHECK(f.breaker.admit() == admission::rejected);
  f.clock->advance(1ms);
  CHECK(f.breaker.admit() == admission::probe);
  CHECK(f.breaker.state() == breaker_state::half_open);
  CHECK(f.breaker.admit() == admission::rejected);
}

TEST_CASE("the probe's success closes the breaker") {
  fixture f;
  f.fail_times(3);
  f.clock->advance(1s);
  const auto probe = f.breaker.admit();
  CHECK(f.breaker.on_success(probe));
  CHECK(f.breaker.state() == breaker_state::closed);
  CHECK(f.breaker.admit() == admission::allowed);
}

TEST_CASE("the probe's failure opens the breaker for another period") {
  fixture f;
  f.fail_times(3);
  f.clock->advance(1s);
  const auto probe = f.breaker.admit();
  CHECK(f.breaker.on_failure(probe));
  CHECK(f.breaker.state() == breaker_state::open);
  CHECK(f.breaker.admit() == admission::rejected);
  f.clock->advance(1s);
  CHECK(f.breaker.admit() == admission::probe);
}

TEST_CASE("an abandoned probe lets the next caller probe at once") {
  fixture f;
  f.fail_times(3);
  f.clock->advance(1s);
  f.breaker.abandon(f.breaker.admit());
  CHECK(f.breaker.state() == breaker_state::open);
  CHECK(f.breaker.admit() == admission::probe);
}

TEST_CASE("late failures of calls admitted before the breaker opened do not extend it") {
  fixture f;
  const auto a = f.breaker.admit();
  const auto b = f.breaker.admit();
  f.fail_times(3);
  f.clock->advance(600ms);
  CHECK_FALSE(f.breaker.on_failure(a));
  CHECK_FALSE(f.breaker.on_failure(b));
  f.clock->advance(400ms);
  CHECK(f.breaker.admit() == admission::probe);
}
