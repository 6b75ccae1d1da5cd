// recall/codec.hpp: values to bytes and back, safely.
//
// encode() writes a value with cereal's binary layout inside a 32-byte
// envelope: magic "RCL1", format version, fingerprint of the value type,
// payload length and an XXH3-64 checksum of the payload. decode() checks all
// of it before cereal sees a byte, and cereal itself reads through a bounded
// archive (detail/bounded_archive.hpp) that refuses a bool other than 0 or 1,
// any element count the remaining bytes cannot hold, and any allocation past
// max_decode_allocation() of the input. So truncated, corrupted, forged or
// wrongly typed bytes give a typed error: never a crash, never undefined
// behaviour, never an exception from inside cereal, never a huge allocation.
//
// Thread safety: all functions are reentrant.
//
//   std::string bytes = recall::encode(table);
//   recall::decoded<sales_table> back = recall::decode<sales_table>(bytes);
//   if (!back) log(back.message());   else use(*back);
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "recall/detail/bounded_archive.hpp"
#include "recall/error.hpp"
#include "recall/export.hpp"
#include "recall/key.hpp"

namespace recall {

enum class codec_errc {
  ok = 0,
  truncated,            // shorter than the envelope says
  bad_magic,            // not recall bytes
  unsupported_version,  // written by an incompatible recall
  type_mismatch,        // written for another type
  too_large,            // over the caller's size limit
  checksum_mismatch,    // corrupted in storage or transit
  malformed_payload,    // envelope fine, payload rejected by the type's loader
};

RECALL_EXPORT const char* to_string(codec_errc code) noexcept;

class RECALL_EXPORT codec_error : public error {
 public:
  codec_error(codec_errc code, const std::string& message) : error(message), code_(code) {}
  codec_errc code() const noexcept { return code_; }

 private:
  codec_errc code_;
};

// The result of decode(): a value, or the reason there is none.
template <class T>
class decoded {
 public:
  decoded(T value) : value_(std::move(value)) {}
  decoded(codec_errc code, std::string message) : code_(code), message_(std::move(message)) {}

  explicit operator bool() const noexcept { return value_.has_value(); }
  codec_errc error() const noexcept { return code_; }
  const std::string& message() const noexcept { return message_; }

  // Throws codec_error when there is no value.
  T& value() & {
    throw_if_empty();
    return *value_;
  }
  T&& value() && {
    throw_if_empty();
    return std::move(*value_);
  }
  const T& value() const& {
    throw_if_empty();
    return *value_;
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void throw_if_empty() const {
    if (!value_) throw codec_error(code_, message_);
  }

  std::optional<T> value_;
  codec_errc code_ = codec_errc::ok;
  std::string message_;
};

inline constexpr std::size_t envelope_size = 32;
inline constexpr std::uint16_t codec_format_version = 1;
// decode()'s default limit on a payload: larger envelopes are refused.
inline constexpr std::size_t default_max_decode_bytes = std::size_t{1} << 30;

// The most memory one decode() lets containers allocate: this multiple of the
// size of its input, and never less than the floor (so that small values of
// types that are large in memory but small on the wire still decode). A
// payload that would need more is malformed_payload. See docs/codec.md.
inline constexpr std::size_t decode_allocation_multiple = 16;
inline constexpr std::size_t decode_allocation_floor = std::size_t{64} << 10;
constexpr std::size_t max_decode_allocation(std::size_t input_bytes) noexcept {
  if (input_bytes > SIZE_MAX / decode_allocation_multiple) return SIZE_MAX;
  return std::max(input_bytes * decode_allocation_multiple, decode_allocation_floor);
}

namespace detail {

class string_output_archive
    : public cereal::OutputArchive<string_output_archive, cereal::AllowEmptyClassElision> {
 public:
  explicit string_output_archive(std::string& out)
      : cereal::OutputArchive<string_output_archive, cereal::AllowEmptyClassElision>(this),
        out_(out) {}
  void saveBinary(const void* data, std::size_t size) {
    out_.append(static_cast<const char*>(data), size);
  }

 private:
  std::string& out_;
};

template <class T>
requires std::is_arithmetic_v<T>
void save(string_output_archive& ar, const T& value) { ar.saveBinary(&value, sizeof(value)); }
template <class T>
void save(string_output_archive& ar, const cereal::BinaryData<T>& data) {
  ar.saveBinary(data.data, static_cast<std::size_t>(data.size));
}
template <class T>
void serialize(string_output_archive& ar, cereal::NameValuePair<T>& nvp) {
  ar(nvp.value);
}
template <class T>
void serialize(string_output_archive& ar, cereal::SizeTag<T>& tag) {
  ar(tag.size);
}

struct envelope_header {
  std::uint64_t type;
  std::uint64_t payload_size;
  std::uint64_t checksum;
};

RECALL_EXPORT void write_envelope(std::string& out, std::uint64_t type, std::size_t payload_offset);
// Checks the envelope of `bytes` for `type`; on success sets `payload`.
RECALL_EXPORT codec_errc check_envelope(std::string_view bytes, std::uint64_t type,
                                        std::size_t max_bytes, std::string_view& payload,
                                        std::string& message);

}  // namespace detail

template <class T>
concept serializable =
    !std::is_pointer_v<T> &&
    cereal::traits::is_output_serializable<T, detail::string_output_archive>::value &&
    cereal::traits::is_input_serializable<T, detail::bounded_input_archive>::value &&
    std::is_default_constructible_v<T>;

#define RECALL_UNSERIALIZABLE_MESSAGE                                                            \
  "recall: this value type cannot be stored (the type is named in the 'In instantiation of' or " \
  "'requirement' lines around this one). Fix: make it default-constructible and give it a "    \
  "cereal serialize() (or save()/load()) function, and include the cereal/types/ header of "   \
  "every standard type it holds."

namespace detail {
template <class T>
constexpr void require_serializable() {
  static_assert(serializable<T>, RECALL_UNSERIALIZABLE_MESSAGE);
}
}  // namespace detail

// Appends the envelope and payload of `value` to `out`.
template <class T>
void encode_to(std::string& out, const T& value) {
  detail::require_serializable<T>();
  const std::size_t start = out.size();
  out.resize(start + envelope_size);
  {
    detail::string_output_archive archive(out);
    archive(value);
  }
  detail::write_envelope(out, detail::type_fingerprint<T>, start);
}

template <class T>
std::string encode(const T& value) {
  std::string out;
  encode_to(out, value);
  return out;
}

template <class T>
decoded<T> decode(std::string_view bytes, std::size_t max_bytes = default_max_decode_bytes) {
  detail::require_serializable<T>();
  std::string_view payload;
  std::string message;
  codec_errc code =
      detail::check_envelope(bytes, detail::type_fingerprint<T>, max_bytes, payload, message);
  if (code != codec_errc::ok) return decoded<T>(code, std::move(message));
  try {
    T value{};
    detail::bounded_input_archive archive(payload, max_decode_allocation(bytes.size()));
    archive(value);
    if (archive.remaining() != 0) {
      return decoded<T>(codec_errc::malformed_payload,
                        "recall::decode: payload has trailing bytes not read by the type");
    }
    return decoded<T>(std::move(value));
  } catch (const std::exception& e) {
    return decoded<T>(codec_errc::malformed_payload,
                      std::string("recall::decode: payload rejected: ") + e.what());
  }
}

}  // namespace recall
