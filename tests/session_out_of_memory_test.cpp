// A rotation when memory runs out: a replaced global operator new fails the
// n-th allocation of the armed thread, for every n that a rotation makes, so
// that each of its allocations fails once. A handle must never be left
// pointing at a freed state (ASan), and no pin may be left behind (it would
// keep an evicted session out of the engine for good). A file of its own
// because the replacement applies to the whole executable.
//
// A sign-in is not tested so: its first allocation grows the user index's
// absl::flat_hash_map, which a failed allocation leaves unusable (Debian's
// Abseil 20220623 updates the capacity before allocating), so the test
// would only show Abseil's failure.
#include <cstdlib>
#include <new>
#include <string>

#include "catch.hpp"
#include "recall/session.hpp"
#include "support/replaced_new.hpp"

namespace {
thread_local long fail_in = -1;  // allocations before the one that fails; -1: none fails
thread_local bool failed = false;
}  // namespace

// Fails the armed thread's allocation (support/replaced_new.hpp).
void* recall_test::test_malloc(std::size_t size) noexcept {
  if (fail_in == 0) {
    fail_in = -1;
    failed = true;
    return nullptr;
  }
  if (fail_in > 0) --fail_in;
  return std::malloc(size == 0 ? 1 : size);
}

namespace {

// A stored session holding "a" = 1: its id.
std::string stored(recall::session_store& store) {
  auto s = store.open("");
  s.set("a", 1);
  return s.id();
}

// Evicts whatever was read only once (sessions read again outrank it), then
// lets the engine reclaim what it removed.
void press(recall::session_store& store) {
  for (int i = 0; i < 20; ++i) {
    const std::string other = stored(store);
    for (int j = 0; j < 3; ++j) store.open(other);
  }
  store.cleanup();
}

}  // namespace

TEST_CASE("a rotation that runs out of memory leaves its handle valid and no pin behind") {
  int failures = 0;
  for (long n = 0;; ++n) {
    recall::session_store store({.name = "rotate_oom", .max_sessions = 4});
    const std::string id = stored(store);
    {
      auto s = store.open(id);  // a resumed session: the handle borrows its state
      REQUIRE_FALSE(s.is_new());
      failed = false;
      fail_in = n;
      bool threw = false;
      try {
        s.rotate();
      } catch (const std::bad_alloc&) {
        threw = true;
      }
      fail_in = -1;
      if (!failed) break;  // the rotation made fewer than n + 1 allocations
      failures += threw ? 1 : 0;
      press(store);
      // Ended (the rotation failed half-way) or whole (it failed before
      // changing anything, or absorbed the failure).
      INFO("allocation " << n << " failed");
      CHECK((s.ended() || s.get<int>("a") == 1));
    }
    press(store);
    CHECK(store.stats().pinned_over_bound == 0);
  }
  CHECK(failures > 0);
}
