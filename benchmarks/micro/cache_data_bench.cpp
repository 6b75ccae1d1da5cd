// A cache_data hit on the ~1 KiB sales_row keyed by a string and an int: the
// number the cache_data issue targets (compare with the floors in
// floors_bench and with benchmarks/streamlit_hit.py).
#include <benchmark/benchmark.h>

#include <string>

#include "bench_types.hpp"
#include "recall/cache_data.hpp"

using namespace std::chrono_literals;

namespace {

auto& sales_cache() {
  static auto cache = recall::cache_data(
      [](const std::string& region, int day) {
        auto row = recall_bench::make_sales_row();
        row.region = region + std::to_string(day);
        return row;
      },
      {.name = "bench_sales", .ttl = 1h, .max_entries = 10'000});
  return cache;
}

// Each thread reads its own key, as two users on two dashboards would.
void BM_cache_data_hit(benchmark::State& state) {
  auto& cache = sales_cache();
  const std::string region = "EU-west";
  const int day = state.thread_index();
  benchmark::DoNotOptimize(cache(region, day));
  for (auto _ : state) {
    auto row = cache(region, day);
    benchmark::DoNotOptimize(row);
  }
}
BENCHMARK(BM_cache_data_hit)->Threads(1)->Threads(2)->UseRealTime();

// The zero-copy accessor: a shared_ptr to the stored object.
void BM_cache_data_shared_hit(benchmark::State& state) {
  auto& cache = sales_cache();
  const std::string region = "EU-west";
  const int day = 100 + state.thread_index();
  benchmark::DoNotOptimize(cache.shared(region, day));
  for (auto _ : state) {
    auto row = cache.shared(region, day);
    benchmark::DoNotOptimize(row);
  }
}
BENCHMARK(BM_cache_data_shared_hit)->Threads(1)->Threads(2)->UseRealTime();

// A miss that computes, encodes, decodes and stores: the cost recall adds to
// a load (the load itself here is building the row).
void BM_cache_data_miss(benchmark::State& state) {
  auto cache = recall::cache_data(
      [](int day) {
        auto row = recall_bench::make_sales_row();
        row.values[0] = day;
        return row;
      },
      {.name = "bench_miss", .ttl = 1h, .max_entries = 1'000});
  int day = 0;
  for (auto _ : state) benchmark::DoNotOptimize(cache(day++));
}
BENCHMARK(BM_cache_data_miss);

}  // namespace
