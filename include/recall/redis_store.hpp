// recall/redis_store.hpp: Redis as cache_data's second level, shared by every
// replica of a service (target recall::redis; see docs/redis.md).
//
// Results are stored once for the fleet, with their computed_at, so every
// replica reports the same age; one replica computes a missing key while the
// others wait for it (a lease); invalidate(), clear() and invalidate_tag()
// reach every replica's memory through publish/subscribe. Redis trouble is
// never a caller's error: the cache serves from memory and its function, and
// counts the failure (cache_stats::l2_unavailable); the client reconnects
// by itself.
//
// Thread safety: the store may be used by any number of caches and threads.
//
//   auto redis = std::make_shared<recall::redis_client>(recall::redis_options{.port = 6380});
//   auto l2 = recall::redis_store(redis, {.signing_key = fleet_secret});
//   auto load_sales = recall::cache_data(query, {.name = "load_sales", .ttl = 5min, .l2 = l2});
#pragma once

#include <memory>

#include "recall/redis.hpp"
#include "recall/redis_export.hpp"
#include "recall/second_level.hpp"

namespace recall {

// Keys go under the client's key_prefix followed by "c:"; messages travel on
// the channel <key_prefix>c:invalidations.
RECALL_REDIS_EXPORT std::shared_ptr<second_level> redis_store(std::shared_ptr<redis_client> client,
                                                              second_level_options options = {});

}  // namespace recall
