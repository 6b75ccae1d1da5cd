#include "recall/codec.hpp"

#include <fmt/format.h>

namespace recall {
namespace {

constexpr char magic[4] = {'R', 'C', 'L', '1'};

template <class T>
T read_at(std::string_view bytes, std::size_t offset) {
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

template <class T>
void write_at(std::string& out, std::size_t offset, T value) {
  std::memcpy(out.data() + offset, &value, sizeof(T));
}

}  // namespace

const char* to_string(codec_errc code) noexcept {
  switch (code) {
    case codec_errc::ok: return "ok";
    case codec_errc::truncated: return "truncated";
    case codec_errc::bad_magic: return "bad_magic";
    case codec_errc::unsupported_version: return "unsupported_version";
    case codec_errc::type_mismatch: return "type_mismatch";
    case codec_errc::too_large: return "too_large";
    case codec_errc::checksum_mismatch: return "checksum_mismatch";
    case codec_errc::malformed_payload: return "malformed_payload";
  }
  return "unknown";
}

namespace detail {

void throw_payload_ends_early(std::size_t wanted, std::size_t remaining) {
  throw cereal::Exception(
      fmt::format("the payload ends early ({} more bytes needed, {} left)", wanted, remaining));
}

void throw_not_a_bool(unsigned char byte) {
  throw cereal::Exception(
      fmt::format("byte 0x{:02x} where a bool (0 or 1) was expected", static_cast<unsigned>(byte)));
}

void throw_count_exceeds_bytes(std::uint64_t count, std::size_t remaining,
                               std::size_t min_element_bytes) {
  throw cereal::Exception(fmt::format(
      "element count {} exceeds what the {} remaining bytes can hold (each element takes at "
      "least {} bytes)",
      count, remaining, min_element_bytes));
}

void throw_count_exceeds_budget(std::uint64_t count, std::size_t bytes_per_element,
                                std::size_t budget_left) {
  throw cereal::Exception(fmt::format(
      "{} elements of about {} bytes each would exceed the {} bytes left of this decode's "
      "allocation cap ({} times the input, at least {} bytes: max_decode_allocation)",
      count, bytes_per_element, budget_left, decode_allocation_multiple, decode_allocation_floor));
}

void write_envelope(std::string& out, std::uint64_t type, std::size_t start) {
  const std::size_t payload_size = out.size() - start - envelope_size;
  const char* payload = out.data() + start + envelope_size;
  std::memcpy(out.data() + start, magic, sizeof(magic));
  write_at<std::uint16_t>(out, start + 4, codec_format_version);
  write_at<std::uint16_t>(out, start + 6, 0);
  write_at<std::uint64_t>(out, start + 8, type);
  write_at<std::uint64_t>(out, start + 16, payload_size);
  write_at<std::uint64_t>(out, start + 24, XXH3_64bits(payload, payload_size));
}

codec_errc check_envelope(std::string_view bytes, std::uint64_t type, std::size_t max_bytes,
                          std::string_view& payload, std::string& message) {
  if (bytes.size() < envelope_size) {
    message = fmt::format("recall::decode: {} bytes is shorter than the {}-byte envelope",
                          bytes.size(), envelope_size);
    return codec_errc::truncated;
  }
  if (std::memcmp(bytes.data(), magic, sizeof(magic)) != 0) {
    message = "recall::decode: bytes do not start with the recall magic 'RCL1'";
    return codec_errc::bad_magic;
  }
  if (auto version = read_at<std::uint16_t>(bytes, 4);
      version != codec_format_version || read_at<std::uint16_t>(bytes, 6) != 0) {
    message = fmt::format("recall::decode: envelope format {} is not supported (this build reads {})",
                          version, codec_format_version);
    return codec_errc::unsupported_version;
  }
  if (read_at<std::uint64_t>(bytes, 8) != type) {
    message = "recall::decode: bytes were written for another value type; "
              "bump the cache's version when a cached type changes";
    return codec_errc::type_mismatch;
  }
  const auto declared = read_at<std::uint64_t>(bytes, 16);
  if (declared > max_bytes) {
    message = fmt::format("recall::decode: payload of {} bytes exceeds the limit of {} bytes",
                          declared, max_bytes);
    return codec_errc::too_large;
  }
  if (declared != bytes.size() - envelope_size) {
    message = fmt::format("recall::decode: envelope declares {} payload bytes but {} are present",
                          declared, bytes.size() - envelope_size);
    return codec_errc::truncated;
  }
  payload = bytes.substr(envelope_size);
  if (XXH3_64bits(payload.data(), payload.size()) != read_at<std::uint64_t>(bytes, 24)) {
    message = "recall::decode: payload checksum does not match; the bytes were corrupted";
    return codec_errc::checksum_mismatch;
  }
  return codec_errc::ok;
}

}  // namespace detail

std::string key::to_hex() const { return fmt::format("{:016x}{:016x}", high, low); }

}  // namespace recall
