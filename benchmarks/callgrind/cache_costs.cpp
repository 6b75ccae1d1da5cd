// Single-thread costs for callgrind: runs one kind of operation `count`
// times inside measured_ops(), so that
//   valgrind --tool=callgrind --toggle-collect=measured_ops callgrind_cache_costs KIND COUNT
// counts the instructions of exactly those operations (benchmarks/callgrind_costs.sh
// divides by COUNT). Kinds: cache_data_hit, cache_data_shared_hit,
// cache_data_with_hit, cache_resource_hit, cache_resource_with_hit,
// engine_hit, engine_miss_insert, the same two on the harness's reference LRU
// behind a std::mutex (lru_hit, lru_miss_insert), and one operation of
// recall-bench's throughput replay at 1 thread (replay_recall, replay_lru:
// Zipf 0.99 over 100,000 keys, a cache of 10% of the distinct keys, get and
// insert on a miss, after the same warm-up).
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "bench_types.hpp"
#include "harness/reference_policies.hpp"
#include "harness/workloads.hpp"
#include "recall/cache_data.hpp"
#include "recall/cache_resource.hpp"
#include "recall/detail/engine.hpp"

using namespace std::chrono_literals;

namespace {

constexpr int hot_keys = 64;

template <class T>
void keep(const T& value) {
  asm volatile("" : : "g"(&value) : "memory");
}

struct client {
  int id;
};

// The reference LRU as recall-bench's throughput replay runs it.
struct locked_lru {
  explicit locked_lru(std::size_t capacity) : lru(capacity) {}
  bool get_or_put(const recall::key& k, std::uint64_t v) {
    std::lock_guard lock(mu);
    std::uint64_t out = 0;
    if (lru.get(k, out)) return true;
    lru.put(k, v);
    return false;
  }
  std::mutex mu;
  recall_bench::lru_model<recall::key, std::uint64_t> lru;
};

bool engine_get_or_put(recall::detail::engine<std::uint64_t>& e, const recall::key& k,
                       std::uint64_t v) {
  std::uint64_t out = 0;
  const auto hk = e.hashed(k);
  if (e.visit(hk, [&](const std::uint64_t& x, const recall::detail::entry_info&) { out = x; })) {
    return true;
  }
  e.insert(hk, v, 1, recall::detail::never);
  return false;
}

}  // namespace

// Not inlined, so that callgrind can switch collection on and off around it.
extern "C" __attribute__((noinline)) void measured_ops(const std::function<void(int)>& op,
                                                       int count) {
  for (int i = 0; i < count; ++i) op(i);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: callgrind_cache_costs KIND COUNT\n");
    return 2;
  }
  const std::string kind = argv[1];
  const int count = std::atoi(argv[2]);
  const std::string region = "EU-west";

  auto data = recall::cache_data(
      [](const std::string& r, int day) {
        auto row = recall_bench::make_sales_row();
        row.region = r + std::to_string(day);
        return row;
      },
      {.name = "callgrind_sales", .ttl = 1h});
  auto resources = recall::cache_resource([](int k) { return std::make_unique<client>(client{k}); },
                                          {.name = "callgrind_client", .ttl = 1h});
  recall::detail::engine_config<std::uint64_t> config;
  config.max_entries = 8192;
  config.max_weight = config.max_entries;
  recall::detail::engine<std::uint64_t> engine(config);
  for (int day = 0; day < hot_keys; ++day) {
    data(region, day);
    resources(day);
  }
  locked_lru lru(config.max_entries);
  for (std::uint64_t i = 0; i < config.max_entries; ++i) {
    engine.insert(recall_bench::key_of(i), i, 1, recall::detail::never);
    lru.get_or_put(recall_bench::key_of(i), i);
  }
  // The replay: recall-bench's throughput trace, cache and warm-up.
  const bool replay = kind.starts_with("replay_");
  const recall_bench::trace zipf =
      replay ? recall_bench::make_zipf(100'000, 1'000'000, 0.99, 42) : recall_bench::trace{};
  std::vector<recall::key> zipf_keys(zipf.distinct);
  for (std::size_t i = 0; i < zipf_keys.size(); ++i) zipf_keys[i] = recall_bench::key_of(i);
  const std::size_t warm = zipf.requests.size() / 10;
  recall::detail::engine_config<std::uint64_t> replay_config;
  replay_config.max_entries = std::max<std::size_t>(1, zipf.distinct / 10);
  replay_config.max_weight = std::size_t{1} << 62;
  recall::detail::engine<std::uint64_t> replay_engine(replay_config);
  locked_lru replay_lru(replay_config.max_entries);
  if (replay && warm + 1000 + static_cast<std::size_t>(count) > zipf.requests.size()) {
    std::fprintf(stderr, "callgrind_cache_costs: at most %zu replay operations\n",
                 zipf.requests.size() - warm - 1000);
    return 2;
  }
  // The replay's operations continue its warm-up without a gap.
  std::size_t next_request = warm;
  for (std::size_t i = 0; replay && i < warm; ++i) {
    const std::uint32_t id = zipf.requests[i];
    engine_get_or_put(replay_engine, zipf_keys[id], id);
    replay_lru.get_or_put(zipf_keys[id], id);
  }

  std::function<void(int)> op;
  if (kind == "cache_data_hit") {
    op = [&](int i) { keep(data(region, i % hot_keys)); };
  } else if (kind == "cache_data_shared_hit") {
    op = [&](int i) { keep(data.shared(region, i % hot_keys)); };
  } else if (kind == "cache_data_with_hit") {
    op = [&](int i) {
      keep(data.with(region, i % hot_keys,
                     [](const recall_bench::sales_row& r) { return r.values[3]; }));
    };
  } else if (kind == "cache_resource_hit") {
    op = [&](int i) { keep(resources(i % hot_keys)); };
  } else if (kind == "cache_resource_with_hit") {
    op = [&](int i) { keep(resources.with(i % hot_keys, [](client& c) { return c.id; })); };
  } else if (kind == "engine_hit") {
    op = [&](int i) {
      std::uint64_t v = 0;
      engine.visit(recall_bench::key_of(static_cast<std::uint64_t>(i) % config.max_entries),
                   [&](const std::uint64_t& x, const recall::detail::entry_info&) { v = x; });
      keep(v);
    };
  } else if (kind == "engine_miss_insert") {
    // A miss, then the insert that evicts: the replay's miss path.
    op = [&](int i) {
      const recall::key k =
          recall_bench::key_of(std::uint64_t{1} << 40 | static_cast<std::uint64_t>(i));
      const auto hk = engine.hashed(k);
      engine.visit(hk, [](const std::uint64_t&, const recall::detail::entry_info&) {});
      engine.insert(hk, static_cast<std::uint64_t>(i), 1, recall::detail::never);
    };
  } else if (kind == "lru_hit") {
    op = [&](int i) {
      keep(lru.get_or_put(recall_bench::key_of(static_cast<std::uint64_t>(i) % config.max_entries),
                          0));
    };
  } else if (kind == "lru_miss_insert") {
    op = [&](int i) {
      const recall::key k =
          recall_bench::key_of(std::uint64_t{1} << 40 | static_cast<std::uint64_t>(i));
      keep(lru.get_or_put(k, static_cast<std::uint64_t>(i)));
    };
  } else if (kind == "replay_recall") {
    op = [&](int) {
      const std::uint32_t id = zipf.requests[next_request++];
      keep(engine_get_or_put(replay_engine, zipf_keys[id], id));
    };
  } else if (kind == "replay_lru") {
    op = [&](int) {
      const std::uint32_t id = zipf.requests[next_request++];
      keep(replay_lru.get_or_put(zipf_keys[id], id));
    };
  } else {
    std::fprintf(stderr, "callgrind_cache_costs: unknown kind '%s'\n", kind.c_str());
    return 2;
  }
  for (int i = 0; i < 1000; ++i) op(i);  // warm: the first calls allocate
  measured_ops(op, count);
  return 0;
}
