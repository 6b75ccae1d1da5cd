// The Redis micro benchmarks' timed loop: besides Google Benchmark's mean,
// each iteration is timed and the p50 and p99 (in microseconds) reported as
// counters, since on a shared machine preemptions dominate the mean and the
// median is what compares (with redis-benchmark's p50, or between runs).
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace recall_bench {

// Times each call of `operation` and reports the p50 and p99 as counters.
template <class F>
void timed_loop(benchmark::State& state, F&& operation) {
  using clock = std::chrono::steady_clock;
  std::vector<double> us;
  us.reserve(static_cast<std::size_t>(state.max_iterations));
  for (auto _ : state) {
    const auto start = clock::now();
    operation();
    us.push_back(std::chrono::duration<double, std::micro>(clock::now() - start).count());
  }
  if (us.empty()) return;
  std::sort(us.begin(), us.end());
  state.counters["p50_us"] = us[us.size() / 2];
  state.counters["p99_us"] = us[us.size() * 99 / 100];
}

}  // namespace recall_bench
