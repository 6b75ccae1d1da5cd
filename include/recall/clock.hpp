// recall/clock.hpp: the time source behind every TTL, refresh and session
// timeout in recall.
//
// Caches and stores read time through a `recall::clock`. Production code uses
// the process-wide steady clock (the default everywhere); tests pass a
// `recall::manual_clock` and move time by hand, so expiry is tested without
// sleeping.
//
// Thread safety: both clocks may be read and (for manual_clock) advanced from
// any number of threads at once.
//
//   auto clock = std::make_shared<recall::manual_clock>();
//   auto f = recall::cache_data(load, {.ttl = 5min, .clock = clock});
//   clock->advance(6min);  // every entry of f is now expired
#pragma once

#include <atomic>
#include <chrono>
#include <memory>

namespace recall {

using duration = std::chrono::nanoseconds;
using time_point = std::chrono::steady_clock::time_point;

// A monotonic time source. Implementations must never go backwards.
class clock {
 public:
  virtual ~clock() = default;
  virtual time_point now() const noexcept = 0;
};

// std::chrono::steady_clock.
class steady_clock final : public clock {
 public:
  time_point now() const noexcept override { return std::chrono::steady_clock::now(); }
};

// A clock that moves only when told to. Starts at an arbitrary fixed point so
// that tests never depend on the real time.
class manual_clock final : public clock {
 public:
  manual_clock() = default;
  explicit manual_clock(time_point start) : ticks_(start.time_since_epoch().count()) {}

  time_point now() const noexcept override {
    return time_point(duration(ticks_.load(std::memory_order_acquire)));
  }
  void advance(duration d) noexcept { ticks_.fetch_add(d.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<duration::rep> ticks_{std::chrono::duration_cast<duration>(std::chrono::hours(1)).count()};
};

// The process-wide steady clock, used when an options struct names no clock.
inline const std::shared_ptr<const clock>& default_clock() {
  static const std::shared_ptr<const clock> instance = std::make_shared<steady_clock>();
  return instance;
}

}  // namespace recall
