// The ghost of S3-FIFO: fingerprints of keys recently evicted from the small
// queue, so that a key which comes back soon goes straight to the main queue.
//
// It remembers roughly the last `capacity` evictions in 4 bytes each and
// nothing else: a bucketed table of fingerprints (24 bits) with the
// generation (8 bits) in which each was added; a generation is a quarter of
// the capacity's worth of additions, and an entry older than four generations
// is stale, as if it had fallen off the end of a FIFO. So there is no
// separate order to keep in step with the set: a key that came back (and was
// taken out) or was added again leaves nothing behind that could later erase
// a newer entry, and old entries say nothing once they are out of the window.
//
// Thread safety: none; the engine uses it under its shard's lock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace recall::detail {

class ghost_filter {
 public:
  std::size_t capacity() const noexcept { return capacity_; }

  // Forgets everything and remembers up to `capacity` evictions from now on.
  void reset(std::size_t capacity) {
    capacity_ = std::max<std::size_t>(capacity, 8);
    per_generation_ = std::max<std::size_t>(1, capacity_ / 4);
    const std::size_t buckets = (capacity_ * 5 / 4 + bucket_slots - 1) / bucket_slots;
    slots_.assign(buckets * bucket_slots, 0);
    added_ = 0;
    generation_ = 0;
  }

  void clear() { reset(capacity_); }

  // Remembers an eviction of the key whose table hash is `h`.
  void add(std::uint64_t h) {
    if (slots_.empty()) return;
    std::uint32_t* b = bucket(h);
    const std::uint32_t fp = fingerprint(h);
    std::uint32_t* target = b;
    std::uint32_t oldest = 0;
    for (std::size_t i = 0; i < bucket_slots; ++i) {
      if (b[i] == 0 || !live(b[i]) || (b[i] >> 8) == fp) {
        target = b + i;
        break;
      }
      const std::uint32_t age = age_of(b[i]);
      if (age >= oldest) {
        oldest = age;
        target = b + i;
      }
    }
    *target = (fp << 8) | generation_;
    if (++added_ == per_generation_) {
      added_ = 0;
      generation_ = (generation_ + 1) & 0xff;
    }
  }

  // True (and forgets it) if the key was evicted recently.
  bool take(std::uint64_t h) {
    if (slots_.empty()) return false;
    std::uint32_t* b = bucket(h);
    const std::uint32_t fp = fingerprint(h);
    for (std::size_t i = 0; i < bucket_slots; ++i) {
      if (b[i] != 0 && (b[i] >> 8) == fp && live(b[i])) {
        b[i] = 0;
        return true;
      }
    }
    return false;
  }

 private:
  static constexpr std::size_t bucket_slots = 8;
  static constexpr std::uint32_t generations = 4;

  // Non-zero, so that 0 means an empty slot.
  static std::uint32_t fingerprint(std::uint64_t h) noexcept {
    return (static_cast<std::uint32_t>(h >> 32) & 0xffffffu) | 1u;
  }
  std::uint32_t* bucket(std::uint64_t h) noexcept {
    const std::uint64_t buckets = slots_.size() / bucket_slots;
    return slots_.data() + ((h & 0xffffffffu) * buckets >> 32) * bucket_slots;
  }
  std::uint32_t age_of(std::uint32_t slot) const noexcept {
    return (generation_ - (slot & 0xff)) & 0xff;
  }
  bool live(std::uint32_t slot) const noexcept { return age_of(slot) < generations; }

  std::size_t capacity_ = 0;
  std::size_t per_generation_ = 1;
  std::vector<std::uint32_t> slots_;
  std::size_t added_ = 0;
  std::uint32_t generation_ = 0;
};

}  // namespace recall::detail
