// The Lua behind Redis session storage: one Redis Functions library per
// store configuration, every change to a session one FCALL, atomic on the
// server (docs/redis.md, "Sessions").
//
// The library holds the store's bounds as constants and the helpers that end
// a session, sweep expired ones, evict past max_sessions and keep the
// per-user index. Redis builds them once, when it loads the library, not on
// every call as it would for a script sent with EVALSHA. Every function takes
// recall's "now" (calendar milliseconds) as its first argument. Sessions a
// function ends come back in its reply as (cause, tag) pairs, and their tags
// are published on the ended channel.
//
// The library's name carries a hash of its code, so stores with other bounds
// or another recall version on the same Redis load their own library beside
// it instead of replacing it. Redis loses functions on FUNCTION FLUSH and on a
// restart without persistence; the caller loads the library again when FCALL
// answers that the function is not there (load_source).
//
// Thread safety: immutable after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace recall::detail {

struct session_function_config {
  std::string prefix;  // key prefix of the store: "<client prefix>s:"
  std::int64_t idle_ms, absolute_ms, granularity_ms;
  std::size_t max_sessions, max_sessions_per_user, max_bytes_per_session;
  std::int64_t grace_ms, tombstone_ms;
};

// Why a function ended a session, as its reply says.
enum class session_end_cause : int {
  ended = 1,
  user_limit = 2,
  expired_idle = 3,
  expired_absolute = 4,
  evicted = 5,
};

// What a function that works on one session through a handle answers first.
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

// Function names are global in Redis: each is the library's name, '_' and
// the operation.
struct session_functions {
  explicit session_functions(const session_function_config& config);

  std::string library;      // recall_sessions_v1_ and 12 hex digits of the code's SHA-256
  std::string load_source;  // the library's code, for FUNCTION LOAD REPLACE

  // open() reads a session without a function (one HGETALL) and calls this
  // one only when the session's idle deadline is due to move or its 'd' has
  // passed (or is missing). ARGV: now, key suffix, the request's user.
  // Reply: {0, ends} unknown | {1, ends} alive (the deadline moved if due,
  // 'd' written) | {2, ends} expired (ended now) | {3, ends} alive, but
  // another user's (nothing moved).
  std::string refresh;
  // ARGV: now, old suffix, new suffix, new 't' field, user.
  // Reply: {0, ends} | {1, ends} ended meanwhile | {2, ends} expired | {4, ends}.
  std::string sign_in;

  // Handle operations. ARGV: now, suffix, create ("1" or ""), then for
  // create the 't' field and the creation time, otherwise "" and ""; the
  // user; then the operation's own.
  // Reply: {status, current suffix, session bytes, extra, ends}.
  std::string store;      // create only
  std::string set;        // field, stored value, version ("" or 8 bytes)
  std::string erase;      // field [, the stored bytes expected: a stale version is dropped
                          // only if nobody replaced it]
  std::string clear;      // -
  std::string list_push;  // field, item frame, n
  std::string map_put;    // field, entry frame, n
  std::string map_touch;  // field, key compact
  std::string map_erase;  // field, key compact
  std::string rotate;     // new suffix, new 't' field, user the field was made for
  std::string end;        // -

  // ARGV: now, user. Reply: {count, ends}.
  std::string end_all;
  // ARGV: now, batch. Reply: {count, ends}.
  std::string cleanup;
};

}  // namespace recall::detail
