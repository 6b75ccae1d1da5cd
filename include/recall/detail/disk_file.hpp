// One entry of the disk store: its file name and its bytes.
//
// The file name is XXH3-128 of the key (32 hex digits): keys hold braces and
// colons, and may be long. The file holds the key too, so a file found under
// another key's name (moved, or a collision) is refused:
//
//   "RCLD" | u16 format | u16 flags (0) | u32 key size | u32 0 | u64 value size
//   | i64 expires_at | i64 written_at | key | value | u64 checksum
//
// Times are calendar nanoseconds since 1970 (expires_at = INT64_MAX: never),
// in the host's byte order: a store's files never leave its host. The
// checksum (XXH3-64) covers every byte before it, so a truncated, torn or
// bit-flipped file fails it, and the sizes must add up to the file's size
// exactly before anything is allocated from them.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "recall/export.hpp"

namespace recall::detail::disk_file {

constexpr std::size_t header_size = 40;
constexpr std::size_t trailer_size = 8;
// Keys longer than this are not stored (cache_data's are under 200 bytes).
constexpr std::size_t max_key_size = 4096;
constexpr std::int64_t never = INT64_MAX;

// A key's file name. `high` is never 0, so the index can mark free slots.
struct RECALL_EXPORT name {
  std::uint64_t high = 0;
  std::uint64_t low = 0;

  friend bool operator==(const name&, const name&) = default;
  // 32 lowercase hex digits, NUL-terminated.
  struct text {
    char chars[33];
    const char* c_str() const noexcept { return chars; }
  };
  text hex() const noexcept;
  static std::optional<name> parse(std::string_view hex) noexcept;
};

RECALL_EXPORT name name_of(std::string_view key) noexcept;

struct header {
  std::uint32_t key_size = 0;
  std::uint64_t value_size = 0;
  std::int64_t expires_at = 0;
  std::int64_t written_at = 0;
};

// The header and the checksum of a file holding `key` and `value`: the file
// is header + key + value + trailer.
RECALL_EXPORT std::string encode_header(std::string_view key, std::uint64_t value_size,
                                        std::int64_t expires_at, std::int64_t written_at);
RECALL_EXPORT std::string encode_trailer(std::string_view header, std::string_view key,
                                         std::string_view value);

// The header of a file of `file_size` bytes from its first bytes (at least
// header_size), or nullopt with the reason: not ours, another format, sizes
// that do not add up to the file's size.
RECALL_EXPORT std::optional<header> parse_header(std::string_view first_bytes,
                                                 std::uint64_t file_size, std::string& why);

// Checks a whole file read for `key`: header, sizes, checksum, key. On
// success returns the header and leaves only the value in `bytes`.
RECALL_EXPORT std::optional<header> decode(std::string_view key, std::string& bytes,
                                           std::string& why);

}  // namespace recall::detail::disk_file
