// libFuzzer target: decode() of arbitrary bytes as ten value types, both as
// they come (the envelope checks) and wrapped in a valid envelope for each
// type (so the payload parser runs behind a correct checksum).
//
// Checked for every input and type: no crash, leak or undefined behaviour
// (ASan+UBSan); no exception escapes; an error is one of codec_errc's codes;
// the decode allocates at most max_decode_allocation() of its input (malloc
// hooks count it); and a value that decodes encodes again to bytes that
// decode to the same encoding.
#include <sanitizer/allocator_interface.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "forged_envelope.hpp"
#include "recall/codec.hpp"

namespace {

struct account_row {
  bool active = false;
  std::string name;
  std::vector<std::optional<int>> scores;
  std::map<std::string, std::vector<std::string>> tags;
  std::array<bool, 3> flags{};
  template <class Archive>
  void serialize(Archive& ar) {
    ar(active, name, scores, tags, flags);
  }
};

using choice = std::variant<std::monostate, int, std::string, std::vector<bool>>;

// Bytes handed out by malloc while `counting` is set (this target is
// single-threaded).
bool counting = false;
std::size_t counted = 0;

void on_malloc(const volatile void*, std::size_t size) {
  if (counting) counted += size;
}
void on_free(const volatile void*) {}

[[noreturn]] void fail(const char* what, std::string_view type) {
  std::fprintf(stderr, "codec_decode_fuzz: %s (type %.*s)\n", what, static_cast<int>(type.size()),
               type.data());
  std::abort();
}

template <class T>
void check_decode(std::string_view input) {
  constexpr std::string_view type = recall::detail::type_name<T>();
  counted = 0;
  counting = true;
  recall::decoded<T> result = recall::decode<T>(input);
  counting = false;
  // The error message may be formatted on top of what the containers took.
  if (counted > recall::max_decode_allocation(input.size()) + 4096) {
    std::fprintf(stderr, "%zu bytes allocated for %zu bytes of input\n", counted, input.size());
    fail("decode allocated more than max_decode_allocation()", type);
  }
  if (!result) {
    if (result.error() == recall::codec_errc::ok ||
        result.error() > recall::codec_errc::malformed_payload) {
      fail("an empty result without an error code", type);
    }
    if (result.message().empty()) fail("an error without a message", type);
    return;
  }
  const std::string again = recall::encode(*result);
  recall::decoded<T> twice = recall::decode<T>(again);
  if (!twice) fail("a decoded value does not decode after encoding it again", type);
  if (recall::encode(*twice) != again) fail("a value changed on a second round trip", type);
}

template <class T>
void check_both_ways(std::string_view data) {
  check_decode<T>(data);
  check_decode<T>(recall_test::in_envelope<T>(data));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  const std::string_view data(reinterpret_cast<const char*>(bytes), size);
  check_both_ways<int>(data);
  check_both_ways<bool>(data);
  check_both_ways<std::string>(data);
  check_both_ways<std::optional<int>>(data);
  check_both_ways<std::vector<double>>(data);
  check_both_ways<std::vector<std::string>>(data);
  check_both_ways<std::vector<std::array<double, 128>>>(data);
  check_both_ways<std::map<std::string, std::vector<int>>>(data);
  check_both_ways<account_row>(data);
  check_both_ways<choice>(data);
  return 0;
}
