// A 4-byte mutex for per-session state: one compare-exchange to lock and one
// exchange to unlock when uncontended, and a futex wait (std::atomic::wait)
// when not. A store holds one per session, so its size and its uncontended
// cost matter more than fairness. Built on std::atomic, so ThreadSanitizer
// sees every synchronization (see docs/design.md, "Locks").
//
// Thread safety: a mutex; meets the Lockable requirements (std::lock_guard,
// std::unique_lock).
#pragma once

#include <atomic>
#include <cstdint>

namespace recall::detail {

class small_mutex {
 public:
  void lock() noexcept {
    std::uint32_t expected = unlocked;
    if (!state_.compare_exchange_strong(expected, locked, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
      lock_contended();
    }
  }
  bool try_lock() noexcept {
    std::uint32_t expected = unlocked;
    return state_.compare_exchange_strong(expected, locked, std::memory_order_acquire,
                                          std::memory_order_relaxed);
  }
  void unlock() noexcept {
    // Once the exchange is done, another thread may lock, unlock and free the
    // object (a session's last release does): notify_one then only hands the
    // address to the kernel's futex wake, which reads nothing there.
    if (state_.exchange(unlocked, std::memory_order_release) == contended) state_.notify_one();
  }

 private:
  static constexpr std::uint32_t unlocked = 0, locked = 1, contended = 2;

  // Marks the mutex contended, so the holder's unlock wakes a waiter.
  void lock_contended() noexcept {
    while (state_.exchange(contended, std::memory_order_acquire) != unlocked) {
      state_.wait(contended, std::memory_order_relaxed);
    }
  }

  std::atomic<std::uint32_t> state_{unlocked};
};

}  // namespace recall::detail
