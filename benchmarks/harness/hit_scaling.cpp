#include "hit_scaling.hpp"

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_types.hpp"
#include "recall/cache_data.hpp"
#include "recall/cache_resource.hpp"

using namespace std::chrono_literals;

namespace recall_bench {
namespace {

constexpr int hot_keys = 64;
const std::string region = "EU-west";

// Keeps results alive without a shared write per operation.
template <class T>
void keep(const T& value) {
  asm volatile("" : : "g"(&value) : "memory");
}

// The key of the two threads' i-th operation: both walk the same 64 keys,
// half a lap apart, so they meet on every key but rarely at the same moment.
int key_of(int thread, std::size_t i) {
  return static_cast<int>((i + static_cast<std::size_t>(thread) * (hot_keys / 2)) % hot_keys);
}

// Wall nanoseconds per operation, all threads' operations together.
double run(int threads, std::size_t ops_per_thread,
           const std::function<void(int, std::size_t)>& op) {
  std::latch start(threads + 1);
  std::vector<std::jthread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      start.arrive_and_wait();
      for (std::size_t i = 0; i < ops_per_thread; ++i) op(t, i);
    });
  }
  start.arrive_and_wait();
  const auto began = std::chrono::steady_clock::now();
  pool.clear();
  const auto took = std::chrono::steady_clock::now() - began;
  return std::chrono::duration<double, std::nano>(took).count() /
         static_cast<double>(ops_per_thread * static_cast<std::size_t>(threads));
}

struct client {
  int id;
};

struct operation {
  std::string name;
  std::function<void(int, std::size_t)> op;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

std::vector<hit_scaling_row> measure_hit_scaling(int repetitions, std::size_t ops_per_thread) {
  // The limit: XXH3 over the same arguments, then a copy out of a map nobody locks.
  const std::uint64_t seed = recall::key_seed("hit_limit", "");
  absl::flat_hash_map<recall::key, sales_row> limit;
  for (int day = 0; day < hot_keys; ++day) {
    limit.emplace(recall::make_key_with_seed(seed, region, day), make_sales_row());
  }

  auto data = recall::cache_data(
      [](const std::string& r, int day) {
        auto row = make_sales_row();
        row.region = r + std::to_string(day);
        return row;
      },
      {.name = "hit_scaling", .ttl = 1h});
  auto resources = recall::cache_resource([](int k) { return std::make_unique<client>(client{k}); },
                                          {.name = "hit_scaling_client", .ttl = 1h});
  for (int day = 0; day < hot_keys; ++day) {
    data(region, day);
    resources(day);
  }

  const std::vector<operation> ops = {
      {"unlocked absl::flat_hash_map copy after XXH3 (the limit)",
       [&](int t, std::size_t i) {
         const sales_row row =
             limit.find(recall::make_key_with_seed(seed, region, key_of(t, i)))->second;
         keep(row);
       }},
      {"cache_data hit (copy)",
       [&](int t, std::size_t i) {
         const sales_row row = data(region, key_of(t, i));
         keep(row);
       }},
      {"cache_data shared() hit",
       [&](int t, std::size_t i) {
         const auto row = data.shared(region, key_of(t, i));
         keep(row);
       }},
      {"cache_data with() hit (borrowed, reads one value)",
       [&](int t, std::size_t i) {
         const double v =
             data.with(region, key_of(t, i), [](const sales_row& row) { return row.values[3]; });
         keep(v);
       }},
      {"cache_resource hit",
       [&](int t, std::size_t i) {
         const auto c = resources(key_of(t, i));
         keep(c);
       }},
      {"cache_resource with() hit (borrowed)",
       [&](int t, std::size_t i) {
         const int id = resources.with(key_of(t, i), [](client& c) { return c.id; });
         keep(id);
       }},
  };

  std::vector<std::vector<double>> one(ops.size()), two(ops.size());
  for (int rep = 0; rep < repetitions; ++rep) {
    for (std::size_t o = 0; o < ops.size(); ++o) {
      one[o].push_back(run(1, ops_per_thread, ops[o].op));
      two[o].push_back(run(2, ops_per_thread, ops[o].op));
    }
  }
  std::vector<hit_scaling_row> rows;
  for (std::size_t o = 0; o < ops.size(); ++o) {
    const double a = median(one[o]), b = median(two[o]);
    rows.push_back({ops[o].name, a, b, a / b});
  }
  return rows;
}

}  // namespace recall_bench
