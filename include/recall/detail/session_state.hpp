// The state of one session in the in-process storage
// (local_session_storage). Its engine entry owns it; a handle of a resumed
// session borrows it and holds a pin instead of a reference, so that a
// request writes no reference count (see local_session_storage::open). A
// state that leaves the engine while pinned is kept alive by the storage
// until its last pin is released.
//
// Thread safety: every field marked "guarded" is read and written only under
// `mu`. No engine call is made while `mu` is held (the engine's removal
// callback locks it), so the only nestings are engine shard lock -> mu,
// user index lock -> mu and mu -> the storage's keep-alive lock.
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
#include "recall/export.hpp"
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

// What a key holds besides its encoded bytes: a single value's codec (null
// for a value stored already encoded), or a list or a map that it owns. One
// word, the low bit telling which, so that a slot stays at 88 bytes and two
// of them fit in the session's own allocation (see session_state).
class slot_kind {
 public:
  slot_kind() = default;
  slot_kind(slot_kind&& o) noexcept : bits_(std::exchange(o.bits_, 0)) {}
  slot_kind& operator=(slot_kind&& o) noexcept {
    if (this != &o) {
      reset();
      bits_ = std::exchange(o.bits_, 0);
    }
    return *this;
  }
  ~slot_kind() { reset(); }

  const value_ops* ops() const noexcept {
    return bits_ & aggregate_bit ? nullptr : reinterpret_cast<const value_ops*>(bits_);
  }
  session_aggregate* aggregate() const noexcept {
    return bits_ & aggregate_bit ? reinterpret_cast<session_aggregate*>(bits_ & ~aggregate_bit)
                                 : nullptr;
  }
  void set_ops(const value_ops* ops) noexcept {
    reset();
    bits_ = reinterpret_cast<std::uintptr_t>(ops);
  }
  void set_aggregate(std::unique_ptr<session_aggregate> a) noexcept {
    reset();
    bits_ = reinterpret_cast<std::uintptr_t>(a.release()) | aggregate_bit;
  }

 private:
  static constexpr std::uintptr_t aggregate_bit = 1;
  static_assert(alignof(value_ops) > aggregate_bit && alignof(session_aggregate) > aggregate_bit);

  void reset() noexcept {
    if (bits_ & aggregate_bit) free_aggregate(aggregate());
    bits_ = 0;
  }
  // Out of line: lists and maps are the rare case, and their destructor is
  // large enough to crowd the inlining of the request path.
  RECALL_EXPORT static void free_aggregate(session_aggregate* a) noexcept;

  std::uintptr_t bits_ = 0;
};

// One key of a session. A single value lives in `data` (see value_ops); a
// list or a map in `kind`.
struct session_slot {
  std::string key;
  std::string data;
  std::uint64_t version = 0;
  slot_kind kind;
  std::uint32_t hash = 0;   // of the key: compared before the key
  std::uint32_t bytes = 0;  // the key plus every encoded byte: what the quota counts
};

// The first values of a session live inside its own allocation: the two of a
// typical session cost no allocation of their own, and the rest go to a
// vector that exists only while they do (docs/benchmarks.md, "Memory").
inline constexpr std::size_t session_inline_slots = 2;

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

struct session_state : session_record, std::enable_shared_from_this<session_state> {
  session_state(std::uint64_t tag_, std::string user_, time_point now, time_point deadline_)
      : session_record(tag_), deadline(deadline_), created(now), user(std::move(user_)) {}

  // Ordered so that no padding is left: the object, with its inline slots
  // and std::make_shared's counts, fills one 384-byte malloc chunk. Two
  // sessions opened one after the other are neighbours in the heap, so what
  // a request writes is kept away from both ends of the object: the front
  // holds what a request only reads (the counts, which a borrowing handle
  // does not write, the tag, the id) and the back what it reads at most once
  // (`created`, the key, the user). Two users on two cores then do not both
  // write one cache line (docs/benchmarks.md).
  inline_id id;                     // guarded: empty until stored; kept after the end (a dead id)
  std::atomic<bool> stored{false};  // set once, by the only handle of a fresh session
  bool ended = false;               // guarded: logout, expiry or eviction happened
  bool detached = false;            // guarded: evicted while pinned, back at the last release
  mutable small_mutex mu;
  time_point deadline;  // guarded: the engine entry's deadline
  // guarded: the values, filled in order: slots[0, in_place), then `more`,
  // which exists only while it holds some.
  std::array<session_slot, session_inline_slots> slots;
  std::unique_ptr<std::vector<session_slot>> more;
  std::size_t used = 0;       // guarded: sum of the slots' bytes
  std::size_t heap = 0;       // guarded: sum of the slots' heap beyond the table
  std::size_t weight = 0;     // guarded: accounted heap, as last given to the engine
  std::uint32_t pins = 0;     // guarded: open handles
  bool indexed = false;       // guarded by the user index shard: in the user's list
  std::uint8_t in_place = 0;  // guarded: how many of `slots` hold a value
  bool kept = false;          // guarded: held by the storage's keep-alive table
  const time_point created;
  key k{};           // guarded: the engine key of the current id
  std::string user;  // guarded: empty while anonymous
};
// 360 bytes, plus 16 for std::make_shared's counts and malloc's 8-byte header:
// 384. One byte more would cost a 16-byte step for every session.
static_assert(sizeof(session_state) <= 360, "recall: session_state outgrew its malloc chunk");

}  // namespace recall::detail
