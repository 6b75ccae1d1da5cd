// recall/second_level.hpp: where a cache keeps results beyond its own memory.
//
// A cache_data given `.l2 = store` looks a result up in its own memory (L1),
// then in the second level (L2), and only then computes it; what it computes
// goes to both. Redis (recall/redis.hpp) shares one L2 between the replicas
// of a service; a directory on local disk keeps results across restarts.
//
// The interface is small on purpose: opaque bytes under string keys with a
// TTL, a set-if-absent (leases), deletes, and one publish/subscribe channel
// for invalidations. cache_data owns the rest — the record format (value,
// computed_at, expiry, checksum or signature), the markers behind clear() and
// tags, the leases behind one computation per key for the whole fleet — so
// every store holds the same bytes and a new store is a few dozen lines.
//
// An implementation never throws for trouble reaching its storage: it
// returns l2_status::unavailable, and the cache carries on with its memory
// and its function (see docs/redis.md for what callers see in each failure).
//
// Thread safety: implementations must allow every member function to be
// called from any number of threads at once.
//
//   auto l2 = recall::redis_store(client, {.signing_key = fleet_secret});
//   auto f = recall::cache_data(load, {.name = "load_sales", .ttl = 5min, .l2 = l2});
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "recall/clock.hpp"
#include "recall/detail/rate_limited_log.hpp"
#include "recall/export.hpp"

namespace recall {

struct second_level_options {
  // With a key, every record is signed (HMAC-SHA256) and a record whose
  // signature does not verify is refused: a replica decodes only what a
  // replica holding the same key wrote. Without, records carry a checksum.
  std::string signing_key{};
  // One computation per key for the whole fleet: the replica that misses
  // first holds a lease this long (it lapses if that replica dies) ...
  duration lease_ttl = std::chrono::seconds(10);
  // ... and the others wait for its result at most this long, then compute
  // themselves rather than fail.
  duration lease_wait = std::chrono::seconds(10);
  // How often a waiting replica looks for the result when no notice came.
  duration lease_poll = std::chrono::milliseconds(25);
  // Invalidations that could not be sent (the store unreachable) are kept
  // and sent on recovery; past this many for one cache, that cache is
  // cleared fleet-wide on recovery instead.
  std::size_t max_pending_invalidations = 1024;
  // Told about trouble (store unreachable, refused records, lost
  // invalidations), at most once per log_interval per store, with a count of
  // what was left unsaid.
  std::function<void(std::string_view message)> on_error{};
  duration log_interval = std::chrono::seconds(10);
  // Times log_interval.
  std::shared_ptr<const recall::clock> clock = default_clock();
};

enum class l2_status { ok, unavailable };

// Delivery of published messages continues until this is destroyed; the
// destructor waits for a running callback to return.
class l2_subscription {
 public:
  virtual ~l2_subscription() = default;
};

class RECALL_EXPORT second_level {
 public:
  explicit second_level(second_level_options options);
  virtual ~second_level();
  second_level(const second_level&) = delete;
  second_level& operator=(const second_level&) = delete;

  const second_level_options& options() const noexcept { return options_; }
  // Passes `message` to options().on_error, at most once per log_interval;
  // the next message that passes says how many were left out.
  void report(std::string_view message) noexcept;
  // "redis", "disk": for messages and metrics.
  virtual std::string_view kind() const noexcept = 0;

  // The values stored under `keys`, in order; nullopt where there is none
  // (or it expired). On unavailable, `values` is unspecified.
  virtual l2_status get(std::span<const std::string> keys,
                        std::vector<std::optional<std::string>>& values) = 0;
  // Stores `value` under `key` for `ttl` (duration::max(): until removed).
  virtual l2_status set(std::string_view key, std::string_view value, duration ttl) = 0;
  // Stores only if `key` holds nothing; `added` tells whether it did.
  virtual l2_status add(std::string_view key, std::string_view value, duration ttl,
                        bool& added) = 0;
  virtual l2_status erase(std::string_view key) = 0;
  // Removes `key` only while it still holds `expected` (releasing a lease
  // that may have lapsed and been taken by another replica).
  virtual l2_status erase_if_equal(std::string_view key, std::string_view expected) = 0;

  // Sends `message` to every subscriber of this store, in this process and
  // in every other process using the same storage.
  virtual l2_status publish(std::string_view message) = 0;
  // Calls on_message for every message published from now on (its own
  // included), and on_gap whenever messages may have been lost (a dropped
  // connection came back), so the subscriber can resynchronise. Returns once
  // delivery has started, or after a short bounded wait if the storage cannot
  // be reached (on_gap then runs when delivery starts).
  virtual std::unique_ptr<l2_subscription> subscribe(
      std::function<void(std::string_view message)> on_message, std::function<void()> on_gap) = 0;

 private:
  second_level_options options_;
  detail::rate_limited_log log_;
};

// Makes `store` known to recall::invalidate_tag(), which announces through
// every second level of the process (even one no cache of this process uses:
// a job that only invalidates). recall's factories and every cache given the
// store call it; an implementation's own factory may too. Held weakly.
RECALL_EXPORT void register_second_level(const std::shared_ptr<second_level>& store);

}  // namespace recall
