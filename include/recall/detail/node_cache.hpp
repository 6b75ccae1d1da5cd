// Memory for the engine's nodes: a small per-thread cache of the blocks of
// freed nodes in front of operator new and delete.
//
// Every miss of a full cache allocates a node and, once the grace period of
// the node it evicted is over, frees one (detail/epoch.hpp); through malloc
// that pair costs about 150 instructions, more than the lookup. Both happen
// outside the shard lock, on the thread that inserts, so a per-thread list of
// up to `capacity` blocks turns the pair into a few loads and stores with no
// lock and no atomic. The list is bounded, so a thread that only frees (a
// sweeper) gives memory back to the allocator beyond it, and the blocks go
// back when the thread exits. Under AddressSanitizer the cache is bypassed, so
// that a read of a node after its grace period is still reported.
//
// Thread safety: each thread has its own list; a block may be freed by
// another thread than the one that allocated it.
#pragma once

#include <cstddef>
#include <new>
#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#define RECALL_NODE_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RECALL_NODE_CACHE 0
#endif
#endif
#ifndef RECALL_NODE_CACHE
#define RECALL_NODE_CACHE 1
#endif

namespace recall::detail {

template <std::size_t Size, std::size_t Align>
class node_cache {
  static_assert(Size >= sizeof(void*));

 public:
  static void* allocate() {
    if constexpr (RECALL_NODE_CACHE) {
      if (block* b = list_.head) {
        list_.head = b->next;
        --list_.count;
        return b;
      }
    }
    return raw_new();
  }

  static void deallocate(void* p) noexcept {
    if constexpr (RECALL_NODE_CACHE) {
      if (list_.count < capacity) {
        if (!list_.reaped) reap_at_exit();
        list_.head = new (p) block{list_.head};
        ++list_.count;
        return;
      }
    }
    raw_delete(p);
  }

 private:
  // Enough to absorb a burst of evictions freed in one batch.
  static constexpr std::size_t capacity = 64;

  struct block {
    block* next;
  };
  // Trivially destructible, so that it stays usable after the thread's other
  // thread_local objects are gone (an engine destroyed then frees its nodes
  // through it, and they go straight back to the allocator).
  struct list {
    block* head = nullptr;
    std::size_t count = 0;
    bool reaped = false;
  };
  // Frees the cached blocks when the thread exits and closes the list.
  struct reaper {
    ~reaper() {
      while (list_.head) raw_delete(std::exchange(list_.head, list_.head->next));
      list_.count = capacity;
    }
  };

  static void reap_at_exit() noexcept {
    static thread_local reaper r;
    static_cast<void>(r);
    list_.reaped = true;
  }

  static constinit inline thread_local list list_{};

  static void* raw_new() {
    if constexpr (Align > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
      return ::operator new (Size, std::align_val_t{Align});
    } else {
      return ::operator new(Size);
    }
  }
  // Unsized: clang before 19 declares the sized forms only with
  // -fsized-deallocation.
  static void raw_delete(void* p) noexcept {
    if constexpr (Align > __STDCPP_DEFAULT_NEW_ALIGNMENT__) {
      ::operator delete (p, std::align_val_t{Align});
    } else {
      ::operator delete(p);
    }
  }
};

}  // namespace recall::detail
