// recall/policy.hpp: the vocabulary shared by cache_data and cache_resource
// options.
//
// Thread safety: constants and enums only.
//
//   recall::cache_data(fn, {.ttl = recall::no_expiry, .scope = recall::scope::session});
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "recall/clock.hpp"
#include "recall/detail/session_scope.hpp"
#include "recall/error.hpp"
#include "recall/key.hpp"

namespace recall {

// A TTL must always be given; this is how to say "never expires" on purpose.
inline constexpr duration no_expiry = duration::max();

enum class scope {
  global,   // one entry per argument list, shared by every caller
  session,  // one entry per argument list and session, dropped when the session ends
};

namespace detail {
// now + ttl, saturating at "never".
inline time_point deadline_after(time_point now, duration ttl) {
  return ttl >= time_point::max() - now ? time_point::max() : now + ttl;
}

// The key of a call and the session tag that owns it (0 under scope::global).
// Under scope::session the tag is hashed into the key as a last argument.
template <class... Args>
std::pair<key, std::uint64_t> scoped_key(scope where, std::uint64_t seed, std::string_view kind,
                                         const std::string& name, const Args&... args) {
  if (where == scope::global) return {make_key_with_seed(seed, args...), 0};
  const std::uint64_t tag = current_session_tag();
  if (tag == 0) {
    throw no_session_error("recall: " + std::string(kind) + " '" + name +
                           "' has scope::session but no session is open on this thread; "
                           "call it while a recall::session handle is alive");
  }
  return {make_key_with_seed(seed, args..., tag), tag};
}

}  // namespace detail

}  // namespace recall
