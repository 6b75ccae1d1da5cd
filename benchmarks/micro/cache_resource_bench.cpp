// A hit on cache_resource (one int argument) against its floor: a raw
// absl::flat_hash_map<int, std::shared_ptr<T>> lookup plus the shared_ptr
// copy every caller needs. With 2 threads each thread reads its own key, as
// two requests for two different pools would.
#include <absl/container/flat_hash_map.h>
#include <benchmark/benchmark.h>

#include <memory>

#include "recall/cache_resource.hpp"

using namespace std::chrono_literals;

namespace {

struct client {
  int id;
};

constexpr int keys = 64;

// Threads read keys built far apart, so that their objects' reference counts
// do not share a cache line (false sharing would measure the allocator).
int key_of_thread(const benchmark::State& state) { return state.thread_index() * (keys / 2); }

const absl::flat_hash_map<int, std::shared_ptr<client>>& floor_map() {
  static const auto map = [] {
    absl::flat_hash_map<int, std::shared_ptr<client>> m;
    for (int k = 0; k < keys; ++k) m.emplace(k, std::make_shared<client>(client{k}));
    return m;
  }();
  return map;
}

auto& client_cache() {
  static auto cache = [] {
    auto c = recall::cache_resource([](int k) { return std::make_unique<client>(client{k}); },
                                    {.name = "bench_client", .ttl = 1h});
    for (int k = 0; k < keys; ++k) c(k);
    return c;
  }();
  return cache;
}

void BM_floor_map_shared_ptr_hit(benchmark::State& state) {
  const auto& map = floor_map();
  const int key = key_of_thread(state);
  for (auto _ : state) {
    std::shared_ptr<client> p = map.find(key)->second;
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_floor_map_shared_ptr_hit)->Threads(1)->Threads(2)->UseRealTime();

void BM_cache_resource_hit(benchmark::State& state) {
  auto& cache = client_cache();
  const int key = key_of_thread(state);
  for (auto _ : state) {
    std::shared_ptr<client> p = cache(key);
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_cache_resource_hit)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
