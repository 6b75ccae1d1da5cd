// Epoch-based reclamation: what lets the engine's readers find and copy a
// value without writing any memory another reader writes.
//
// A reader marks only its own thread's record (one cache line per thread)
// with the global epoch while it reads, and clears it after. A writer that
// unlinks a node stamps it with the epoch of the moment and frees it only once
// no thread is still reading in that epoch or an earlier one (a grace period),
// so a reader never touches freed memory, and no reader ever waits.
//
// The protocol is Fraser's ("Practical lock-freedom", 2004): every access on
// both sides of the race (a reader's mark and its loads of the structure, a
// writer's unlinking store and its scan of the marks) is sequentially
// consistent, so either the writer sees the reader's mark or the reader sees
// the unlinking.
//
// Thread safety: read_guard is per thread (it nests); the functions may be
// called from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "recall/export.hpp"

namespace recall::detail::epoch {

// One per thread that ever read, reused by later threads after it exits.
struct alignas(64) record {
  // (epoch << 1) | 1 while the thread is inside a read section, 0 otherwise.
  std::atomic<std::uint64_t> state{0};
  unsigned depth = 0;       // nesting of read sections, owner thread only
  std::uint32_t index = 0;  // a small number unique among live threads
  std::atomic<bool> in_use{false};
  record* next = nullptr;  // the registry's list, append-only
};

// The global epoch, on its own cache line.
struct alignas(64) global_epoch {
  std::atomic<std::uint64_t> value{1};
};
extern RECALL_EXPORT global_epoch epoch_now;

// This thread's record; registers the thread on first use, and returns the
// same record to every later call on the thread.
RECALL_EXPORT record& register_this_thread();
// Each module of a program (the library, the executable, a plugin) has its
// own copy of this inline variable, so each fills it from the library once.
inline constinit thread_local record* this_thread_record = nullptr;
inline record& this_thread() {
  record* r = this_thread_record;
  return r ? *r : *(this_thread_record = &register_this_thread());
}

// The oldest epoch a thread is reading in now, or UINT64_MAX if none reads.
RECALL_EXPORT std::uint64_t oldest_reader() noexcept;

// Moves the global epoch past `seen` (no-op if another thread already did).
inline void advance(std::uint64_t seen) noexcept {
  epoch_now.value.compare_exchange_strong(seen, seen + 1, std::memory_order_seq_cst);
}

inline std::uint64_t current() noexcept { return epoch_now.value.load(std::memory_order_seq_cst); }

// A read section: nodes reachable when it began stay allocated until it ends.
class read_guard {
 public:
  read_guard() noexcept : r_(this_thread()) {
    if (r_.depth++ == 0) r_.state.store((current() << 1) | 1, std::memory_order_seq_cst);
  }
  ~read_guard() {
    if (--r_.depth == 0) r_.state.store(0, std::memory_order_release);
  }
  read_guard(const read_guard&) = delete;
  read_guard& operator=(const read_guard&) = delete;

  // The reading thread's small number (for striped counters).
  std::uint32_t thread_index() const noexcept { return r_.index; }

 private:
  record& r_;
};

}  // namespace recall::detail::epoch
