// Which sessions each signed-in user holds, oldest first: what end_all(user)
// ends and what max_sessions_per_user bounds. It indexes the sessions the
// engine holds (no expiry or eviction of its own); a session leaves it when
// it ends.
//
// Thread safety: every member function may be called concurrently. A shard's
// lock is taken before a session's `mu`, never after.
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/hash/hash.h>

#include <algorithm>
#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "recall/detail/session_state.hpp"

namespace recall::detail {

class session_user_index {
 public:
  using state_ptr = std::shared_ptr<session_state>;

  // Under the user's lock: `bind(st)` binds the session (under st.mu) and
  // returns false to refuse. On success `st` is appended; the oldest
  // sessions past `limit` are taken out and returned, for the caller to end.
  template <class Bind>
  bool add(std::string_view user, const state_ptr& st, std::size_t limit, Bind&& bind,
           std::vector<state_ptr>& over_limit) {
    shard& s = shard_of(user);
    std::lock_guard lock(s.mu);
    // Every allocation comes before the binding, which pins `st`: a binding
    // that could not be recorded would leave its pin behind.
    const auto it = s.users.try_emplace(std::string(user)).first;
    auto& list = it->second;
    const std::size_t excess = list.size() + 1 > limit ? list.size() + 1 - limit : 0;
    try {
      list.reserve(list.size() + 1);
      over_limit.reserve(over_limit.size() + excess);
    } catch (...) {
      if (list.empty()) s.users.erase(it);
      throw;
    }
    if (!bind(*st)) {
      if (list.empty()) s.users.erase(it);
      return false;
    }
    list.push_back(st);
    st->indexed = true;
    const auto oldest_kept = list.begin() + static_cast<std::ptrdiff_t>(excess);
    for (auto old = list.begin(); old != oldest_kept; ++old) {
      (*old)->indexed = false;
      over_limit.push_back(std::move(*old));
    }
    list.erase(list.begin(), oldest_kept);
    return true;
  }

  void remove(std::string_view user, const session_state* st) {
    shard& s = shard_of(user);
    std::lock_guard lock(s.mu);
    auto it = s.users.find(absl::string_view(user.data(), user.size()));
    if (it == s.users.end()) return;
    auto& list = it->second;
    const auto at =
        std::find_if(list.begin(), list.end(), [&](const state_ptr& p) { return p.get() == st; });
    if (at == list.end()) return;
    (*at)->indexed = false;
    list.erase(at);
    if (list.empty()) s.users.erase(it);
  }

  // Every session of `user`, taken out of the index.
  std::vector<state_ptr> take(std::string_view user) {
    shard& s = shard_of(user);
    std::lock_guard lock(s.mu);
    std::vector<state_ptr> out;
    auto it = s.users.find(absl::string_view(user.data(), user.size()));
    if (it == s.users.end()) return out;
    out = std::move(it->second);
    s.users.erase(it);
    for (auto& p : out) p->indexed = false;
    return out;
  }

  // The heap one indexed session of `user` is charged: its entry in the
  // user's list and, as if it were the user's only one, the user's map slot
  // (at the lowest load factor) and name.
  static std::size_t bytes_per_session(std::size_t user_size) noexcept {
    constexpr std::size_t slot = sizeof(std::pair<const std::string, std::vector<state_ptr>>) + 1;
    return sizeof(state_ptr) + 16 * slot / 7 + heap_chunk(user_size + 1);
  }

 private:
  struct shard {
    std::mutex mu;
    absl::flat_hash_map<std::string, std::vector<state_ptr>> users;
  };
  shard& shard_of(std::string_view user) {
    return shards_[absl::Hash<std::string_view>{}(user) % shards_.size()];
  }
  std::array<shard, 16> shards_;
};

}  // namespace recall::detail
