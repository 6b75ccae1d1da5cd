// libFuzzer target: session id validation and comparison.
//
// is_well_formed_session_id() must accept exactly the strings
// new_session_id() can produce (checked against a plain reference: 43
// base64url characters whose last one has its two low bits zero), and
// constant_time_equal() must agree with ==.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "recall/session_id.hpp"

namespace {

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

bool reference_well_formed(std::string_view id) {
  if (id.size() != recall::session_id_length) return false;
  for (char c : id) {
    if (base64url_value(c) < 0) return false;
  }
  return (base64url_value(id.back()) & 0x3) == 0;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "session_id_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  if (recall::is_well_formed_session_id(data) != reference_well_formed(data)) {
    fail("is_well_formed_session_id disagrees with the reference");
  }
  // Split at every position the first byte names: both halves, any lengths.
  const std::size_t cut = size == 0 ? 0 : bytes[0] % size;
  const std::string_view a = data.substr(0, cut);
  const std::string_view b = data.substr(cut);
  if (recall::constant_time_equal(a, b) != (a == b)) fail("constant_time_equal disagrees with ==");
  if (!recall::constant_time_equal(data, std::string(data))) fail("a string differs from itself");
  // Half the id, then the same half: equal content at equal length.
  const std::string_view half = data.substr(0, size / 2);
  const std::string_view other = data.substr(size / 2, size / 2);
  if (recall::constant_time_equal(half, other) != (half == other)) {
    fail("constant_time_equal disagrees with == at equal lengths");
  }
  return 0;
}
