// recall/data_options.hpp: the options of cache_data and what lookup() tells.
//
// Thread safety: plain values.
//
//   recall::data_options o{.name = "load_sales", .ttl = 5min, .refresh_after = 4min,
//                          .tags = {"sales"}, .fail_safe = 1h};
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "recall/clock.hpp"
#include "recall/policy.hpp"
#include "recall/second_level.hpp"

namespace recall {

struct data_options {
  // The function's identity in keys and metrics. Give one whenever results
  // are shared outside this process (required with l2); otherwise the
  // function's type is used.
  std::string name{};
  // Bump it when fn's meaning or result type changes: old entries stop matching.
  std::string version{};
  // Required: how long a result may be served. recall::no_expiry on purpose only.
  std::optional<duration> ttl{};
  std::size_t max_entries = 10'000;
  std::size_t max_bytes = std::size_t{256} << 20;
  // Refresh-ahead: a hit on a result older than this returns it at once and
  // starts one background reload (one per fleet with l2); if the reload
  // fails the old value stays until ttl.
  std::optional<duration> refresh_after{};
  recall::scope scope = scope::global;
  // Store fn's exceptions too (for ttl, in this process only), so a failing
  // backend is not hammered.
  bool cache_errors = false;
  std::shared_ptr<const recall::clock> clock = default_clock();
  // Runs background refreshes; empty means the library's own two threads.
  // An executor that throws refuses the refresh: it is counted in
  // refreshes_dropped, and a later stale hit tries again.
  std::function<void(std::function<void()>)> executor{};
  // Group names: recall::invalidate_tag("sales") drops every result of every
  // cache carrying "sales", here and (with l2) in every replica.
  std::vector<std::string> tags{};
  // A second level: Redis shared by replicas, or a directory on disk
  // (recall/second_level.hpp). Empty: this process's memory only.
  std::shared_ptr<second_level> l2{};
  // Fail-safe (off by default): when fn throws and an expired result younger
  // than ttl + fail_safe exists (in memory or in l2), it is served instead,
  // marked in lookup(), counted in fail_safe_hits; fn is called again only
  // after fail_safe_retry.
  std::optional<duration> fail_safe{};
  duration fail_safe_retry = std::chrono::seconds(10);
};

// A result with what is known about it.
template <class R>
struct lookup_result {
  R value;
  time_point computed_at;
  duration age{0};
  bool stale = false;       // older than refresh_after (a refresh is on its way), or fail-safe
  bool from_cache = false;  // false: computed (or awaited) during this call
  bool fail_safe = false;   // expired, served because the function is failing
};

}  // namespace recall
