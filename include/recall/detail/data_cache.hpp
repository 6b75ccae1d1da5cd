// The cache behind recall::cache_data: the engine (L1), single-flight,
// refresh-ahead, fail-safe, and the optional second level (L2, through
// l2_tier). recall/cache_data.hpp is its public face.
//
// Read path: L1, then L2 (a result found there enters L1 with its original
// computed_at and remaining TTL), then the function, run once per key in the
// process (single-flight) and, with L2, once per key in the fleet (a lease:
// the first replica computes, the others wait for its result).
//
// Thread safety: every member function may be called concurrently.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "recall/codec.hpp"
#include "recall/data_options.hpp"
#include "recall/detail/engine.hpp"
#include "recall/detail/l2_tier.hpp"
#include "recall/detail/refresh_pool.hpp"
#include "recall/detail/session_scope.hpp"
#include "recall/detail/single_flight.hpp"
#include "recall/detail/task_lifetime.hpp"
#include "recall/error.hpp"
#include "recall/key.hpp"
#include "recall/registry.hpp"
#include "recall/stats.hpp"

namespace recall::detail {

template <class R, class... Args>
class data_cache final : private l2_tier::listener {
 public:
  using function = std::function<R(Args...)>;

  data_cache(function fn, data_options options, std::string fallback_identity)
      : fn_(std::move(fn)),
        options_(validate(std::move(options))),
        identity_(options_.name.empty() ? std::move(fallback_identity) : options_.name),
        seed_(key_seed(identity_, options_.version)),
        engine_(engine_config<entry>{options_.max_entries, options_.max_bytes, options_.clock,
                                     nullptr, 0}) {
    if (options_.l2) {
      l2_.emplace(options_.l2, identity_, options_.version, options_.tags,
                  static_cast<l2_tier::listener&>(*this));
    }
    if (options_.scope == scope::session) {
      session_end_.emplace([this](std::uint64_t tag) {
        engine_.erase_if(
            [tag](const key&, const entry&, const entry_info& info) { return info.tag == tag; });
      });
    }
    registration_.emplace(
        identity_, "cache_data",
        registry_hooks{.metrics = [this] { return cache_data_metrics(stats(), l2_.has_value()); },
                       .clear = [this] { clear(); },
                       .tags = options_.tags,
                       .clear_memory = [this] { drop_all(); }});
  }

  ~data_cache() {
    registration_.reset();
    session_end_.reset();
    lifetime_->close_and_wait();
    l2_.reset();  // no message reaches the engine after this
  }

  R call(Args... args) {
    const auto [k, tag] = key_of(args...);
    std::optional<R> out;
    if (hit(k, tag, &out, nullptr, args...)) return std::move(*out);
    return *load(k, tag, args...).value;
  }

  lookup_result<R> lookup(Args... args) {
    const auto [k, tag] = key_of(args...);
    std::optional<R> out;
    lookup_result<R> meta;
    if (hit(k, tag, &out, &meta, args...)) {
      meta.value = std::move(*out);
      return meta;
    }
    loaded l = load(k, tag, args...);
    const time_point t = engine_.now();
    // A fail-safe value is stale, and came from the cache, not from this call;
    // so is a value another process computed longer than refresh_after ago.
    const bool stale = l.fail_safe || (l.from_cache && is_stale(l.computed_at, t));
    return {*l.value, l.computed_at, t - l.computed_at, stale, l.from_cache, l.fail_safe};
  }

  std::optional<lookup_result<R>> peek(Args... args) {
    const auto [k, tag] = key_of(args...);
    std::optional<lookup_result<R>> out;
    const time_point t = engine_.now();
    engine_.template visit<true>(k, [&](const entry& e, const entry_info&) {
      if (e.error || t >= e.expires_at) return;
      out.emplace(lookup_result<R>{*e.value, e.computed_at, t - e.computed_at,
                                   is_stale(e.computed_at, t), true});
    });
    return out;
  }

  std::shared_ptr<const R> shared(Args... args) {
    const auto [k, tag] = key_of(args...);
    std::shared_ptr<const R> out;
    const auto found = visit_live(
        k, [&](const entry& e, lookup_result<R>*) { out = e.value; }, nullptr, tag, args...);
    if (found) return out;
    return load(k, tag, args...).value;
  }

  template <class F>
  std::invoke_result_t<F&, const R&> with(const Args&... args, F& f) {
    using result = std::invoke_result_t<F&, const R&>;
    static_assert(!std::is_reference_v<result>,
                  "recall: with()'s function must return a value, not a reference: the cached "
                  "object is only lent to it for the length of the call");
    const auto [k, tag] = key_of(args...);
    std::optional<std::conditional_t<std::is_void_v<result>, bool, result>> out;
    const bool found = visit_live(
        k,
        [&](const entry& e, lookup_result<R>*) {
          if constexpr (std::is_void_v<result>) {
            f(*e.value);
            out.emplace(true);
          } else {
            out.emplace(f(*e.value));
          }
        },
        nullptr, tag, args...);
    if (!found) return f(*load(k, tag, args...).value);
    if constexpr (!std::is_void_v<result>) return std::move(*out);
  }

  bool invalidate(Args... args) {
    const key k = key_of(args...).first;
    invalidations_.fetch_add(1, std::memory_order_acq_rel);
    const bool erased = engine_.erase(k);
    if (l2_) l2_->invalidate(k);
    return erased;
  }

  void clear() {
    invalidations_.fetch_add(1, std::memory_order_acq_rel);
    // The marker goes first, so nothing refills memory from the old records.
    if (l2_) l2_->clear();
    engine_.clear();
  }

  std::size_t cleanup() { return engine_.cleanup(); }
  const std::string& name() const noexcept { return identity_; }
  const data_options& options() const noexcept { return options_; }

  cache_stats stats() const {
    cache_stats s = engine_.stats();
    s.stale_hits = stale_hits_.load(std::memory_order_relaxed);
    s.fail_safe_hits = fail_safe_hits_.load(std::memory_order_relaxed);
    s.loads = loads_.load(std::memory_order_relaxed);
    s.load_failures = load_failures_.load(std::memory_order_relaxed);
    s.load_time = std::chrono::nanoseconds(load_ns_.load(std::memory_order_relaxed));
    s.refreshes = refreshes_.load(std::memory_order_relaxed);
    s.refresh_failures = refresh_failures_.load(std::memory_order_relaxed);
    s.refreshes_dropped = refreshes_dropped_.load(std::memory_order_relaxed);
    if (l2_) l2_->add_stats(s);
    return s;
  }

 private:
  // What the engine stores. `value` was decoded from its encoding, so every
  // caller sees exactly what a serialized store (L2) gives back.
  struct entry {
    std::shared_ptr<const R> value;
    std::exception_ptr error;
    time_point computed_at;
    time_point expires_at;  // the ttl's end; with fail_safe the engine keeps it longer
    time_point retry_after = time_point::min();  // fail-safe: no new attempt before this
    std::shared_ptr<std::atomic<bool>> refreshing;
    // computed_at as written to L2: another replica's newer result replaces it.
    wall_time_point computed_wall{};
  };
  struct loaded {
    std::shared_ptr<const R> value;
    time_point computed_at;
    time_point expires_at;
    std::size_t weight = 0;  // the encoded size the engine counts
    bool from_cache = true;  // false: computed by this call's flight
    bool fail_safe = false;  // expired, served because the function failed
  };
  // A caller's failure may be cached (cache_errors); a background refresh's
  // never is: the value it was refreshing stays until its ttl.
  enum class origin { caller, refresh };
  // What this call learnt of the second level: once it did not answer, the
  // call does not wait for it again (a frozen Redis costs one timeout).
  struct l2_claim {
    bool reachable = false;
    bool leased = false;           // this process computes the key for the fleet
    std::uint64_t generation = 0;  // of the invalidation markers before computing
  };

  static data_options validate(data_options o) {
    const std::string who =
        o.name.empty() ? "a cache_data function" : "cache_data '" + o.name + "'";
    if (!o.ttl) {
      throw config_error("recall: " + who +
                         " has no ttl; pass .ttl = 5min (say) or .ttl = recall::no_expiry");
    }
    if (*o.ttl <= duration::zero()) throw config_error("recall: " + who + " needs ttl > 0");
    if (o.refresh_after && (*o.refresh_after <= duration::zero() || *o.refresh_after >= *o.ttl)) {
      throw config_error("recall: " + who + " needs 0 < refresh_after < ttl");
    }
    if (o.max_entries == 0 || o.max_bytes == 0) {
      throw config_error("recall: " + who + " needs max_entries > 0 and max_bytes > 0");
    }
    if (o.fail_safe && *o.fail_safe <= duration::zero()) {
      throw config_error("recall: " + who + " needs fail_safe > 0 (or no fail_safe at all)");
    }
    if (o.fail_safe_retry <= duration::zero()) {
      throw config_error("recall: " + who + " needs fail_safe_retry > 0");
    }
    if (o.l2 && o.name.empty()) {
      throw config_error("recall: " + who +
                         " has a second level (l2) but no name; its keys are shared with other "
                         "processes, so give it a stable .name");
    }
    if (o.l2 && o.scope == scope::session) {
      throw config_error("recall: " + who +
                         " has scope::session and a second level (l2); sessions are local to "
                         "a process, so a session-scoped cache takes no l2");
    }
    if (!o.clock) o.clock = default_clock();
    return o;
  }

  // The key with its table hash, which a miss's lookups and insert share.
  std::pair<hashed_key, std::uint64_t> key_of(const Args&... args) const {
    const auto [k, tag] = scoped_key(options_.scope, seed_, "cache_data", identity_, args...);
    return {engine_.hashed(k), tag};
  }

  bool is_stale(time_point computed_at, time_point t) const {
    return options_.refresh_after && t - computed_at >= *options_.refresh_after;
  }
  bool is_stale(time_point computed_at) const { return is_stale(computed_at, engine_.now()); }

  time_point engine_deadline(time_point expires_at) const {
    return options_.fail_safe ? deadline_after(expires_at, *options_.fail_safe) : expires_at;
  }

  // Calls use(entry, meta) on a value that may be served: within its ttl, or
  // (fail-safe) expired while the function is failing. Returns false on a
  // miss; rethrows a cached error; starts a refresh of a stale value.
  template <class Use>
  bool visit_live(const hashed_key& k, Use&& use, lookup_result<R>* meta, std::uint64_t tag,
                  const Args&... args) {
    std::exception_ptr error;
    std::shared_ptr<std::atomic<bool>> refresh;
    const time_point t = engine_.now();
    const bool found = engine_.visit(k, [&](const entry& e, const entry_info&) -> bool {
      if (e.error) {
        error = e.error;
        return true;
      }
      const bool fail_safe = t >= e.expires_at;
      if (fail_safe && t >= e.retry_after) return false;  // expired: a miss that loads
      use(e, meta);
      if (fail_safe) {
        fail_safe_hits_.fetch_add(1, std::memory_order_relaxed);
        if (meta) *meta = {{}, e.computed_at, t - e.computed_at, true, true, true};
        return true;
      }
      note_staleness(e, t, meta, refresh);
      return true;
    });
    if (!found) return false;
    if (error) std::rethrow_exception(error);
    if (refresh) schedule_refresh(k, tag, std::move(refresh), args...);
    return true;
  }

  bool hit(const hashed_key& k, std::uint64_t tag, std::optional<R>* out, lookup_result<R>* meta,
           const Args&... args) {
    return visit_live(
        k, [out](const entry& e, lookup_result<R>*) { out->emplace(*e.value); }, meta, tag,
        args...);
  }

  // Under the shard's shared lock: marks a stale hit and claims its refresh.
  void note_staleness(const entry& e, time_point t, lookup_result<R>* meta,
                      std::shared_ptr<std::atomic<bool>>& refresh) {
    if (!options_.refresh_after && !meta) return;
    const bool stale = is_stale(e.computed_at, t);
    if (meta) *meta = {{}, e.computed_at, t - e.computed_at, stale, true, false};
    if (!stale) return;
    stale_hits_.fetch_add(1, std::memory_order_relaxed);
    if (!e.refreshing->exchange(true, std::memory_order_acq_rel)) refresh = e.refreshing;
  }

  // The value in memory: live, and (for fail-safe) an expired one.
  struct in_memory {
    std::optional<loaded> live;
    std::optional<loaded> expired;
  };
  in_memory from_memory(const hashed_key& k) {
    in_memory out;
    std::exception_ptr error;
    const time_point t = engine_.now();
    engine_.template visit<true>(k, [&](const entry& e, const entry_info& info) {
      if (e.error) {
        error = e.error;
      } else {
        (t < e.expires_at ? out.live : out.expired) =
            loaded{e.value, e.computed_at, e.expires_at, info.weight};
      }
    });
    if (error) std::rethrow_exception(error);
    return out;
  }

  loaded load(const hashed_key& k, std::uint64_t tag, const Args&... args) {
    return flights_.run(k, identity_, [&]() -> loaded {
      // Another caller may have stored it between our miss and this flight.
      in_memory memory = from_memory(k);
      if (memory.live) return *memory.live;
      l2_claim claim;
      if (l2_) {
        if (std::optional<loaded> found = from_l2(k, tag, memory.expired, claim)) return *found;
      }
      return compute_and_store(k, tag, origin::caller, memory.expired, claim, args...);
    });
  }

  // L2, with one computation per key for the fleet: returns a result, or
  // nullopt when this process should compute (`claim` says whether L2
  // answered and whether this process holds the lease). An expired record
  // may become the fail-safe fallback.
  std::optional<loaded> from_l2(const hashed_key& k, std::uint64_t tag,
                                std::optional<loaded>& fallback, l2_claim& claim) {
    const auto& o = options_.l2->options();
    const auto give_up = std::chrono::steady_clock::now() + o.lease_wait;
    bool waited = false;
    for (;;) {
      l2_tier::lookup found = l2_->read(k);
      claim.reachable = found.available;
      claim.generation = found.generation;
      if (!found.available) return std::nullopt;
      if (found.record) {
        if (std::optional<loaded> l = admit(k, tag, *found.record, fallback)) {
          l2_->count_hit();
          return l;
        }
      }
      if (!waited) l2_->count_miss();
      if (!found.leased) {
        const l2_tier::lease lease = l2_->acquire(k);
        claim.reachable = lease != l2_tier::lease::unavailable;
        claim.leased = lease == l2_tier::lease::acquired;
        if (lease != l2_tier::lease::held_elsewhere) return std::nullopt;
      }
      if (!waited) l2_->count_lease_wait();
      waited = true;
      const auto now = std::chrono::steady_clock::now();
      if (now >= give_up) {
        l2_->count_lease_timeout();
        return std::nullopt;
      }
      l2_->wait_for_results(
          std::min<duration>(o.lease_poll, std::chrono::duration_cast<duration>(give_up - now)));
    }
  }

  // A record from L2 into memory, with its age kept. Returns it if it is
  // within its ttl; an expired one only becomes the fail-safe fallback (if
  // newer than what memory had).
  std::optional<loaded> admit(const hashed_key& k, std::uint64_t tag, const l2_record& record,
                              std::optional<loaded>& fallback) {
    decoded<R> d = decode<R>(record.value);
    if (!d) {
      l2_->count_rejected(d.message());
      return std::nullopt;
    }
    const time_point t = engine_.now();
    const wall_time_point wall = options_.clock->wall_now();
    const auto local = [&](wall_time_point w) {
      if (w == wall_time_point::max()) return time_point::max();
      return w >= wall ? deadline_after(t, std::chrono::duration_cast<duration>(w - wall))
                       : t - std::chrono::duration_cast<duration>(wall - w);
    };
    // A computed_at ahead of this process's clock (skew) counts as now: an
    // age is never negative. An expires_at is ahead of it until it passes.
    loaded l{std::make_shared<const R>(std::move(*d)), std::min(local(record.computed_at), t),
             local(record.expires_at), record.value.size()};
    if (t >= l.expires_at) {
      if (!fallback || fallback->computed_at < l.computed_at) fallback = l;
      return std::nullopt;
    }
    engine_.insert(k,
                   entry{l.value, nullptr, l.computed_at, l.expires_at, time_point::min(),
                         std::make_shared<std::atomic<bool>>(), record.computed_at},
                   record.value.size(), engine_deadline(l.expires_at), tag);
    return l;
  }

  loaded compute_and_store(const hashed_key& k, std::uint64_t tag, origin from,
                           const std::optional<loaded>& fallback, l2_claim claim,
                           const Args&... args) {
    loads_.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t epoch = invalidations_.load(std::memory_order_acquire);
    const auto started = std::chrono::steady_clock::now();
    const time_point computed_at = engine_.now();
    const time_point expires_at = deadline_after(computed_at, *options_.ttl);
    std::optional<R> result;
    try {
      result.emplace(fn_(args...));
    } catch (...) {
      add_load_time(started);
      load_failures_.fetch_add(1, std::memory_order_relaxed);
      if (claim.leased) l2_->release(k);
      if (std::optional<loaded> served = serve_fail_safe(k, tag, fallback)) return *served;
      if (options_.cache_errors && from == origin::caller) {
        engine_.insert(k,
                       entry{nullptr,
                             std::current_exception(),
                             computed_at,
                             expires_at,
                             time_point::min(),
                             nullptr,
                             {}},
                       1, expires_at, tag);
      }
      throw;
    }
    add_load_time(started);
    std::string bytes = encode(*result);
    const std::size_t weight = bytes.size();
    auto value = std::make_shared<const R>(decode<R>(bytes).value());
    // An invalidation while computing may have been about this result: the
    // caller gets it, the caches do not keep it.
    if (invalidations_.load(std::memory_order_acquire) == epoch) {
      const wall_time_point computed_wall = to_wall(computed_at);
      engine_.insert(k,
                     entry{value, nullptr, computed_at, expires_at, time_point::min(),
                           std::make_shared<std::atomic<bool>>(), computed_wall},
                     weight, engine_deadline(expires_at), tag);
      if (claim.reachable) {
        write_l2(k, computed_wall, expires_at, claim.generation, std::move(bytes));
      }
    }
    if (claim.leased) l2_->release(k);
    return {std::move(value), computed_at, expires_at, weight, false};
  }

  void write_l2(const key& k, wall_time_point computed_wall, time_point expires_at,
                std::uint64_t generation, std::string bytes) {
    const time_point t = engine_.now();
    duration keep = expires_at == time_point::max() ? duration::max() : expires_at - t;
    if (options_.fail_safe && keep != duration::max()) {
      keep = keep >= duration::max() - *options_.fail_safe ? duration::max()
                                                           : keep + *options_.fail_safe;
    }
    l2_->store(k, l2_record{computed_wall, to_wall(expires_at), generation, std::move(bytes)},
               keep);
  }

  // The function failed: an expired value younger than fail_safe is served
  // instead, and the function is not called again before fail_safe_retry.
  std::optional<loaded> serve_fail_safe(const hashed_key& k, std::uint64_t tag,
                                        const std::optional<loaded>& fallback) {
    if (!options_.fail_safe || !fallback) return std::nullopt;
    const time_point t = engine_.now();
    if (t >= engine_deadline(fallback->expires_at)) return std::nullopt;
    fail_safe_hits_.fetch_add(1, std::memory_order_relaxed);
    engine_.insert(k,
                   entry{fallback->value,
                         nullptr,
                         fallback->computed_at,
                         fallback->expires_at,
                         deadline_after(t, options_.fail_safe_retry),
                         std::make_shared<std::atomic<bool>>(),
                         {}},
                   fallback->weight, engine_deadline(fallback->expires_at), tag);
    loaded served = *fallback;
    served.fail_safe = true;
    return served;
  }

  void add_load_time(std::chrono::steady_clock::time_point started) {
    load_ns_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count(),
                       std::memory_order_relaxed);
  }

  void schedule_refresh(const hashed_key& k, std::uint64_t tag,
                        std::shared_ptr<std::atomic<bool>> flag, const Args&... args) {
    auto task = [this, life = lifetime_, k, tag, flag,
                 saved = std::tuple<std::decay_t<Args>...>(args...)]() {
      if (!life->enter()) return;
      session_tag_guard session(tag);
      try {
        std::apply([&](const auto&... a) { refresh(k, tag, a...); }, saved);
        refreshes_.fetch_add(1, std::memory_order_relaxed);
      } catch (...) {
        refresh_failures_.fetch_add(1, std::memory_order_relaxed);
        flag->store(false, std::memory_order_release);
      }
      life->leave();
    };
    bool queued = false;
    try {
      queued = options_.executor ? (options_.executor(std::move(task)), true)
                                 : submit_refresh(std::move(task));
    } catch (...) {
      // The caller has its value; a refused refresh is counted, and the next
      // stale hit claims it again.
    }
    if (!queued) {
      refreshes_dropped_.fetch_add(1, std::memory_order_relaxed);
      flag->store(false, std::memory_order_release);
    }
  }

  // With L2 the refresh runs once per fleet: a replica that finds a fresh
  // result there (another replica refreshed) takes it, and one that finds
  // the key leased leaves the work to the holder, whose result then replaces
  // every replica's old copy.
  void refresh(const hashed_key& k, std::uint64_t tag, const Args&... args) {
    flights_.run(k, identity_, [&]() -> loaded {
      in_memory memory = from_memory(k);
      l2_claim claim;
      if (l2_) {
        const l2_tier::lookup found = l2_->read(k);
        claim.reachable = found.available;
        claim.generation = found.generation;
        std::optional<loaded> newer;
        if (found.record &&
            (!memory.live || found.record->computed_at > to_wall(memory.live->computed_at))) {
          std::optional<loaded> expired;
          newer = admit(k, tag, *found.record, expired);
          if (newer && !is_stale(newer->computed_at)) return *newer;
        }
        if (found.available) {
          const l2_tier::lease lease =
              found.leased ? l2_tier::lease::held_elsewhere : l2_->acquire(k);
          if (lease == l2_tier::lease::held_elsewhere) {
            if (newer) return *newer;
            if (memory.live) return *memory.live;
          }
          claim.reachable = lease != l2_tier::lease::unavailable;
          claim.leased = lease == l2_tier::lease::acquired;
        }
      }
      return compute_and_store(k, tag, origin::refresh, std::nullopt, claim, args...);
    });
  }

  // This process's time point as calendar time, for records other processes read.
  wall_time_point to_wall(time_point p) const {
    if (p == time_point::max()) return wall_time_point::max();
    return options_.clock->wall_now() -
           std::chrono::duration_cast<wall_time_point::duration>(engine_.now() - p);
  }

  // l2_tier::listener: what other replicas' messages ask of memory.
  void drop(const key& k) override {
    invalidations_.fetch_add(1, std::memory_order_acq_rel);
    engine_.erase(k);
  }
  void replaced(const key& k, wall_time_point computed_at) override {
    bool older = false;
    engine_.template visit<true>(
        k, [&](const entry& e, const entry_info&) { older = e.computed_wall < computed_at; });
    // A result stored meanwhile is dropped too: the next read takes it from L2.
    if (older) engine_.erase(k);
  }
  void drop_all() override {
    invalidations_.fetch_add(1, std::memory_order_acq_rel);
    engine_.clear();
  }

  function fn_;
  data_options options_;
  std::string identity_;
  std::uint64_t seed_;
  engine<entry> engine_;
  single_flight<loaded> flights_;
  std::shared_ptr<task_lifetime> lifetime_ = std::make_shared<task_lifetime>();
  // Counts invalidations (invalidate, clear, tags, other replicas' deletes).
  std::atomic<std::uint64_t> invalidations_{0};
  std::atomic<std::uint64_t> stale_hits_{0};
  std::atomic<std::uint64_t> fail_safe_hits_{0};
  std::atomic<std::uint64_t> loads_{0};
  std::atomic<std::uint64_t> load_failures_{0};
  std::atomic<std::int64_t> load_ns_{0};
  std::atomic<std::uint64_t> refreshes_{0};
  std::atomic<std::uint64_t> refresh_failures_{0};
  std::atomic<std::uint64_t> refreshes_dropped_{0};
  std::optional<l2_tier> l2_;  // after the engine: its messages reach the engine
  std::optional<session_end_subscription> session_end_;
  std::optional<registration> registration_;
};

}  // namespace recall::detail
