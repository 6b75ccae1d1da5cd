#include "recall/detail/disk_file.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstring>

#include "recall/detail/xxhash.hpp"

namespace recall::detail::disk_file {
namespace {

constexpr char magic[4] = {'R', 'C', 'L', 'D'};
constexpr std::uint16_t format = 1;
// Separates file names from every other use of XXH3 on the same keys.
constexpr std::uint64_t name_seed = 0x7265'6361'6c6c'6466;  // "recalldf"

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

std::uint64_t checksum(std::string_view header, std::string_view key, std::string_view value) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, header.data(), header.size());
  XXH3_64bits_update(&state, key.data(), key.size());
  XXH3_64bits_update(&state, value.data(), value.size());
  return XXH3_64bits_digest(&state);
}

}  // namespace

name::text name::hex() const noexcept {
  text out;
  fmt::format_to_n(out.chars, 32, "{:016x}{:016x}", high, low);
  out.chars[32] = '\0';
  return out;
}

std::optional<name> name::parse(std::string_view hex) noexcept {
  if (hex.size() != 32) return std::nullopt;
  for (const char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  name n;
  std::from_chars(hex.data(), hex.data() + 16, n.high, 16);
  std::from_chars(hex.data() + 16, hex.data() + 32, n.low, 16);
  if (n.high == 0) return std::nullopt;
  return n;
}

name name_of(std::string_view key) noexcept {
  const XXH128_hash_t h = XXH3_128bits_withSeed(key.data(), key.size(), name_seed);
  return {h.high64 == 0 ? 1 : h.high64, h.low64};
}

std::string encode_header(std::string_view key, std::uint64_t value_size, std::int64_t expires_at,
                          std::int64_t written_at) {
  std::string out;
  out.reserve(header_size);
  out.append(magic, sizeof(magic));
  put<std::uint16_t>(out, format);
  put<std::uint16_t>(out, 0);
  put<std::uint32_t>(out, static_cast<std::uint32_t>(key.size()));
  put<std::uint32_t>(out, 0);
  put<std::uint64_t>(out, value_size);
  put<std::int64_t>(out, expires_at);
  put<std::int64_t>(out, written_at);
  return out;
}

std::string encode_trailer(std::string_view header, std::string_view key, std::string_view value) {
  std::string out;
  put<std::uint64_t>(out, checksum(header, key, value));
  return out;
}

std::optional<header> parse_header(std::string_view first_bytes, std::uint64_t file_size,
                                   std::string& why) {
  if (file_size < header_size + trailer_size || first_bytes.size() < header_size) {
    why = fmt::format("truncated: {} bytes, shorter than any entry", file_size);
    return std::nullopt;
  }
  if (std::memcmp(first_bytes.data(), magic, sizeof(magic)) != 0) {
    why = "not a recall disk entry (no RCLD header)";
    return std::nullopt;
  }
  if (const auto version = get<std::uint16_t>(first_bytes, 4); version != format) {
    why = fmt::format("entry format {} (this build reads {})", version, format);
    return std::nullopt;
  }
  if (get<std::uint16_t>(first_bytes, 6) != 0 || get<std::uint32_t>(first_bytes, 12) != 0) {
    why = "unknown flags in the entry header";
    return std::nullopt;
  }
  header h{get<std::uint32_t>(first_bytes, 8), get<std::uint64_t>(first_bytes, 16),
           get<std::int64_t>(first_bytes, 24), get<std::int64_t>(first_bytes, 32)};
  const std::uint64_t body = file_size - header_size - trailer_size;
  if (h.key_size > max_key_size || h.key_size > body || h.value_size != body - h.key_size) {
    why = fmt::format(
        "sizes do not add up: key {} + value {} bytes in a {}-byte file (truncated "
        "or corrupt)",
        h.key_size, h.value_size, file_size);
    return std::nullopt;
  }
  return h;
}

std::optional<header> decode(std::string_view key, std::string& bytes, std::string& why) {
  const std::optional<header> h = parse_header(bytes, bytes.size(), why);
  if (!h) return std::nullopt;
  const std::string_view all(bytes);
  const std::string_view stored_key = all.substr(header_size, h->key_size);
  const std::string_view value = all.substr(header_size + h->key_size, h->value_size);
  if (get<std::uint64_t>(all, all.size() - trailer_size) !=
      checksum(all.substr(0, header_size), stored_key, value)) {
    why = "checksum does not match (truncated, torn or corrupted)";
    return std::nullopt;
  }
  if (stored_key != key) {
    why = "holds another key (moved or copied from another name)";
    return std::nullopt;
  }
  bytes.resize(bytes.size() - trailer_size);
  bytes.erase(0, header_size + h->key_size);
  return h;
}

}  // namespace recall::detail::disk_file
