// The byte bound of a session store holds on the heap the process really
// uses (finding 8 of issue 15): this program replaces the global operator
// new/delete to count what glibc holds for every allocation (usable size
// plus its 8-byte header), fills stores to their max_total_bytes with
// different shapes of sessions, and compares the measured heap with the
// bound.
#include <malloc.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>

#include "catch.hpp"
#include "recall/session.hpp"
#include "support/sanitizers.hpp"

namespace {

std::atomic<std::int64_t> heap_bytes{0};

std::int64_t held(void* p) noexcept {
  return static_cast<std::int64_t>(malloc_usable_size(p) + sizeof(std::size_t));
}

void* counted_new(std::size_t n, std::size_t alignment = 0) noexcept {
  if (n == 0) n = 1;
  void* p = alignment > alignof(std::max_align_t)
                ? std::aligned_alloc(alignment, (n + alignment - 1) / alignment * alignment)
                : std::malloc(n);
  if (p) heap_bytes.fetch_add(held(p), std::memory_order_relaxed);
  return p;
}

void* counted_new_or_throw(std::size_t n, std::size_t alignment = 0) {
  void* p = counted_new(n, alignment);
  if (!p) throw std::bad_alloc();
  return p;
}

void counted_delete(void* p) noexcept {
  if (!p) return;
  heap_bytes.fetch_sub(held(p), std::memory_order_relaxed);
  std::free(p);
}

using recall_test::sanitized;

struct fill_result {
  double heap_ratio;       // measured heap / max_total_bytes
  double accounted_ratio;  // stats().bytes / max_total_bytes
  std::uint64_t live;
};

// Opens sessions (as `who(i)`) shaped by `fill` until three times what fits
// was opened.
template <class Fill, class Who = recall::identity (*)(std::uint64_t)>
fill_result fill_store(
    const char* shape, Fill&& fill, Who who = [](std::uint64_t) { return recall::identity{}; }) {
  constexpr std::size_t budget = std::size_t{2} << 20;
  const std::int64_t before = heap_bytes.load();
  fill_result r{};
  {
    recall::session_store store({.name = shape,
                                 .max_sessions = SIZE_MAX,
                                 .max_total_bytes = budget,
                                 .max_bytes_per_session = 64 << 10});
    std::uint64_t opened = 0;
    while (store.stats().evicted == 0 || opened < 3 * store.stats().live) {
      auto s = store.open("", who(opened));
      fill(s, opened++);
    }
    const std::int64_t heap = heap_bytes.load() - before;
    const auto st = store.stats();
    r = {double(heap) / double(budget), double(st.bytes) / double(budget), st.live};
    std::printf("%-22s live %6llu  accounted %.3f of the budget  measured heap %.3f\n", shape,
                static_cast<unsigned long long>(st.live), r.accounted_ratio, r.heap_ratio);
  }
  return r;
}

void check(const fill_result& r) {
  CHECK(r.accounted_ratio <= 1.0);
  if (sanitized) return;  // the sanitizers' allocators hold memory differently
  CHECK(r.heap_ratio <= 1.25);
  // Not over-counted either: the budget is really used.
  CHECK(r.heap_ratio >= 0.6);
}

}  // namespace

// Every form, so that nothing allocated by one allocator is freed by another.
void* operator new(std::size_t n) { return counted_new_or_throw(n); }
void* operator new[](std::size_t n) { return counted_new_or_throw(n); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_new(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  return counted_new_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a) {
  return counted_new_or_throw(n, static_cast<std::size_t>(a));
}
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_new(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted_new(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { counted_delete(p); }
void operator delete[](void* p) noexcept { counted_delete(p); }
void operator delete(void* p, std::size_t) noexcept { counted_delete(p); }
void operator delete[](void* p, std::size_t) noexcept { counted_delete(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_delete(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_delete(p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_delete(p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_delete(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_delete(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_delete(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  counted_delete(p);
}
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept {
  counted_delete(p);
}

TEST_CASE("many tiny values") {
  check(fill_store("tiny values", [](recall::session& s, std::uint64_t i) {
    for (int k = 0; k < 20; ++k) s.set(std::string(1, char('a' + k)), static_cast<int>(i + k));
  }));
}

TEST_CASE("list<bool>") {
  check(fill_store("list<bool>", [](recall::session& s, std::uint64_t i) {
    auto l = s.list<bool>("flags", 200);
    for (int k = 0; k < 200; ++k) l.push_back((i + k) % 3 == 0);
  }));
}

TEST_CASE("maps") {
  check(fill_store("map<int, int>", [](recall::session& s, std::uint64_t i) {
    auto m = s.map<int, int>("m", 50);
    for (int k = 0; k < 50; ++k) m.put(k, static_cast<int>(i));
  }));
}

TEST_CASE("empty sessions") {
  check(fill_store("empty sessions", [](recall::session& s, std::uint64_t) { s.rotate(); }));
}

TEST_CASE("two small values") {
  check(fill_store("two small values", [](recall::session& s, std::uint64_t i) {
    s.set("region", std::string("EU"));
    s.set("n", static_cast<int>(i));
  }));
}

TEST_CASE("long strings and encoded structs") {
  check(fill_store("long strings", [](recall::session& s, std::uint64_t i) {
    s.set("text", std::string(300, 'x'));
    s.set("numbers", std::vector<double>(20, double(i)));
  }));
}

TEST_CASE("signed-in users") {
  check(fill_store(
      "signed-in users", [](recall::session& s, std::uint64_t) { s.set("n", 1); },
      [](std::uint64_t i) { return recall::identity{.user = "user-" + std::to_string(i)}; }));
}
