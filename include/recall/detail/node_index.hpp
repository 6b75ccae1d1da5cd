// The engine's per-shard index from key to node: an open-addressing table
// (groups of 8 one-byte control words and 8 node pointers, as in Swiss
// tables) that readers search without a lock while one writer at a time
// changes it.
//
// - Readers load the table, the control words and the slots with sequentially
//   consistent loads (plain loads on x86 and ARM) and confirm every candidate
//   by comparing its full key, so a stale control byte can cost a probe, never
//   a wrong answer.
// - The writer stores a slot before the control byte that announces it, and
//   never moves a node: an erased slot becomes a tombstone (or empty, when its
//   group still has an empty slot and so never ended a probe sequence), and
//   growing builds a new table, publishes it, and hands the old one back to be
//   freed after a grace period (detail/epoch.hpp), like removed nodes.
//
// Thread safety: find() may run concurrently with one writer inside an epoch
// read section; every other member is for the writer, under the owner's lock.
#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <new>

#include "recall/key.hpp"

namespace recall::detail {

template <class Node>
class node_index {
 public:
  struct table {
    std::size_t groups;
    std::atomic<std::uint64_t>* ctrl;
    std::atomic<Node*>* slots;
  };

  node_index() : current_(make_table(1)) {}
  ~node_index() { free_table(current_.load(std::memory_order_relaxed)); }
  node_index(const node_index&) = delete;
  node_index& operator=(const node_index&) = delete;

  Node* find(std::uint64_t h, const key& k) const noexcept {
    const table* t = current_.load(std::memory_order_seq_cst);
    std::size_t g = group_of(h, *t);
    for (std::size_t step = 1;; ++step) {
      const std::uint64_t w = t->ctrl[g].load(std::memory_order_seq_cst);
      for (std::uint64_t m = match(w, h & 0x7f); m; m &= m - 1) {
        Node* n = t->slots[g * 8 + slot_in(m)].load(std::memory_order_seq_cst);
        if (n && n->k == k) return n;
      }
      if (match_empty(w) || step >= t->groups) return nullptr;
      g = next_group(g, *t);
    }
  }

  std::size_t size() const noexcept { return size_; }

  // The writer's search for a key: its node and slot, or, when it is absent,
  // the first free slot of its probe sequence, where insert() puts it. So an
  // insert walks the probe sequence once.
  struct position {
    Node* found;
    std::size_t slot;
  };
  position probe(std::uint64_t h, const key& k) const noexcept {
    const table& t = *current_.load(std::memory_order_relaxed);
    std::size_t g = group_of(h, t);
    std::size_t free = 0;
    bool have_free = false;
    for (std::size_t step = 1;; ++step) {
      const std::uint64_t w = t.ctrl[g].load(std::memory_order_relaxed);
      for (std::uint64_t m = match(w, h & 0x7f); m; m &= m - 1) {
        const std::size_t i = g * 8 + slot_in(m);
        Node* n = t.slots[i].load(std::memory_order_relaxed);
        if (n->k == k) return {n, i};
      }
      if (!have_free && (w & msbs)) {
        free = g * 8 + slot_in(w & msbs);
        have_free = true;
      }
      if (match_empty(w) || step >= t.groups) return {nullptr, free};
      g = next_group(g, t);
    }
  }

  // Adds `n` at `at`, which probe() returned for its key (absent) with
  // nothing changed since. Returns the table it replaced if it had to grow
  // (the caller frees it after a grace period), else nullptr.
  template <class Hash>
  table* insert(const position& at, std::uint64_t h, Node* n, const Hash& hash_of) {
    table* t = current_.load(std::memory_order_relaxed);
    table* old = nullptr;
    // A tombstone taken over leaves the load as it was.
    if (!is_deleted(*t, at.slot) && (size_ + tombstones_ + 1) * 8 > capacity(*t) * 7) {
      old = t;
      place(*rebuild(size_ + 1, hash_of), h, n);
    } else {
      put(*t, at.slot, h, n);
    }
    ++size_;
    return old;
  }

  // Puts `fresh` in `slot`, where probe() found its key: readers see the old
  // node or the new one.
  void replace(std::size_t slot, Node* fresh) noexcept {
    current_.load(std::memory_order_relaxed)->slots[slot].store(fresh, std::memory_order_seq_cst);
  }

  void erase(std::uint64_t h, const Node* n) noexcept {
    table& t = *current_.load(std::memory_order_relaxed);
    const std::size_t i = locate(t, h, n);
    std::atomic<std::uint64_t>& word = t.ctrl[i / 8];
    const std::uint64_t w = word.load(std::memory_order_relaxed);
    const bool keep_probing = !match_empty(w);
    if (keep_probing) ++tombstones_;
    word.store(with_byte(w, i % 8, keep_probing ? deleted : empty), std::memory_order_seq_cst);
    t.slots[i].store(nullptr, std::memory_order_seq_cst);
    --size_;
  }

  // After bulk removals: a table far larger than its contents is rebuilt
  // smaller. Returns the old table to free after a grace period, or nullptr.
  template <class Hash>
  table* shrink(const Hash& hash_of) {
    table* t = current_.load(std::memory_order_relaxed);
    if (t->groups == 1 || size_ * 16 > capacity(*t)) return nullptr;
    rebuild(size_, hash_of);
    return t;
  }

  static void free_table(table* t) noexcept {
    if (t) ::operator delete (t, std::align_val_t{64});
  }

 private:
  static constexpr std::uint64_t lsbs = 0x0101010101010101ULL;
  static constexpr std::uint64_t msbs = 0x8080808080808080ULL;
  static constexpr std::uint64_t empty = 0x80;
  static constexpr std::uint64_t deleted = 0xfe;

  // High bit set in every byte of `w` equal to `byte`, exactly.
  static std::uint64_t match(std::uint64_t w, std::uint64_t byte) noexcept {
    const std::uint64_t x = w ^ (lsbs * byte);
    return ~(((x & ~msbs) + ~msbs) | x | ~msbs);
  }
  // High bit set in every empty byte: empty (0x80) and deleted (0xfe) both
  // have the high bit, and only deleted has bit 1 (Abseil's test).
  static std::uint64_t match_empty(std::uint64_t w) noexcept { return w & ~(w << 6) & msbs; }
  static std::size_t slot_in(std::uint64_t m) noexcept {
    return static_cast<std::size_t>(std::countr_zero(m)) / 8;
  }
  static std::uint64_t with_byte(std::uint64_t w, std::size_t i, std::uint64_t byte) noexcept {
    return (w & ~(std::uint64_t{0xff} << (8 * i))) | (byte << (8 * i));
  }
  // Bits 7..53 of the hash (the control byte takes 0..6, the shard 54..63),
  // scaled onto the groups by multiplication, so a table can have any number
  // of groups and stay close to its intended load.
  static std::size_t group_of(std::uint64_t h, const table& t) noexcept {
    const std::uint64_t x = (h >> 7) << 17;
#if defined(__SIZEOF_INT128__)
    return static_cast<std::size_t>((static_cast<unsigned __int128>(x) * t.groups) >> 64);
#else
    return static_cast<std::size_t>((x >> 32) * t.groups >> 32);
#endif
  }
  static std::size_t next_group(std::size_t g, const table& t) noexcept {
    return g + 1 == t.groups ? 0 : g + 1;
  }
  static std::size_t capacity(const table& t) noexcept { return t.groups * 8; }

  static table* make_table(std::size_t groups) {
    const std::size_t bytes = 64 + groups * 8 + groups * 8 * sizeof(std::atomic<Node*>);
    void* raw = ::operator new (bytes, std::align_val_t{64});
    auto* t = new (raw) table{groups, nullptr, nullptr};
    auto* base = static_cast<unsigned char*>(raw) + 64;
    t->ctrl = new (base) std::atomic<std::uint64_t>[groups];
    t->slots = new (base + groups * 8) std::atomic<Node*>[groups * 8];
    for (std::size_t g = 0; g < groups; ++g)
      t->ctrl[g].store(lsbs * empty, std::memory_order_relaxed);
    for (std::size_t i = 0; i < groups * 8; ++i)
      t->slots[i].store(nullptr, std::memory_order_relaxed);
    return t;
  }

  static std::uint64_t byte_at(std::uint64_t w, std::size_t i) noexcept {
    return (w >> (8 * i)) & 0xff;
  }
  bool is_deleted(const table& t, std::size_t i) const noexcept {
    return byte_at(t.ctrl[i / 8].load(std::memory_order_relaxed), i % 8) == deleted;
  }

  // Writes `n` into free slot `i`: slot first, then the control byte that
  // makes readers look at it.
  void put(table& t, std::size_t i, std::uint64_t h, Node* n) noexcept {
    std::atomic<std::uint64_t>& word = t.ctrl[i / 8];
    const std::uint64_t w = word.load(std::memory_order_relaxed);
    if (byte_at(w, i % 8) == deleted) --tombstones_;
    t.slots[i].store(n, std::memory_order_seq_cst);
    word.store(with_byte(w, i % 8, h & 0x7f), std::memory_order_seq_cst);
  }

  // Writes `n` into the first free slot of its probe sequence.
  void place(table& t, std::uint64_t h, Node* n) noexcept {
    std::size_t g = group_of(h, t);
    for (;;) {
      if (const std::uint64_t free = t.ctrl[g].load(std::memory_order_relaxed) & msbs) {
        put(t, g * 8 + slot_in(free), h, n);
        return;
      }
      g = next_group(g, t);
    }
  }

  std::size_t locate(const table& t, std::uint64_t h, const Node* n) const noexcept {
    std::size_t g = group_of(h, t);
    for (;;) {
      const std::uint64_t w = t.ctrl[g].load(std::memory_order_relaxed);
      for (std::uint64_t m = match(w, h & 0x7f); m; m &= m - 1) {
        const std::size_t i = g * 8 + slot_in(m);
        if (t.slots[i].load(std::memory_order_relaxed) == n) return i;
      }
      g = next_group(g, t);
    }
  }

  // A table for `count` nodes, 5/8 full, filled and published: it grows by
  // 7/5 when it is 7/8 full again.
  template <class Hash>
  table* rebuild(std::size_t count, const Hash& hash_of) {
    const std::size_t groups = std::max<std::size_t>(1, (count * 8 / 5 + 7) / 8);
    table* old = current_.load(std::memory_order_relaxed);
    table* t = make_table(groups);
    tombstones_ = 0;
    for (std::size_t i = 0; i < capacity(*old); ++i) {
      if (Node* n = old->slots[i].load(std::memory_order_relaxed)) place(*t, hash_of(*n), n);
    }
    current_.store(t, std::memory_order_seq_cst);
    return t;
  }

  std::atomic<table*> current_;
  // Writer-only, on their own line so that updating them does not disturb
  // readers of current_.
  alignas(64) std::size_t size_ = 0;
  std::size_t tombstones_ = 0;
};

}  // namespace recall::detail
