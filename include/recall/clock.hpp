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
#if defined(__linux__)
#include <time.h>
#endif

namespace recall {

using duration = std::chrono::nanoseconds;
using time_point = std::chrono::steady_clock::time_point;
using wall_time_point = std::chrono::system_clock::time_point;

// A monotonic time source. Implementations must never go backwards.
class clock {
 public:
  virtual ~clock() = default;
  virtual time_point now() const noexcept = 0;
  // Calendar time: what ages are measured against once a value leaves the
  // process (Redis, disk), since other processes and machines share no
  // monotonic clock. May jump; recall only compares it across processes.
  virtual wall_time_point wall_now() const noexcept { return std::chrono::system_clock::now(); }
};

// The system's monotonic clock (the one behind std::chrono::steady_clock),
// read at its coarse resolution where the OS has one: on Linux
// CLOCK_MONOTONIC_COARSE, which ticks every 1-4 ms. Expiry needs no finer
// resolution, and on virtual machines the fine clock costs about as much as
// the rest of a cache hit.
class steady_clock final : public clock {
 public:
  time_point now() const noexcept override {
#if defined(__linux__)
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec));
#else
    return std::chrono::steady_clock::now();
#endif
  }
  wall_time_point wall_now() const noexcept override {
#if defined(__linux__)
    timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return wall_time_point(std::chrono::duration_cast<wall_time_point::duration>(
        std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
#else
    return std::chrono::system_clock::now();
#endif
  }
};

// A clock that moves only when told to. Starts at an arbitrary fixed point so
// that tests never depend on the real time; its calendar time (a fixed day in
// 2026 to begin with) moves with it.
class manual_clock final : public clock {
 public:
  manual_clock() = default;
  explicit manual_clock(time_point start) : ticks_(start.time_since_epoch().count()) {}

  time_point now() const noexcept override {
    return time_point(duration(ticks_.load(std::memory_order_acquire)));
  }
  wall_time_point wall_now() const noexcept override {
    return wall_time_point(std::chrono::duration_cast<wall_time_point::duration>(
        std::chrono::seconds(1'767'225'600) + now().time_since_epoch()));
  }
  void advance(duration d) noexcept { ticks_.fetch_add(d.count(), std::memory_order_acq_rel); }

 private:
  std::atomic<duration::rep> ticks_{
      std::chrono::duration_cast<duration>(std::chrono::hours(1)).count()};
};

// The process-wide steady clock, used when an options struct names no clock.
inline const std::shared_ptr<const clock>& default_clock() {
  static const std::shared_ptr<const clock> instance = std::make_shared<steady_clock>();
  return instance;
}

}  // namespace recall
