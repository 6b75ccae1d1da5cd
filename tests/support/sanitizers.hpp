// Whether this test binary runs under ASan or TSan. GCC announces them with
// __SANITIZE_ADDRESS__ / __SANITIZE_THREAD__, clang only through
// __has_feature; tests use this to shrink loads and to skip real-memory (RSS)
// checks, which a sanitizer's shadow memory and quarantine make meaningless.
#pragma once

namespace recall_test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool sanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool sanitized = true;
#else
inline constexpr bool sanitized = false;
#endif
#else
inline constexpr bool sanitized = false;
#endif

}  // namespace recall_test
