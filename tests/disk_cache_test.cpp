// cache_data over a disk store: results survive a restart with their age,
// TTLs hold across it, clear() and tags reach the disk, invalidations reach
// the other caches of the process, corrupt files are recomputed.
#include <filesystem>
#include <string>

#include "catch.hpp"
#include "recall/cache_data.hpp"
#include "recall/disk_store.hpp"
#include "recall/registry.hpp"
#include "support/disk_fixture.hpp"

using namespace std::chrono_literals;
using disk_test::temp_dir;

namespace {

// A cache "name" over the store in `dir`, computing x * 10 + (calls so far).
struct counted_cache {
  counted_cache(const std::filesystem::path& dir, std::shared_ptr<recall::manual_clock> clock,
                std::string name = "disk_cache", recall::duration ttl = 10min,
                std::vector<std::string> tags = {})
      : l2(recall::disk_store(dir, {.second_level = {.clock = clock}})),
        f(recall::cache_data(
            [this](int x) {
              ++calls;
              return x * 10 + calls;
            },
            {.name = std::move(name),
             .ttl = ttl,
             .clock = clock,
             .tags = std::move(tags),
             .l2 = l2})) {}

  int calls = 0;
  std::shared_ptr<recall::second_level> l2;
  recall::cached_function<int(int)> f;
};

}  // namespace

TEST_CASE("disk cache: a new cache over the same directory gets the result with its age") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  const recall::time_point t0 = clock->now();
  {
    counted_cache first(tmp.store(), clock);
    CHECK(first.f(4) == 41);
    CHECK(first.f.stats().l2_writes == 1);
  }
  clock->advance(3min);
  counted_cache second(tmp.store(), clock);  // "after the restart"
  const auto r = second.f.lookup(4);
  CHECK(r.value == 41);
  CHECK(r.from_cache);
  CHECK(r.computed_at == t0);
  CHECK(r.age == 3min);
  CHECK_FALSE(r.stale);
  CHECK(second.calls == 0);
  const auto s = second.f.stats();
  CHECK(s.l2_hits == 1);
  CHECK(s.loads == 0);
  CHECK(recall::disk_stats(*second.l2)->hits >= 1);
}

TEST_CASE("disk cache: a result older than refresh_after is reported stale after a restart") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  const auto make = [&] {
    return recall::cache_data(
        [](int x) { return x * 10; },
        {.name = "disk_stale",
         .ttl = 10min,
         .refresh_after = 2min,
         .clock = clock,
         .l2 = recall::disk_store(tmp.store(), {.second_level = {.clock = clock}})});
  };
  {
    auto first = make();
    CHECK_FALSE(first.lookup(4).stale);  // computed by this call: fresh
  }
  clock->advance(3min);
  auto second = make();  // "after the restart"
  const auto r = second.lookup(4);
  CHECK(r.value == 40);
  CHECK(r.from_cache);
  CHECK(r.age == 3min);
  CHECK(r.stale);
}

TEST_CASE("disk cache: the TTL holds across a restart") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  {
    counted_cache first(tmp.store(), clock);
    CHECK(first.f(4) == 41);
  }
  clock->advance(9min + 59s);
  {
    counted_cache second(tmp.store(), clock);
    CHECK(second.f(4) == 41);
    CHECK(second.calls == 0);
  }
  clock->advance(1s);  // exactly the TTL
  counted_cache third(tmp.store(), clock);
  CHECK(third.f(4) == 41);  // recomputed: its own first call
  CHECK(third.calls == 1);
  CHECK(third.f.lookup(4).age == 0s);
  CHECK(third.f.stats().l2_misses == 1);
  CHECK(recall::disk_stats(*third.l2)->expired == 1);
}

TEST_CASE("disk cache: a corrupt file is a counted miss, recomputed and replaced") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  {
    counted_cache first(tmp.store(), clock);
    first.f(4);
  }
  const auto files = std::filesystem::directory_iterator(tmp.store() / "e");
  const auto file = files->path();
  std::string bytes = disk_test::read_file(file);
  bytes[bytes.size() / 2] ^= 0x10;
  disk_test::write_file(file, bytes);
  counted_cache second(tmp.store(), clock);
  CHECK(second.f(4) == 41);
  CHECK(second.calls == 1);
  CHECK(second.f.stats().l2_misses == 1);
  CHECK(recall::disk_stats(*second.l2)->corrupt == 1);
  counted_cache third(tmp.store(), clock);
  CHECK(third.f(4) == 41);
  CHECK(third.calls == 0);
}

TEST_CASE("disk cache: clear() and invalidate() reach the disk, for every later reader") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  counted_cache first(tmp.store(), clock);
  first.f(1);
  first.f(2);
  first.f.invalidate(1);
  {
    counted_cache later(tmp.store(), clock);
    CHECK(later.f(1) == 11);  // recomputed
    CHECK(later.f(2) == 22);  // from disk
    CHECK(later.calls == 1);
  }
  clock->advance(1s);
  first.f.clear();
  counted_cache after_clear(tmp.store(), clock);
  CHECK(after_clear.f(2) == 21);
  CHECK(after_clear.calls == 1);
}

TEST_CASE("disk cache: a clear() survives ten times the budget of writes") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  const auto small = [&] {
    return recall::disk_store(tmp.store(), {.max_entries = 16, .second_level = {.clock = clock}});
  };
  int calls = 0;
  auto make = [&](std::shared_ptr<recall::second_level> l2) {
    return recall::cache_data([&](int x) { return x + 1000 * ++calls; },
                              {.name = "bounded", .ttl = 1h, .clock = clock, .l2 = l2});
  };
  auto f = make(small());
  CHECK(f(1) == 1001);
  clock->advance(1s);
  f.clear();
  clock->advance(1s);
  auto g = make(small());
  for (int i = 2; i < 160; ++i) g(i);
  CHECK(recall::disk_stats(*g.options().l2)->entries <= 16);
  // The marker is still there, so whatever is left of the old records stays hidden.
  std::vector<std::optional<std::string>> marker;
  const std::string marker_key[] = {"{bounded:0}:cleared"};
  REQUIRE(g.options().l2->get(marker_key, marker) == recall::l2_status::ok);
  CHECK(marker[0]);
  auto h = make(small());
  const int before = calls;
  CHECK(h(1) == 1 + 1000 * (before + 1));
}

TEST_CASE("disk cache: invalidate_tag reaches the disk") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  counted_cache first(tmp.store(), clock, "tagged_disk", 10min, {"warehouse"});
  first.f(3);
  clock->advance(1s);
  const auto done = recall::invalidate_tag("warehouse");
  CHECK(done.unreachable_stores == 0);
  counted_cache later(tmp.store(), clock, "tagged_disk", 10min, {"warehouse"});
  CHECK(later.f(3) == 31);
  CHECK(later.calls == 1);
}

TEST_CASE("disk cache: two caches of one name in one process see each other's invalidations") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  counted_cache a(tmp.store(), clock, "shared_name");
  counted_cache b(tmp.store(), clock, "shared_name");
  CHECK(a.f(5) == 51);
  CHECK(b.f(5) == 51);  // from disk
  CHECK(b.calls == 0);
  CHECK(b.f.peek(5));  // now in b's memory too
  a.f.invalidate(5);
  CHECK_FALSE(b.f.peek(5));
  CHECK(b.f(5) == 51);  // b computes its own
  CHECK(b.calls == 1);
  CHECK(a.f(5) == 51);  // ... which a reads from disk
  CHECK(a.calls == 1);
  a.f.clear();
  CHECK_FALSE(b.f.peek(5));
  CHECK(b.f.stats().invalidations_received == 2);
}

TEST_CASE("disk cache: a shared store serves several caches") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  auto l2 = recall::disk_store(tmp.store(), {.second_level = {.clock = clock}});
  auto doubled = recall::cache_data([](int x) { return x * 2; },
                                    {.name = "doubled", .ttl = 1h, .clock = clock, .l2 = l2});
  auto named = recall::cache_data([](int x) { return std::to_string(x); },
                                  {.name = "named", .ttl = 1h, .clock = clock, .l2 = l2});
  CHECK(doubled(4) == 8);
  CHECK(named(4) == "4");
  auto again = recall::cache_data([](int) { return std::string("recomputed"); },
                                  {.name = "named", .ttl = 1h, .clock = clock, .l2 = l2});
  CHECK(again(4) == "4");
  CHECK(recall::disk_stats(*l2)->entries == 2);
}
