// The Lua scripts behind Redis session storage: every change to a session
// is one script call, atomic on the server (docs/redis.md, "Sessions").
//
// Each script starts from the same prelude: the store's bounds baked in as
// constants, recall's "now" (calendar milliseconds) from ARGV[1], and the
// helpers that end a session, sweep expired ones, evict past max_sessions and
// keep the per-user index. Sessions a script ends come back in its reply as
// (cause, tag) pairs, and their tags are published on the ended channel.
//
// Thread safety: immutable after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "recall/redis.hpp"

namespace recall::detail {

struct session_script_config {
  std::string prefix;  // key prefix of the store: "<client prefix>s:"
  std::int64_t idle_ms, absolute_ms, granularity_ms;
  std::size_t max_sessions, max_sessions_per_user, max_bytes_per_session;
  std::int64_t grace_ms, tombstone_ms;
};

// Why a script ended a session, as its reply says.
enum class session_end_cause : int {
  ended = 1,
  user_limit = 2,
  expired_idle = 3,
  expired_absolute = 4,
  evicted = 5,
};

// What a script that works on one session through a handle answers first.
enum class session_reply : int {
  ok = 0,
  ended = 1,
  quota = 2,
  wrong_kind = 3,
  id_taken = 4,       // create or rotate: the new id's key exists (retry with another id)
  stale_version = 5,  // a versioned write older than the stored value: not stored
  user_changed = 6,   // rotate: the session's user is not the one the caller signed for
  corrupt = 7,        // the stored list or map cannot be parsed: not changed
};

struct session_scripts {
  explicit session_scripts(const session_script_config& config);

  // open() reads a session without a script (one pipelined round trip) and
  // calls this one only when the session's idle deadline is due to move or
  // the session looks expired. ARGV: now, key suffix.
  // Reply: {0, ends} unknown | {1, ends} alive (the deadline moved if due) |
  // {2, ends} expired (ended now).
  redis_script refresh;
  // ARGV: now, old suffix, new suffix, new 't' field, user.
  // Reply: {0, ends} | {1, ends} ended meanwhile | {2, ends} expired | {4, ends}.
  redis_script sign_in;

  // Handle operations. ARGV: now, suffix, create ("1" or ""), and for create
  // the 't' field, the creation time and the user; then the operation's own.
  // Reply: {status, current suffix, session bytes, extra, ends}.
  redis_script store;      // create only
  redis_script set;        // field, stored value, version ("" or 8 bytes)
  redis_script drop;       // field, the stored bytes to drop (a stale version)
  redis_script erase;      // field
  redis_script clear;      // -
  redis_script list_push;  // field, item frame, n
  redis_script map_put;    // field, entry frame, n
  redis_script map_touch;  // field, key compact
  redis_script map_erase;  // field, key compact
  redis_script rotate;     // new suffix, new 't' field, user the field was made for
  redis_script end;        // -

  // ARGV: now, user. Reply: {count, ends}.
  redis_script end_all;
  // ARGV: now, batch. Reply: {count, ends}.
  redis_script cleanup;
};

}  // namespace recall::detail
