// The disk store as cache_data's second level: a hit on disk (an L1 miss)
// against an L1 hit and against a recomputation; what a miss pays to write
// to disk; the store's own get and set; and the cost of opening a directory
// that holds 100,000 entries, with its index and without (the background
// scan). Directories are made under /tmp and removed at the end.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "bench_types.hpp"
#include "recall/cache_data.hpp"
#include "recall/disk_store.hpp"

using namespace std::chrono_literals;

namespace {

class bench_dir {
 public:
  bench_dir() {
    char pattern[] = "/tmp/recall-disk-bench-XXXXXX";
    if (::mkdtemp(pattern)) path_ = pattern;
  }
  ~bench_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::filesystem::path store(const char* name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

bench_dir& dirs() {
  static bench_dir d;
  return d;
}

recall_bench::sales_row compute_row(int day) {
  auto row = recall_bench::make_sales_row();
  row.values[0] = day;
  return row;
}

// L1 hits: the key is in memory.
void BM_l1_hit(benchmark::State& state) {
  auto f = recall::cache_data(
      compute_row, {.name = "bench_l1", .ttl = 1h, .l2 = recall::disk_store(dirs().store("l1"))});
  benchmark::DoNotOptimize(f(1));
  for (auto _ : state) benchmark::DoNotOptimize(f(1));
}
BENCHMARK(BM_l1_hit);

// L2 hits: memory holds one entry and the loop alternates two keys, so every
// call misses memory and finds its result on disk (record, lease and clear
// marker looked up; record checked, decoded and put in memory).
void BM_disk_l2_hit(benchmark::State& state) {
  auto l2 = recall::disk_store(dirs().store("l2"));
  auto f =
      recall::cache_data(compute_row, {.name = "bench_l2", .ttl = 1h, .max_entries = 1, .l2 = l2});
  f(1), f(2);
  int day = 0;
  for (auto _ : state) benchmark::DoNotOptimize(f(1 + (day++ & 1)));
  const recall::cache_stats s = f.stats();
  state.counters["l2_hit_ratio"] =
      static_cast<double>(s.l2_hits) / static_cast<double>(s.l2_hits + s.l2_misses);
}
BENCHMARK(BM_disk_l2_hit);

// A recomputation in memory only: compute (build the ~1 KiB row), encode,
// decode, store. A real function (a warehouse query) adds its own time.
void BM_recompute(benchmark::State& state) {
  auto f = recall::cache_data(compute_row, {.name = "bench_recompute", .ttl = 1h});
  int day = 0;
  for (auto _ : state) benchmark::DoNotOptimize(f(day++));
}
BENCHMARK(BM_recompute);

// The same miss with the disk level: also a lease taken and released, the
// record written (temporary file, rename) and announced.
void BM_recompute_with_disk(benchmark::State& state) {
  auto f = recall::cache_data(
      compute_row, {.name = "bench_recompute_disk",
                    .ttl = 1h,
                    .l2 = recall::disk_store(dirs().store("miss"), {.max_entries = 10'000})});
  int day = 0;
  for (auto _ : state) benchmark::DoNotOptimize(f(day++));
}
BENCHMARK(BM_recompute_with_disk);

// The store alone: one key read (a hit), one value (1 KiB) written.
void BM_store_get(benchmark::State& state) {
  auto store = recall::disk_store(dirs().store("get"));
  const std::string value(1024, 'v');
  store->set("key", value, 1h);
  const std::string keys[] = {"key"};
  std::vector<std::optional<std::string>> values;
  for (auto _ : state) {
    store->get(keys, values);
    benchmark::DoNotOptimize(values);
  }
}
BENCHMARK(BM_store_get);

void BM_store_set(benchmark::State& state) {
  const auto sync = static_cast<recall::disk_sync>(state.range(0));
  auto store = recall::disk_store(dirs().store(sync == recall::disk_sync::none   ? "set_none"
                                               : sync == recall::disk_sync::data ? "set_data"
                                                                                 : "set_dir"),
                                  {.max_entries = 1'000, .sync = sync});
  const std::string value(1024, 'v');
  int i = 0;
  for (auto _ : state) store->set("key" + std::to_string(i++ % 1000), value, 1h);
}
BENCHMARK(BM_store_set)->Arg(0)->Arg(1)->Arg(2)->ArgName("sync");

// --- Startup over 100,000 entries ---

constexpr int startup_entries = 100'000;

const std::filesystem::path& full_store() {
  static const std::filesystem::path dir = [] {
    const auto d = dirs().store("full");
    auto store = recall::disk_store(d, {.max_entries = startup_entries});
    const std::string value(200, 'v');
    for (int i = 0; i < startup_entries; ++i) {
      store->set("{bench_startup:0}:e:" + std::to_string(i), value, 24h);
    }
    return d;
  }();
  return dir;
}

// A restart: the index is there; opening maps it. Then the first read.
void BM_open_100k(benchmark::State& state) {
  const auto& dir = full_store();
  const std::string keys[] = {"{bench_startup:0}:e:12345"};
  std::vector<std::optional<std::string>> values;
  for (auto _ : state) {
    auto store = recall::disk_store(dir, {.max_entries = startup_entries});
    store->get(keys, values);
    benchmark::DoNotOptimize(values);
  }
}
BENCHMARK(BM_open_100k)->Unit(benchmark::kMicrosecond);

// The index is lost (deleted, or the machine restarted): opening returns at
// once and a background scan rebuilds the index. Time: opening plus the first
// read (what a request waits for); scan_ms: until the scan is done.
void BM_open_100k_without_index(benchmark::State& state) {
  const auto& dir = full_store();
  const std::string keys[] = {"{bench_startup:0}:e:12345"};
  std::vector<std::optional<std::string>> values;
  double scan_ms = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove(dir / "index");
    state.ResumeTiming();
    const auto started = std::chrono::steady_clock::now();
    auto store = recall::disk_store(dir, {.max_entries = startup_entries});
    store->get(keys, values);
    benchmark::DoNotOptimize(values);
    state.PauseTiming();
    while (recall::disk_stats(*store)->indexing) std::this_thread::sleep_for(1ms);
    scan_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                   .count();
    if (recall::disk_stats(*store)->entries != startup_entries) state.SkipWithError("lost entries");
    store.reset();
    state.ResumeTiming();
  }
  state.counters["scan_ms"] = benchmark::Counter(scan_ms, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_open_100k_without_index)->Unit(benchmark::kMicrosecond)->Iterations(3);

}  // namespace
