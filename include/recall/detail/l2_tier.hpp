// What a cache_data does with its second level: the part that does not depend
// on the function's types, so it is compiled once (src/l2_tier.cpp).
//
// Key layout under the store's prefix (docs/redis.md), with the cache's
// name and version as a hash tag so one function's keys share a cluster slot:
//   {name:version}:e:<key>    a result (an l2_record)
//   {name:version}:l:<key>    the lease of the replica computing it
//   {name:version}:cleared    a new random token at every clear()
//   tag:<tag>                 a new random token at every invalidate_tag(tag)
// Every read fetches the markers with the record, and every write follows a
// read: a record carries the generation (a hash of the markers) its
// computation started under, and one whose markers changed since is treated
// as absent. So clear() and tags are one write each, whatever the number of
// entries, exact whatever the clocks; the records themselves expire by TTL.
//
// Messages on the store's channel ("<origin> <op> <subject> [<key>]") keep
// every process's memory honest: `set` and `del` drop one key, `clear` and
// `tag` drop everything of the caches concerned. A process that may have
// missed messages (a dropped subscription) drops everything.
//
// Thread safety: every member function may be called concurrently.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recall/clock.hpp"
#include "recall/detail/l2_record.hpp"
#include "recall/detail/sha256.hpp"
#include "recall/export.hpp"
#include "recall/key.hpp"
#include "recall/second_level.hpp"
#include "recall/stats.hpp"

namespace recall::detail {

class RECALL_EXPORT l2_tier {
 public:
  // The cache's side: what other processes' messages ask of its memory.
  class listener {
   public:
    // Another replica removed the key.
    virtual void drop(const key& k) = 0;
    // Another replica stored a result computed at `computed_at`: a copy
    // computed earlier is out of date.
    virtual void replaced(const key& k, wall_time_point computed_at) = 0;
    virtual void drop_all() = 0;

   protected:
    ~listener() = default;
  };

  struct lookup {
    bool available = true;
    std::optional<l2_record> record;  // passed every check; may be past expires_at
    bool leased = false;              // another replica is computing this key
    std::uint64_t generation = 0;     // of the markers now: what a result computed now carries
  };

  enum class lease { acquired, held_elsewhere, unavailable };

  // Throws config_error if name or version cannot be part of a key.
  l2_tier(std::shared_ptr<second_level> store, std::string_view name, std::string_view version,
          std::vector<std::string> tags, listener& owner);
  ~l2_tier();
  l2_tier(const l2_tier&) = delete;
  l2_tier& operator=(const l2_tier&) = delete;

  lookup read(const key& k);
  lease acquire(const key& k);
  void release(const key& k);
  // Blocks until a result is announced by any replica, or `at_most` passes.
  void wait_for_results(duration at_most);

  // Stores a computed result for `ttl` (its record's expiry plus any
  // fail-safe time) and tells the other replicas. The record's generation is
  // the one read() gave before the computation started.
  void store(const key& k, const l2_record& record, duration ttl);
  // invalidate(args), clear(): here and for every replica.
  void invalidate(const key& k);
  void clear();

  // What the cache counts around its use of the tier.
  void count_hit() noexcept { hits_.fetch_add(1, std::memory_order_relaxed); }
  void count_miss() noexcept { misses_.fetch_add(1, std::memory_order_relaxed); }
  void count_lease_wait() noexcept { lease_waits_.fetch_add(1, std::memory_order_relaxed); }
  void count_lease_timeout() noexcept { lease_timeouts_.fetch_add(1, std::memory_order_relaxed); }
  // A record whose value the cache's type cannot decode (another build).
  void count_rejected(std::string_view why);

  bool carries(std::string_view tag) const;
  const std::vector<std::string>& tags() const noexcept { return tags_; }
  const second_level& store() const noexcept { return *store_; }
  // Adds the l2_* counters to a cache's stats.
  void add_stats(cache_stats& s) const;

  // invalidate_tag(): stamps the tag's marker and tells every replica,
  // through every second level of this process. Returns how many stores
  // could not be reached (their announcement is sent again when they answer).
  static std::size_t announce_tag(std::string_view tag);

 private:
  struct pending {
    bool whole_cache;
    key k;
  };

  std::string key_of(char kind, const key& k) const;
  bool ok(l2_status status, std::string_view what);
  bool send(const pending& p);
  void remember(pending p);
  void flush_pending();
  void on_message(std::string_view message);

  std::shared_ptr<second_level> store_;
  std::string namespace_;  // "name:version"
  std::string prefix_;     // "{name:version}:"
  std::vector<std::string> tags_;
  std::vector<std::string> marker_keys_;  // the cache's clear marker, then one per tag
  listener& owner_;
  std::string origin_;  // this tier's id in messages and lease values
  std::optional<hmac_sha256> signer_;

  std::mutex pending_mu_;
  std::deque<pending> pending_;      // guarded by pending_mu_
  bool pending_overflowed_ = false;  // guarded by pending_mu_
  std::atomic<bool> has_pending_{false};

  std::mutex results_mu_;
  std::condition_variable results_;
  std::uint64_t results_seen_ = 0;  // guarded by results_mu_

  std::atomic<std::uint64_t> hits_{0}, misses_{0}, unavailable_{0}, rejected_{0}, writes_{0},
      lease_waits_{0}, lease_timeouts_{0}, invalidations_sent_{0}, invalidations_received_{0},
      invalidations_lost_{0};

  std::unique_ptr<l2_subscription> subscription_;  // last: the first to go
};

}  // namespace recall::detail
