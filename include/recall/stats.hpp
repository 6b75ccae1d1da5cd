// recall/stats.hpp: counters that every cache and store reports.
//
// A `cache_stats` is a snapshot: each field was read atomically, but fields
// are read one after another, so under concurrent traffic they may be a few
// operations apart from each other.
//
// Thread safety: snapshots are values.
//
//   recall::cache_stats s = load_sales.stats();
//   double hit_ratio = s.hit_ratio();
#pragma once

#include <chrono>
#include <cstdint>
#include <string_view>

namespace recall {

// Why an entry left a cache.
enum class removal_cause {
  expired,   // its TTL passed
  evicted,   // pushed out by the entry or byte bound
  replaced,  // a new value was stored under its key
  removed,   // invalidate()/erase() or the end of the session that owned it
  cleared,   // clear() or clear_all()
};

constexpr std::string_view to_string(removal_cause cause) noexcept {
  switch (cause) {
    case removal_cause::expired:
      return "expired";
    case removal_cause::evicted:
      return "evicted";
    case removal_cause::replaced:
      return "replaced";
    case removal_cause::removed:
      return "removed";
    case removal_cause::cleared:
      return "cleared";
  }
  return "unknown";
}

struct cache_stats {
  std::uint64_t hits = 0;
  // Calls that found no value: every caller of a single-flight load counts,
  // so 16 concurrent callers of one missing key are 16 misses and 1 load.
  std::uint64_t misses = 0;
  std::uint64_t stale_hits = 0;  // served from the refresh-ahead window
  std::uint64_t inserts = 0;
  std::uint64_t rejected = 0;       // values larger than the whole byte budget
  std::uint64_t loads = 0;          // calls of the user's function (misses share them)
  std::uint64_t load_failures = 0;  // ... that threw
  std::chrono::nanoseconds load_time{0};
  std::uint64_t refreshes = 0;          // background refresh-ahead loads that succeeded
  std::uint64_t refresh_failures = 0;   // ... that threw (the old value stays until its TTL)
  std::uint64_t refreshes_dropped = 0;  // not started: the refresh queue was full
  std::uint64_t release_failures = 0;   // cache_resource on_release calls that threw
  std::uint64_t fail_safe_hits = 0;     // expired values served because the function failed
  // With a second level (cache_data's `l2`); all 0 without one.
  std::uint64_t l2_hits = 0;             // results found there (an L1 miss that computed nothing)
  std::uint64_t l2_misses = 0;           // ... not found there
  std::uint64_t l2_unavailable = 0;      // operations that could not reach it
  std::uint64_t l2_rejected = 0;         // records refused: corrupt, foreign, unsigned, forged
  std::uint64_t l2_writes = 0;           // results stored there
  std::uint64_t lease_waits = 0;         // loads that waited for another replica's computation
  std::uint64_t lease_timeouts = 0;      // ... and gave up waiting, computing themselves
  std::uint64_t invalidations_sent = 0;      // invalidate/clear/tag messages sent to replicas
  std::uint64_t invalidations_received = 0;  // ... received from other replicas
  std::uint64_t invalidations_lost = 0;      // could not be sent (store unreachable, queue full)
  std::uint64_t expired = 0;
  std::uint64_t evicted = 0;
  std::uint64_t replaced = 0;
  std::uint64_t removed = 0;
  std::uint64_t cleared = 0;
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::uint64_t max_entries = 0;
  std::uint64_t max_bytes = 0;

  double hit_ratio() const noexcept {
    const auto lookups = hits + misses;
    return lookups == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(lookups);
  }
};

}  // namespace recall
