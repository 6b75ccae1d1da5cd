#include "session_format.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include "recall/codec.hpp"

namespace recall::detail {
namespace {

// A compact value keeps the envelope's type fingerprint (bytes 8-15) and the
// payload; the rest (magic, format, length, checksum) is rebuilt on reading.
static_assert(codec_format_version == 1,
              "the compact form of stored session values follows codec envelope format 1: "
              "review src/redis/session_format.cpp when the envelope changes");
constexpr std::size_t type_offset = 8;
constexpr std::size_t type_size = 8;

std::array<char, 4> u32(std::size_t n) noexcept {
  return {static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
          static_cast<char>(n)};
}

std::string_view view(const std::array<char, 4>& a) noexcept { return {a.data(), a.size()}; }

std::uint32_t read_u32(std::string_view bytes) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

std::string truncated(const sha256_digest& d) {
  return std::string(reinterpret_cast<const char*>(d.data()), mac_size);
}

// Compares without an early exit.
bool same(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

constexpr char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

}  // namespace

std::size_t encoded_size_of_compact(std::size_t compact_size) noexcept {
  return compact_size + envelope_size - type_size;
}

std::string big_endian(std::uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[static_cast<std::size_t>(i)] = static_cast<char>(v);
  return out;
}

std::uint64_t read_big_endian(std::string_view bytes) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v = v << 8 | static_cast<unsigned char>(bytes[i]);
  return v;
}

std::optional<stored_value> parse_stored(std::string_view bytes) noexcept {
  if (bytes.empty()) return std::nullopt;
  stored_value v;
  v.kind = bytes[0];
  switch (v.kind) {
    case 'v':
      if (bytes.size() < 1 + mac_size + type_size) return std::nullopt;
      v.mac = bytes.substr(1, mac_size);
      v.compact = bytes.substr(1 + mac_size);
      return v;
    case 'w':
      if (bytes.size() < 1 + mac_size + 8 + type_size) return std::nullopt;
      v.mac = bytes.substr(1, mac_size);
      v.version = read_big_endian(bytes.substr(1 + mac_size, 8));
      v.compact = bytes.substr(1 + mac_size + 8);
      return v;
    case 'l':
    case 'm':
      v.body = bytes.substr(1);
      return v;
    default:
      return std::nullopt;
  }
}

bool split_items(std::string_view body, std::vector<std::string_view>& frames) {
  frames.clear();
  while (!body.empty()) {
    if (body.size() < item_header) return false;
    const std::size_t len = read_u32(body);
    if (len < type_size || body.size() - item_header < len) return false;
    frames.push_back(body.substr(0, item_header + len));
    body.remove_prefix(item_header + len);
  }
  return true;
}

bool split_entries(std::string_view body, std::vector<std::string_view>& frames) {
  frames.clear();
  while (!body.empty()) {
    if (body.size() < entry_header) return false;
    const std::size_t klen = read_u32(body), vlen = read_u32(body.substr(4));
    if (klen < type_size || vlen < type_size || body.size() - entry_header < klen ||
        body.size() - entry_header - klen < vlen) {
      return false;
    }
    frames.push_back(body.substr(0, entry_header + klen + vlen));
    body.remove_prefix(entry_header + klen + vlen);
  }
  return true;
}

std::string_view item_compact(std::string_view frame) noexcept { return frame.substr(item_header); }

std::string_view entry_key(std::string_view frame) noexcept {
  return frame.substr(entry_header, read_u32(frame));
}

std::string_view entry_value(std::string_view frame) noexcept {
  return frame.substr(entry_header + read_u32(frame));
}

std::optional<std::size_t> stored_weight(std::string_view key, std::string_view bytes) {
  const auto v = parse_stored(bytes);
  if (!v) return std::nullopt;
  std::size_t w = key.size();
  std::vector<std::string_view> frames;
  switch (v->kind) {
    case 'v':
    case 'w':
      return w + encoded_size_of_compact(v->compact.size());
    case 'l':
      if (!split_items(v->body, frames)) return std::nullopt;
      for (auto f : frames) w += encoded_size_of_compact(item_compact(f).size());
      return w;
    default:
      if (!split_entries(v->body, frames)) return std::nullopt;
      for (auto f : frames) {
        w += encoded_size_of_compact(entry_key(f).size()) +
             encoded_size_of_compact(entry_value(f).size());
      }
      return w;
  }
}

std::string list_with(std::string_view stored, std::string_view frame, std::size_t n) {
  std::vector<std::string_view> frames;
  if (!stored.empty()) split_items(stored.substr(1), frames);
  const std::size_t keep = std::min(frames.size(), n - 1);
  std::string out = "l";
  for (std::size_t i = frames.size() - keep; i < frames.size(); ++i) out += frames[i];
  out += frame;
  return out;
}

std::string map_with(std::string_view stored, std::string_view frame, std::size_t n) {
  std::vector<std::string_view> frames;
  if (!stored.empty()) split_entries(stored.substr(1), frames);
  const std::string_view k = entry_key(frame);
  std::erase_if(frames, [&](std::string_view f) { return entry_key(f) == k; });
  const std::size_t keep = std::min(frames.size(), n - 1);
  std::string out = "m";
  for (std::size_t i = frames.size() - keep; i < frames.size(); ++i) out += frames[i];
  out += frame;
  return out;
}

std::string map_touched(std::string_view stored, std::string_view key_compact) {
  std::vector<std::string_view> frames;
  split_entries(stored.substr(1), frames);
  const auto hit = std::find_if(frames.begin(), frames.end(),
                                [&](std::string_view f) { return entry_key(f) == key_compact; });
  if (hit != frames.end()) std::rotate(hit, hit + 1, frames.end());
  std::string out = "m";
  for (auto f : frames) out += f;
  return out;
}

std::string map_without(std::string_view stored, std::string_view key_compact) {
  std::vector<std::string_view> frames;
  split_entries(stored.substr(1), frames);
  std::string out = "m";
  for (auto f : frames) {
    if (entry_key(f) != key_compact) out += f;
  }
  return out;
}

std::string to_compact(std::string_view encoded) {
  std::string out(encoded.substr(type_offset, type_size));
  out += encoded.substr(envelope_size);
  return out;
}

std::string from_compact(std::string_view compact) {
  std::string out(envelope_size, '\0');
  out += compact.substr(type_size);
  std::uint64_t type;
  std::memcpy(&type, compact.data(), type_size);
  write_envelope(out, type, 0);
  return out;
}

// --- session_format ----------------------------------------------------------

session_format::session_format(std::string_view secret) : hmac_(secret) {}

sha256_digest session_format::id_hash(std::string_view id) const noexcept {
  return hmac_.sign(std::string_view("recall.session.id", 18), id);
}

std::string session_format::key_suffix(const sha256_digest& h) {
  std::string out;
  out.reserve(16);
  for (std::size_t i = 0; i < 12; i += 3) {
    const std::uint32_t v = std::uint32_t{h[i]} << 16 | std::uint32_t{h[i + 1]} << 8 | h[i + 2];
    out += b64[v >> 18 & 63];
    out += b64[v >> 12 & 63];
    out += b64[v >> 6 & 63];
    out += b64[v & 63];
  }
  return out;
}

std::string session_format::meta(const sha256_digest& h, std::uint64_t tag, std::string_view user,
                                 std::int64_t created_ms) const {
  const std::string t = big_endian(tag);
  const std::string c = big_endian(static_cast<std::uint64_t>(created_ms));
  const auto ulen = u32(user.size());
  const std::string_view hv(reinterpret_cast<const char*>(h.data()), h.size());
  return t + truncated(hmac_.sign(std::string_view("recall.session.meta", 20), hv, t, view(ulen),
                                  user, c));
}

std::optional<std::uint64_t> session_format::check_meta(std::string_view field,
                                                        const sha256_digest& h,
                                                        std::string_view user,
                                                        std::int64_t created_ms) const {
  if (field.size() != 8 + mac_size) return std::nullopt;
  const std::uint64_t tag = read_big_endian(field);
  if (!same(field, meta(h, tag, user, created_ms))) return std::nullopt;
  return tag;
}

std::string session_format::value_mac(std::uint64_t tag, std::string_view key, char kind,
                                      std::uint64_t version, std::string_view compact) const {
  const std::string t = big_endian(tag), v = big_endian(version);
  const auto klen = u32(key.size());
  return truncated(hmac_.sign(std::string_view("recall.session.value", 21), t, view(klen), key,
                              std::string_view(&kind, 1), v, compact));
}

std::string session_format::item_mac(std::uint64_t tag, std::string_view key,
                                     std::string_view compact) const {
  const std::string t = big_endian(tag);
  const auto klen = u32(key.size());
  return truncated(
      hmac_.sign(std::string_view("recall.session.item", 20), t, view(klen), key, compact));
}

std::string session_format::entry_mac(std::uint64_t tag, std::string_view key,
                                      std::string_view key_compact,
                                      std::string_view value_compact) const {
  const std::string t = big_endian(tag);
  const auto klen = u32(key.size()), kclen = u32(key_compact.size());
  return truncated(hmac_.sign(std::string_view("recall.session.entry", 21), t, view(klen), key,
                              view(kclen), key_compact, value_compact));
}

std::string session_format::value(std::uint64_t tag, std::string_view key, std::string_view compact,
                                  std::uint64_t version) const {
  const char kind = version == 0 ? 'v' : 'w';
  std::string out(1, kind);
  out += value_mac(tag, key, kind, version, compact);
  if (version != 0) out += big_endian(version);
  out += compact;
  return out;
}

std::string session_format::item(std::uint64_t tag, std::string_view key,
                                 std::string_view compact) const {
  std::string out(view(u32(compact.size())));
  out += item_mac(tag, key, compact);
  out += compact;
  return out;
}

std::string session_format::entry(std::uint64_t tag, std::string_view key,
                                  std::string_view key_compact,
                                  std::string_view value_compact) const {
  std::string out(view(u32(key_compact.size())));
  out += view(u32(value_compact.size()));
  out += entry_mac(tag, key, key_compact, value_compact);
  out += key_compact;
  out += value_compact;
  return out;
}

bool session_format::value_valid(std::uint64_t tag, std::string_view key,
                                 const stored_value& v) const {
  return same(v.mac, value_mac(tag, key, v.kind, v.version, v.compact));
}

bool session_format::item_valid(std::uint64_t tag, std::string_view key,
                                std::string_view frame) const {
  return same(frame.substr(4, mac_size), item_mac(tag, key, item_compact(frame)));
}

bool session_format::entry_valid(std::uint64_t tag, std::string_view key,
                                 std::string_view frame) const {
  return same(frame.substr(8, mac_size), entry_mac(tag, key, entry_key(frame), entry_value(frame)));
}

}  // namespace recall::detail
