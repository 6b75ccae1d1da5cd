// cache_data over a Redis second level, in one run against one redis-server
// started by the test fixture: an L1 hit (a copy, and with() which lends the
// cached object), an L2 hit (the result in Redis,
// not in this process's memory), a raw hiredis GET of the same stored bytes,
// and the computation the cache saves (a stand-in "warehouse query": sorting
// 100,000 doubles and taking percentiles). Every loop reports p50/p99 in
// microseconds as counters (medians are what to compare on a shared machine).
// Built only with recall::redis and the tests' fixture.
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "bench_types.hpp"
#include "micro/timed_loop.hpp"
#include "recall/cache_data.hpp"
#include "recall/redis_store.hpp"
#include "support/redis_server.hpp"

namespace {

using namespace std::chrono_literals;
using recall_bench::sales_row;
using recall_bench::timed_loop;

recall::test::redis_server& server() {
  static recall::test::redis_server s;
  return s;
}

std::shared_ptr<recall::second_level> store() {
  recall::redis_options o;
  o.port = server().port();
  o.command_timeout = 1s;
  return recall::redis_store(std::make_shared<recall::redis_client>(o));
}

// The work a cache saves: an aggregate over a scan of 100,000 values.
sales_row warehouse_query(int region) {
  std::mt19937_64 rng(static_cast<std::uint64_t>(region));
  std::uniform_real_distribution<double> amount(0, 1000);
  std::vector<double> scan(100'000);
  for (double& v : scan) v = amount(rng);
  std::sort(scan.begin(), scan.end());
  sales_row row = recall_bench::make_sales_row();
  for (std::size_t i = 0; i < row.values.size(); ++i) row.values[i] = scan[i * 781];
  return row;
}

auto make_cache(std::size_t max_entries) {
  return recall::cache_data(
      [](int region) { return warehouse_query(region); },
      {.name = "bench_l2", .ttl = 1h, .max_entries = max_entries, .l2 = store()});
}

// Timed by the benchmark alone: two clock readings per call would cost as
// much as the hit.
void l1_hit(benchmark::State& state) {
  auto f = make_cache(1000);
  f(1);
  for (auto _ : state) benchmark::DoNotOptimize(f(1));
}
BENCHMARK(l1_hit)->UseRealTime();

void l1_hit_with(benchmark::State& state) {
  auto f = make_cache(1000);
  f(1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.with(1, [](const sales_row& r) { return r.values[64]; }));
  }
}
BENCHMARK(l1_hit_with)->UseRealTime();

// One entry of memory and two keys read in turn: every call misses memory
// and finds its result in Redis (and puts it into memory, evicting the other).
void l2_hit(benchmark::State& state) {
  auto writer = make_cache(1000);
  writer(1);
  writer(2);
  auto reader = make_cache(1);
  int region = 1;
  timed_loop(state, [&] {
    benchmark::DoNotOptimize(reader(region));
    region = 3 - region;
  });
  const recall::cache_stats s = reader.stats();
  state.counters["l2_hits"] = static_cast<double>(s.l2_hits);
  state.counters["loads"] = static_cast<double>(s.loads);
}
BENCHMARK(l2_hit)->UseRealTime();

// The same bytes the L2 hit reads (the record of region 1), with hiredis alone.
void hiredis_get_record(benchmark::State& state) {
  make_cache(1000)(1);
  const std::string key = "recall:c:{bench_l2:0}:e:" + recall::make_key("bench_l2", "", 1).to_hex();
  timeval tv{1, 0};
  redisContext* ctx = redisConnectWithTimeout("127.0.0.1", server().port(), tv);
  if (ctx == nullptr || ctx->err != 0) {
    state.SkipWithError("cannot connect");
    return;
  }
  std::array<const char*, 2> argv = {"GET", key.c_str()};
  const std::array<std::size_t, 2> lens = {3, key.size()};
  std::size_t bytes = 0;
  timed_loop(state, [&] {
    auto* reply = static_cast<redisReply*>(redisCommandArgv(ctx, 2, argv.data(), lens.data()));
    bytes = reply->len;
    freeReplyObject(reply);
  });
  state.counters["bytes"] = static_cast<double>(bytes);
  redisFree(ctx);
}
BENCHMARK(hiredis_get_record)->UseRealTime();

void computation(benchmark::State& state) {
  int region = 0;
  timed_loop(state, [&] { benchmark::DoNotOptimize(warehouse_query(++region)); });
}
BENCHMARK(computation)->UseRealTime();

}  // namespace
