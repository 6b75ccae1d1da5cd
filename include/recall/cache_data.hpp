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

#include "recall/codec.hpp"
#include "recall/data_options.hpp"
#include "recall/detail/callable_traits.hpp"
#include "recall/detail/data_cache.hpp"
#include "recall/stats.hpp"

namespace recall {

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
  // Here, not in a helper: this body is instantiated at the call (its return
  // type is deduced), so the message is the first error, before the caller's.
  static_assert(serializable<result>, RECALL_UNSERIALIZABLE_MESSAGE);
  if constexpr (serializable<result>) {
    return [&]<class R, class... Args>(std::type_identity<R(Args...)>) {
      return cached_function<result(Args...)>(std::move(fn), std::move(options),
                                              std::string(detail::type_name<Fn>()));
    }(std::type_identity<signature>{});
  }
}

}  // namespace recall
