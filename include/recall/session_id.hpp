// recall/session_id.hpp: session identifiers, made and checked safely.
//
// A session id is 32 bytes (256 bits) from the operating system's CSPRNG
// (getrandom(2), falling back to /dev/urandom; never a seeded PRNG), written
// as 43 characters of unpadded base64url. Anything else that arrives in a
// cookie is not an id: is_well_formed_session_id() accepts exactly the
// strings new_session_id() can produce, so an over-long, padded, truncated or
// re-encoded value is rejected before any lookup. Ids are compared with
// constant_time_equal() so that a comparison leaks no timing about where two
// ids first differ.
//
// Thread safety: all functions may be called concurrently.
//
//   std::string id = recall::new_session_id();  // e.g. "q3Xh..." (43 chars)
//   if (!recall::is_well_formed_session_id(cookie)) { /* start a fresh session */ }
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "recall/export.hpp"

namespace recall {

// Raw entropy in a session id.
inline constexpr std::size_t session_id_bytes = 32;
// Characters in a session id: ceil(32 * 8 / 6), base64url without padding.
inline constexpr std::size_t session_id_length = 43;

// A fresh id from the OS CSPRNG. Throws recall::error if the operating system
// cannot supply random bytes (there is no weaker fallback, on purpose).
RECALL_EXPORT std::string new_session_id();

// True for exactly the strings new_session_id() can return: 43 characters of
// the base64url alphabet (A-Z a-z 0-9 - _) whose last character carries only
// the 4 remaining bits (its 2 low bits are zero), so every id has one
// spelling.
RECALL_EXPORT bool is_well_formed_session_id(std::string_view id) noexcept;

// Compares without an early exit on content: the time taken depends only on
// the lengths. A length difference returns false at once (lengths are not
// secret: every id has the same length).
RECALL_EXPORT bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace recall
