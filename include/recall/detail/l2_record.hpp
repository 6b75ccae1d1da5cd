// The bytes a cache stores in its second level for one result.
//
//   "RCL2" | u16 format | u16 flags | i64 computed_at | i64 expires_at | u64 generation
//   | check | envelope
//
// Times are calendar nanoseconds since 1970 (every process reads the same age
// from them; expires_at = INT64_MAX for never). `generation` identifies the
// invalidation markers (clear, tags) the computation started under: a record
// whose markers have changed since is stale, whatever the clocks say. `check`
// covers the key the
// record is stored under, the header and the value: an 8-byte XXH3 checksum,
// or with a signing key a 32-byte HMAC-SHA256, so a record is refused if it
// was corrupted, moved to another key, or (signed) written by anyone without
// the key. The value is the codec envelope (recall/codec.hpp), which carries
// its own type fingerprint and payload checksum.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "recall/clock.hpp"
#include "recall/detail/sha256.hpp"
#include "recall/export.hpp"

namespace recall::detail {

struct l2_record {
  wall_time_point computed_at;
  wall_time_point expires_at;  // wall_time_point::max(): never
  std::uint64_t generation = 0;
  std::string value;  // the codec envelope
};

RECALL_EXPORT std::string encode_l2_record(std::string_view key, const l2_record& record,
                                           const hmac_sha256* signer);

// The record, or nullopt with the reason in `why` (truncated, foreign,
// corrupted, unsigned where a signature is required, forged).
RECALL_EXPORT std::optional<l2_record> decode_l2_record(std::string_view key,
                                                        std::string_view bytes,
                                                        const hmac_sha256* signer,
                                                        std::string& why);

}  // namespace recall::detail
