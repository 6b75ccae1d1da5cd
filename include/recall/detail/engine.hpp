// The engine under cache_data, cache_resource and session_store: a sharded,
// bounded, expiring map from key to value.
//
// - Bounds: a total entry count and a total weight (bytes), enforced at every
//   insert. An entry heavier than the whole weight budget is rejected.
// - Eviction: S3-FIFO per shard (see docs/design.md). A hit only bumps an
//   atomic 2-bit frequency under a shared lock; queues are touched only by
//   inserts and evictions, under the shard's exclusive lock.
// - Priority classes: eviction empties class 0 before it touches class 1
//   (sessions put anonymous users in 0 and signed-in users in 1).
// - Expiry: an ordered deadline index per shard. Expired entries are never
//   returned, and any access to a shard (or to a second shard picked by the
//   key's bits) reclaims its expired entries, so memory comes back without a write to the
//   same key and without a thread. cleanup() sweeps everything.
// - Removal events: every value that leaves is handed, with its cause, to the
//   removal callback after the shard lock is released (the callback may call
//   back into the engine).
//
// Thread safety: every member function may be called concurrently.
#pragma once

#include <absl/container/btree_set.h>
#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/container/inlined_vector.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <tuple>
#include <utility>
#include <vector>

#include "recall/clock.hpp"
#include "recall/error.hpp"
#include "recall/key.hpp"
#include "recall/stats.hpp"

namespace recall::detail {

inline constexpr time_point never = time_point::max();

struct entry_info {
  time_point inserted_at;
  time_point deadline = never;
  std::size_t weight = 0;
  std::uint64_t tag = 0;        // owner (a session), 0 for none
  std::uint8_t priority = 0;    // eviction class: 0 goes first
};

template <class V>
struct engine_config {
  std::size_t max_entries = 0;
  std::size_t max_weight = 0;
  std::shared_ptr<const clock> time = default_clock();
  // Called once for every value that leaves, outside any engine lock.
  std::function<void(const key&, V&&, removal_cause)> on_removal;
  // 0 picks a count from the entry bound and the hardware.
  std::size_t shards = 0;
};

enum class insert_result { inserted, replaced, rejected };

struct key_hasher {
  std::size_t operator()(const key& k) const noexcept { return static_cast<std::size_t>(k.low); }
};

template <class V>
class engine {
 public:
  explicit engine(engine_config<V> config)
      : config_(std::move(config)), shards_(shard_count(config_)) {
    if (config_.max_entries == 0 || config_.max_weight == 0) {
      throw config_error("recall: a cache needs max_entries > 0 and max_bytes > 0");
    }
    if (!config_.time) config_.time = default_clock();
    mask_ = shards_.size() - 1;
  }
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  time_point now() const noexcept { return config_.time->now(); }
  const engine_config<V>& config() const noexcept { return config_; }

  // Calls f(const V&, const entry_info&) under a shared lock if `k` holds a
  // live entry. Counts a hit or a miss unless Quiet. With Expired, f also sees
  // an entry past its deadline that is not reclaimed yet (a session store
  // tells "expired" from "unknown" that way). An f that returns bool says
  // whether the entry was of use: false makes it a miss (a cache_data value
  // past its ttl, kept only for fail-safe).
  template <bool Quiet = false, bool Expired = false, class F>
  bool visit(const key& k, F&& f) {
    const time_point t = now();
    shard& s = shard_for(k);
    bool found = false;
    {
      std::shared_lock lock(s.mu);
      auto it = s.map.find(k);
      if (it != s.map.end() && (Expired || t < it->second->info.deadline)) {
        node& n = *it->second;
        const auto freq = n.freq.load(std::memory_order_relaxed);
        if (freq < max_freq) n.freq.store(freq + 1, std::memory_order_relaxed);
        if constexpr (std::is_same_v<decltype(f(n.value, n.info)), bool>) {
          found = f(static_cast<const V&>(n.value), static_cast<const entry_info&>(n.info));
        } else {
          f(static_cast<const V&>(n.value), static_cast<const entry_info&>(n.info));
          found = true;
        }
      }
    }
    if constexpr (!Quiet) (found ? s.hits : s.misses).fetch_add(1, std::memory_order_relaxed);
    maybe_sweep(s, k, t);
    return found;
  }

  bool contains(const key& k) {
    return visit<true>(k, [](const V&, const entry_info&) {});
  }

  // Stores `value` under `k`, replacing any previous value, then evicts until
  // both bounds hold again.
  insert_result insert(const key& k, V value, std::size_t weight, time_point deadline,
                       std::uint64_t tag = 0, std::uint8_t priority = 0) {
    const time_point t = now();
    shard& s = shard_for(k);
    batch out;
    if (weight > config_.max_weight) {
      s.rejected.fetch_add(1, std::memory_order_relaxed);
      return insert_result::rejected;
    }
    insert_result result;
    {
      std::lock_guard lock(s.mu);
      node* n;
      std::tie(result, n) =
          insert_locked(s, k, std::move(value), weight, deadline, tag, priority, t, out);
      evict_locked(s, n, out);
      finish_locked(s, out);
    }
    if (over_budget(out)) evict_elsewhere(s, out);
    notify(out);
    maybe_sweep(s, k, t);
    return result;
  }

  // Calls f(V&, entry_info&) under the exclusive lock on a live entry. f may
  // change the value, weight and deadline; the indexes and bounds follow.
  template <class F>
  bool update(const key& k, F&& f) {
    const time_point t = now();
    shard& s = shard_for(k);
    batch out;
    bool found = false;
    {
      std::lock_guard lock(s.mu);
      auto it = s.map.find(k);
      if (it != s.map.end() && t < it->second->info.deadline) {
        node& n = *it->second;
        const entry_info before = n.info;
        f(n.value, n.info);
        reindex_locked(s, n, before, out);
        evict_locked(s, &n, out);
        finish_locked(s, out);
        found = true;
      }
    }
    if (over_budget(out)) evict_elsewhere(s, out);
    notify(out);
    return found;
  }

  bool erase(const key& k, removal_cause cause = removal_cause::removed) {
    shard& s = shard_for(k);
    batch out;
    {
      std::lock_guard lock(s.mu);
      auto it = s.map.find(k);
      if (it == s.map.end()) return false;
      remove_locked(s, *it->second, cause, out);
      finish_locked(s, out);
    }
    notify(out);
    return true;
  }

  // Removes every entry for which pred(const key&, const V&, const entry_info&)
  // holds. Linear in the size of the cache.
  template <class Pred>
  std::size_t erase_if(Pred&& pred, removal_cause cause = removal_cause::removed) {
    std::size_t count = 0;
    for (shard& s : shards_) {
      batch out;
      {
        std::lock_guard lock(s.mu);
        std::vector<node*> doomed;
        for (auto& [k, n] : s.map) {
          if (pred(static_cast<const key&>(k), static_cast<const V&>(n->value),
                   static_cast<const entry_info&>(n->info))) {
            doomed.push_back(n.get());
          }
        }
        for (node* n : doomed) remove_locked(s, *n, cause, out);
        finish_locked(s, out);
      }
      count += out.removed.size();
      notify(out);
    }
    return count;
  }

  void clear() {
    erase_if([](const key&, const V&, const entry_info&) { return true; }, removal_cause::cleared);
  }

  // Reclaims every expired entry now; returns how many.
  std::size_t cleanup() {
    const time_point t = now();
    std::size_t count = 0;
    for (shard& s : shards_) {
      batch out;
      {
        std::lock_guard lock(s.mu);
        sweep_locked(s, t, SIZE_MAX, out);
      }
      count += out.removed.size();
      notify(out);
    }
    return count;
  }

  std::size_t size() const noexcept { return entries_.load(std::memory_order_relaxed); }
  std::size_t weight() const noexcept { return weight_.load(std::memory_order_relaxed); }
  std::size_t shard_count() const noexcept { return shards_.size(); }

  cache_stats stats() const {
    cache_stats st;
    for (const shard& s : shards_) {
      st.hits += s.hits.load(std::memory_order_relaxed);
      st.misses += s.misses.load(std::memory_order_relaxed);
      st.rejected += s.rejected.load(std::memory_order_relaxed);
      std::shared_lock lock(s.mu);
      st.inserts += s.inserts;
      st.expired += s.removed[static_cast<int>(removal_cause::expired)];
      st.evicted += s.removed[static_cast<int>(removal_cause::evicted)];
      st.replaced += s.removed[static_cast<int>(removal_cause::replaced)];
      st.removed += s.removed[static_cast<int>(removal_cause::removed)];
      st.cleared += s.removed[static_cast<int>(removal_cause::cleared)];
    }
    st.entries = size();
    st.bytes = weight();
    st.max_entries = config_.max_entries;
    st.max_bytes = config_.max_weight;
    return st;
  }

 private:
  static constexpr std::uint8_t max_freq = 3;
  static constexpr int priorities = 2;

  struct node {
    key k;
    V value;
    entry_info info;
    std::atomic<std::uint8_t> freq{0};
    node* prev = nullptr;
    node* next = nullptr;
    std::size_t charged = 0;  // the weight its queue counted
    bool in_main = false;
  };

  // An intrusive FIFO: push at the head, take from the tail.
  struct fifo {
    node* head = nullptr;
    node* tail = nullptr;
    std::size_t count = 0;
    std::size_t weight = 0;

    void push_head(node* n) {
      n->charged = n->info.weight;
      n->prev = nullptr;
      n->next = head;
      (head ? head->prev : tail) = n;
      head = n;
      ++count;
      weight += n->info.weight;
    }
    void unlink(node* n) {
      (n->prev ? n->prev->next : head) = n->next;
      (n->next ? n->next->prev : tail) = n->prev;
      n->prev = n->next = nullptr;
      --count;
      weight -= n->charged;
    }
  };

  // Fingerprints of keys recently evicted from a small queue: a key that
  // comes back while remembered goes straight to the main queue.
  struct ghost_list {
    absl::flat_hash_set<std::uint64_t> members;
    std::deque<std::uint64_t> order;

    bool take(std::uint64_t fp) { return members.erase(fp) > 0; }
    void add(std::uint64_t fp, std::size_t capacity) {
      if (members.insert(fp).second) order.push_back(fp);
      while (order.size() > capacity) {
        members.erase(order.front());
        order.pop_front();
      }
    }
    void clear() {
      members.clear();
      order.clear();
    }
  };

  struct alignas(64) shard {
    mutable std::shared_mutex mu;
    absl::flat_hash_map<key, std::unique_ptr<node>, key_hasher> map;
    std::array<fifo, priorities> small;
    std::array<fifo, priorities> main;
    ghost_list ghost;
    absl::btree_set<std::pair<time_point, node*>> deadlines;
    std::atomic<time_point::rep> next_deadline{never.time_since_epoch().count()};
    std::atomic<std::uint64_t> hits{0};
    std::atomic<std::uint64_t> misses{0};
    std::atomic<std::uint64_t> rejected{0};
    std::uint64_t inserts = 0;
    std::array<std::uint64_t, 5> removed{};

    void publish_deadline() {
      next_deadline.store(deadlines.empty() ? never.time_since_epoch().count()
                                            : deadlines.begin()->first.time_since_epoch().count(),
                          std::memory_order_relaxed);
    }
  };

  struct removal {
    key k;
    V value;
    removal_cause cause;
  };
  // What one locked operation did: the values it removed (handed to the
  // removal callback after unlocking) and its net change to the totals, which
  // it applies once instead of per entry (an insert that evicts one entry of
  // the same weight changes nothing, and touches no shared counter).
  struct batch {
    absl::InlinedVector<removal, 2> removed;
    std::int64_t entries = 0;
    std::int64_t weight = 0;
  };

  static std::size_t shard_count(const engine_config<V>& c) {
    std::size_t n = c.shards;
    if (n == 0) {
      // Enough shards that two cores rarely meet, few enough that each shard
      // holds a statistically useful slice of the eviction order.
      const std::size_t by_size = std::max<std::size_t>(1, c.max_entries / 256);
      n = std::min<std::size_t>({16, by_size});
    }
    return std::bit_floor(std::max<std::size_t>(1, n));
  }

  shard& shard_for(const key& k) noexcept { return shards_[k.high & mask_]; }

  // Unsigned arithmetic throughout, so a bound of SIZE_MAX means "no bound".
  bool over_budget(const batch& b) const noexcept {
    const std::size_t entries =
        entries_.load(std::memory_order_relaxed) + static_cast<std::size_t>(b.entries);
    const std::size_t weight =
        weight_.load(std::memory_order_relaxed) + static_cast<std::size_t>(b.weight);
    return entries > config_.max_entries || weight > config_.max_weight;
  }

  // Ends a locked operation on `s`: publishes its earliest deadline and
  // applies the batch's net change to the totals.
  void finish_locked(shard& s, batch& b) {
    s.publish_deadline();
    if (b.entries != 0) {
      entries_.fetch_add(static_cast<std::size_t>(b.entries), std::memory_order_relaxed);
    }
    if (b.weight != 0) {
      weight_.fetch_add(static_cast<std::size_t>(b.weight), std::memory_order_relaxed);
    }
    b.entries = 0;
    b.weight = 0;
  }

  std::pair<insert_result, node*> insert_locked(shard& s, const key& k, V&& value, std::size_t weight,
                              time_point deadline, std::uint64_t tag, std::uint8_t priority,
                              time_point t, batch& out) {
    ++s.inserts;
    auto [it, fresh] = s.map.try_emplace(k);
    if (!fresh) {
      node& n = *it->second;
      const entry_info before = n.info;
      out.removed.push_back({k, std::move(n.value), removal_cause::replaced});
      ++s.removed[static_cast<int>(removal_cause::replaced)];
      n.value = std::move(value);
      n.info = entry_info{t, deadline, weight, tag, std::min<std::uint8_t>(priority, priorities - 1)};
      reindex_locked(s, n, before, out);
      return {insert_result::replaced, &n};
    }
    it->second = std::make_unique<node>();
    node& n = *it->second;
    n.k = k;
    n.value = std::move(value);
    n.info = entry_info{t, deadline, weight, tag, std::min<std::uint8_t>(priority, priorities - 1)};
    n.in_main = s.ghost.take(k.low);
    queue_of(s, n.in_main, n.info.priority).push_head(&n);
    if (deadline != never) s.deadlines.emplace(deadline, &n);
    out.entries += 1;
    out.weight += static_cast<std::int64_t>(weight);
    return {insert_result::inserted, &n};
  }

  // Requeues a node whose info changed from `before` (an update is a use, so
  // it goes to the head) and moves its deadline slot and the totals.
  void reindex_locked(shard& s, node& n, const entry_info& before, batch& out) {
    n.info.priority = std::min<std::uint8_t>(n.info.priority, priorities - 1);
    queue_of(s, n.in_main, before.priority).unlink(&n);
    queue_of(s, n.in_main, n.info.priority).push_head(&n);
    out.weight +=
        static_cast<std::int64_t>(n.info.weight) - static_cast<std::int64_t>(before.weight);
    if (before.deadline != n.info.deadline) {
      if (before.deadline != never) s.deadlines.erase({before.deadline, &n});
      if (n.info.deadline != never) s.deadlines.emplace(n.info.deadline, &n);
    }
  }

  static fifo& queue_of(shard& s, bool in_main, std::uint8_t priority) {
    return (in_main ? s.main : s.small)[priority];
  }

  void remove_locked(shard& s, node& n, removal_cause cause, batch& out) {
    queue_of(s, n.in_main, n.info.priority).unlink(&n);
    if (n.info.deadline != never) s.deadlines.erase({n.info.deadline, &n});
    out.entries -= 1;
    out.weight -= static_cast<std::int64_t>(n.info.weight);
    ++s.removed[static_cast<int>(cause)];
    const key k = n.k;
    out.removed.push_back({k, std::move(n.value), cause});
    s.map.erase(k);
  }

  // One S3-FIFO eviction in `s`, never of `keep`. False if `s` has nothing
  // else to evict.
  bool evict_one_locked(shard& s, const node* keep, batch& out) {
    for (int p = 0; p < priorities; ++p) {
      fifo& small = s.small[p];
      fifo& main = s.main[p];
      const std::size_t total = small.weight + main.weight;
      // Bounded passes: each node is promoted or aged at most max_freq times.
      for (std::size_t steps = 0; steps < 2 * (max_freq + 1) * (small.count + main.count) + 2;
           ++steps) {
        const bool small_has_victim = small.tail && !(small.tail == keep && small.count == 1);
        const bool use_small = small_has_victim && (small.weight * 10 >= total || !main.tail ||
                                                    (main.tail == keep && main.count == 1));
        if (use_small) {
          node* t = small.tail;
          if (t == keep) {
            small.unlink(t);
            small.push_head(t);
            continue;
          }
          if (t->freq.load(std::memory_order_relaxed) >= promote_min_freq) {
            small.unlink(t);
            t->in_main = true;
            t->freq.store(0, std::memory_order_relaxed);
            main.push_head(t);
            continue;
          }
          s.ghost.add(t->k.low, std::max<std::size_t>(64, s.map.size()));
          remove_locked(s, *t, removal_cause::evicted, out);
          return true;
        }
        node* t = main.tail;
        if (!t || (t == keep && main.count == 1)) break;
        const auto freq = t->freq.load(std::memory_order_relaxed);
        if (t == keep || freq > 0) {
          if (freq > 0) t->freq.store(freq - 1, std::memory_order_relaxed);
          main.unlink(t);
          main.push_head(t);
          continue;
        }
        remove_locked(s, *t, removal_cause::evicted, out);
        return true;
      }
    }
    return false;
  }

  void evict_locked(shard& s, const node* keep, batch& out) {
    while (over_budget(out) && evict_one_locked(s, keep, out)) {
    }
  }

  // The inserting shard ran out of victims: take them from the others.
  void evict_elsewhere(shard& origin, batch& out) {
    const std::size_t start = static_cast<std::size_t>(&origin - shards_.data());
    for (std::size_t i = 1; i <= shards_.size() && over_budget(out); ++i) {
      shard& s = shards_[(start + i) & mask_];
      std::lock_guard lock(s.mu);
      evict_locked(s, nullptr, out);
      finish_locked(s, out);
    }
  }

  void sweep_locked(shard& s, time_point t, std::size_t limit, batch& out) {
    while (limit-- > 0 && !s.deadlines.empty() && s.deadlines.begin()->first <= t) {
      remove_locked(s, *s.deadlines.begin()->second, removal_cause::expired, out);
    }
    finish_locked(s, out);
  }

  // Amortised reclamation: the shard just used, and one more picked by other
  // bits of the key (uniform over shards, and no shared counter to contend on).
  void maybe_sweep(shard& s, const key& k, time_point t) {
    sweep_if_due(s, t);
    if (shards_.size() > 1) sweep_if_due(shards_[(k.high >> 32) & mask_], t);
  }

  void sweep_if_due(shard& s, time_point t) {
    if (t.time_since_epoch().count() < s.next_deadline.load(std::memory_order_relaxed)) return;
    batch out;
    {
      std::unique_lock lock(s.mu, std::try_to_lock);
      if (!lock) return;
      sweep_locked(s, t, sweep_batch, out);
    }
    notify(out);
  }

  void notify(batch& out) {
    if (!config_.on_removal) return;
    for (removal& r : out.removed) config_.on_removal(r.k, std::move(r.value), r.cause);
  }

  static constexpr std::uint8_t promote_min_freq = 1;
  static constexpr std::size_t sweep_batch = 64;

  engine_config<V> config_;
  std::vector<shard> shards_;
  std::size_t mask_ = 0;
  std::atomic<std::size_t> entries_{0};
  std::atomic<std::size_t> weight_{0};
};

}  // namespace recall::detail
