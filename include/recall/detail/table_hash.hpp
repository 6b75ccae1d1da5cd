// The hash that places a key in recall's in-memory tables (the engine's shards
// and index, its ghost fingerprints, single-flight's table).
//
// A key is deterministic on purpose: another process, Redis or a disk store
// computes the same 128 bits from the same arguments, and the seed it starts
// from (a cache's name and version) is public. So a client that chooses
// arguments could search offline for keys that share a shard or a bucket and
// flood one of them. Tables therefore never index by the key's bits directly:
// they index by a keyed mix of the key with a secret drawn from the operating
// system's CSPRNG once per process, which nobody outside the process knows.
//
// Thread safety: the secret is created once (thread-safe static
// initialization) and read-only afterwards.
#pragma once

#include <cstdint>
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
#endif

#include "recall/export.hpp"
#include "recall/key.hpp"

namespace recall::detail {

struct table_secret {
  std::uint64_t a;
  std::uint64_t b;
  std::uint64_t c;
};

// The process's secret, from the OS CSPRNG on first use. Throws recall::error
// if the operating system cannot supply random bytes.
RECALL_EXPORT const table_secret& process_table_secret();

// The 128-bit product of a and b, its halves xor-ed: every input bit reaches
// every output bit.
inline std::uint64_t folded_multiply(std::uint64_t a, std::uint64_t b) noexcept {
#if defined(__SIZEOF_INT128__)
  const unsigned __int128 p = static_cast<unsigned __int128>(a) * b;
  return static_cast<std::uint64_t>(p) ^ static_cast<std::uint64_t>(p >> 64);
#elif defined(_MSC_VER)
  std::uint64_t high;
  const std::uint64_t low = _umul128(a, b, &high);
  return low ^ high;
#else
  const std::uint64_t al = a & 0xffffffffu, ah = a >> 32, bl = b & 0xffffffffu, bh = b >> 32;
  const std::uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  const std::uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
  return ((mid << 32) | (ll & 0xffffffffu)) ^ (hh + (lh >> 32) + (hl >> 32) + (mid >> 32));
#endif
}

// Two rounds of folded multiplication keyed by the secret (the construction of
// foldhash and rapidhash): without the secret, which keys collide is unknown.
inline std::uint64_t table_hash(const key& k, const table_secret& s) noexcept {
  return folded_multiply(folded_multiply(k.low ^ s.a, k.high ^ s.b) ^ s.c,
                         0x9e3779b97f4a7c15ULL ^ s.a);
}

// For absl and standard hash maps keyed by recall::key.
struct secret_key_hash {
  std::size_t operator()(const key& k) const {
    return static_cast<std::size_t>(table_hash(k, process_table_secret()));
  }
};

}  // namespace recall::detail
