// A memoized "warehouse query": the first call computes, the next ones hit,
// and lookup() tells how old the value is and whether it is stale.
#include <fmt/format.h>

#include <atomic>
#include <recall/recall.hpp>
#include <string>
#include <vector>

using namespace std::chrono_literals;

struct sales_table {
  std::string region;
  std::vector<double> daily;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(region, daily);
  }
};

int main() {
  // A manual clock lets the demo show ageing without waiting; a service
  // leaves .clock out and gets the steady clock.
  auto clock = std::make_shared<recall::manual_clock>();
  std::atomic<int> queries{0};  // a background refresh may also count

  auto load_sales = recall::cache_data(
      [&](const std::string& region, int days) {
        ++queries;  // stands in for a slow warehouse query
        return sales_table{region, std::vector<double>(static_cast<std::size_t>(days), 1.5)};
      },
      {.name = "load_sales", .ttl = 10min, .max_entries = 1000, .max_bytes = 64 << 20,
       .refresh_after = 5min, .clock = clock});

  sales_table eu = load_sales("EU", 30);
  eu.daily.clear();  // our copy: the cached value is untouched
  load_sales("EU", 30);
  load_sales("US", 30);

  clock->advance(6min);
  auto r = load_sales.lookup("EU", 30);
  fmt::print("EU: {} days, computed {}s ago, from cache: {}, stale (refreshing): {}\n",
             r.value.daily.size(), std::chrono::duration_cast<std::chrono::seconds>(r.age).count(),
             r.from_cache, r.stale);

  load_sales.invalidate("US", 30);
  load_sales("US", 30);

  const recall::cache_stats s = load_sales.stats();
  fmt::print("warehouse queries so far: {}\n", queries.load());
  fmt::print("hits: {}  misses: {}  stale hits: {}  entries: {}  bytes: {}  hit ratio: {:.2f}\n",
             s.hits, s.misses, s.stale_hits, s.entries, s.bytes, s.hit_ratio());
}
