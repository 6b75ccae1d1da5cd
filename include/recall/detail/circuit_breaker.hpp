// A circuit breaker: after `failure_threshold` consecutive failures it opens
// and refuses calls for `open_for`; then it lets exactly one probe through
// (half-open). The probe's success closes it, its failure opens it again.
//
// Used by the Redis client so that a dead or frozen server costs callers a
// fast, typed failure instead of a timeout each. Time comes from a
// recall::clock, so tests drive it with manual_clock.
//
// Thread safety: every member may be called concurrently.
//
//   auto a = breaker.admit();
//   if (a == admission::rejected) fail_fast();
//   try { call(); breaker.on_success(a); } catch (...) { breaker.on_failure(a); throw; }
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string_view>

#include "recall/clock.hpp"

namespace recall {

enum class breaker_state {
  closed,     // calls go through
  open,       // calls fail fast until the open period ends
  half_open,  // one probe call is in flight; the others fail fast
};

constexpr std::string_view to_string(breaker_state s) noexcept {
  switch (s) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
  }
  return "unknown";
}

namespace detail {

class circuit_breaker {
 public:
  enum class admission {
    allowed,   // the breaker is closed
    probe,     // the one call that tests a half-open breaker
    rejected,  // fail fast
  };

  circuit_breaker(std::size_t failure_threshold, duration open_for,
                  std::shared_ptr<const clock> time)
      : threshold_(failure_threshold), open_for_(open_for), clock_(std::move(time)) {}

  admission admit() {
    std::lock_guard lock(mu_);
    switch (state_) {
      case breaker_state::closed:
        return admission::allowed;
      case breaker_state::half_open:
        return admission::rejected;
      case breaker_state::open:
        if (clock_->now() < reopen_at_) return admission::rejected;
        state_ = breaker_state::half_open;
        return admission::probe;
    }
    return admission::rejected;
  }

  // True when this success closed an open breaker (worth a log line).
  bool on_success(admission a) {
    std::lock_guard lock(mu_);
    consecutive_failures_ = 0;
    if (a != admission::probe) return false;
    state_ = breaker_state::closed;
    return true;
  }

  // True when this failure opened the breaker.
  bool on_failure(admission a) {
    std::lock_guard lock(mu_);
    if (a == admission::probe) return open_locked();
    if (state_ != breaker_state::closed) return false;
    if (++consecutive_failures_ < threshold_) return false;
    return open_locked();
  }

  // The call ended without saying anything about the server (it gave up
  // before reaching it): a probe's slot goes to the next caller.
  void abandon(admission a) {
    if (a != admission::probe) return;
    std::lock_guard lock(mu_);
    state_ = breaker_state::open;
    reopen_at_ = clock_->now();
  }

  breaker_state state() const {
    std::lock_guard lock(mu_);
    return state_;
  }

  // How long an open breaker still refuses calls (zero when it would admit).
  duration remaining_open() const {
    std::lock_guard lock(mu_);
    if (state_ != breaker_state::open) return duration::zero();
    const auto now = clock_->now();
    return now < reopen_at_ ? reopen_at_ - now : duration::zero();
  }

  std::size_t failure_threshold() const noexcept { return threshold_; }

 private:
  bool open_locked() {
    state_ = breaker_state::open;
    reopen_at_ = clock_->now() + open_for_;
    consecutive_failures_ = 0;
    return true;
  }

  const std::size_t threshold_;
  const duration open_for_;
  const std::shared_ptr<const clock> clock_;
  mutable std::mutex mu_;
  breaker_state state_ = breaker_state::closed;
  std::size_t consecutive_failures_ = 0;
  time_point reopen_at_{};
};

}  // namespace detail
}  // namespace recall
