// recall/registry.hpp: every live cache and session store, by name.
//
// Caches and stores register themselves on construction and leave on
// destruction. The registry is what a metrics endpoint reads and what
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
#include <vector>

#include "recall/export.hpp"
#include "recall/stats.hpp"

namespace recall {

// One number a registered object reports, named like a Prometheus metric
// suffix ("hits", "bytes", ...).
struct metric {
  std::string name;
  double value = 0;
};

struct registered_object {
  std::string name;
  std::string kind;  // "cache_data", "cache_resource", "session_store"
  std::vector<metric> metrics;
};

// A snapshot of every registered object and its metrics.
RECALL_EXPORT std::vector<registered_object> registered();

// Clears every cache_data and cache_resource (session stores are not caches
// and keep their sessions).
RECALL_EXPORT void clear_all();

// The metrics of a cache_stats, in the registry's naming.
RECALL_EXPORT std::vector<metric> to_metrics(const cache_stats& stats);

namespace detail {

struct registry_hooks {
  std::function<std::vector<metric>()> metrics;
  std::function<void()> clear;  // empty: clear_all() skips it
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
