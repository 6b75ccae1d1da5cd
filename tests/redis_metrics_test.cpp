// The Prometheus exposition of a Redis client and of a cache with a Redis
// second level, against a real redis-server.
#include <chrono>
#include <recall/cache_data.hpp>
#include <recall/metrics.hpp>
#include <recall/redis_store.hpp>
#include <string>

#include "catch.hpp"
#include "support/promtool.hpp"
#include "support/redis_server.hpp"

using namespace std::chrono_literals;

namespace {

bool has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

}  // namespace

TEST_CASE("a cache with a second level exports its l2 counters, the client its own") {
  recall::test::redis_server server;
  auto client = std::make_shared<recall::redis_client>(
      recall::redis_options{.port = server.port(), .name = "fleet"});
  auto l2 = recall::redis_store(client);
  auto shared =
      recall::cache_data([](int n) { return n * 2; }, {.name = "shared", .ttl = 1min, .l2 = l2});
  auto local = recall::cache_data([](int n) { return n * 3; }, {.name = "local", .ttl = 1min});
  shared(1);
  local(1);
  REQUIRE(shared.stats().l2_writes == 1);

  std::string text;
  recall::write_prometheus(text);
  CHECK(has(text, "recall_cache_l2_writes_total{kind=\"cache_data\",name=\"shared\"} 1\n"));
  CHECK(has(text, "recall_cache_l2_misses_total{kind=\"cache_data\",name=\"shared\"} 1\n"));
  CHECK(has(text, "recall_cache_hits_total{kind=\"cache_data\",name=\"local\"} 0\n"));
  // The cache without a second level has no l2 series at all.
  CHECK_FALSE(has(text, "l2_writes_total{kind=\"cache_data\",name=\"local\"}"));
  CHECK_FALSE(has(text, "invalidations_sent_total{kind=\"cache_data\",name=\"local\"}"));
  CHECK(has(text, "# TYPE recall_redis_commands_total counter\n"));
  CHECK(has(text, "# TYPE recall_redis_breaker_state gauge\n"));
  CHECK(has(text, "recall_redis_breaker_state{kind=\"redis\",name=\"fleet\"} 0\n"));
  CHECK(has(text, "recall_redis_commands_total{kind=\"redis\",name=\"fleet\"} "));

  const auto lint = recall::test::promtool_check(text);
  INFO(lint.output);
  CHECK(lint.accepted);
}
