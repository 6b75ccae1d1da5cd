// The state of one session inside a session_store, shared by the store's
// engine entry and by every request handle open on it.
//
// Thread safety: every field marked "guarded" is read and written only under
// `mu`. No engine call is ever made while `mu` is held (the engine's removal
// callback locks it), so the only nesting is engine shard lock -> mu.
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/strings/string_view.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "recall/clock.hpp"
#include "recall/key.hpp"

namespace recall::detail {

// A ring buffer of encoded items: the oldest is ring[head] once it is full.
struct session_list_slot {
  std::vector<std::string> ring;
  std::size_t head = 0;
  std::size_t capacity = 0;

  std::size_t size() const noexcept { return ring.size(); }
  const std::string& at(std::size_t i) const { return ring[(head + i) % ring.size()]; }
  // Keeps the newest `n` items, oldest first, and makes `n` the capacity.
  void reshape(std::size_t n) {
    std::vector<std::string> kept;
    const std::size_t keep = std::min(n, ring.size());
    kept.reserve(keep);
    for (std::size_t i = ring.size() - keep; i < ring.size(); ++i)
      kept.push_back(std::move(ring[(head + i) % ring.size()]));
    ring = std::move(kept);
    head = 0;
    capacity = n;
  }
};

// Encoded (key, value) pairs, least recently used first.
struct session_map_slot {
  std::vector<std::pair<std::string, std::string>> entries;
};

struct session_slot {
  std::variant<std::string, session_list_slot, session_map_slot> data;
  std::uint64_t version = 0;
  std::size_t bytes = 0;  // the key plus every encoded byte: what the quota counts
};

// Abseil may have its own string_view type: look keys up through it.
inline absl::string_view lookup_key(std::string_view k) noexcept {
  return absl::string_view(k.data(), k.size());
}

struct session_state {
  session_state(std::string id_, key k_, std::string user_, std::uint64_t tag_, time_point now)
      : id(std::move(id_)),
        k(k_),
        user(std::move(user_)),
        tag(tag_),
        created(now),
        last_activity(now) {}

  mutable std::mutex mu;
  std::string id;           // guarded
  key k;                    // guarded: the engine key of the current id
  std::string user;         // guarded: empty while anonymous
  const std::uint64_t tag;  // stable across rotation, never 0
  const time_point created;
  time_point last_activity;                               // guarded
  absl::flat_hash_map<std::string, session_slot> values;  // guarded
  std::size_t used = 0;                                   // guarded: sum of the slots' bytes
  std::atomic<std::size_t> bytes{0};  // `used`, readable by the engine without `mu`
  bool ended = false;                 // guarded: logout, expiry or eviction happened

  void set_used(std::size_t n) noexcept {
    used = n;
    bytes.store(n, std::memory_order_relaxed);
  }
};

}  // namespace recall::detail
