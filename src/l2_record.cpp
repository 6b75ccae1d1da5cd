#include "recall/detail/l2_record.hpp"

#include <fmt/format.h>

#include <cstring>

#include "recall/detail/xxhash.hpp"

namespace recall::detail {
namespace {

constexpr char magic[4] = {'R', 'C', 'L', '2'};
constexpr std::uint16_t format = 1;
constexpr std::uint16_t signed_flag = 1;
constexpr std::size_t header_size = 4 + 2 + 2 + 8 + 8 + 8;
constexpr std::size_t checksum_size = 8;
constexpr std::size_t signature_size = 32;

std::int64_t to_ns(wall_time_point t) {
  if (t == wall_time_point::max()) return INT64_MAX;
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

wall_time_point from_ns(std::int64_t ns) {
  if (ns == INT64_MAX) return wall_time_point::max();
  return wall_time_point(
      std::chrono::duration_cast<wall_time_point::duration>(std::chrono::nanoseconds(ns)));
}

template <class T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof(value));
}

template <class T>
T get(std::string_view bytes, std::size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(value));
  return value;
}

// The checksum binds the record to its key: a length, the key, the rest.
std::uint64_t checksum(std::string_view key, std::string_view header, std::string_view value) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  const std::uint64_t key_size = key.size();
  XXH3_64bits_update(&state, &key_size, sizeof(key_size));
  XXH3_64bits_update(&state, key.data(), key.size());
  XXH3_64bits_update(&state, header.data(), header.size());
  XXH3_64bits_update(&state, value.data(), value.size());
  return XXH3_64bits_digest(&state);
}

sha256_digest signature(const hmac_sha256& signer, std::string_view key, std::string_view header,
                        std::string_view value) {
  const std::uint64_t key_size = key.size();
  return signer.sign(std::string_view(reinterpret_cast<const char*>(&key_size), sizeof(key_size)),
                     key, header, value);
}

}  // namespace

std::string encode_l2_record(std::string_view key, const l2_record& record,
                             const hmac_sha256* signer) {
  std::string out;
  out.reserve(header_size + signature_size + record.value.size());
  out.append(magic, sizeof(magic));
  put<std::uint16_t>(out, format);
  put<std::uint16_t>(out, signer ? signed_flag : 0);
  put<std::int64_t>(out, to_ns(record.computed_at));
  put<std::int64_t>(out, to_ns(record.expires_at));
  put<std::uint64_t>(out, record.generation);
  const std::string_view header(out.data(), header_size);
  if (signer) {
    const sha256_digest mac = signature(*signer, key, header, record.value);
    out.append(reinterpret_cast<const char*>(mac.data()), mac.size());
  } else {
    put<std::uint64_t>(out, checksum(key, header, record.value));
  }
  out += record.value;
  return out;
}

std::optional<l2_record> decode_l2_record(std::string_view key, std::string_view bytes,
                                          const hmac_sha256* signer, std::string& why) {
  const std::size_t check_size = signer ? signature_size : checksum_size;
  if (bytes.size() < header_size || std::memcmp(bytes.data(), magic, sizeof(magic)) != 0) {
    why = "not a recall record (no RCL2 header)";
    return std::nullopt;
  }
  if (const auto version = get<std::uint16_t>(bytes, 4); version != format) {
    why = fmt::format("record format {} is not supported (this build reads {})", version, format);
    return std::nullopt;
  }
  const auto flags = get<std::uint16_t>(bytes, 6);
  if (flags != (signer ? signed_flag : 0)) {
    why = signer ? "record is not signed, and this cache requires signed records"
                 : "record is signed, and this cache has no signing key to check it";
    return std::nullopt;
  }
  if (bytes.size() < header_size + check_size) {
    why = "record is truncated";
    return std::nullopt;
  }
  const std::string_view header = bytes.substr(0, header_size);
  const std::string_view value = bytes.substr(header_size + check_size);
  if (signer) {
    sha256_digest stored;
    std::memcpy(stored.data(), bytes.data() + header_size, stored.size());
    if (!digests_equal(stored, signature(*signer, key, header, value))) {
      why = "record signature does not verify (corrupted, moved, or written without the key)";
      return std::nullopt;
    }
  } else if (get<std::uint64_t>(bytes, header_size) != checksum(key, header, value)) {
    why = "record checksum does not match (corrupted, truncated or moved to another key)";
    return std::nullopt;
  }
  return l2_record{from_ns(get<std::int64_t>(bytes, 8)), from_ns(get<std::int64_t>(bytes, 16)),
                   get<std::uint64_t>(bytes, 24), std::string(value)};
}

}  // namespace recall::detail
