// recall/cache_resource.hpp: one shared object per argument list — a
// connection pool, an HTTP client, a loaded model.
//
// cache_resource(factory, options) returns a callable with the factory's
// parameters that yields std::shared_ptr<T>. Every caller with the same
// arguments gets the same object (never a copy, never serialized); the first
// concurrent callers of a key build it once (single-flight). `validate` checks
// an object on every hit and replaces it when it fails. `on_release` runs
// exactly once per object, after the cache has dropped it (TTL, eviction,
// validate failure, invalidate, clear, destruction) and the last caller
// holding it has let go, so a pool is never closed under a request that still
// uses it. See docs/cache_resource.md.
//
// Thread safety: a cached_resource (and every copy of it: copies share one
// cache) may be called from any number of threads. The factory must be safe to
// call concurrently for different arguments; validate may run concurrently
// with itself and with users of the object; on_release may run on any thread
// (the one that drops the last reference), even after the cache is destroyed,
// so it must not refer to the cache. Objects are shared: T itself must be
// safe for the concurrent use the callers make of it.
//
//   auto pool = recall::cache_resource(
//       [](const std::string& dsn) { return std::make_unique<pg_pool>(dsn); },
//       {.name = "pg_pool", .ttl = 1h,
//        .validate = [](pg_pool& p) { return p.ok(); },
//        .on_release = [](pg_pool& p) { p.close(); }});
//   std::shared_ptr<pg_pool> p = pool(dsn);
//   int idle = pool.with(dsn, [](pg_pool& p) { return p.idle(); });  // no reference count
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "recall/clock.hpp"
#include "recall/detail/callable_traits.hpp"
#include "recall/detail/engine.hpp"
#include "recall/detail/session_scope.hpp"
#include "recall/detail/single_flight.hpp"
#include "recall/detail/type_name.hpp"
#include "recall/error.hpp"
#include "recall/key.hpp"
#include "recall/policy.hpp"
#include "recall/registry.hpp"
#include "recall/stats.hpp"

namespace recall {

template <class T>
struct resource_options {
  // The resource's identity in keys, metrics and the registry; empty means
  // the factory's type name.
  std::string name{};
  // Required: how long an object is kept after it was built. recall::no_expiry
  // on purpose only.
  std::optional<duration> ttl{};
  // Distinct argument lists (times sessions, for scope::session) held at once.
  std::size_t max_entries = 1'000;
  // Runs on every hit; false (or a throw) discards the object and builds a new one.
  std::function<bool(T&)> validate{};
  // Runs once per object, when the cache has dropped it and no caller holds it.
  std::function<void(T&)> on_release{};
  recall::scope scope = scope::global;
  std::shared_ptr<const recall::clock> clock = default_clock();
};

namespace detail {

// The object type behind what a factory returns: T, unique_ptr<T> or shared_ptr<T>.
template <class R>
struct resource_traits {
  using type = R;
  static constexpr bool pointer = false;
};
template <class T, class D>
struct resource_traits<std::unique_ptr<T, D>> {
  using type = T;
  static constexpr bool pointer = true;
};
template <class T>
struct resource_traits<std::shared_ptr<T>> {
  using type = T;
  static constexpr bool pointer = true;
};

template <class Fn>
using factory_result_t = std::remove_cvref_t<typename callable_traits<Fn>::result>;
template <class Fn>
using resource_type_t = typename resource_traits<factory_result_t<Fn>>::type;

// The deleter of every shared_ptr a resource cache hands out, the cache's own
// included: it runs when the last of them goes, which is exactly "the cache
// dropped it and nobody holds it". It owns copies of what it needs, so it
// works after the cache is gone.
template <class T>
struct resource_releaser {
  std::function<void(T&)> on_release;
  std::shared_ptr<std::atomic<std::uint64_t>> failures;
  std::shared_ptr<T> owner;  // the factory's object (shared_ptr factories may share it further)

  void operator()(T*) noexcept {
    if (on_release) {
      try {
        on_release(*owner);
      } catch (...) {
        failures->fetch_add(1, std::memory_order_relaxed);
      }
    }
    // Now, not when the control block goes: weak_ptrs may keep that longer.
    owner.reset();
  }
};

template <class T, class... Args>
class resource_cache {
 public:
  using builder = std::function<std::shared_ptr<T>(Args...)>;

  resource_cache(builder make, resource_options<T> options, std::string fallback_identity)
      : make_(std::move(make)),
        options_(checked(std::move(options), fallback_identity)),
        identity_(options_.name.empty() ? std::move(fallback_identity) : options_.name),
        seed_(key_seed(identity_, "")),
        engine_(engine_config<std::shared_ptr<T>>{options_.max_entries, options_.max_entries,
                                                  options_.clock, nullptr, 0}) {
    if (options_.scope == scope::session) {
      session_end_.emplace([this](std::uint64_t tag) {
        engine_.erase_if([tag](const key&, const std::shared_ptr<T>&, const entry_info& info) {
          return info.tag == tag;
        });
      });
    }
    registration_.emplace(
        identity_, "cache_resource",
        registry_hooks{[this] { return cache_resource_metrics(stats()); }, [this] { clear(); }});
  }

  ~resource_cache() {
    registration_.reset();
    session_end_.reset();
  }

  std::shared_ptr<T> call(Args... args) {
    const auto [k, tag] = key_of(args...);
    std::shared_ptr<T> found;
    engine_.visit(k, [&](const std::shared_ptr<T>& v, const entry_info&) { found = v; });
    if (!found) return load(k, tag, {}, args...);
    if (!options_.validate || is_valid(*found)) return found;
    // Let go before rebuilding, so on_release can run as soon as the cache
    // drops it; the weak_ptr still identifies it without keeping it alive.
    const std::weak_ptr<T> rejected = found;
    found.reset();
    return load(k, tag, rejected, args...);
  }

  template <class F>
  std::invoke_result_t<F&, T&> with(const Args&... args, F& f) {
    using result = std::invoke_result_t<F&, T&>;
    static_assert(!std::is_reference_v<result>,
                  "recall: with()'s function must return a value, not a reference: the object "
                  "is only lent to it for the length of the call");
    const auto [k, tag] = key_of(args...);
    std::optional<std::conditional_t<std::is_void_v<result>, bool, result>> out;
    std::weak_ptr<T> rejected;
    engine_.visit(k, [&](const std::shared_ptr<T>& v, const entry_info&) {
      if (options_.validate && !is_valid(*v)) {
        rejected = v;
        return;
      }
      if constexpr (std::is_void_v<result>) {
        f(*v);
        out.emplace(true);
      } else {
        out.emplace(f(*v));
      }
    });
    if (!out) return f(*load(k, tag, rejected, args...));
    if constexpr (!std::is_void_v<result>) return std::move(*out);
  }

  bool invalidate(Args... args) { return engine_.erase(key_of(args...).first); }
  void clear() { engine_.clear(); }
  std::size_t cleanup() { return engine_.cleanup(); }
  const std::string& name() const noexcept { return identity_; }
  const resource_options<T>& options() const noexcept { return options_; }

  cache_stats stats() const {
    cache_stats s = engine_.stats();
    // Objects are not serialized, so they have no byte size; the engine's
    // weight is one per entry and already shows as entries.
    s.bytes = 0;
    s.max_bytes = 0;
    s.loads = loads_.load(std::memory_order_relaxed);
    s.load_failures = load_failures_.load(std::memory_order_relaxed);
    s.load_time = std::chrono::nanoseconds(load_ns_.load(std::memory_order_relaxed));
    s.release_failures = release_failures_->load(std::memory_order_relaxed);
    return s;
  }

 private:
  static resource_options<T> checked(resource_options<T> o, const std::string& fallback) {
    const std::string who = "cache_resource '" + (o.name.empty() ? fallback : o.name) + "'";
    if (!o.ttl) {
      throw config_error("recall: " + who +
                         " has no ttl; pass .ttl = 1h (say) or .ttl = recall::no_expiry");
    }
    if (*o.ttl <= duration::zero()) throw config_error("recall: " + who + " needs ttl > 0");
    if (o.max_entries == 0) throw config_error("recall: " + who + " needs max_entries > 0");
    if (!o.clock) o.clock = default_clock();
    return o;
  }

  // The key with its table hash, which a miss's lookups and insert share.
  std::pair<hashed_key, std::uint64_t> key_of(const Args&... args) const {
    const auto [k, tag] = scoped_key(options_.scope, seed_, "cache_resource", identity_, args...);
    return {engine_.hashed(k), tag};
  }

  bool is_valid(T& object) const noexcept {
    try {
      return options_.validate(object);
    } catch (...) {
      return false;
    }
  }

  static bool same_object(const std::shared_ptr<T>& a, const std::weak_ptr<T>& b) noexcept {
    return !a.owner_before(b) && !b.owner_before(a);
  }

  std::shared_ptr<T> load(const hashed_key& k, std::uint64_t tag, const std::weak_ptr<T>& rejected,
                          const Args&... args) {
    return flights_.run(k, identity_, [&]() -> std::shared_ptr<T> {
      // Only a flight's leader inserts, so what this finds cannot change under
      // it except by leaving (eviction, expiry, clear).
      std::shared_ptr<T> current;
      engine_.template visit<true>(
          k, [&](const std::shared_ptr<T>& v, const entry_info&) { current = v; });
      if (current && !same_object(current, rejected)) return current;
      if (current) {
        current.reset();
        engine_.erase(k);
      }
      return build(k, tag, args...);
    });
  }

  std::shared_ptr<T> build(const hashed_key& k, std::uint64_t tag, const Args&... args) {
    loads_.fetch_add(1, std::memory_order_relaxed);
    const auto started = std::chrono::steady_clock::now();
    std::shared_ptr<T> owner;
    try {
      owner = make_(args...);
    } catch (...) {
      add_load_time(started);
      load_failures_.fetch_add(1, std::memory_order_relaxed);
      throw;
    }
    add_load_time(started);
    if (!owner) {
      load_failures_.fetch_add(1, std::memory_order_relaxed);
      throw error("recall: the factory of cache_resource '" + identity_ +
                  "' returned a null pointer; return an object, or throw to report the failure");
    }
    T* const raw = owner.get();
    std::shared_ptr<T> object(
        raw, resource_releaser<T>{options_.on_release, release_failures_, std::move(owner)});
    engine_.insert(k, object, 1, deadline_after(engine_.now(), *options_.ttl), tag);
    return object;
  }

  void add_load_time(std::chrono::steady_clock::time_point started) {
    load_ns_.fetch_add(std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count(),
                       std::memory_order_relaxed);
  }

  builder make_;
  resource_options<T> options_;
  std::string identity_;
  std::uint64_t seed_;
  engine<std::shared_ptr<T>> engine_;
  single_flight<std::shared_ptr<T>> flights_;
  std::atomic<std::uint64_t> loads_{0};
  std::atomic<std::uint64_t> load_failures_{0};
  std::atomic<std::int64_t> load_ns_{0};
  std::shared_ptr<std::atomic<std::uint64_t>> release_failures_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  std::optional<session_end_subscription> session_end_;
  std::optional<registration> registration_;
};

}  // namespace detail

template <class Signature>
class cached_resource;

// The callable that cache_resource returns. Copies share one cache; the cache
// goes (dropping its references) with the last copy.
template <class T, class... Args>
class cached_resource<std::shared_ptr<T>(Args...)> {
 public:
  using element_type = T;

  cached_resource(std::function<std::shared_ptr<T>(Args...)> make, resource_options<T> options,
                  std::string fallback_identity)
      : cache_(std::make_shared<detail::resource_cache<T, Args...>>(
            std::move(make), std::move(options), std::move(fallback_identity))) {}

  // The object for these arguments: the cached one if it passes validate,
  // otherwise built (once for all concurrent callers). Never null.
  std::shared_ptr<T> operator()(Args... args) const { return cache_->call(args...); }
  // Lends the object for these arguments to f (validated, and built first on
  // a miss) and returns f's result, without taking a reference: hits on one
  // hot object from many threads then write no shared memory. f runs while
  // the cache cannot release the object: keep it short, do not keep
  // references to the object past it, and do not block in it.
  template <class F>
  auto with(Args... args, F&& f) const {
    return cache_->with(args..., f);
  }

  // Drops the cache's reference to the object for these arguments.
  bool invalidate(Args... args) const { return cache_->invalidate(args...); }
  void clear() const { cache_->clear(); }
  // Drops expired objects now (they are also dropped as the cache is used).
  std::size_t cleanup() const { return cache_->cleanup(); }
  cache_stats stats() const { return cache_->stats(); }
  const std::string& name() const noexcept { return cache_->name(); }
  const resource_options<T>& options() const noexcept { return cache_->options(); }

 private:
  std::shared_ptr<detail::resource_cache<T, Args...>> cache_;
};

template <class Fn>
auto cache_resource(Fn factory, resource_options<detail::resource_type_t<Fn>> options) {
  using signature = typename detail::callable_traits<Fn>::signature;
  using result = detail::factory_result_t<Fn>;
  using T = detail::resource_type_t<Fn>;
  static_assert(std::is_object_v<T> && !std::is_array_v<T>,
                "recall::cache_resource: the factory must return an object T, "
                "std::unique_ptr<T> or std::shared_ptr<T>");
  return [&]<class R, class... Args>(std::type_identity<R(Args...)>) {
    std::function<std::shared_ptr<T>(Args...)> make =
        [fn = std::move(factory)](Args... args) mutable -> std::shared_ptr<T> {
      if constexpr (detail::resource_traits<result>::pointer) {
        return std::shared_ptr<T>(fn(std::forward<Args>(args)...));
      } else {
        return std::shared_ptr<T>(new T(fn(std::forward<Args>(args)...)));
      }
    };
    return cached_resource<std::shared_ptr<T>(Args...)>(std::move(make), std::move(options),
                                                        std::string(detail::type_name<Fn>()));
  }(std::type_identity<signature>{});
}

}  // namespace recall
