// Key hashing: what every cache_data call pays before it touches the engine.
#include <benchmark/benchmark.h>

#include <string>

#include "recall/key.hpp"

namespace {

void BM_make_key_small_args(benchmark::State& state) {
  const std::string region = "EU-west";
  int day = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(recall::make_key("load_sales", "v1", region, day));
    day = (day + 1) & 1023;
  }
}
BENCHMARK(BM_make_key_small_args)->Threads(1)->Threads(2);

void BM_make_key_1KiB_string(benchmark::State& state) {
  const std::string text(1024, 'x');
  for (auto _ : state) {
    benchmark::DoNotOptimize(recall::make_key("render", "v1", text));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * 1024);
}
BENCHMARK(BM_make_key_1KiB_string)->Threads(1)->Threads(2);

}  // namespace
