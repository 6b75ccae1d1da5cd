// The disk store between real processes (fork): writers killed with SIGKILL
// mid-write, two writers on one directory, leases raced for, what another
// process sees of a clear(). The parent forks while it runs no other thread.
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>

#include "catch.hpp"
#include "recall/cache_data.hpp"
#include "recall/disk_store.hpp"
#include "support/disk_fixture.hpp"

using namespace std::chrono_literals;
using disk_test::make_value;
using disk_test::mix;
using disk_test::temp_dir;
using disk_test::whole;

namespace {

// Counters both processes see: an anonymous shared mapping.
struct shared_counters {
  std::atomic<std::uint64_t> progress{0};
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<int> winners{0};
};

class shared_memory {
 public:
  shared_memory() {
    void* p = ::mmap(nullptr, sizeof(shared_counters), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(p != MAP_FAILED);
    counters_ = new (p) shared_counters;
  }
  ~shared_memory() { ::munmap(counters_, sizeof(shared_counters)); }
  shared_counters* operator->() const { return counters_; }

 private:
  shared_counters* counters_;
};

// Runs `body` in a child process; its return value is the child's exit code.
pid_t spawn(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int code = 3;
    try {
      code = body();
    } catch (...) {
      code = 2;
    }
    ::_exit(code);
  }
  return pid;
}

// Yields until `done`, for at most about a minute (a child that died early
// must not hang the test).
template <class Done>
bool spin_until(Done&& done) {
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (!done()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

// The child's exit code, or -signal if a signal ended it.
int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

std::optional<std::string> get1(recall::second_level& s, const std::string& key) {
  std::vector<std::optional<std::string>> values;
  const std::string keys[] = {key};
  if (s.get(keys, values) != recall::l2_status::ok) return "unavailable";
  return values[0];
}

// One random operation of a writer; false if it read a value that is not whole.
bool random_operation(recall::second_level& store, std::uint64_t r, std::size_t keys,
                      std::size_t max_size) {
  const std::string key = "k" + std::to_string(r % keys);
  switch (r % 10) {
    case 8:
      store.erase(key);
      return true;
    case 9: {
      bool added;
      store.add(key, make_value(r, 20 + r % 200), 1h, added);
      return true;
    }
    case 7:
    case 6: {
      const auto v = get1(store, key);
      return !v || whole(*v);
    }
    default:
      store.set(key, make_value(r, 20 + (r >> 8) % max_size), 1h);
      return true;
  }
}

}  // namespace

TEST_CASE("disk process: writers killed with SIGKILL mid-write leave no torn value") {
  temp_dir tmp;
  const std::uint64_t block = disk_test::block_size(tmp.path());
  const recall::disk_store_options options{.max_bytes = 48 * block, .max_entries = 32};
  recall::disk_store(tmp.store(), options);
  shared_memory shared;
  std::mt19937_64 random(20261127);
  int killed = 0;
  std::uint64_t reclaimed = 0, repairs = 0;
  for (std::uint64_t round = 0; round < 25; ++round) {
    shared->progress = 0;
    const pid_t child = spawn([&] {
      auto store = recall::disk_store(tmp.store(), options);
      for (std::uint64_t i = 0; i < 1000; ++i) {
        random_operation(*store, mix(round * 1000 + i), 40, 2 * block + 500);
        shared->progress.fetch_add(1);
      }
      return 0;
    });
    // Kill it somewhere in its loop: after a random number of operations,
    // wherever the next one has got to.
    const std::uint64_t target = random() % 1000;
    REQUIRE(spin_until([&] { return shared->progress.load() >= target; }));
    ::kill(child, SIGKILL);
    if (wait_for(child) == -SIGKILL) ++killed;

    // Every file decodes as it is, before the store touches anything.
    const disk_test::listing before = disk_test::list_entries(tmp.store());
    CHECK(before.undecodable == 0);
    for (const auto& v : before.values) CHECK(whole(v));

    // And the store recovers: dead writers' files reclaimed, the index
    // repaired to match the files, the bounds held, every key readable.
    auto store = recall::disk_store(tmp.store(), options);
    CHECK(disk_test::count_files(tmp.store() / "tmp") == 0);
    auto s = *recall::disk_stats(*store);
    reclaimed += s.temp_reclaimed;
    repairs += s.index_repairs;
    CHECK(s.entries == before.files);
    CHECK(s.bytes == before.bytes);
    CHECK(s.entries <= options.max_entries);
    CHECK(s.bytes <= options.max_bytes);
    for (int k = 0; k < 40; ++k) {
      const auto v = get1(*store, "k" + std::to_string(k));
      CHECK((!v || whole(*v)));
    }
    store->set("probe", make_value(round, 3000), 1h);
    CHECK(whole(get1(*store, "probe").value_or("")));
    s = *recall::disk_stats(*store);
    CHECK(s.corrupt == 0);
    CHECK(s.io_errors == 0);
  }
  CHECK(killed >= 20);  // a child that got to the end first was not killed mid-write
  WARN("killed " << killed << " writers; " << reclaimed << " temporary files reclaimed, " << repairs
                 << " index repairs");
}

TEST_CASE("disk process: two processes writing one directory keep it bounded and whole") {
  temp_dir tmp;
  const std::uint64_t block = disk_test::block_size(tmp.path());
  const recall::disk_store_options options{.max_bytes = 40 * block, .max_entries = 24};
  recall::disk_store(tmp.store(), options);
  shared_memory shared;
  const auto writer = [&](std::uint64_t seed) {
    auto store = recall::disk_store(tmp.store(), options);
    shared->ready.fetch_add(1);
    while (!shared->go.load()) std::this_thread::yield();
    int wrong = 0;
    for (std::uint64_t i = 0; i < 2000; ++i) {
      if (!random_operation(*store, mix(seed + i), 60, 3 * block)) ++wrong;
      // The counted totals are never over the bounds, at any moment.
      const auto s = *recall::disk_stats(*store);
      if (s.entries > options.max_entries || s.bytes > options.max_bytes) ++wrong;
    }
    return wrong;
  };
  const pid_t child = spawn([&] { return writer(1'000'000) == 0 ? 0 : 1; });
  REQUIRE(spin_until([&] { return shared->ready.load() == 1; }));
  shared->go = true;
  CHECK(writer(0) == 0);
  CHECK(wait_for(child) == 0);
  const disk_test::listing files = disk_test::list_entries(tmp.store());
  auto store = recall::disk_store(tmp.store(), options);
  const auto s = *recall::disk_stats(*store);
  CHECK(files.undecodable == 0);
  CHECK(files.files <= options.max_entries);
  CHECK(files.bytes <= options.max_bytes);
  CHECK(files.files == s.entries);
  CHECK(files.bytes == s.bytes);
  for (const auto& v : files.values) CHECK(whole(v));
}

TEST_CASE("disk process: one process of many takes an expired lease") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  const recall::disk_store_options options{.second_level = {.clock = clock}};
  shared_memory shared;
  for (int round = 0; round < 20; ++round) {
    {
      auto store = recall::disk_store(tmp.store(), options);
      store->set("lease", "old holder", 1s);
    }
    clock->advance(2s);  // the children inherit this time: the lease has lapsed
    shared->ready = 0;
    shared->go = false;
    shared->winners = 0;
    std::vector<pid_t> children;
    for (int c = 0; c < 4; ++c) {
      children.push_back(spawn([&, c] {
        auto store = recall::disk_store(tmp.store(), options);
        shared->ready.fetch_add(1);
        while (!shared->go.load()) std::this_thread::yield();
        bool added = false;
        if (store->add("lease", "child " + std::to_string(c), 10s, added) !=
            recall::l2_status::ok) {
          return 1;
        }
        if (added) shared->winners.fetch_add(1);
        return 0;
      }));
    }
    REQUIRE(spin_until([&] { return shared->ready.load() == 4; }));
    shared->go = true;
    for (const pid_t child : children) CHECK(wait_for(child) == 0);
    CHECK(shared->winners.load() == 1);
    auto store = recall::disk_store(tmp.store(), options);
    CHECK(get1(*store, "lease").value_or("").starts_with("child "));
  }
}

TEST_CASE("disk process: a store opened before fork() refuses to work in the child") {
  temp_dir tmp;
  auto store = recall::disk_store(tmp.store());
  store->set("k", "v", 1h);
  const pid_t child = spawn([&] {
    std::vector<std::optional<std::string>> values;
    const std::string keys[] = {"k"};
    const bool refused = store->get(keys, values) == recall::l2_status::unavailable &&
                         store->set("k", "child", 1h) == recall::l2_status::unavailable;
    // Its own store works.
    auto own = recall::disk_store(tmp.store());
    return refused && get1(*own, "k") == "v" ? 0 : 1;
  });
  CHECK(wait_for(child) == 0);
  CHECK(get1(*store, "k") == "v");
}

TEST_CASE(
    "disk process: another process's clear() reaches this one's reads at once, its memory "
    "at the TTL") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  const auto cache = [&](int& calls) {
    return recall::cache_data(
        [&calls](int x) {
          ++calls;
          return x * 10 + calls;
        },
        {.name = "across",
         .ttl = 10min,
         .clock = clock,
         .l2 = recall::disk_store(tmp.store(), {.second_level = {.clock = clock}})});
  };
  CHECK(wait_for(spawn([&] {
          int calls = 0;
          return cache(calls)(7) == 71 ? 0 : 1;
        })) == 0);
  int here_calls = 0;
  auto here = cache(here_calls);
  CHECK(here(7) == 71);  // computed by the other process
  CHECK(here_calls == 0);
  clock->advance(1s);
  CHECK(wait_for(spawn([&] {
          int calls = 0;
          cache(calls).clear();
          return 0;
        })) == 0);
  // This process was not told: its memory keeps the value until its TTL...
  CHECK(here(7) == 71);
  CHECK(here_calls == 0);
  // ... but a read of the disk sees the clear at once.
  int fresh_calls = 0;
  auto fresh = cache(fresh_calls);
  CHECK(fresh(7) == 71);  // recomputed: its own first call
  CHECK(fresh_calls == 1);
}
