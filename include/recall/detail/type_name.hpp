// Compile-time type names and their 64-bit fingerprints. Keys mix in the
// fingerprint of every argument type (so f(1) and f(1u) differ) and the codec
// stamps it on every envelope (so bytes are never decoded as another type).
// Names come from the compiler's function signature text: stable for one
// compiler and one build, which is what in-process and same-binary Redis
// sharing need. Types that travel between different builds set `name`.
#pragma once

#include <cstdint>
#include <string_view>

namespace recall::detail {

template <class T>
constexpr std::string_view type_name() noexcept {
#if defined(_MSC_VER) && !defined(__clang__)
  constexpr std::string_view signature = __FUNCSIG__;
  constexpr std::string_view prefix = "type_name<";
  constexpr std::string_view suffix = ">(void) noexcept";
#else
  constexpr std::string_view signature = __PRETTY_FUNCTION__;
  constexpr std::string_view prefix = "T = ";
  constexpr std::string_view suffix = "]";
#endif
  constexpr auto start = signature.find(prefix) + prefix.size();
  constexpr auto end = signature.rfind(suffix);
  return signature.substr(start, end - start);
}

// FNV-1a: tiny and constexpr; only used on type names, never on user data.
constexpr std::uint64_t fnv1a_64(std::string_view text) noexcept {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

template <class T>
inline constexpr std::uint64_t type_fingerprint = fnv1a_64(type_name<T>());

}  // namespace recall::detail
