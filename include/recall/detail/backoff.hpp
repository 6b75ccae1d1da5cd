// Exponential backoff with jitter for reconnection attempts.
//
// After the n-th consecutive failure the next attempt waits a delay drawn
// uniformly from [d/2, d], with d = min(max, min * 2^(n-1)). The random half
// spreads the clients of a fleet apart after a server restart (no thundering
// herd); the fixed half keeps the schedule bounded below, so it is testable.
//
// Thread safety: none; the owner serializes calls (the Redis client holds a
// lock around it).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "recall/clock.hpp"

namespace recall::detail {

class backoff {
 public:
  backoff(duration min, duration max, std::uint64_t seed) noexcept
      : min_(min), max_(std::max(min, max)), state_(seed) {}

  // Records one more consecutive failure and returns the delay before the
  // next attempt.
  duration next_delay() noexcept {
    ++failures_;
    const duration ceiling = current_ceiling();
    const auto half = ceiling.count() / 2;
    const auto span = static_cast<std::uint64_t>(ceiling.count() - half) + 1;
    return duration(half + static_cast<duration::rep>(next_random() % span));
  }

  // A success: the next failure starts again from `min`.
  void reset() noexcept { failures_ = 0; }

  std::size_t failures() const noexcept { return failures_; }
  duration min() const noexcept { return min_; }
  duration max() const noexcept { return max_; }

 private:
  // min * 2^(failures-1), saturating at max without overflowing.
  duration current_ceiling() const noexcept {
    duration d = min_;
    for (std::size_t i = 1; i < failures_ && d < max_; ++i) {
      d = d > max_ / 2 ? max_ : d * 2;
    }
    return std::min(d, max_);
  }

  // splitmix64: enough to decorrelate clients, and reproducible from a seed.
  std::uint64_t next_random() noexcept {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  duration min_;
  duration max_;
  std::size_t failures_ = 0;
  std::uint64_t state_;
};

}  // namespace recall::detail
