// The policies recall's engine is compared against. They are reference
// models for the harness, not caches for users: plain LRU (what most hand
// written caches do), S3-FIFO as published, W-TinyLFU as Caffeine runs it,
// and Belady's offline optimum (the ceiling no online policy can beat).
// S3-FIFO and W-TinyLFU take dense key ids (0 .. distinct-1).
#pragma once

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <deque>
#include <limits>
#include <list>
#include <queue>
#include <utility>
#include <vector>

namespace recall_bench {

// Least recently used: a hit moves the entry to the front, a miss at capacity
// drops the back.
template <class K, class V>
class lru_model {
 public:
  explicit lru_model(std::size_t capacity) : capacity_(capacity) {}

  bool get(const K& k, V& out) {
    auto it = index_.find(k);
    if (it == index_.end()) return false;
    order_.splice(order_.begin(), order_, it->second);
    out = it->second->second;
    return true;
  }

  void put(const K& k, V v) {
    if (auto it = index_.find(k); it != index_.end()) {
      it->second->second = std::move(v);
      order_.splice(order_.begin(), order_, it->second);
      return;
    }
    if (index_.size() >= capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
    order_.emplace_front(k, std::move(v));
    index_.emplace(k, order_.begin());
  }

 private:
  std::size_t capacity_;
  std::list<std::pair<K, V>> order_;
  absl::flat_hash_map<K, typename std::list<std::pair<K, V>>::iterator> index_;
};

// Doubly linked lists over dense ids, several lists sharing one link array.
class id_lists {
 public:
  static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();

  id_lists(std::size_t ids, int lists)
      : prev_(ids, none),
        next_(ids, none),
        heads_(lists, none),
        tails_(lists, none),
        sizes_(lists, 0) {}

  void push_front(int list, std::uint32_t id) {
    prev_[id] = none;
    next_[id] = heads_[list];
    (heads_[list] != none ? prev_[heads_[list]] : tails_[list]) = id;
    heads_[list] = id;
    ++sizes_[list];
  }
  void remove(int list, std::uint32_t id) {
    (prev_[id] != none ? next_[prev_[id]] : heads_[list]) = next_[id];
    (next_[id] != none ? prev_[next_[id]] : tails_[list]) = prev_[id];
    --sizes_[list];
  }
  std::uint32_t back(int list) const { return tails_[list]; }
  std::size_t size(int list) const { return sizes_[list]; }

 private:
  std::vector<std::uint32_t> prev_, next_, heads_, tails_;
  std::vector<std::size_t> sizes_;
};

// S3-FIFO (Yang et al., SOSP 2023) with the published parameters: a small
// FIFO of 10% of the entries, a main FIFO of 90% (2-bit counters, an entry
// with a non-zero counter is reinserted with the counter decremented), a ghost
// FIFO as long as the main queue; an entry hit at least once in the small
// queue moves to main, a miss remembered by the ghost goes straight to main.
class s3fifo_model {
 public:
  s3fifo_model(std::size_t capacity, std::size_t ids)
      : capacity_(capacity),
        small_cap_(std::max<std::size_t>(1, capacity / 10)),
        ghost_cap_(capacity - std::min(capacity - 1, capacity / 10)),
        lists_(ids, 2),
        where_(ids, out),
        freq_(ids, 0),
        ghost_at_(ids, 0) {}

  bool access(std::uint32_t id) {
    if (where_[id] != out) {
      freq_[id] = static_cast<std::uint8_t>(std::min(freq_[id] + 1, 3));
      return true;
    }
    while (lists_.size(small) + lists_.size(main) >= capacity_) evict();
    const bool remembered = ghost_at_[id] != 0 && ghosts_added_ - ghost_at_[id] < ghost_cap_;
    ghost_at_[id] = 0;
    where_[id] = remembered ? main : small;
    freq_[id] = 0;
    lists_.push_front(where_[id], id);
    return false;
  }

 private:
  static constexpr std::uint8_t small = 0, main = 1, out = 2;

  void evict() {
    if (lists_.size(small) >= small_cap_ || lists_.size(main) == 0) {
      const std::uint32_t t = lists_.back(small);
      lists_.remove(small, t);
      if (freq_[t] >= 1) {
        freq_[t] = 0;
        where_[t] = main;
        lists_.push_front(main, t);
      } else {
        where_[t] = out;
        ghost_at_[t] = ++ghosts_added_;
      }
      return;
    }
    for (;;) {
      const std::uint32_t t = lists_.back(main);
      lists_.remove(main, t);
      if (freq_[t] > 0) {
        --freq_[t];
        lists_.push_front(main, t);
        continue;
      }
      where_[t] = out;
      return;
    }
  }

  std::size_t capacity_, small_cap_, ghost_cap_;
  id_lists lists_;
  std::vector<std::uint8_t> where_, freq_;
  std::vector<std::uint64_t> ghost_at_;  // ghost insertion number, 0 when not remembered
  std::uint64_t ghosts_added_ = 0;
};

// W-TinyLFU as Caffeine runs it (Einziger, Friedman, Manes, "TinyLFU", 2017):
// a window LRU of 1% of the entries in front of a segmented LRU main (80%
// protected, 20% probation); an entry leaving the window enters main only if
// the frequency sketch rates it above main's victim. The sketch is a 4-bit
// count-min sketch with 4 rows behind a doorkeeper bloom filter; every
// 10 x capacity counted accesses all counters are halved and the doorkeeper
// is cleared (aging).
class wtinylfu_model {
 public:
  wtinylfu_model(std::size_t capacity, std::size_t ids)
      : window_cap_(std::max<std::size_t>(1, capacity / 100)),
        main_cap_(capacity - std::min(capacity, window_cap_)),
        protected_cap_(main_cap_ * 8 / 10),
        lists_(ids, 3),
        where_(ids, out),
        width_(std::bit_ceil(std::max<std::size_t>(16, capacity))),
        counters_(4 * width_, 0),
        doorkeeper_(std::bit_ceil(std::max<std::size_t>(64, capacity * 8)) / 64, 0),
        sample_(10 * std::max<std::size_t>(1, capacity)) {}

  bool access(std::uint32_t id) {
    record(id);
    switch (where_[id]) {
      case window:
        lists_.remove(window, id);
        lists_.push_front(window, id);
        return true;
      case probation:
        lists_.remove(probation, id);
        where_[id] = protect;
        lists_.push_front(protect, id);
        if (lists_.size(protect) > protected_cap_) {
          const std::uint32_t demoted = lists_.back(protect);
          lists_.remove(protect, demoted);
          where_[demoted] = probation;
          lists_.push_front(probation, demoted);
        }
        return true;
      case protect:
        lists_.remove(protect, id);
        lists_.push_front(protect, id);
        return true;
      default:
        break;
    }
    where_[id] = window;
    lists_.push_front(window, id);
    if (lists_.size(window) > window_cap_) admit_from_window();
    return false;
  }

 private:
  static constexpr std::uint8_t window = 0, probation = 1, protect = 2, out = 3;

  void admit_from_window() {
    const std::uint32_t candidate = lists_.back(window);
    lists_.remove(window, candidate);
    if (lists_.size(probation) + lists_.size(protect) < main_cap_) {
      where_[candidate] = probation;
      lists_.push_front(probation, candidate);
      return;
    }
    const int victim_list = lists_.size(probation) > 0 ? probation : protect;
    const std::uint32_t victim = lists_.back(victim_list);
    if (main_cap_ > 0 && estimate(candidate) > estimate(victim)) {
      lists_.remove(victim_list, victim);
      where_[victim] = out;
      where_[candidate] = probation;
      lists_.push_front(probation, candidate);
    } else {
      where_[candidate] = out;
    }
  }

  static std::uint64_t hash(std::uint32_t id, std::uint64_t row) {
    std::uint64_t x = id * 0x9e3779b97f4a7c15ULL + row * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }

  bool doorkeeper_has(std::uint32_t id) const {
    const std::size_t bits = doorkeeper_.size() * 64;
    for (std::uint64_t i = 0; i < 2; ++i) {
      const std::size_t b = hash(id, 8 + i) & (bits - 1);
      if (!(doorkeeper_[b / 64] >> (b % 64) & 1)) return false;
    }
    return true;
  }
  void doorkeeper_add(std::uint32_t id) {
    const std::size_t bits = doorkeeper_.size() * 64;
    for (std::uint64_t i = 0; i < 2; ++i) {
      const std::size_t b = hash(id, 8 + i) & (bits - 1);
      doorkeeper_[b / 64] |= std::uint64_t{1} << (b % 64);
    }
  }

  int sketch(std::uint32_t id) const {
    int f = 15;
    for (std::uint64_t row = 0; row < 4; ++row)
      f = std::min<int>(f, counters_[row * width_ + (hash(id, row) & (width_ - 1))]);
    return f;
  }

  int estimate(std::uint32_t id) const { return sketch(id) + (doorkeeper_has(id) ? 1 : 0); }

  void record(std::uint32_t id) {
    if (!doorkeeper_has(id)) {
      doorkeeper_add(id);
    } else {
      for (std::uint64_t row = 0; row < 4; ++row) {
        std::uint8_t& c = counters_[row * width_ + (hash(id, row) & (width_ - 1))];
        if (c < 15) ++c;
      }
    }
    if (++recorded_ >= sample_) {
      for (std::uint8_t& c : counters_) c >>= 1;
      std::fill(doorkeeper_.begin(), doorkeeper_.end(), 0);
      recorded_ = 0;
    }
  }

  std::size_t window_cap_, main_cap_, protected_cap_;
  id_lists lists_;
  std::vector<std::uint8_t> where_;
  std::size_t width_;
  std::vector<std::uint8_t> counters_;
  std::vector<std::uint64_t> doorkeeper_;
  std::size_t sample_;
  std::size_t recorded_ = 0;
};

// Belady's MIN with bypass: on a miss with a full cache, the key whose next
// use is farthest away (possibly the requested one, which is then not stored)
// leaves. Returns the number of hits.
inline std::size_t belady_hits(const std::vector<std::uint32_t>& requests, std::size_t distinct,
                               std::size_t capacity) {
  constexpr std::size_t never = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> next_use(requests.size());
  {
    std::vector<std::size_t> seen(distinct, never);
    for (std::size_t i = requests.size(); i-- > 0;) {
      next_use[i] = seen[requests[i]];
      seen[requests[i]] = i;
    }
  }
  // cached_until[id] is the next use the heap holds for a cached id; heap
  // entries that disagree with it are stale and skipped.
  std::vector<std::size_t> cached_until(distinct, 0);
  std::vector<bool> cached(distinct, false);
  std::priority_queue<std::pair<std::size_t, std::uint32_t>> farthest;
  std::size_t size = 0;
  std::size_t hits = 0;
  const auto drop_stale = [&] {
    while (!farthest.empty() && (!cached[farthest.top().second] ||
                                 cached_until[farthest.top().second] != farthest.top().first)) {
      farthest.pop();
    }
  };
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const std::uint32_t id = requests[i];
    if (cached[id]) {
      ++hits;
    } else if (size < capacity) {
      cached[id] = true;
      ++size;
    } else {
      drop_stale();
      if (farthest.top().first <= next_use[i]) continue;
      cached[farthest.top().second] = false;
      farthest.pop();
      cached[id] = true;
    }
    cached_until[id] = next_use[i];
    farthest.emplace(next_use[i], id);
  }
  return hits;
}

}  // namespace recall_bench
