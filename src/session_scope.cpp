#include "recall/detail/session_scope.hpp"

#include <absl/container/btree_map.h>

#include <mutex>
#include <shared_mutex>

namespace recall::detail {
namespace {

thread_local std::uint64_t current_tag = 0;

struct listeners {
  std::shared_mutex mu;
  std::uint64_t next_id = 1;
  absl::btree_map<std::uint64_t, std::function<void(std::uint64_t)>> by_id;
};

listeners& state() {
  static auto* s = new listeners;  // never destroyed: stores may outlive main's statics
  return *s;
}

}  // namespace

std::uint64_t current_session_tag() noexcept { return current_tag; }

std::uint64_t exchange_session_tag(std::uint64_t tag) noexcept {
  const std::uint64_t previous = current_tag;
  current_tag = tag;
  return previous;
}

session_tag_guard::session_tag_guard(std::uint64_t tag) noexcept : previous_(current_tag) {
  current_tag = tag;
}
session_tag_guard::~session_tag_guard() { current_tag = previous_; }

session_end_subscription::session_end_subscription(std::function<void(std::uint64_t)> on_end) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  id_ = s.next_id++;
  s.by_id.emplace(id_, std::move(on_end));
}

session_end_subscription::~session_end_subscription() {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.by_id.erase(id_);
}

void announce_session_end(std::uint64_t tag) {
  auto& s = state();
  std::shared_lock lock(s.mu);
  for (const auto& [id, on_end] : s.by_id) on_end(tag);
}

}  // namespace recall::detail
