// recall/redis_sessions.hpp: session_store storage in Redis, so that a user's
// requests can land on any replica of a service and a replica can die
// without taking sessions with it (target recall::redis; docs/redis.md,
// "Sessions").
//
// The handle API does not change: a store built with
// `.storage = recall::redis_sessions(client, {...})` keeps every promise of
// the in-process store for the whole fleet (strict ids, rotation, logout,
// timeouts by recall's clock, quotas and limits enforced on the server).
// Redis never holds a usable session id: keys are keyed hashes (HMAC-SHA256
// with `secret`) of the ids, and stored values are bound to their session.
// A request costs two round trips: open() fetches the session with one
// command (HGETALL), reads are served from that snapshot plus the request's
// own writes, and each write is one function call that changes only its key.
// When Redis cannot be reached, session operations throw
// session_error(storage_unavailable) (answer 503): never a silent fallback
// to local state. Needs Redis 7.0 or later (scripts with a shebang line).
//
// Thread safety: the returned backend may be used by any number of stores;
// the store's own contract (recall/session.hpp) is unchanged.
//
//   auto redis = std::make_shared<recall::redis_client>(recall::redis_options{.port = 6379});
//   recall::session_store sessions(
//       {.idle_timeout = 30min, .storage = recall::redis_sessions(redis, {.secret = key})});
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "recall/clock.hpp"
#include "recall/redis.hpp"
#include "recall/session.hpp"

namespace recall {

struct redis_session_options {
  // The key of the keyed hashes of session ids and of the checks on stored
  // values: at least 16 bytes, best 32 random bytes, the same on every
  // replica, kept secret like a password pepper. Required. Changing it ends
  // every session (their ids no longer find them).
  std::string secret{};
  // How long the hash of a rotated or ended id is kept as a tombstone: a
  // request that opened the session before a rotation follows it to the new
  // id for this long, and then sees the session as ended. Longer than your
  // longest request.
  duration tombstone_ttl = std::chrono::minutes(10);
  // Redis expires a session's keys this long after recall's deadline for it
  // (garbage collection only; recall's clock decides timeouts). Covers clock
  // differences between replicas.
  duration expiry_grace = std::chrono::minutes(1);
};

// Keys go under the client's key_prefix followed by "s:"; ends of sessions are
// published on the channel <key_prefix>s:ended. Throws config_error for a null
// client or a missing or short secret.
RECALL_REDIS_EXPORT session_backend redis_sessions(std::shared_ptr<redis_client> client,
                                                   redis_session_options options);

}  // namespace recall
