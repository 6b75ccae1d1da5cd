// recall/cache_data.hpp: memoize a function whose results are data.
//
// cache_data(fn, options) returns a callable with fn's parameters. A call
// hashes the function's identity, its version and every argument into a key
// (recall/key.hpp); a hit returns a fresh copy of the stored result, so
// callers may mutate what they get; a miss runs fn once for all concurrent
// callers of that key (single-flight) and stores the result serialized
// (recall/codec.hpp), which gives every entry an exact byte size. Results
// expire after an explicit TTL and can be refreshed ahead of it in the
// background while the current value keeps being served.
//
// Thread safety: a cached_function (and every copy of it: copies share one
// cache) may be called from any number of threads. fn must be safe to call
// concurrently for different arguments. Destroying the last copy waits for
// its running background refreshes and cancels queued ones.
//
//   auto load_sales = recall::cache_data(
//       [&](const std::string& region, int day) { return warehouse.query(region, day); },
//       {.name = "load_sales", .ttl = 5min, .max_entries = 1000, .max_bytes = 64 << 20});
//   sales_table t = load_sales("EU", 42);         // a copy, safe to mutate
//   auto r = load_sales.lookup("EU", 42);         // value + computed_at, age, stale
//   double total = load_sales.with("EU", 42, [](const sales_table& t) { return t.total(); });
//   load_sales.invalidate("EU", 42);
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

#include "recall/clock.hpp"
#include "recall/codec.hpp"
#include "recall/detail/callable_traits.hpp"
#include "recall/detail/engine.hpp"
#include "recall/detail/refresh_pool.hpp"
#include "recall/detail/session_scope.hpp"
#include "recall/detail/single_flight.hpp"
#include "recall/detail/task_lifetime.hpp"
#include "recall/error.hpp"
#include "recall/key.hpp"
#include "recall/policy.hpp"
#include "recall/registry.hpp"
#include "recall/stats.hpp"

namespace recall {

struct data_options {
  // The function's identity in keys and metrics. Give one whenever results
  // are shared outside this process; otherwise the function's type is used.
  std::string name{};
  // Bump it when fn's meaning or result type changes: old entries stop matching.
  std::string version{};
  // Required: how long a result may be served. recall::no_expiry on purpose only.
  std::optional<duration> ttl{};
  std::size_t max_entries = 10'000;
  std::size_t max_bytes = std::size_t{256} << 20;
  // Refresh-ahead: a hit on a result older than this returns it at once and
  // starts one background reload; if the reload fails the old value stays
  // until ttl.
  std::optional<duration> refresh_after{};
  recall::scope scope = scope::global;
  // Store fn's exceptions too (for ttl), so a failing backend is not hammered.
  bool cache_errors = false;
  std::shared_ptr<const recall::clock> clock = default_clock();
  // Runs background refreshes; empty means the library's own two threads.
  std::function<void(std::function<void()>)> executor{};
};

// A result with what is known about it.
template <class R>
struct lookup_result {
  R value;
  time_point computed_at;
  duration age{0};
  bool stale = false;       // older than refresh_after: a refresh is on its way
  bool from_cache = false;  // false: computed (or awaited) during this call
};

namespace detail {

template <class R, class... Args>
class data_cache {
 public:
  using function = std::function<R(Args...)>;

  data_cache(function fn, data_options options, std::string fallback_identity)
      : fn_(std::move(fn)),
        options_(validate(std::move(options))),
        identity_(options_.name.empty() ? std::move(fallback_identity) : options_.name),
        seed_(key_seed(identity_, options_.version)),
        engine_(engine_config<entry>{options_.max_entries, options_.max_bytes, options_.clock,
                                     nullptr, 0}) {
    if (options_.scope == scope::session) {
      session_end_.emplace([this](std::uint64_t tag) {
        engine_.erase_if(
            [tag](const key&, const entry&, const entry_info& info) { return info.tag == tag; });
      });
    }
    registration_.emplace(
        identity_, "cache_data",
        registry_hooks{[this] { return to_metrics(stats()); }, [this] { engine_.clear(); }});
  }

  ~data_cache() {
    registration_.reset();
    session_end_.reset();
    lifetime_->close_and_wait();
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
    return {*l.value, l.computed_at, t - l.computed_at, false, false};
  }

  std::optional<lookup_result<R>> peek(Args... args) {
    const auto [k, tag] = key_of(args...);
    std::optional<lookup_result<R>> out;
    const time_point t = engine_.now();
    engine_.template visit<true>(k, [&](const entry& e, const entry_info&) {
      if (e.error) return;
      out.emplace(
          lookup_result<R>{*e.value, e.computed_at, t - e.computed_at, is_stale(e, t), true});
    });
    return out;
  }

  std::shared_ptr<const R> shared(Args... args) {
    const auto [k, tag] = key_of(args...);
    std::shared_ptr<const R> out;
    std::exception_ptr error;
    std::shared_ptr<std::atomic<bool>> refresh;
    const bool found = engine_.visit(k, [&](const entry& e, const entry_info&) {
      if (e.error) {
        error = e.error;
        return;
      }
      out = e.value;
      note_staleness(e, nullptr, refresh);
    });
    if (found) {
      if (error) std::rethrow_exception(error);
      if (refresh) schedule_refresh(k, tag, std::move(refresh), args...);
      return out;
    }
    return load(k, tag, args...).value;
  }

  template <class F>
  std::invoke_result_t<F&, const R&> with(const Args&... args, F& f) {
    using result = std::invoke_result_t<F&, const R&>;
    static_assert(!std::is_reference_v<result>,
                  "recall: with()'s function must return a value, not a reference: the cached "
                  "object is only lent to it for the length of the call");
    const auto [k, tag] = key_of(args...);
    std::exception_ptr error;
    std::shared_ptr<std::atomic<bool>> refresh;
    std::optional<std::conditional_t<std::is_void_v<result>, bool, result>> out;
    const bool found = engine_.visit(k, [&](const entry& e, const entry_info&) {
      if (e.error) {
        error = e.error;
        return;
      }
      if constexpr (std::is_void_v<result>) {
        f(*e.value);
        out.emplace(true);
      } else {
        out.emplace(f(*e.value));
      }
      note_staleness(e, nullptr, refresh);
    });
    if (!found) return f(*load(k, tag, args...).value);
    if (error) std::rethrow_exception(error);
    if (refresh) schedule_refresh(k, tag, std::move(refresh), args...);
    if constexpr (!std::is_void_v<result>) return std::move(*out);
  }

  bool invalidate(Args... args) { return engine_.erase(key_of(args...).first); }
  void clear() { engine_.clear(); }
  std::size_t cleanup() { return engine_.cleanup(); }
  const std::string& name() const noexcept { return identity_; }
  const data_options& options() const noexcept { return options_; }

  cache_stats stats() const {
    cache_stats s = engine_.stats();
    s.stale_hits = stale_hits_.load(std::memory_order_relaxed);
    s.loads = loads_.load(std::memory_order_relaxed);
    s.load_failures = load_failures_.load(std::memory_order_relaxed);
    s.load_time = std::chrono::nanoseconds(load_ns_.load(std::memory_order_relaxed));
    s.refreshes = refreshes_.load(std::memory_order_relaxed);
    s.refresh_failures = refresh_failures_.load(std::memory_order_relaxed);
    s.refreshes_dropped = refreshes_dropped_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  // What the engine stores. `value` is decoded from `bytes`, so every caller
  // sees exactly what a serialized store (Redis) would give back.
  struct entry {
    std::shared_ptr<const R> value;
    std::shared_ptr<const std::string> bytes;
    std::exception_ptr error;
    time_point computed_at;
    std::shared_ptr<std::atomic<bool>> refreshing;
  };
  struct loaded {
    std::shared_ptr<const R> value;
    time_point computed_at;
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
    if (!o.clock) o.clock = default_clock();
    return o;
  }

  std::pair<key, std::uint64_t> key_of(const Args&... args) const {
    return scoped_key(options_.scope, seed_, "cache_data", identity_, args...);
  }

  bool is_stale(const entry& e, time_point t) const {
    return options_.refresh_after && t - e.computed_at >= *options_.refresh_after;
  }

  // Under the shard's shared lock: marks a stale hit and claims its refresh.
  void note_staleness(const entry& e, lookup_result<R>* meta,
                      std::shared_ptr<std::atomic<bool>>& refresh) {
    if (!options_.refresh_after && !meta) return;
    const time_point t = engine_.now();
    const bool stale = is_stale(e, t);
    if (meta) {
      meta->computed_at = e.computed_at;
      meta->age = t - e.computed_at;
      meta->stale = stale;
      meta->from_cache = true;
    }
    if (!stale) return;
    stale_hits_.fetch_add(1, std::memory_order_relaxed);
    if (!e.refreshing->exchange(true, std::memory_order_acq_rel)) refresh = e.refreshing;
  }

  bool hit(const key& k, std::uint64_t tag, std::optional<R>* out, lookup_result<R>* meta,
           const Args&... args) {
    std::exception_ptr error;
    std::shared_ptr<std::atomic<bool>> refresh;
    const bool found = engine_.visit(k, [&](const entry& e, const entry_info&) {
      if (e.error) {
        error = e.error;
        return;
      }
      out->emplace(*e.value);
      note_staleness(e, meta, refresh);
    });
    if (!found) return false;
    if (error) std::rethrow_exception(error);
    if (refresh) schedule_refresh(k, tag, std::move(refresh), args...);
    return true;
  }

  loaded load(const key& k, std::uint64_t tag, const Args&... args) {
    return flights_.run(k, identity_, [&]() -> loaded {
      // Another caller may have stored it between our miss and this flight.
      std::optional<loaded> stored;
      std::exception_ptr error;
      engine_.template visit<true>(k, [&](const entry& e, const entry_info&) {
        if (e.error)
          error = e.error;
        else
          stored = loaded{e.value, e.computed_at};
      });
      if (error) std::rethrow_exception(error);
      if (stored) return *stored;
      return compute_and_store(k, tag, args...);
    });
  }

  loaded compute_and_store(const key& k, std::uint64_t tag, const Args&... args) {
    loads_.fetch_add(1, std::memory_order_relaxed);
    const auto started = std::chrono::steady_clock::now();
    const time_point computed_at = engine_.now();
    const time_point deadline = deadline_after(computed_at, *options_.ttl);
    std::optional<R> result;
    try {
      result.emplace(fn_(args...));
    } catch (...) {
      add_load_time(started);
      load_failures_.fetch_add(1, std::memory_order_relaxed);
      if (options_.cache_errors) {
        engine_.insert(k, entry{nullptr, nullptr, std::current_exception(), computed_at, nullptr},
                       1, deadline, tag);
      }
      throw;
    }
    add_load_time(started);
    auto bytes = std::make_shared<const std::string>(encode(*result));
    auto value = std::make_shared<const R>(decode<R>(*bytes).value());
    engine_.insert(k,
                   entry{value, bytes, nullptr, computed_at, std::make_shared<std::atomic<bool>>()},
                   bytes->size(), deadline, tag);
    return {std::move(value), computed_at};
  }

  void add_load_time(std::chrono::steady_clock::time_point started) {
    load_ns_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count(),
                       std::memory_order_relaxed);
  }

  void schedule_refresh(const key& k, std::uint64_t tag, std::shared_ptr<std::atomic<bool>> flag,
                        const Args&... args) {
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
    if (options_.executor) {
      options_.executor(std::move(task));
    } else if (!submit_refresh(std::move(task))) {
      refreshes_dropped_.fetch_add(1, std::memory_order_relaxed);
      flag->store(false, std::memory_order_release);
    }
  }

  void refresh(const key& k, std::uint64_t tag, const Args&... args) {
    flights_.run(k, identity_, [&] { return compute_and_store(k, tag, args...); });
  }

  function fn_;
  data_options options_;
  std::string identity_;
  std::uint64_t seed_;
  engine<entry> engine_;
  single_flight<loaded> flights_;
  std::shared_ptr<task_lifetime> lifetime_ = std::make_shared<task_lifetime>();
  std::atomic<std::uint64_t> stale_hits_{0};
  std::atomic<std::uint64_t> loads_{0};
  std::atomic<std::uint64_t> load_failures_{0};
  std::atomic<std::int64_t> load_ns_{0};
  std::atomic<std::uint64_t> refreshes_{0};
  std::atomic<std::uint64_t> refresh_failures_{0};
  std::atomic<std::uint64_t> refreshes_dropped_{0};
  std::optional<session_end_subscription> session_end_;
  std::optional<registration> registration_;
};

}  // namespace detail

template <class Signature>
class cached_function;

// The callable that cache_data returns. Copies share one cache.
template <class R, class... Args>
class cached_function<R(Args...)> {
 public:
  using result_type = R;

  cached_function(std::function<R(Args...)> fn, data_options options, std::string fallback_identity)
      : cache_(std::make_shared<detail::data_cache<R, Args...>>(std::move(fn), std::move(options),
                                                                std::move(fallback_identity))) {}

  // The result for these arguments: a copy of the cached one, or computed.
  R operator()(Args... args) const { return cache_->call(args...); }
  // Like operator(), with the result's age and staleness.
  lookup_result<R> lookup(Args... args) const { return cache_->lookup(args...); }
  // The cached result if there is one; never computes, counts nothing.
  std::optional<lookup_result<R>> peek(Args... args) const { return cache_->peek(args...); }
  // The cached object itself, shared and immutable: no copy for large values.
  std::shared_ptr<const R> shared(Args... args) const { return cache_->shared(args...); }
  // Lends the cached object to f (computing it first on a miss) and returns
  // f's result: no copy and no reference count, so hits on one hot entry from
  // many threads write no shared memory. f runs while the cache cannot free
  // the object: keep it short (read, aggregate, serialize), do not keep
  // references to the object past it, and do not block in it.
  template <class F>
  auto with(Args... args, F&& f) const {
    return cache_->with(args..., f);
  }

  bool invalidate(Args... args) const { return cache_->invalidate(args...); }
  void clear() const { cache_->clear(); }
  // Reclaims expired entries now (they are also reclaimed as the cache is used).
  std::size_t cleanup() const { return cache_->cleanup(); }
  cache_stats stats() const { return cache_->stats(); }
  const std::string& name() const noexcept { return cache_->name(); }
  const data_options& options() const noexcept { return cache_->options(); }

 private:
  std::shared_ptr<detail::data_cache<R, Args...>> cache_;
};

template <class Fn>
auto cache_data(Fn fn, data_options options) {
  using signature = typename detail::callable_traits<Fn>::signature;
  using result = std::remove_cvref_t<typename detail::callable_traits<Fn>::result>;
  if constexpr (!serializable<result>) {
    detail::require_serializable<result>();  // stops here, before cereal adds its own errors
  } else {
    return [&]<class R, class... Args>(std::type_identity<R(Args...)>) {
      return cached_function<result(Args...)>(std::move(fn), std::move(options),
                                              std::string(detail::type_name<Fn>()));
    }(std::type_identity<signature>{});
  }
}

}  // namespace recall
