// Hit and miss counters that threads do not share: each thread counts in its
// own cache line (chosen by its epoch record's index), and a snapshot sums the
// lines. A hit thus writes no line that another thread's hit writes, as long
// as there are no more reading threads than lines.
//
// Thread safety: add_* may be called concurrently; snapshots sum relaxed
// loads, so they may be a few operations behind.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdint>
#include <memory>
#include <thread>

namespace recall::detail {

class striped_counters {
 public:
  striped_counters()
      : mask_(std::bit_ceil(std::clamp<std::size_t>(std::thread::hardware_concurrency(), 4, 64)) -
              1),
        cells_(std::make_unique<cell[]>(mask_ + 1)) {}

  void add_hit(std::uint32_t thread) noexcept {
    cells_[thread & mask_].hits.fetch_add(1, std::memory_order_relaxed);
  }
  void add_miss(std::uint32_t thread) noexcept {
    cells_[thread & mask_].misses.fetch_add(1, std::memory_order_relaxed);
  }

  std::uint64_t hits() const noexcept { return sum(&cell::hits); }
  std::uint64_t misses() const noexcept { return sum(&cell::misses); }

 private:
  struct alignas(64) cell {
    std::atomic<std::uint64_t> hits{0};
    std::atomic<std::uint64_t> misses{0};
  };

  std::uint64_t sum(std::atomic<std::uint64_t> cell::*field) const noexcept {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i <= mask_; ++i)
      total += (cells_[i].*field).load(std::memory_order_relaxed);
    return total;
  }

  std::size_t mask_;
  std::unique_ptr<cell[]> cells_;
};

}  // namespace recall::detail
