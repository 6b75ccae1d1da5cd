// The link between session-scoped cache entries and the session store.
//
// A session handle marks its thread with the session's tag (a number that
// stays the same across id rotation) for the length of a request; caches with
// scope::session put that tag into their keys and entries. When a session
// ends, the store announces its tag and every session-scoped cache drops the
// entries it owned.
//
// Thread safety: all functions may be called concurrently.
#pragma once

#include <cstdint>
#include <functional>

#include "recall/export.hpp"

namespace recall::detail {

// The session open on this thread, 0 when none.
RECALL_EXPORT std::uint64_t current_session_tag() noexcept;

// Marks this thread as working for `tag` (0: none); returns the previous mark.
// For handles that move their mark (session's move assignment).
RECALL_EXPORT std::uint64_t exchange_session_tag(std::uint64_t tag) noexcept;

// Marks this thread as working for a session until destroyed; nests.
class RECALL_EXPORT session_tag_guard {
 public:
  explicit session_tag_guard(std::uint64_t tag) noexcept;
  ~session_tag_guard();
  session_tag_guard(const session_tag_guard&) = delete;
  session_tag_guard& operator=(const session_tag_guard&) = delete;

 private:
  std::uint64_t previous_;
};

// Calls `on_end(tag)` for every session that ends until destroyed.
// Destruction waits for a call in progress to return.
class RECALL_EXPORT session_end_subscription {
 public:
  explicit session_end_subscription(std::function<void(std::uint64_t)> on_end);
  ~session_end_subscription();
  session_end_subscription(const session_end_subscription&) = delete;
  session_end_subscription& operator=(const session_end_subscription&) = delete;

 private:
  std::uint64_t id_;
};

// Called by session stores when a session ends (logout, timeout, eviction).
RECALL_EXPORT void announce_session_end(std::uint64_t tag);

}  // namespace recall::detail
