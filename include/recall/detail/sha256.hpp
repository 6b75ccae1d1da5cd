// SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104): signatures on values a
// second level stores, and keyed hashes of session ids stored outside the
// process. Written here rather than taken from a crypto library so recall
// keeps its dependency list short; tested against the FIPS and RFC 4231
// vectors. Nothing in it branches on or indexes by secret data. On x86 CPUs
// with the SHA extensions the compression runs on them (chosen once, at the
// first use).
//
// Thread safety: values and pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "recall/export.hpp"

namespace recall::detail {

using sha256_digest = std::array<unsigned char, 32>;

class RECALL_EXPORT sha256 {
 public:
  sha256() noexcept;
  void update(std::string_view data) noexcept;
  sha256_digest finish() noexcept;

 private:
  std::array<std::uint32_t, 8> state_;
  std::array<unsigned char, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t length_ = 0;  // bytes hashed so far
};

RECALL_EXPORT sha256_digest sha256_of(std::string_view data) noexcept;

// HMAC-SHA256 with a key of any length.
class RECALL_EXPORT hmac_sha256 {
 public:
  explicit hmac_sha256(std::string_view key) noexcept;
  // The MAC of the concatenation of `parts`.
  template <class... Parts>
  sha256_digest sign(const Parts&... parts) const noexcept {
    sha256 inner = inner_;
    (inner.update(std::string_view(parts)), ...);
    return finish(inner);
  }

 private:
  sha256_digest finish(sha256& inner) const noexcept;

  sha256 inner_;  // already fed with key ^ ipad
  sha256 outer_;  // already fed with key ^ opad
};

// Compares without an early exit: the time does not depend on where two
// digests differ.
RECALL_EXPORT bool digests_equal(const sha256_digest& a, const sha256_digest& b) noexcept;

}  // namespace recall::detail
