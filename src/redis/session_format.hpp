// The bytes of a session in Redis (docs/redis.md, "Sessions: data layout"):
// key names from keyed hashes of ids, values and list items and map entries
// bound to their session by a MAC, and the framing of lists and maps. The
// Lua functions (session_functions.cpp) read the same framing; everything read
// back from Redis is checked here, and no length read from it is trusted.
//
// Thread safety: a session_format is immutable after construction; the free
// functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recall/detail/sha256.hpp"

namespace recall::detail {

// A stored single value: 'v' + mac(8) + compact, or 'w' + mac(8) +
// version(8, big-endian) + compact when its source version is not 0.
// compact: an encoding without the codec envelope's fixed parts (the type
// fingerprint, then the payload); the MAC replaces its checksum.
// A list: 'l' + items, each len(4, big-endian, of compact) + mac(8) + compact.
// A map: 'm' + entries, each klen(4) + vlen(4) + mac(8) + key compact +
// value compact, least recently used first.
inline constexpr std::size_t mac_size = 8;
inline constexpr std::size_t item_header = 4 + mac_size;
inline constexpr std::size_t entry_header = 4 + 4 + mac_size;

// What the quota counts for an encoding of `compact_size` compact bytes: the
// whole encoding, as the in-process store counts it.
std::size_t encoded_size_of_compact(std::size_t compact_size) noexcept;

// A stored value's parts, as read (not yet checked).
struct stored_value {
  char kind = 0;  // 'v', 'w', 'l', 'm'
  std::uint64_t version = 0;
  std::string_view mac;      // single values only
  std::string_view compact;  // single values only
  std::string_view body;     // lists and maps: the frames after the kind byte
};
// nullopt when the bytes cannot be a stored value.
std::optional<stored_value> parse_stored(std::string_view bytes) noexcept;

// The frames of a list or a map body, in order; false if the framing is broken.
bool split_items(std::string_view body, std::vector<std::string_view>& frames);
bool split_entries(std::string_view body, std::vector<std::string_view>& frames);
std::string_view item_compact(std::string_view frame) noexcept;
std::string_view entry_key(std::string_view frame) noexcept;
std::string_view entry_value(std::string_view frame) noexcept;

// The quota bytes of a stored value under `key` (what the scripts count);
// nullopt for bytes that are not a stored value.
std::optional<std::size_t> stored_weight(std::string_view key, std::string_view bytes);

// The same changes the scripts make, applied to a request's snapshot.
std::string list_with(std::string_view stored, std::string_view frame, std::size_t n);
std::string map_with(std::string_view stored, std::string_view frame, std::size_t n);
std::string map_touched(std::string_view stored, std::string_view key_compact);
std::string map_without(std::string_view stored, std::string_view key_compact);

// compact <-> a codec encoding. to_compact needs a whole envelope (encode()'s
// output); from_compact rebuilds the envelope (checksum included).
std::string to_compact(std::string_view encoded);
std::string from_compact(std::string_view compact);

class session_format {
 public:
  explicit session_format(std::string_view secret);

  // The keyed hash of a session id, and the key suffix made from it (the
  // first 96 bits, base64url: 16 characters).
  sha256_digest id_hash(std::string_view id) const noexcept;
  static std::string key_suffix(const sha256_digest& id_hash);

  // The 't' field of a session: its tag (8 bytes, big-endian) and a MAC
  // binding the tag, the user and the creation time to the id's hash, so a
  // session record copied under another key, or given another user or tag,
  // is refused.
  std::string meta(const sha256_digest& id_hash, std::uint64_t tag, std::string_view user,
                   std::int64_t created_ms) const;
  // The tag of a 't' field, if its MAC verifies.
  std::optional<std::uint64_t> check_meta(std::string_view field, const sha256_digest& id_hash,
                                          std::string_view user, std::int64_t created_ms) const;

  // Frames, each bound to (session tag, key): a value of `key` moved to
  // another key or session does not verify.
  std::string value(std::uint64_t tag, std::string_view key, std::string_view compact,
                    std::uint64_t version) const;
  std::string item(std::uint64_t tag, std::string_view key, std::string_view compact) const;
  std::string entry(std::uint64_t tag, std::string_view key, std::string_view key_compact,
                    std::string_view value_compact) const;

  bool value_valid(std::uint64_t tag, std::string_view key, const stored_value& v) const;
  bool item_valid(std::uint64_t tag, std::string_view key, std::string_view frame) const;
  bool entry_valid(std::uint64_t tag, std::string_view key, std::string_view frame) const;

 private:
  std::string value_mac(std::uint64_t tag, std::string_view key, char kind, std::uint64_t version,
                        std::string_view compact) const;
  std::string item_mac(std::uint64_t tag, std::string_view key, std::string_view compact) const;
  std::string entry_mac(std::uint64_t tag, std::string_view key, std::string_view key_compact,
                        std::string_view value_compact) const;

  hmac_sha256 hmac_;
};

// 8 bytes, big-endian.
std::string big_endian(std::uint64_t v);
std::uint64_t read_big_endian(std::string_view bytes) noexcept;

}  // namespace recall::detail
