// The metrics each kind of registered object has, with their types and help
// texts (src/metric_sets.cpp): one list per kind, so a kind never reports a
// number it does not keep (cache_resource has no refresh or byte counters,
// cache_data no release failures, the l2_* counters only with a second level).
#pragma once

#include <vector>

#include "recall/export.hpp"
#include "recall/metrics.hpp"
#include "recall/stats.hpp"

namespace recall {

struct session_stats;
struct trusted_proxy_stats;

namespace detail {

RECALL_EXPORT std::vector<metric> cache_data_metrics(const cache_stats& stats, bool second_level);
RECALL_EXPORT std::vector<metric> cache_resource_metrics(const cache_stats& stats);
RECALL_EXPORT std::vector<metric> session_metrics(const session_stats& stats);
RECALL_EXPORT std::vector<metric> trusted_proxy_metrics(const trusted_proxy_stats& stats);

}  // namespace detail
}  // namespace recall
