// The floors recall's hits are compared to: what a hit costs in structures a
// user could pick instead. Every floor is read at 1 and 2 threads with
// disjoint keys; docs/benchmarks.md puts them next to engine_bench and the
// cache_data benchmark.
#include <absl/container/flat_hash_map.h>
#include <benchmark/benchmark.h>
#include <xxhash.h>

#include <cereal/archives/binary.hpp>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>

#include "bench_types.hpp"

#if defined(RECALL_BENCH_HAVE_TBB)
#include <tbb/concurrent_hash_map.h>
#endif

namespace {

using recall_bench::blob64;
using recall_bench::key_of;

// As many keys as engine_bench's hits read.
constexpr std::uint64_t present = 1 << 15;

// The slice of 0..count-1 the calling benchmark thread reads.
struct slice {
  std::uint64_t base;
  std::uint64_t size;
  explicit slice(const benchmark::State& state, std::uint64_t count)
      : base(count / static_cast<std::uint64_t>(state.threads()) *
             static_cast<std::uint64_t>(state.thread_index())),
        size(count / static_cast<std::uint64_t>(state.threads())) {}
};

struct key_hash {
  std::size_t operator()(const recall::key& k) const noexcept {
    return static_cast<std::size_t>(k.low);
  }
};

// A raw absl::flat_hash_map, read without any lock: the lower bound for a
// lookup plus a copy of the value.
void BM_floor_flat_hash_map_hit(benchmark::State& state) {
  static const auto map = [] {
    auto m = std::make_unique<absl::flat_hash_map<recall::key, blob64>>();
    for (std::uint64_t i = 0; i < present; ++i) m->emplace(key_of(i), blob64{});
    return m;
  }();
  const slice mine(state, present);
  std::uint64_t i = 0;
  blob64 out;
  for (auto _ : state) {
    out = map->find(key_of(mine.base + i))->second;
    benchmark::DoNotOptimize(out);
    if (++i == mine.size) i = 0;
  }
}
BENCHMARK(BM_floor_flat_hash_map_hit)->Threads(1)->Threads(2);

// The memoizer people write by hand: one std::mutex around an unordered_map,
// compute and store on a miss.
class hand_memo {
 public:
  template <class F>
  blob64 get(const recall::key& k, F&& compute) {
    std::lock_guard lock(mu_);
    auto it = map_.find(k);
    if (it == map_.end()) it = map_.emplace(k, compute()).first;
    return it->second;
  }

 private:
  std::mutex mu_;
  std::unordered_map<recall::key, blob64, key_hash> map_;
};

void BM_floor_mutex_unordered_map_hit(benchmark::State& state) {
  static const auto memo = [] {
    auto m = std::make_unique<hand_memo>();
    for (std::uint64_t i = 0; i < present; ++i) m->get(key_of(i), [] { return blob64{}; });
    return m;
  }();
  const slice mine(state, present);
  std::uint64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(memo->get(key_of(mine.base + i), [] { return blob64{}; }));
    if (++i == mine.size) i = 0;
  }
}
BENCHMARK(BM_floor_mutex_unordered_map_hit)->Threads(1)->Threads(2);

#if defined(RECALL_BENCH_HAVE_TBB)
struct tbb_key_compare {
  static std::size_t hash(const recall::key& k) { return static_cast<std::size_t>(k.low); }
  static bool equal(const recall::key& a, const recall::key& b) { return a == b; }
};

void BM_floor_tbb_concurrent_hash_map_hit(benchmark::State& state) {
  using map_type = tbb::concurrent_hash_map<recall::key, blob64, tbb_key_compare>;
  static const auto map = [] {
    auto m = std::make_unique<map_type>();
    for (std::uint64_t i = 0; i < present; ++i) m->insert({key_of(i), blob64{}});
    return m;
  }();
  const slice mine(state, present);
  std::uint64_t i = 0;
  blob64 out;
  for (auto _ : state) {
    map_type::const_accessor a;
    map->find(a, key_of(mine.base + i));
    out = a->second;
    benchmark::DoNotOptimize(out);
    if (++i == mine.size) i = 0;
  }
}
BENCHMARK(BM_floor_tbb_concurrent_hash_map_hit)->Threads(1)->Threads(2);
#endif

// cache_data's hit assembled from the same parts by hand, with no TTL, stats,
// eviction or envelope: XXH3-128 over the arguments, a flat_hash_map of
// serialized bytes under a std::shared_mutex, and a cereal decode through a
// std::istringstream into a fresh sales_row.
class naive_cache {
 public:
  using key_type = std::pair<std::uint64_t, std::uint64_t>;

  static key_type key_for(const std::string& region, int day) {
    std::string buffer = region;
    buffer.append(reinterpret_cast<const char*>(&day), sizeof(day));
    const XXH128_hash_t h = XXH3_128bits(buffer.data(), buffer.size());
    return {h.low64, h.high64};
  }

  void put(const std::string& region, int day, const recall_bench::sales_row& row) {
    std::ostringstream out;
    {
      cereal::BinaryOutputArchive ar(out);
      ar(row);
    }
    std::unique_lock lock(mu_);
    map_[key_for(region, day)] = std::move(out).str();
  }

  bool get(const std::string& region, int day, recall_bench::sales_row& row) const {
    const key_type k = key_for(region, day);
    std::shared_lock lock(mu_);
    const auto it = map_.find(k);
    if (it == map_.end()) return false;
    std::istringstream in(it->second);
    lock.unlock();
    cereal::BinaryInputArchive ar(in);
    ar(row);
    return true;
  }

 private:
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<key_type, std::string> map_;
};

constexpr int naive_days = 1024;

void BM_floor_naive_cache_data_hit(benchmark::State& state) {
  static const auto cache = [] {
    auto c = std::make_unique<naive_cache>();
    const auto row = recall_bench::make_sales_row();
    for (int day = 0; day < naive_days; ++day) c->put("EU-west", day, row);
    return c;
  }();
  const slice mine(state, naive_days);
  const std::string region = "EU-west";
  std::uint64_t i = 0;
  for (auto _ : state) {
    recall_bench::sales_row row;
    if (!cache->get(region, static_cast<int>(mine.base + i), row)) {
      state.SkipWithError("naive cache lost an entry");
      break;
    }
    benchmark::DoNotOptimize(row);
    if (++i == mine.size) i = 0;
  }
}
BENCHMARK(BM_floor_naive_cache_data_hit)->Threads(1)->Threads(2);

}  // namespace
