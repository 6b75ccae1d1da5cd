#include "recall/detail/engine.hpp"

#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"

using namespace std::chrono_literals;
using recall::removal_cause;
using recall::detail::engine;
using recall::detail::engine_config;
using recall::detail::entry_info;
using recall::detail::insert_result;
using recall::detail::never;

namespace {

recall::key k(std::uint64_t i) { return recall::make_key("engine_test", "", i); }

struct event {
  recall::key key;
  int value;
  removal_cause cause;
};

struct fixture {
  std::shared_ptr<recall::manual_clock> clock = std::make_shared<recall::manual_clock>();
  std::vector<event> events;

  engine_config<int> config(std::size_t max_entries, std::size_t max_weight,
                            std::size_t shards = 1) {
    engine_config<int> c;
    c.max_entries = max_entries;
    c.max_weight = max_weight;
    c.time = clock;
    c.shards = shards;
    c.on_removal = [this](const recall::key& key, int&& v, removal_cause cause) {
      events.push_back({key, v, cause});
    };
    return c;
  }
};

std::optional<int> get(engine<int>& e, const recall::key& key) {
  std::optional<int> out;
  e.visit(key, [&](const int& v, const entry_info&) { out = v; });
  return out;
}

}  // namespace

TEST_CASE("insert, hit, miss, replace, erase") {
  fixture f;
  engine<int> e(f.config(10, 1000));
  CHECK(e.insert(k(1), 10, 1, never) == insert_result::inserted);
  CHECK(get(e, k(1)) == 10);
  CHECK_FALSE(get(e, k(2)));
  CHECK(e.insert(k(1), 11, 1, never) == insert_result::replaced);
  CHECK(get(e, k(1)) == 11);
  REQUIRE(f.events.size() == 1);
  CHECK(f.events[0].value == 10);
  CHECK(f.events[0].cause == removal_cause::replaced);
  CHECK(e.erase(k(1)));
  CHECK_FALSE(e.erase(k(1)));
  CHECK(f.events.back().cause == removal_cause::removed);
  CHECK(f.events.back().value == 11);

  const auto s = e.stats();
  CHECK(s.hits == 2);
  CHECK(s.misses == 1);
  CHECK(s.inserts == 2);
  CHECK(s.replaced == 1);
  CHECK(s.removed == 1);
  CHECK(s.entries == 0);
  CHECK(s.bytes == 0);
}

TEST_CASE("bad bounds are refused") {
  fixture f;
  CHECK_THROWS_AS(engine<int>(f.config(0, 10)), recall::config_error);
  CHECK_THROWS_AS(engine<int>(f.config(10, 0)), recall::config_error);
}

TEST_CASE("TTL: expired entries are never returned and are reclaimed on access") {
  fixture f;
  engine<int> e(f.config(100, 1000, 4));
  const auto t0 = f.clock->now();
  e.insert(k(1), 1, 10, t0 + 5min);
  e.insert(k(2), 2, 10, t0 + 10min);
  e.insert(k(3), 3, 10, never);
  f.clock->advance(5min - 1ns);
  CHECK(get(e, k(1)) == 1);
  f.clock->advance(1ns);
  CHECK_FALSE(get(e, k(1)));
  CHECK(get(e, k(2)) == 2);
  // Reclaimed without a write: reads alone bring the memory back.
  for (int i = 0; i < 8; ++i) get(e, k(3));
  CHECK(e.size() == 2);
  CHECK(e.weight() == 20);
  f.clock->advance(1h);
  CHECK(e.cleanup() == 1);
  CHECK(e.size() == 1);
  CHECK(get(e, k(3)) == 3);
  CHECK(e.stats().expired == 2);
}

TEST_CASE("update changes value, weight and deadline") {
  fixture f;
  engine<int> e(f.config(100, 100));
  const auto t0 = f.clock->now();
  e.insert(k(1), 1, 10, t0 + 1min);
  CHECK(e.update(k(1), [&](int& v, entry_info& info) {
    v = 2;
    info.weight = 40;
    info.deadline = t0 + 10min;
  }));
  CHECK(e.weight() == 40);
  f.clock->advance(2min);
  CHECK(get(e, k(1)) == 2);
  f.clock->advance(10min);
  CHECK_FALSE(e.update(k(1), [](int&, entry_info&) {}));
}

TEST_CASE("an entry heavier than the whole budget is rejected") {
  fixture f;
  engine<int> e(f.config(10, 100));
  e.insert(k(1), 1, 50, never);
  CHECK(e.insert(k(2), 2, 101, never) == insert_result::rejected);
  CHECK(get(e, k(1)) == 1);
  CHECK(e.stats().rejected == 1);
  CHECK(e.insert(k(3), 3, 100, never) == insert_result::inserted);
  CHECK(e.weight() == 100);
  CHECK(e.size() == 1);
}

TEST_CASE("S3-FIFO keeps a re-used entry over one-hit wonders") {
  fixture f;
  engine<int> e(f.config(10, 1000));
  e.insert(k(0), 0, 1, never);
  for (std::uint64_t i = 1; i < 1000; ++i) {
    get(e, k(0));
    e.insert(k(i), static_cast<int>(i), 1, never);
  }
  CHECK(get(e, k(0)) == 0);
  CHECK(e.size() == 10);
  CHECK(e.stats().evicted == 990);
}

TEST_CASE("priority 0 is evicted before priority 1") {
  fixture f;
  engine<int> e(f.config(4, 1000));
  for (std::uint64_t i = 0; i < 3; ++i) e.insert(k(100 + i), 1, 1, never, 0, 1);
  for (std::uint64_t i = 0; i < 50; ++i) e.insert(k(i), 0, 1, never, 0, 0);
  for (std::uint64_t i = 0; i < 3; ++i) CHECK(e.contains(k(100 + i)));
  CHECK(e.size() == 4);
}

TEST_CASE("erase_if removes by tag") {
  fixture f;
  engine<int> e(f.config(100, 1000, 4));
  for (std::uint64_t i = 0; i < 20; ++i) e.insert(k(i), static_cast<int>(i), 1, never, i % 2);
  CHECK(e.erase_if([](const recall::key&, const int&, const entry_info& info) {
    return info.tag == 1;
  }) == 10);
  CHECK(e.size() == 10);
  for (std::uint64_t i = 0; i < 20; ++i) CHECK(e.contains(k(i)) == (i % 2 == 0));
  e.clear();
  CHECK(e.size() == 0);
  CHECK(e.stats().cleared == 10);
}

TEST_CASE("randomized workload never exceeds its bounds and matches a reference model") {
  const std::size_t shards = GENERATE(1, 4);
  fixture f;
  const std::size_t max_entries = 64;
  const std::size_t max_weight = 2000;
  engine<int> e(f.config(max_entries, max_weight, shards));
  // The model: what must be present, kept exact through the removal events.
  std::map<std::uint64_t, std::pair<int, std::size_t>> model;
  std::map<recall::key, std::uint64_t, decltype([](const recall::key& a, const recall::key& b) {
             return std::pair(a.high, a.low) < std::pair(b.high, b.low);
           })>
      ids;
  std::mt19937_64 rng(42);
  std::size_t consumed = 0;
  for (int step = 0; step < 20000; ++step) {
    const std::uint64_t id = rng() % 300;
    ids[k(id)] = id;
    const int op = static_cast<int>(rng() % 10);
    if (op < 6) {
      const std::size_t w = 1 + rng() % 120;
      const auto before = model.find(id) != model.end() ? model[id].second : 0;
      const auto r = e.insert(k(id), step, w, never);
      if (w > max_weight) {
        CHECK(r == insert_result::rejected);
      } else {
        model[id] = {step, w};
      }
      (void)before;
    } else if (op < 8) {
      if (e.erase(k(id))) CHECK(model.count(id) == 1);
    } else {
      const auto v = get(e, k(id));
      if (v) {
        REQUIRE(model.count(id) == 1);
        CHECK(*v == model[id].first);
      }
    }
    for (; consumed < f.events.size(); ++consumed) {
      const auto& ev = f.events[consumed];
      if (ev.cause == removal_cause::replaced) continue;
      const auto it = model.find(ids[ev.key]);
      REQUIRE(it != model.end());
      CHECK(it->second.first == ev.value);
      model.erase(it);
    }
    REQUIRE(e.size() <= max_entries);
    REQUIRE(e.weight() <= max_weight);
    REQUIRE(e.size() == model.size());
    std::size_t model_weight = 0;
    for (const auto& [_, entry] : model) model_weight += entry.second;
    REQUIRE(e.weight() == model_weight);
  }
  for (const auto& [id, entry] : model) CHECK(get(e, k(id)) == entry.first);
}

TEST_CASE("threads hammering the engine keep it consistent") {
  engine_config<std::string> c;
  c.max_entries = 500;
  c.max_weight = 50'000;
  std::atomic<std::size_t> removed_weight{0};
  c.on_removal = [&](const recall::key&, std::string&& v, removal_cause) {
    removed_weight += v.size();
  };
  engine<std::string> e(c);
  constexpr int threads = 4;
  std::vector<std::thread> pool;
  std::atomic<std::size_t> inserted_weight{0};
  std::atomic<int> inconsistent{0};  // Catch2 assertions are not thread-safe
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      for (int i = 0; i < 20000; ++i) {
        const auto id = rng() % 2000;
        switch (rng() % 4) {
          case 0: {
            std::string v(1 + rng() % 200, 'x');
            const auto size = v.size();
            if (e.insert(k(id), std::move(v), size, never) != insert_result::rejected) {
              inserted_weight += size;
            }
            break;
          }
          case 1:
            e.erase(k(id));
            break;
          default:
            e.visit(k(id), [&](const std::string& v, const entry_info& info) {
              if (v.size() != info.weight) ++inconsistent;
            });
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  CHECK(inconsistent == 0);
  e.cleanup();
  CHECK(e.size() <= 500);
  CHECK(e.weight() <= 50'000);
  CHECK(inserted_weight.load() - removed_weight.load() == e.weight());
}

TEST_CASE("a byte bound of SIZE_MAX bounds by entry count only") {
  fixture f;
  engine<int> e(f.config(50, SIZE_MAX, 2));
  for (std::uint64_t i = 0; i < 100; ++i) e.insert(k(i), static_cast<int>(i), 1000, never);
  CHECK(e.size() == 50);
  CHECK(e.stats().evicted == 50);
}
