// The replaceable global operator new and delete forms that the library and
// Catch2 use, all through one function that the including test defines
// (recall_test::test_malloc) and std::free: a test that counts or fails
// allocations sees every one, and ASan still checks each pair (malloc and
// free). Include it in exactly one file of a test executable, since the
// replacement applies to the whole program. The aligned forms are left to
// the standard library (aligned_alloc and free).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace recall_test {
// malloc for `size` bytes (at least 1), or nullptr to fail the allocation.
void* test_malloc(std::size_t size) noexcept;
}  // namespace recall_test

namespace recall_test {
inline void* test_new(std::size_t size) {
  if (void* p = test_malloc(size)) return p;
  throw std::bad_alloc();
}
}  // namespace recall_test

void* operator new(std::size_t size) { return recall_test::test_new(size); }
void* operator new[](std::size_t size) { return recall_test::test_new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return recall_test::test_malloc(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return recall_test::test_malloc(size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
