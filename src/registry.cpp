#include "recall/registry.hpp"

#include <algorithm>

#include "recall/detail/hook_list.hpp"
#include "recall/detail/l2_tier.hpp"

namespace recall {
namespace {

struct entry {
  std::string name;
  std::string kind;
  detail::registry_hooks hooks;
};

// Hooks run outside the list's lock, so a hook may create or destroy caches
// (an on_release that does, during clear_all()); a registration's destructor
// waits for running calls into its object to end.
detail::hook_list<entry>& entries() {
  // Never destroyed: caches may outlive main's statics.
  static auto* list = new detail::hook_list<entry>;
  return *list;
}

}  // namespace

std::vector<registered_object> registered() {
  std::vector<registered_object> out;
  entries().for_each([&](const entry& e) { out.push_back({e.name, e.kind, e.hooks.metrics()}); });
  return out;
}

void clear_all() {
  entries().for_each([](const entry& e) {
    if (e.hooks.clear) e.hooks.clear();
  });
}

tag_invalidation invalidate_tag(std::string_view tag) {
  tag_invalidation out;
  // The markers first, so that no cache refills its memory from old records.
  out.unreachable_stores = detail::l2_tier::announce_tag(tag);
  entries().for_each([&](const entry& e) {
    if (std::find(e.hooks.tags.begin(), e.hooks.tags.end(), tag) == e.hooks.tags.end()) return;
    ++out.caches;
    if (e.hooks.clear_memory) e.hooks.clear_memory();
  });
  return out;
}

namespace detail {

registration::registration(std::string name, std::string kind, registry_hooks hooks)
    : id_(entries().add(entry{std::move(name), std::move(kind), std::move(hooks)})) {}

registration::~registration() { entries().remove(id_); }

}  // namespace detail
}  // namespace recall
