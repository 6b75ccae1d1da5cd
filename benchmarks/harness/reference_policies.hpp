// The two policies recall's engine is compared against. They are reference
// models for the harness, not caches for users: plain LRU (what most hand
// written caches do) and Belady's offline optimum (the ceiling no online
// policy can beat).
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
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
