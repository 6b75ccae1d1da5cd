// The engine under cache_data, cache_resource and session_store: a sharded,
// bounded, expiring map from key to value.
//
// - Reads take no lock and write no shared memory: a hit marks its own
//   thread's epoch record, searches the shard's index (detail/node_index.hpp),
//   counts itself in its own thread's counter line and sets the entry's
//   frequency bits only when they change. Writers serialize per shard on a
//   mutex, never change a published value in place (an update installs a new
//   node) and free what they unlink only after every reader that could still
//   see it has left (detail/epoch.hpp). See docs/design.md.
// - Bounds: a total entry count and a total weight (bytes), enforced at every
//   insert. An entry heavier than the whole weight budget is rejected.
// - Eviction: S3-FIFO per shard, with a guard for main against loops (see
//   docs/design.md).
// - Priority classes: eviction empties class 0 in every shard before it
//   touches class 1 (sessions put anonymous users in 0, signed-in users in 1).
// - Expiry: an ordered deadline index per shard. Expired entries are never
//   returned, and any access to a shard (or to a second shard picked by the
//   key's bits) reclaims its expired entries, so memory comes back without a
//   write to the same key and without a thread. cleanup() sweeps everything.
// - Tables are indexed by a keyed hash of the key with a per-process secret
//   (detail/table_hash.hpp), so chosen keys cannot be made to collide.
// - Removal events: every value that leaves is handed, with its cause, to the
//   removal callback after the shard lock is released (the callback may call
//   back into the engine). The callback gets a copy; the entry's own value is
//   destroyed when its node is freed, after the grace period.
//
// Thread safety: every member function may be called concurrently. A visit
// callback runs inside a read section: it may call the engine (reads nest),
// but should not block for long, since nothing removed meanwhile is freed
// before it returns.
#pragma once

#include <absl/container/btree_set.h>
#include <absl/container/inlined_vector.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "recall/clock.hpp"
#include "recall/detail/epoch.hpp"
#include "recall/detail/ghost_filter.hpp"
#include "recall/detail/main_guard.hpp"
#include "recall/detail/node_cache.hpp"
#include "recall/detail/node_index.hpp"
#include "recall/detail/small_mutex.hpp"
#include "recall/detail/striped_counters.hpp"
#include "recall/detail/table_hash.hpp"
#include "recall/error.hpp"
#include "recall/key.hpp"
#include "recall/stats.hpp"

namespace recall::detail {

inline constexpr time_point never = time_point::max();

struct entry_info {
  time_point deadline = never;
  std::size_t weight = 0;
  std::uint64_t tag = 0;      // owner (a session), 0 for none
  std::uint8_t priority = 0;  // eviction class: 0 goes first
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

template <class V>
class engine;

// A key with its table hash, as an engine computed it (engine::hashed()), so
// that a miss and the insert after it hash the key once. Only an engine makes
// one, so the hash is always the keyed one; every engine of a process shares
// the process's secret, so any engine's hashed_key serves every engine.
class hashed_key {
 public:
  // Still the key wherever one is expected (single-flight, L2, erase).
  operator const key&() const noexcept { return k_; }

 private:
  template <class V>
  friend class engine;
  hashed_key(const key& k, std::uint64_t h) noexcept : k_(k), h_(h) {}

  key k_;
  std::uint64_t h_;
};

template <class V>
class engine {
  static_assert(std::is_copy_constructible_v<V>,
                "recall::detail::engine: values are copied on update and for removal events");

 public:
  explicit engine(engine_config<V> config)
      : config_(std::move(config)),
        secret_(process_table_secret()),
        shards_(shard_count(config_)),
        mask_(shards_.size() - 1) {
    if (config_.max_entries == 0 || config_.max_weight == 0) {
      throw config_error("recall: a cache needs max_entries > 0 and max_bytes > 0");
    }
    if (!config_.time) config_.time = default_clock();
  }
  engine(const engine&) = delete;
  engine& operator=(const engine&) = delete;

  // No reader may be inside a visit any more.
  ~engine() {
    for (shard& s : shards_) {
      for (int p = 0; p < priorities; ++p) {
        for (fifo* q : {&s.small[p], &s.main[p]}) free_list(q->head);
      }
      free_list(s.retired_head);
      for (auto& [stamp, t] : s.retired_tables) node_index<node>::free_table(t);
    }
  }

  time_point now() const noexcept { return config_.time->now(); }
  // `k` with its table hash, for a visit and then an insert of the same key.
  hashed_key hashed(const key& k) const noexcept { return {k, hash(k)}; }
  const engine_config<V>& config() const noexcept { return config_; }

  // Calls f(const V&, const entry_info&) if `k` holds a live entry, inside a
  // read section (no lock). Counts a hit or a miss unless Quiet. With Expired,
  // f also sees an entry past its deadline that is not reclaimed yet (a
  // session store tells "expired" from "unknown" that way). An f that returns
  // bool says whether the entry was of use: false makes it a miss (a
  // cache_data value past its ttl, kept only for fail-safe). A hashed_key
  // (hashed()) saves hashing the key again in the insert after a miss.
  template <bool Quiet = false, bool Expired = false, class F>
  bool visit(const key& k, F&& f) {
    return visit_hashed<Quiet, Expired>(k, hash(k), std::forward<F>(f));
  }
  template <bool Quiet = false, bool Expired = false, class F>
  bool visit(const hashed_key& k, F&& f) {
    return visit_hashed<Quiet, Expired>(k.k_, k.h_, std::forward<F>(f));
  }

  bool contains(const key& k) {
    return visit<true>(k, [](const V&, const entry_info&) {});
  }

  // Stores `value` under `k`, replacing any previous value, then evicts until
  // both bounds hold again.
  insert_result insert(const key& k, V value, std::size_t weight, time_point deadline,
                       std::uint64_t tag = 0, std::uint8_t priority = 0) {
    return insert_hashed(k, hash(k), std::move(value), weight, deadline, tag, priority);
  }
  insert_result insert(const hashed_key& k, V value, std::size_t weight, time_point deadline,
                       std::uint64_t tag = 0, std::uint8_t priority = 0) {
    return insert_hashed(k.k_, k.h_, std::move(value), weight, deadline, tag, priority);
  }

  // Calls f(V&, entry_info&) under the shard's lock on a live entry. f may
  // change the value, weight, deadline, tag and priority; the indexes and
  // bounds follow. f works on copies, so if it throws nothing changes. An f
  // that takes the value as `const V&` changes only the entry's information,
  // in place; otherwise a new node with the new value replaces the old one.
  template <class F>
  bool update(const key& k, F&& f) {
    const std::uint64_t h = hash(k);
    shard& s = shard_for(h);
    batch out;
    node* kept = nullptr;
    std::uint8_t kept_class = 0;
    {
      std::lock_guard lock(s.mu);
      const auto at = s.index.probe(h, k);
      node* n = at.found;
      if (!n || now().time_since_epoch().count() >= n->deadline.load(std::memory_order_relaxed)) {
        return false;
      }
      const entry_info before = n->info();
      entry_info info = before;
      if constexpr (std::is_invocable_v<F&, const V&, entry_info&>) {
        f(static_cast<const V&>(n->value), info);
        change_info_locked(s, *n, before, info, out);
        kept = n;
      } else {
        V value(n->value);
        f(value, info);
        info.priority = clamp_priority(info.priority);
        auto fresh = std::make_unique<node>(k, std::move(value), info);
        kept = fresh.get();
        substitute_locked(s, at.slot, *n, *kept, out);
        fresh.release();
      }
      kept_class = kept->p();
      evict_locked(s, kept, out, 0);
      finish_locked(s, out);
    }
    make_room(s, kept, kept_class, out);
    release(out);
    return true;
  }

  bool erase(const key& k, removal_cause cause = removal_cause::removed) {
    const std::uint64_t h = hash(k);
    shard& s = shard_for(h);
    batch out;
    {
      std::lock_guard lock(s.mu);
      node* n = s.index.find(h, k);
      if (!n) return false;
      remove_locked(s, *n, cause, out);
      finish_locked(s, out);
    }
    release(out);
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
        for (int p = 0; p < priorities; ++p) {
          for (fifo* q : {&s.small[p], &s.main[p]}) {
            for (node* n = q->head; n; n = n->next) {
              if (pred(static_cast<const key&>(n->k), static_cast<const V&>(n->value), n->info())) {
                doomed.push_back(n);
              }
            }
          }
        }
        for (node* n : doomed) remove_locked(s, *n, cause, out);
        if (cause == removal_cause::cleared) {
          s.ghost.clear();
          s.guard.reset();
        }
        shrink_locked(s);
        finish_locked(s, out);
      }
      count += out.count;
      release(out);
    }
    return count;
  }

  // Removes everything, and forgets the ghost entries too: after a clear,
  // nothing that was evicted before says anything about what comes next.
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
        shrink_locked(s);
        finish_locked(s, out);
      }
      count += out.count;
      release(out);
    }
    return count;
  }

  std::size_t size() const noexcept { return entries_.load(std::memory_order_relaxed); }
  std::size_t weight() const noexcept { return weight_.load(std::memory_order_relaxed); }
  std::size_t shard_count() const noexcept { return shards_.size(); }
  // Which shard holds `k` (for tests of the key mixing and of cross-shard rules).
  std::size_t shard_of(const key& k) const noexcept {
    return static_cast<std::size_t>(&shard_for(hash(k)) - shards_.data());
  }

  cache_stats stats() const {
    cache_stats st;
    st.hits = hits_.hits();
    st.misses = hits_.misses();
    for (const shard& s : shards_) {
      st.rejected += s.rejected.load(std::memory_order_relaxed);
      std::lock_guard lock(s.mu);
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
  static constexpr std::uint8_t max_freq = 2;
  static constexpr int priorities = 2;
  static constexpr std::uint8_t promote_min_freq = 1;
  // The small queue's share of a shard's weight. The paper uses 10%; on the
  // harness's traces 5% keeps more of skewed traffic and still gives a new
  // key time to be hit again where popularity shifts fast. While the shard's
  // main_guard is on, the small queue has only 1%: it holds keys that will
  // not be hit before they leave it (docs/benchmarks.md).
  static constexpr std::size_t small_percent = 5;
  static constexpr std::size_t guarded_small_percent = 1;
  static constexpr std::size_t sweep_batch = 64;
  using rep = time_point::rep;
  static constexpr rep never_rep = never.time_since_epoch().count();

  // An entry. Readers read the key, the value, the information fields and the
  // frequency; the value never changes once published, the information fields
  // change only under the shard lock (relaxed atomics, so readers may see
  // either side of such a change), the links are the writer's alone.
  struct node final {
    node(const key& k, V&& v, const entry_info& info)
        : k(k),
          value(std::move(v)),
          deadline(info.deadline.time_since_epoch().count()),
          weight(info.weight),
          tag(info.tag),
          priority(info.priority) {}

    // Nodes come and go on every miss of a full cache (detail/node_cache.hpp).
    // `final`: every allocation through here is exactly one node.
    static void* operator new(std::size_t) {
      return node_cache<sizeof(node), alignof(node)>::allocate();
    }
    static void operator delete(void* p) noexcept {
      node_cache<sizeof(node), alignof(node)>::deallocate(p);
    }

    entry_info info() const noexcept {
      return {time_point(duration(deadline.load(std::memory_order_relaxed))),
              weight.load(std::memory_order_relaxed), tag.load(std::memory_order_relaxed),
              priority.load(std::memory_order_relaxed)};
    }
    std::size_t w() const noexcept { return weight.load(std::memory_order_relaxed); }
    std::uint8_t p() const noexcept { return priority.load(std::memory_order_relaxed); }
    time_point due() const noexcept {
      return time_point(duration(deadline.load(std::memory_order_relaxed)));
    }

    const key k;
    const V value;
    std::atomic<rep> deadline;
    std::atomic<std::size_t> weight;
    std::atomic<std::uint64_t> tag;
    std::atomic<std::uint8_t> freq{0};
    std::atomic<std::uint8_t> priority;
    bool in_main = false;
    // Queue links while queued; once retired, `next` chains the shard's
    // retired list and `retired_at` is the epoch it was unlinked in.
    union {
      node* prev = nullptr;
      std::uint64_t retired_at;
    };
    node* next = nullptr;
  };

  // An intrusive FIFO: push at the head, take from the tail.
  struct fifo {
    node* head = nullptr;
    node* tail = nullptr;
    std::size_t count = 0;
    std::size_t weight = 0;

    void push_head(node* n) noexcept {
      n->prev = nullptr;
      n->next = head;
      (head ? head->prev : tail) = n;
      head = n;
      ++count;
      weight += n->w();
    }
    void unlink(node* n) noexcept {
      (n->prev ? n->prev->next : head) = n->next;
      (n->next ? n->next->prev : tail) = n->prev;
      n->prev = n->next = nullptr;
      --count;
      weight -= n->w();
    }
  };

  using table = typename node_index<node>::table;

  struct shard {
    // Read by every access: the index's table pointer (its first line), the
    // earliest deadline, and the newest epoch a retired node waits in.
    node_index<node> index;
    std::atomic<rep> next_deadline{never_rep};
    std::atomic<std::uint64_t> waiting_epoch{0};
    // The writers' side. A futex word rather than std::mutex: every miss
    // takes it once, and its uncontended lock and unlock are one atomic each
    // instead of two calls into pthreads.
    alignas(64) mutable small_mutex mu;
    std::array<fifo, priorities> small;
    std::array<fifo, priorities> main;
    ghost_filter ghost;
    main_guard guard;
    absl::btree_set<std::pair<time_point, node*>> deadlines;
    node* retired_head = nullptr;
    node* retired_tail = nullptr;
    std::vector<std::pair<std::uint64_t, table*>> retired_tables;
    std::atomic<std::uint64_t> rejected{0};
    std::uint64_t inserts = 0;
    std::array<std::uint64_t, 5> removed{};
  };

  struct removal {
    key k;
    V value;
    removal_cause cause;
  };
  // What one locked operation did: copies of the values it removed (for the
  // removal callback, after unlocking), the nodes and tables that may be
  // freed now, and its net change to the totals, applied once (an insert
  // that evicts one entry of the same weight touches no shared counter).
  struct batch {
    absl::InlinedVector<removal, 1> removed;
    std::size_t count = 0;
    std::int64_t entries = 0;
    std::int64_t weight = 0;
    std::array<std::int64_t, priorities> classes{};
    node* freed = nullptr;
    std::vector<table*> freed_tables;
  };

  // Reads the clock at most once, and only if an entry has a deadline.
  class clock_reading {
   public:
    explicit clock_reading(const clock* c) noexcept : clock_(c) {}
    rep ticks() noexcept {
      if (!read_) {
        value_ = clock_->now().time_since_epoch().count();
        read_ = true;
      }
      return value_;
    }

   private:
    const clock* clock_;
    time_point::rep value_ = 0;
    bool read_ = false;
  };

  // visit() and insert() of `k`, whose table hash is `h`.
  template <bool Quiet, bool Expired, class F>
  bool visit_hashed(const key& k, std::uint64_t h, F&& f) {
    shard& s = shard_for(h);
    clock_reading t{config_.time.get()};
    bool found = false;
    std::uint32_t thread;
    {
      epoch::read_guard guard;
      thread = guard.thread_index();
      if (node* n = s.index.find(h, k)) {
        const auto deadline = n->deadline.load(std::memory_order_relaxed);
        if (Expired || deadline == never_rep || t.ticks() < deadline) {
          const auto freq = n->freq.load(std::memory_order_relaxed);
          if (freq < max_freq) n->freq.store(freq + 1, std::memory_order_relaxed);
          if constexpr (std::is_same_v<decltype(f(n->value, n->info())), bool>) {
            found = f(static_cast<const V&>(n->value), n->info());
          } else {
            f(static_cast<const V&>(n->value), n->info());
            found = true;
          }
        }
      }
    }
    if constexpr (!Quiet) found ? hits_.add_hit(thread) : hits_.add_miss(thread);
    maybe_sweep(s, h, t);
    return found;
  }

  insert_result insert_hashed(const key& k, std::uint64_t h, V value, std::size_t weight,
                              time_point deadline, std::uint64_t tag, std::uint8_t priority) {
    shard& s = shard_for(h);
    if (weight > config_.max_weight) {
      s.rejected.fetch_add(1, std::memory_order_relaxed);
      return insert_result::rejected;
    }
    auto fresh = std::make_unique<node>(
        k, std::move(value), entry_info{deadline, weight, tag, clamp_priority(priority)});
    node* const n = fresh.get();
    batch out;
    insert_result result;
    {
      std::lock_guard lock(s.mu);
      result = insert_locked(s, h, n, out);
      fresh.release();
      evict_locked(s, n, out, 0);
      finish_locked(s, out);
    }
    if (over_budget(out)) make_room(s, n, clamp_priority(priority), out);
    release(out);
    clock_reading t{config_.time.get()};
    maybe_sweep(s, h, t);
    return result;
  }

  static std::size_t shard_count(const engine_config<V>& c) {
    std::size_t n = c.shards;
    if (n == 0) {
      // Enough shards that two cores rarely meet, few enough that each shard
      // holds a statistically useful slice of the eviction order.
      const std::size_t by_size = std::max<std::size_t>(1, c.max_entries / 256);
      n = std::min<std::size_t>({16, by_size});
    }
    return std::bit_floor(std::clamp<std::size_t>(n, 1, 1024));
  }

  static std::uint8_t clamp_priority(std::uint8_t p) noexcept {
    return std::min<std::uint8_t>(p, priorities - 1);
  }

  std::uint64_t hash(const key& k) const noexcept { return table_hash(k, secret_); }
  // Shards take bits 54..63 of the hash; the index (0..53) and the ghost
  // (0..55) take lower ones.
  shard& shard_for(std::uint64_t h) noexcept { return shards_[(h >> 54) & mask_]; }
  const shard& shard_for(std::uint64_t h) const noexcept { return shards_[(h >> 54) & mask_]; }
  // The second shard an access sweeps: other bits, uniform over shards.
  shard& neighbour_of(std::uint64_t h) noexcept { return shards_[(h >> 32) & mask_]; }

  static void free_list(node* n) noexcept {
    while (n) delete std::exchange(n, n->next);
  }

  // Unsigned arithmetic throughout, so a bound of SIZE_MAX means "no bound".
  bool over_budget(const batch& b) const noexcept {
    const std::size_t entries =
        entries_.load(std::memory_order_relaxed) + static_cast<std::size_t>(b.entries);
    const std::size_t weight =
        weight_.load(std::memory_order_relaxed) + static_cast<std::size_t>(b.weight);
    return entries > config_.max_entries || weight > config_.max_weight;
  }

  void account(batch& out, const node& n, int sign) noexcept {
    out.entries += sign;
    out.weight += sign * static_cast<std::int64_t>(n.w());
    out.classes[n.p()] += sign;
  }

  // Ends a locked operation on `s`: publishes its earliest deadline, applies
  // the batch's net change to the totals, and moves what no reader can still
  // see into the batch, to be freed after unlocking.
  void finish_locked(shard& s, batch& b) {
    const rep next =
        s.deadlines.empty() ? never_rep : s.deadlines.begin()->first.time_since_epoch().count();
    if (s.next_deadline.load(std::memory_order_relaxed) != next) {
      s.next_deadline.store(next, std::memory_order_relaxed);
    }
    if (b.entries != 0) {
      entries_.fetch_add(static_cast<std::size_t>(b.entries), std::memory_order_relaxed);
    }
    if (b.weight != 0) {
      weight_.fetch_add(static_cast<std::size_t>(b.weight), std::memory_order_relaxed);
    }
    for (int p = 0; p < priorities; ++p) {
      if (b.classes[p] != 0) {
        class_entries_[p].fetch_add(static_cast<std::size_t>(b.classes[p]),
                                    std::memory_order_relaxed);
      }
    }
    b.entries = 0;
    b.weight = 0;
    b.classes = {};
    reclaim_locked(s, b);
  }

  // Hands what a locked operation removed to the callback, then frees the
  // nodes and tables whose grace period is over (their values' destructors
  // run here, outside every lock).
  void release(batch& out) {
    if (config_.on_removal) {
      for (removal& r : out.removed) config_.on_removal(r.k, std::move(r.value), r.cause);
    }
    free_list(out.freed);
    out.freed = nullptr;
    for (table* t : out.freed_tables) node_index<node>::free_table(t);
    out.freed_tables.clear();
  }

  void retire_locked(shard& s, node& n) noexcept {
    n.retired_at = epoch::current();
    n.next = nullptr;
    (s.retired_tail ? s.retired_tail->next : s.retired_head) = &n;
    s.retired_tail = &n;
  }

  void retire_locked(shard& s, table* t) {
    if (t) s.retired_tables.emplace_back(epoch::current(), t);
  }

  // A node unlinked in epoch e can go once every thread still reading started
  // after e. If some reader is in the newest epoch a node waits in, the epoch
  // moves on, so that the reader's next section lets the node go.
  void reclaim_locked(shard& s, batch& out) {
    if (!s.retired_head && s.retired_tables.empty()) return;
    const std::uint64_t oldest = epoch::oldest_reader();
    while (s.retired_head && s.retired_head->retired_at < oldest) {
      node* n = s.retired_head;
      s.retired_head = n->next;
      n->next = out.freed;
      out.freed = n;
    }
    if (!s.retired_head) s.retired_tail = nullptr;
    std::uint64_t waiting = s.retired_tail ? s.retired_tail->retired_at : 0;
    auto& tables = s.retired_tables;
    for (auto it = tables.begin(); it != tables.end();) {
      if (it->first < oldest) {
        out.freed_tables.push_back(it->second);
        it = tables.erase(it);
      } else {
        waiting = std::max(waiting, it->first);
        ++it;
      }
    }
    if (waiting != 0) {
      const std::uint64_t now = epoch::current();
      if (waiting >= now) epoch::advance(now);
    }
    if (s.waiting_epoch.load(std::memory_order_relaxed) != waiting) {
      s.waiting_epoch.store(waiting, std::memory_order_relaxed);
    }
  }

  static fifo& queue_of(shard& s, bool in_main, std::uint8_t priority) {
    return (in_main ? s.main : s.small)[priority];
  }
  static fifo& queue_of(shard& s, const node& n) { return queue_of(s, n.in_main, n.p()); }

  void add_event(batch& out, const node& n, removal_cause cause) {
    if (config_.on_removal) out.removed.push_back({n.k, n.value, cause});
  }

  insert_result insert_locked(shard& s, std::uint64_t h, node* n, batch& out) {
    const time_point due = n->due();
    const auto at = s.index.probe(h, n->k);
    if (node* old = at.found) {
      add_event(out, *old, removal_cause::replaced);
      if (due != never) s.deadlines.emplace(due, n);
      ++s.inserts;
      ++s.removed[static_cast<int>(removal_cause::replaced)];
      n->in_main = old->in_main;
      n->freq.store(old->freq.load(std::memory_order_relaxed), std::memory_order_relaxed);
      swap_locked(s, at.slot, *old, *n, out);
      return insert_result::replaced;
    }
    if (due != never) s.deadlines.emplace(due, n);
    try {
      retire_locked(s, s.index.insert(at, h, n, [this](const node& x) { return hash(x.k); }));
    } catch (...) {
      if (due != never) s.deadlines.erase({due, n});
      throw;
    }
    ++s.inserts;
    const bool remembered = s.ghost.take(h);
    s.guard.count(remembered, std::max<std::size_t>(256, s.index.size()));
    n->in_main = remembered && admits_to_main(s, n->p());
    queue_of(s, *n).push_head(n);
    account(out, *n, +1);
    return insert_result::inserted;
  }

  // Whether a key the ghost remembers may take main's next victim's place.
  // While the guard is on, not if main holds its share and that victim is in
  // use: the key starts in the small queue like a new one. Every second
  // refusal ages the victim as a pass of the eviction would, so that entries
  // nobody reads any more leave main at last (else a new working set could
  // never get in), while a loop's entries, each read once a lap, stay.
  static bool admits_to_main(shard& s, int p) noexcept {
    if (!s.guard.on()) return true;
    fifo& main = s.main[p];
    const std::size_t total = main.weight + s.small[p].weight;
    if (main.weight * 100 < total * (100 - guarded_small_percent)) return true;
    node* const victim = main.tail;
    if (!victim || victim->freq.load(std::memory_order_relaxed) == 0) return true;
    if (s.guard.refuse()) pass_over(main, victim);
    return false;
  }

  // What the clock hand does to main's tail `t` that it spares: one count
  // less (if it has any), and to the head.
  static void pass_over(fifo& main, node* t) noexcept {
    const auto freq = t->freq.load(std::memory_order_relaxed);
    if (freq > 0) t->freq.store(freq - 1, std::memory_order_relaxed);
    main.unlink(t);
    main.push_head(t);
  }

  // `fresh` (already in the deadline index if it has a deadline) takes the
  // place of `old` (same key, in index slot `slot`) everywhere; `old` is
  // retired.
  void swap_locked(shard& s, std::size_t slot, node& old, node& fresh, batch& out) noexcept {
    queue_of(s, old).unlink(&old);
    if (old.due() != never) s.deadlines.erase({old.due(), &old});
    s.index.replace(slot, &fresh);
    queue_of(s, fresh).push_head(&fresh);
    account(out, old, -1);
    account(out, fresh, +1);
    retire_locked(s, old);
  }

  // update() with a new value: a new node replaces the old one.
  void substitute_locked(shard& s, std::size_t slot, node& old, node& fresh, batch& out) {
    if (fresh.due() != never) s.deadlines.emplace(fresh.due(), &fresh);
    fresh.in_main = old.in_main;
    fresh.freq.store(old.freq.load(std::memory_order_relaxed), std::memory_order_relaxed);
    swap_locked(s, slot, old, fresh, out);
  }

  // update() of the information only, in place. An update is a use, so the
  // entry goes to the head of its queue.
  void change_info_locked(shard& s, node& n, const entry_info& before, entry_info info,
                          batch& out) {
    info.priority = clamp_priority(info.priority);
    if (info.deadline != before.deadline && info.deadline != never) {
      s.deadlines.emplace(info.deadline, &n);
    }
    if (info.deadline != before.deadline && before.deadline != never) {
      s.deadlines.erase({before.deadline, &n});
    }
    queue_of(s, n).unlink(&n);
    account(out, n, -1);
    n.deadline.store(info.deadline.time_since_epoch().count(), std::memory_order_relaxed);
    n.weight.store(info.weight, std::memory_order_relaxed);
    n.tag.store(info.tag, std::memory_order_relaxed);
    n.priority.store(info.priority, std::memory_order_relaxed);
    account(out, n, +1);
    queue_of(s, n).push_head(&n);
  }

  void remove_locked(shard& s, node& n, removal_cause cause, batch& out) {
    add_event(out, n, cause);
    queue_of(s, n).unlink(&n);
    if (n.due() != never) s.deadlines.erase({n.due(), &n});
    s.index.erase(hash(n.k), &n);
    account(out, n, -1);
    ++out.count;
    ++s.removed[static_cast<int>(cause)];
    retire_locked(s, n);
  }

  void shrink_locked(shard& s) {
    retire_locked(s, s.index.shrink([this](const node& x) { return hash(x.k); }));
  }

  // The ghost remembers about 1.5 times as many evictions as the shard holds
  // entries (its window is 3/4 of that to all of it): a loop up to about
  // twice the cache's length still comes back while remembered.
  void remember_eviction(shard& s, const node& n) {
    const std::size_t want = std::max<std::size_t>(64, s.index.size()) * 3 / 2;
    if (s.ghost.capacity() < want / 2 || s.ghost.capacity() > want * 4) s.ghost.reset(want);
    s.ghost.add(hash(n.k));
  }

  // One S3-FIFO eviction of class `p` in `s`, never of `keep`. False if `s`
  // has nothing else of that class to evict.
  bool evict_one_locked(shard& s, const node* keep, batch& out, int p) {
    fifo& small = s.small[p];
    fifo& main = s.main[p];
    const std::size_t total = small.weight + main.weight;
    const std::size_t share = s.guard.on() ? guarded_small_percent : small_percent;
    // Bounded passes: each node is promoted or aged at most max_freq times.
    for (std::size_t steps = 0; steps < 2 * (max_freq + 1) * (small.count + main.count) + 2;
         ++steps) {
      const bool small_has_victim = small.tail && !(small.tail == keep && small.count == 1);
      const bool use_small =
          small_has_victim && (small.weight * 100 >= total * share || !main.tail ||
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
        remember_eviction(s, *t);
        remove_locked(s, *t, removal_cause::evicted, out);
        return true;
      }
      node* t = main.tail;
      if (!t || (t == keep && main.count == 1)) return false;
      if (t == keep || t->freq.load(std::memory_order_relaxed) > 0) {
        pass_over(main, t);
        continue;
      }
      remove_locked(s, *t, removal_cause::evicted, out);
      return true;
    }
    return false;
  }

  void evict_locked(shard& s, const node* keep, batch& out, int p) {
    while (over_budget(out) && evict_one_locked(s, keep, out, p)) {
    }
  }

  // The inserting shard could not make room in class 0: evict class 0 from
  // the other shards, then class 1 starting with the inserting shard, one
  // shard lock at a time.
  // `keep` (of class keep_class) is the entry just stored; it is only
  // compared, never read, as another thread may have removed it meanwhile.
  void make_room(shard& origin, const node* keep, int keep_class, batch& out) {
    if (!over_budget(out)) return;
    const std::size_t start = static_cast<std::size_t>(&origin - shards_.data());
    for (int p = 0; p < priorities; ++p) {
      for (std::size_t i = p == 0 ? 1 : 0; i < shards_.size() && over_budget(out); ++i) {
        // No lock to take when no other entry of class p exists.
        if (class_entries_[p].load(std::memory_order_relaxed) <= (keep_class == p ? 1u : 0u)) {
          break;
        }
        shard& s = shards_[(start + i) & mask_];
        std::lock_guard lock(s.mu);
        evict_locked(s, &s == &origin ? keep : nullptr, out, p);
        finish_locked(s, out);
      }
    }
  }

  void sweep_locked(shard& s, time_point t, std::size_t limit, batch& out) {
    while (limit-- > 0 && !s.deadlines.empty() && s.deadlines.begin()->first <= t) {
      remove_locked(s, *s.deadlines.begin()->second, removal_cause::expired, out);
    }
  }

  // Amortised reclamation: the shard just used, and one more picked by other
  // bits of the key (uniform over shards, and no shared counter to contend
  // on). A few relaxed loads and at most one clock reading when there is
  // nothing to do.
  void maybe_sweep(shard& s, std::uint64_t h, clock_reading& t) {
    if (sweep_due(s, t)) sweep(s, t);
    if (shards_.size() > 1) {
      shard& other = neighbour_of(h);
      if (sweep_due(other, t)) sweep(other, t);
    }
  }

  // Expired entries to sweep, or retired nodes whose grace period is
  // probably over.
  static bool sweep_due(const shard& s, clock_reading& t) noexcept {
    const rep due = s.next_deadline.load(std::memory_order_relaxed);
    const std::uint64_t waiting = s.waiting_epoch.load(std::memory_order_relaxed);
    return (due != never_rep && t.ticks() >= due) || (waiting != 0 && waiting < epoch::current());
  }

  // Never waits for the lock: another thread is already at work there.
  void sweep(shard& s, clock_reading& t) {
    batch out;
    {
      std::unique_lock lock(s.mu, std::try_to_lock);
      if (!lock) return;
      sweep_locked(s, time_point(duration(t.ticks())), sweep_batch, out);
      finish_locked(s, out);
    }
    release(out);
  }

  engine_config<V> config_;
  table_secret secret_;
  std::vector<shard> shards_;
  std::size_t mask_ = 0;
  striped_counters hits_;
  std::atomic<std::size_t> entries_{0};
  std::atomic<std::size_t> weight_{0};
  std::array<std::atomic<std::size_t>, priorities> class_entries_{};
};

}  // namespace recall::detail
