// Tells a shard when to stop keys that come back from the ghost from
// displacing its main queue.
//
// When most misses are keys the shard evicted a moment ago, the working set
// is larger than the cache (a loop, a job re-reading a table a little larger
// than the cache): letting each returning key displace an entry of main only
// trades one miss for another, while keeping main as it is keeps its hits
// (W-TinyLFU's admission does this with a frequency sketch). When most misses
// are new keys, a returning key is worth keeping (S3-FIFO's rule), and main
// must stay open so that yesterday's popular entries can leave.
//
// The guard counts a shard's inserts of new keys and how many of them the
// ghost remembered, and decides at the end of each window of inserts: on
// above 30% remembered, off below 20% (the two differ so that a workload near
// one bound does not flip it at every window). On the harness's workloads the
// share is 40% on loops before the guard is on and 16% or less everywhere
// else (docs/benchmarks.md).
//
// While the guard is on, every second refusal ages main's victim. A loop's
// entries stay: on a loop twice the cache's length, each entry of main loses
// about half a count per lap and gains one from its read. Entries nobody
// reads any more leave, so that a new working set gets in.
//
// Thread safety: none; the engine uses it under its shard's lock.
#pragma once

#include <cstddef>

namespace recall::detail {

class main_guard {
 public:
  // Counts the insert of a new key; `remembered`: the ghost knew it. A
  // decision falls every `window` inserts.
  void count(bool remembered, std::size_t window) noexcept {
    ++inserts_;
    remembered_ += remembered ? 1 : 0;
    if (inserts_ < window) return;
    if (remembered_ * 10 > inserts_ * 3) {
      on_ = true;
    } else if (remembered_ * 10 < inserts_ * 2) {
      on_ = false;
    }
    inserts_ = 0;
    remembered_ = 0;
  }

  bool on() const noexcept { return on_; }

  // Counts a refusal; true for every second one, when main's victim ages.
  bool refuse() noexcept { return (++refusals_ & 1) == 0; }

  void reset() noexcept { *this = main_guard(); }

 private:
  std::size_t inserts_ = 0;
  std::size_t remembered_ = 0;
  std::size_t refusals_ = 0;
  bool on_ = false;
};

}  // namespace recall::detail
