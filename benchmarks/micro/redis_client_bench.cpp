// Round trip of GET for a 1 KiB value on loopback: through recall's client
// (pool, breaker, reply copy) and through a raw hiredis loop, against one
// redis-server started by the test fixture (tests/support/redis_server.hpp).
// The difference is what the client costs per call on top of the network.
// Each single-GET loop also times every round trip and reports p50/p99 (in
// microseconds) as counters: on a shared machine the mean is dominated by
// preemptions, the median is comparable with redis-benchmark's p50.
// Built only with recall::redis and the tests.
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>

#include <array>
#include <chrono>
#include <string>

#include "micro/timed_loop.hpp"
#include "recall/redis.hpp"
#include "support/redis_server.hpp"

namespace {

using recall_bench::timed_loop;

const std::string key = "recall:bench:1k";

recall::test::redis_server& server() {
  static recall::test::redis_server s;
  return s;
}

recall::redis_client& client() {
  static recall::redis_client c([] {
    recall::redis_options o;
    o.port = server().port();
    o.command_timeout = std::chrono::seconds(1);
    o.name = "bench";
    return o;
  }());
  static const bool filled = [] {
    c.command({"SET", key, std::string(1024, 'v')}).throw_if_error();
    return true;
  }();
  (void)filled;
  return c;
}

void redis_client_get_1k(benchmark::State& state) {
  recall::redis_client& c = client();
  timed_loop(state, [&] { benchmark::DoNotOptimize(c.command({"GET", key})); });
}
BENCHMARK(redis_client_get_1k)->UseRealTime();

void redis_client_pipeline_10_get_1k(benchmark::State& state) {
  recall::redis_client& c = client();
  recall::redis_pipeline p;
  for (int i = 0; i < 10; ++i) p.add({"GET", key});
  for (auto _ : state) benchmark::DoNotOptimize(c.pipeline(p));
  state.SetItemsProcessed(state.iterations() * 10);
}
BENCHMARK(redis_client_pipeline_10_get_1k)->UseRealTime();

void hiredis_get_1k(benchmark::State& state) {
  client();  // the key is set
  timeval tv{1, 0};
  redisContext* ctx = redisConnectWithTimeout("127.0.0.1", server().port(), tv);
  if (ctx == nullptr || ctx->err != 0) {
    state.SkipWithError("cannot connect");
    return;
  }
  std::array<const char*, 2> argv = {"GET", key.c_str()};
  const std::array<std::size_t, 2> lens = {3, key.size()};
  timed_loop(state, [&] {
    void* reply = redisCommandArgv(ctx, 2, argv.data(), lens.data());
    benchmark::DoNotOptimize(reply);
    freeReplyObject(reply);
  });
  redisFree(ctx);
}
BENCHMARK(hiredis_get_1k)->UseRealTime();

}  // namespace
