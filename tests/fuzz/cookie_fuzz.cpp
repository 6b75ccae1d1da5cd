// libFuzzer target: reading the session cookie from a Cookie header, and
// refusing to set anything but a session id.
//
// find_cookie() never throws, and what it returns lies inside the header,
// holds no ';', and has no surrounding whitespace.
// session_cookie::set() returns only for well-formed session ids, and then
// the value it sets is exactly the id; anything else is a config_error.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "recall/cookie.hpp"
#include "recall/error.hpp"
#include "recall/session_id.hpp"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "cookie_fuzz: %s\n", what);
  std::abort();
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

void check_found(std::string_view header, std::string_view value) {
  const char* begin = header.data();
  const char* end = header.data() + header.size();
  if (value.data() < begin || value.data() + value.size() > end) {
    fail("find_cookie returned a view outside the header");
  }
  if (value.find(';') != std::string_view::npos) fail("a cookie value contains ';'");
  // Whitespace inside quotes ("\" x \"") is the value's own.
  if (header.find('"') == std::string_view::npos && !value.empty() &&
      (is_space(value.front()) || is_space(value.back()))) {
    fail("a cookie value keeps surrounding whitespace");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider in(bytes, size);
  const std::string name = in.ConsumeRandomLengthString(64);
  const std::string header = in.ConsumeRandomLengthString(4096);
  const std::string candidate = in.ConsumeRemainingBytesAsString();

  if (auto found = recall::find_cookie(header, name)) check_found(header, *found);
  static const recall::session_cookie default_cookie;
  if (auto found = recall::find_cookie(header, default_cookie.name())) check_found(header, *found);

  for (const std::string_view id : {std::string_view(candidate), std::string_view(header)}) {
    try {
      const std::string set = default_cookie.set(id);
      if (!recall::is_well_formed_session_id(id)) fail("set() accepted something not an id");
      const std::string prefix = default_cookie.name() + "=" + std::string(id) + ";";
      if (set.rfind(prefix, 0) != 0) fail("set() does not set exactly the id");
    } catch (const recall::config_error&) {
      if (recall::is_well_formed_session_id(id)) fail("set() refused a well-formed id");
    }
  }
  return 0;
}
