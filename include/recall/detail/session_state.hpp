// The state of one session in the in-process storage
// (local_session_storage), shared by its engine entry and by every handle
// open on it.
//
// Thread safety: every field marked "guarded" is read and written only under
// `mu`. No engine call is made while `mu` is held (the engine's removal
// callback locks it), so the only nestings are engine shard lock -> mu and
// user index lock -> mu.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "recall/clock.hpp"
#include "recall/detail/session_storage.hpp"
#include "recall/detail/small_mutex.hpp"
#include "recall/key.hpp"

namespace recall::detail {

// What glibc's malloc really holds for a request of `n` bytes: an 8-byte
// header, rounded up to 16, at least 32 (0 for no allocation). Other
// allocators differ a little; the accounting is an estimate tested within
// 1.25x of the measured heap (tests/session_memory_test.cpp).
constexpr std::size_t heap_chunk(std::size_t n) noexcept {
  return n == 0 ? 0 : std::max<std::size_t>(32, (n + 8 + 15) & ~std::size_t{15});
}

// The heap a std::string holds beyond its own object (none inside its
// small-string buffer).
inline std::size_t string_heap(const std::string& s) noexcept {
  static const std::size_t in_place = std::string().capacity();
  return s.capacity() > in_place ? heap_chunk(s.capacity() + 1) : 0;
}

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

using session_aggregate = std::variant<session_list_slot, session_map_slot>;

// One key of a session. A single value lives in `data` (see value_ops); a
// list or a map in `aggregate`.
struct session_slot {
  std::string key;
  std::string data;
  std::uint64_t version = 0;
  const value_ops* ops = nullptr;
  std::unique_ptr<session_aggregate> aggregate;
  std::uint32_t hash = 0;   // of the key: compared before the key
  std::uint32_t bytes = 0;  // the key plus every encoded byte: what the quota counts
};

// The id in place (a session id has a fixed length): no allocation.
struct inline_id {
  std::array<char, 48> chars{};
  std::uint8_t size = 0;

  std::string_view view() const noexcept { return {chars.data(), size}; }
  void assign(std::string_view id) noexcept {
    size = static_cast<std::uint8_t>(std::min(id.size(), chars.size()));
    std::copy_n(id.data(), size, chars.data());
  }
};

struct session_state : session_record {
  session_state(std::uint64_t tag_, std::string user_, time_point now, time_point deadline_)
      : session_record(tag_), user(std::move(user_)), created(now), deadline(deadline_) {}

  mutable small_mutex mu;
  inline_id id;      // guarded: empty until stored; kept after the end (a dead id)
  key k{};           // guarded: the engine key of the current id
  std::string user;  // guarded: empty while anonymous
  const time_point created;
  time_point deadline;               // guarded: the engine entry's deadline
  std::vector<session_slot> values;  // guarded
  std::size_t used = 0;              // guarded: sum of the slots' bytes
  std::size_t heap = 0;              // guarded: sum of the slots' heap beyond the table
  std::size_t weight = 0;            // guarded: accounted heap, as last given to the engine
  std::uint32_t pins = 0;            // guarded: open handles
  std::atomic<bool> stored{false};   // set once, by the only handle of a fresh session
  bool ended = false;                // guarded: logout, expiry or eviction happened
  bool detached = false;             // guarded: evicted while pinned, back at the last release
  bool indexed = false;              // guarded by the user index shard: in the user's list
};

}  // namespace recall::detail
