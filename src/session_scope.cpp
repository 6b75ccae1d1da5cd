#include "recall/detail/session_scope.hpp"

#include "recall/detail/hook_list.hpp"

namespace recall::detail {
namespace {

thread_local std::uint64_t current_tag = 0;

// Listeners run outside the list's lock: a cache's on_release, run when a
// session's entries are dropped, may create or destroy another cache.
hook_list<std::function<void(std::uint64_t)>>& listeners() {
  // Never destroyed: stores may outlive main's statics.
  static auto* list = new hook_list<std::function<void(std::uint64_t)>>;
  return *list;
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

session_end_subscription::session_end_subscription(std::function<void(std::uint64_t)> on_end)
    : id_(listeners().add(std::move(on_end))) {}

session_end_subscription::~session_end_subscription() { listeners().remove(id_); }

void announce_session_end(std::uint64_t tag) {
  listeners().for_each([tag](const std::function<void(std::uint64_t)>& on_end) { on_end(tag); });
}

}  // namespace recall::detail
