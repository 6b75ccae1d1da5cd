#include "recall/registry.hpp"

#include <absl/container/btree_map.h>
#include <mutex>
#include <shared_mutex>

namespace recall {
namespace {

struct entry {
  std::string name;
  std::string kind;
  detail::registry_hooks hooks;
};

// Hooks are called under the reader lock, so a registration's destructor
// (which takes the writer lock) waits for every call into its object to end.
struct registry_state {
  std::shared_mutex mu;
  std::uint64_t next_id = 1;
  absl::btree_map<std::uint64_t, entry> entries;
};

registry_state& state() {
  static auto* s = new registry_state;  // never destroyed: caches may outlive main's statics
  return *s;
}

}  // namespace

std::vector<registered_object> registered() {
  auto& s = state();
  std::shared_lock lock(s.mu);
  std::vector<registered_object> out;
  out.reserve(s.entries.size());
  for (const auto& [id, e] : s.entries) out.push_back({e.name, e.kind, e.hooks.metrics()});
  return out;
}

void clear_all() {
  auto& s = state();
  std::shared_lock lock(s.mu);
  for (const auto& [id, e] : s.entries) {
    if (e.hooks.clear) e.hooks.clear();
  }
}

std::vector<metric> to_metrics(const cache_stats& st) {
  return {{"hits", double(st.hits)},
          {"misses", double(st.misses)},
          {"stale_hits", double(st.stale_hits)},
          {"inserts", double(st.inserts)},
          {"rejected", double(st.rejected)},
          {"loads", double(st.loads)},
          {"load_failures", double(st.load_failures)},
          {"load_seconds", std::chrono::duration<double>(st.load_time).count()},
          {"refreshes", double(st.refreshes)},
          {"refresh_failures", double(st.refresh_failures)},
          {"refreshes_dropped", double(st.refreshes_dropped)},
          {"release_failures", double(st.release_failures)},
          {"expired", double(st.expired)},
          {"evicted", double(st.evicted)},
          {"replaced", double(st.replaced)},
          {"removed", double(st.removed)},
          {"cleared", double(st.cleared)},
          {"entries", double(st.entries)},
          {"bytes", double(st.bytes)},
          {"max_entries", double(st.max_entries)},
          {"max_bytes", double(st.max_bytes)}};
}

namespace detail {

registration::registration(std::string name, std::string kind, registry_hooks hooks) {
  auto& s = state();
  std::lock_guard lock(s.mu);
  id_ = s.next_id++;
  s.entries.emplace(id_, entry{std::move(name), std::move(kind), std::move(hooks)});
}

registration::~registration() {
  auto& s = state();
  std::lock_guard lock(s.mu);
  s.entries.erase(id_);
}

}  // namespace detail
}  // namespace recall
