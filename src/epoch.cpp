#include "recall/detail/epoch.hpp"

#include <limits>
#include <mutex>

namespace recall::detail::epoch {

global_epoch epoch_now;

namespace {

// Records are never freed (a reader may scan them at any time); a thread that
// exits hands its record to the next new thread.
std::atomic<record*> registry{nullptr};
std::mutex registry_mu;  // serializes appends and index assignment
std::uint32_t records = 0;

// Gives the record back when its thread exits.
struct owner {
  record* r = nullptr;
  ~owner() {
    if (!r) return;
    this_thread_record = nullptr;
    r->depth = 0;
    r->state.store(0, std::memory_order_release);
    r->in_use.store(false, std::memory_order_release);
    r = nullptr;
  }
};
thread_local owner this_owner;

}  // namespace

record& register_this_thread() {
  if (this_owner.r) return *this_owner.r;
  record* found = nullptr;
  for (record* r = registry.load(std::memory_order_acquire); r; r = r->next) {
    bool expected = false;
    if (!r->in_use.load(std::memory_order_relaxed) &&
        r->in_use.compare_exchange_strong(expected, true, std::memory_order_acquire)) {
      found = r;
      break;
    }
  }
  if (!found) {
    found = new record;
    found->in_use.store(true, std::memory_order_relaxed);
    std::lock_guard lock(registry_mu);
    found->index = records++;
    found->next = registry.load(std::memory_order_relaxed);
    registry.store(found, std::memory_order_release);
  }
  this_owner.r = found;
  this_thread_record = found;
  return *found;
}

std::uint64_t oldest_reader() noexcept {
  std::uint64_t oldest = std::numeric_limits<std::uint64_t>::max();
  for (record* r = registry.load(std::memory_order_acquire); r; r = r->next) {
    const std::uint64_t s = r->state.load(std::memory_order_seq_cst);
    if ((s & 1) && (s >> 1) < oldest) oldest = s >> 1;
  }
  return oldest;
}

}  // namespace recall::detail::epoch
