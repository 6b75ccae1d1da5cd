// recall/policy.hpp: the vocabulary shared by cache_data and cache_resource
// options.
//
// Thread safety: constants and enums only.
//
//   recall::cache_data(fn, {.ttl = recall::no_expiry, .scope = recall::scope::session});
#pragma once

#include <chrono>

#include "recall/clock.hpp"

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
}  // namespace detail

}  // namespace recall
