// detail::engine on its own: a hit (shared lock, frequency bump, copy out), a
// miss, and an insert that evicts, at 1 and 2 threads. Threads use disjoint
// keys, so 2 threads show the cost of sharing the engine, not of sharing keys.
#include <benchmark/benchmark.h>

#include <memory>

#include "bench_types.hpp"
#include "recall/detail/engine.hpp"

namespace {

using recall::detail::engine;
using recall::detail::engine_config;
using recall::detail::entry_info;
using recall::detail::never;
using recall_bench::blob64;
using recall_bench::key_of;

constexpr std::size_t capacity = 1 << 16;
constexpr std::uint64_t present = capacity / 2;  // keys 0..present-1 are cached

engine_config<blob64> config() {
  engine_config<blob64> c;
  c.max_entries = capacity;
  c.max_weight = capacity * sizeof(blob64);
  return c;
}

// An engine holding keys 0..count-1. Each benchmark family keeps its own in a
// function-local static (thread-safe initialization: threads never see one
// half built), so the evicting inserts cannot empty the one the hits read.
std::unique_ptr<engine<blob64>> filled(std::uint64_t count) {
  auto e = std::make_unique<engine<blob64>>(config());
  for (std::uint64_t i = 0; i < count; ++i) e->insert(key_of(i), {}, sizeof(blob64), never);
  return e;
}

engine<blob64>& half_full() {
  static const auto e = filled(present);
  return *e;
}

void BM_engine_hit(benchmark::State& state) {
  engine<blob64>& e = half_full();
  const std::uint64_t slice = present / static_cast<std::uint64_t>(state.threads());
  const std::uint64_t base = slice * static_cast<std::uint64_t>(state.thread_index());
  std::uint64_t i = 0;
  blob64 out;
  for (auto _ : state) {
    e.visit(key_of(base + i), [&](const blob64& v, const entry_info&) { out = v; });
    benchmark::DoNotOptimize(out);
    if (++i == slice) i = 0;
  }
}
BENCHMARK(BM_engine_hit)->Threads(1)->Threads(2);

void BM_engine_miss(benchmark::State& state) {
  engine<blob64>& e = half_full();
  std::uint64_t i = (std::uint64_t{1} << 40) * static_cast<std::uint64_t>(state.thread_index() + 1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(e.visit(key_of(i++), [](const blob64&, const entry_info&) {}));
  }
}
BENCHMARK(BM_engine_miss)->Threads(1)->Threads(2);

// New keys into a full engine: every insert also evicts one entry.
void BM_engine_insert_evict(benchmark::State& state) {
  static const auto e = filled(capacity);
  std::uint64_t i = (std::uint64_t{1} << 48) * static_cast<std::uint64_t>(state.thread_index() + 1);
  for (auto _ : state) {
    e->insert(key_of(i++), {}, sizeof(blob64), never);
  }
}
BENCHMARK(BM_engine_insert_evict)->Threads(1)->Threads(2);

}  // namespace
