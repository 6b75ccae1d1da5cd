#include "recall/detail/rate_limited_log.hpp"

#include <string>
#include <vector>

#include "catch.hpp"

using namespace std::chrono_literals;

TEST_CASE("at most one message per interval; the next one counts the suppressed") {
  auto clock = std::make_shared<recall::manual_clock>();
  std::vector<std::string> lines;
  recall::detail::rate_limited_log log([&](std::string_view m) { lines.emplace_back(m); }, 10s,
                                       clock);
  log.report("first");
  log.report("second");
  log.report("third");
  REQUIRE(lines.size() == 1);
  CHECK(lines[0] == "first");
  clock->advance(9s);
  log.report("fourth");
  CHECK(lines.size() == 1);
  clock->advance(1s);
  log.report("fifth");
  REQUIRE(lines.size() == 2);
  CHECK(lines[1] == "fifth (3 more messages suppressed since the last one)");
  clock->advance(10s);
  log.report("sixth");
  REQUIRE(lines.size() == 3);
  CHECK(lines[2] == "sixth");
}

TEST_CASE("no sink: reports are dropped") {
  recall::detail::rate_limited_log log({}, 1s, recall::default_clock());
  log.report("nobody listens");
  SUCCEED();
}
