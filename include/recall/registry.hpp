// recall/registry.hpp: every live cache and session store, by name.
//
// Caches, stores, Redis clients and trusted proxies register themselves on
// construction and leave on destruction. The registry is what a metrics
// endpoint reads (recall::write_prometheus, recall/metrics.hpp) and what
// clear_all() walks.
//
// Thread safety: all functions may be called concurrently with each other and
// with caches being created and destroyed.
//
//   for (const auto& c : recall::registered()) std::cout << c.name << ' ' << c.kind << '\n';
//   recall::clear_all();  // e.g. after a deploy that changes every data source
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "recall/detail/metric_sets.hpp"
#include "recall/export.hpp"
#include "recall/metrics.hpp"
#include "recall/stats.hpp"

namespace recall {

struct registered_object {
  std::string name;
  // "cache_data", "cache_resource", "session_store", "redis", "trusted_proxy"
  std::string kind;
  std::vector<metric> metrics;  // only those this kind has
};

// A snapshot of every registered object and its metrics.
RECALL_EXPORT std::vector<registered_object> registered();

// Clears every cache_data and cache_resource (session stores are not caches
// and keep their sessions); a cache with a second level is cleared there too,
// for every replica.
RECALL_EXPORT void clear_all();

struct tag_invalidation {
  std::size_t caches = 0;              // caches of this process that carried the tag
  std::size_t unreachable_stores = 0;  // second levels that could not be told (yet)
};

// Drops every result of every cache_data carrying `tag` (its `tags` option):
// in this process at once, and through every second level of this process
// for every process sharing it (their memory within the message delay, their
// reads of the second level at once). A store that cannot be reached is
// counted and told again when it answers. Typical use: a scheduled job
// rewrites a table, then invalidates its tag.
RECALL_EXPORT tag_invalidation invalidate_tag(std::string_view tag);

namespace detail {

struct registry_hooks {
  std::function<std::vector<metric>()> metrics;
  std::function<void()> clear;  // empty: clear_all() skips it
  std::vector<std::string> tags{};
  // Drops what this process holds (invalidate_tag() takes care of the rest).
  std::function<void()> clear_memory{};
};

// Registers until destroyed. Not copyable or movable: the hooks point into
// the object that owns the registration.
class RECALL_EXPORT registration {
 public:
  registration(std::string name, std::string kind, registry_hooks hooks);
  ~registration();
  registration(const registration&) = delete;
  registration& operator=(const registration&) = delete;

 private:
  std::uint64_t id_;
};

}  // namespace detail
}  // namespace recall
