// SHA-1 (FIPS 180-4), for the script digests that EVALSHA names. Not for
// security: Redis chose the digest, we only have to compute the same one.
//
// Thread safety: pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace recall::detail {

std::array<std::uint8_t, 20> sha1(std::string_view data) noexcept;

// 40 lowercase hex digits, the form Redis uses.
std::string sha1_hex(std::string_view data);

}  // namespace recall::detail
