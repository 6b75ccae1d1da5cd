// recall::disk_store as a second level: files, TTLs, bounds, corruption,
// permissions, the shared index. Real files in a fresh directory per test;
// time from recall::manual_clock.
#include "recall/disk_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "recall/detail/disk_index.hpp"
#include "recall/detail/posix_file.hpp"
#include "recall/error.hpp"
#include "recall/registry.hpp"
#include "support/disk_fixture.hpp"

using namespace std::chrono_literals;
using disk_test::make_value;
using disk_test::temp_dir;
using disk_test::whole;

namespace {

std::optional<std::string> get1(recall::second_level& s, const std::string& key) {
  std::vector<std::optional<std::string>> values;
  const std::string keys[] = {key};
  REQUIRE(s.get(keys, values) == recall::l2_status::ok);
  REQUIRE(values.size() == 1);
  return values[0];
}

recall::disk_store_stats stats(const std::shared_ptr<recall::second_level>& s) {
  const auto st = recall::disk_stats(*s);
  REQUIRE(st);
  return *st;
}

recall::disk_store_options with_clock(std::shared_ptr<recall::manual_clock> clock,
                                      recall::disk_store_options o = {}) {
  o.second_level.clock = std::move(clock);
  return o;
}

// Waits for the background scan of the index (a thread of the store).
void wait_indexed(const std::shared_ptr<recall::second_level>& s) {
  for (int i = 0; i < 200'000 && stats(s).indexing; ++i) std::this_thread::yield();
  REQUIRE_FALSE(stats(s).indexing);
}

}  // namespace

TEST_CASE("disk store: values round-trip in private files") {
  temp_dir tmp;
  auto store = recall::disk_store(tmp.store());
  CHECK(store->kind() == "disk");
  CHECK(store->set("{f:1}:e:abc", "hello", 1h) == recall::l2_status::ok);
  CHECK(get1(*store, "{f:1}:e:abc") == "hello");
  CHECK_FALSE(get1(*store, "{f:1}:e:other"));
  CHECK(disk_test::mode_of(tmp.store()) == 0700);
  CHECK(disk_test::mode_of(tmp.store() / "e") == 0700);
  CHECK(disk_test::mode_of(tmp.store() / "tmp") == 0700);
  CHECK(disk_test::mode_of(disk_test::entry_file(tmp.store(), "{f:1}:e:abc")) == 0600);
  CHECK(disk_test::mode_of(tmp.store() / "index") == 0600);
  // Several keys in one call, in order.
  store->set("b", "2", 1h);
  std::vector<std::optional<std::string>> values;
  const std::string keys[] = {"b", "missing", "{f:1}:e:abc"};
  REQUIRE(store->get(keys, values) == recall::l2_status::ok);
  CHECK(values == std::vector<std::optional<std::string>>{"2", std::nullopt, "hello"});
  // Replacing and erasing.
  store->set("b", "3", 1h);
  CHECK(get1(*store, "b") == "3");
  CHECK(store->erase("b") == recall::l2_status::ok);
  CHECK_FALSE(get1(*store, "b"));
  CHECK(store->erase("b") == recall::l2_status::ok);  // nothing there: fine
  const auto s = stats(store);
  CHECK(s.writes == 3);
  CHECK(s.reads == 7);
  CHECK(s.hits == 4);
  CHECK(s.misses == 3);
  CHECK(s.erased == 1);
  CHECK(s.entries == 1);
  CHECK(s.bytes == disk_test::list_entries(tmp.store()).bytes);
  CHECK(s.max_entries == 100'000);
  CHECK(s.max_bytes == std::size_t{1} << 30);
}

TEST_CASE("disk store: a key's file holds the key; names are hashes") {
  temp_dir tmp;
  auto store = recall::disk_store(tmp.store());
  const std::string key = "{load_sales:v2}:e:0123456789abcdef0123456789abcdef";
  store->set(key, "v", 1h);
  const auto file = disk_test::entry_file(tmp.store(), key);
  REQUIRE(std::filesystem::exists(file));
  CHECK(file.filename().string().size() == 32);
  CHECK(disk_test::read_file(file).find(key) != std::string::npos);
}

TEST_CASE("disk store: an expired entry is never served, and its file goes") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  auto store = recall::disk_store(tmp.store(), with_clock(clock));
  store->set("k", "v", 60s);
  store->set("forever", "v", recall::duration::max());
  clock->advance(59s);
  CHECK(get1(*store, "k") == "v");
  clock->advance(1s);
  CHECK_FALSE(get1(*store, "k"));
  CHECK_FALSE(std::filesystem::exists(disk_test::entry_file(tmp.store(), "k")));
  clock->advance(24h * 365 * 100);
  CHECK(get1(*store, "forever") == "v");
  const auto s = stats(store);
  CHECK(s.expired == 1);
  CHECK(s.entries == 1);
  // A TTL of zero or less stores nothing and removes what was there.
  store->set("forever", "new", 0s);
  CHECK_FALSE(get1(*store, "forever"));
}

TEST_CASE("disk store: writes sweep expired entries they come across") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  auto store = recall::disk_store(tmp.store(), with_clock(clock, {.max_entries = 32}));
  for (int i = 0; i < 20; ++i) store->set("short" + std::to_string(i), "v", 1s);
  clock->advance(2s);
  // 64 slots, 16 swept per write: four writes visit every slot.
  for (int i = 0; i < 4; ++i) store->set("long" + std::to_string(i), "v", 1h);
  const auto s = stats(store);
  CHECK(s.expired == 20);
  CHECK(s.entries == 4);
  CHECK(disk_test::count_files(tmp.store() / "e") == 4);
}

TEST_CASE("disk store: add stores only over nothing, or over an expired value") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  auto store = recall::disk_store(tmp.store(), with_clock(clock));
  bool added = false;
  CHECK(store->add("lease", "a", 10s, added) == recall::l2_status::ok);
  CHECK(added);
  CHECK(store->add("lease", "b", 10s, added) == recall::l2_status::ok);
  CHECK_FALSE(added);
  CHECK(get1(*store, "lease") == "a");
  // The lease lapses; the next taker replaces it...
  clock->advance(11s);
  CHECK(store->add("lease", "b", 10s, added) == recall::l2_status::ok);
  CHECK(added);
  // ... and the old holder's release leaves the new lease alone.
  CHECK(store->erase_if_equal("lease", "a") == recall::l2_status::ok);
  CHECK(get1(*store, "lease") == "b");
  CHECK(store->erase_if_equal("lease", "b") == recall::l2_status::ok);
  CHECK_FALSE(get1(*store, "lease"));
  const auto s = stats(store);
  CHECK(s.add_conflicts == 1);
  CHECK(s.erased == 1);
  CHECK(s.entries == 0);
}

TEST_CASE("disk store: add is atomic between threads and between stores of one directory") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  auto a = recall::disk_store(tmp.store(), with_clock(clock));
  auto b = recall::disk_store(tmp.store(), with_clock(clock));
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> winners{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        while (!go.load()) std::this_thread::yield();
        bool added = false;
        auto& store = t % 2 ? *a : *b;
        if (store.add("lease", "holder" + std::to_string(t), 10s, added) == recall::l2_status::ok &&
            added) {
          ++winners;
        }
      });
    }
    go = true;
    for (auto& t : threads) t.join();
    CHECK(winners == 1);
    clock->advance(11s);  // the lease lapses: the next round races over an expired one
  }
}

TEST_CASE("disk store: every bit flip and every truncation is a counted miss, and the file goes") {
  temp_dir tmp;
  auto store = recall::disk_store(tmp.store());
  const std::string key = "{f:0}:e:00000000000000000000000000000001";
  const std::string value = make_value(7, 100);
  store->set(key, value, 1h);
  const auto file = disk_test::entry_file(tmp.store(), key);
  const std::string original = disk_test::read_file(file);
  REQUIRE(original.size() > value.size());
  std::uint64_t expected_corrupt = 0;
  for (std::size_t i = 0; i < original.size(); ++i) {
    std::string flipped = original;
    flipped[i] = static_cast<char>(flipped[i] ^ (1 << (i % 8)));
    disk_test::write_file(file, flipped);
    CHECK_FALSE(get1(*store, key));
    CHECK_FALSE(std::filesystem::exists(file));
    CHECK(stats(store).corrupt == ++expected_corrupt);
    store->set(key, value, 1h);
  }
  for (std::size_t n = 0; n < original.size(); ++n) {
    disk_test::write_file(file, original.substr(0, n));
    CHECK_FALSE(get1(*store, key));
    CHECK_FALSE(std::filesystem::exists(file));
    store->set(key, value, 1h);
  }
  // One byte too many is as wrong as one too few.
  disk_test::write_file(file, original + "x");
  CHECK_FALSE(get1(*store, key));
  store->set(key, value, 1h);
  CHECK(get1(*store, key) == value);
  const auto s = stats(store);
  CHECK(s.corrupt == 2 * original.size() + 1);
  CHECK(s.entries == 1);
  CHECK(s.bytes == disk_test::list_entries(tmp.store()).bytes);
}

TEST_CASE("disk store: foreign files are refused and removed, never followed") {
  temp_dir tmp;
  auto store = recall::disk_store(tmp.store());
  store->set("a", "value of a", 1h);
  const auto a_file = disk_test::entry_file(tmp.store(), "a");
  const std::string a_bytes = disk_test::read_file(a_file);

  // a's file under b's name: it holds another key.
  const auto b_file = disk_test::entry_file(tmp.store(), "b");
  disk_test::write_file(b_file, a_bytes);
  CHECK_FALSE(get1(*store, "b"));
  CHECK_FALSE(std::filesystem::exists(b_file));
  CHECK(get1(*store, "a") == "value of a");

  // A file of another format version.
  std::string v2 = a_bytes;
  v2[4] = 2;
  disk_test::write_file(a_file, v2);
  CHECK_FALSE(get1(*store, "a"));
  CHECK_FALSE(std::filesystem::exists(a_file));

  // A symbolic link to a file outside: not followed; the link goes, its target stays.
  const auto outside = tmp.path() / "outside";
  disk_test::write_file(outside, a_bytes);
  std::filesystem::create_symlink(outside, b_file);
  CHECK_FALSE(get1(*store, "b"));
  CHECK_FALSE(std::filesystem::is_symlink(b_file));
  CHECK(disk_test::read_file(outside) == a_bytes);

  // Garbage.
  disk_test::write_file(b_file, std::string(5000, '\xff'));
  CHECK_FALSE(get1(*store, "b"));
  CHECK(stats(store).corrupt == 4);
}

TEST_CASE(
    "disk store: the entry bound holds; expired entries go first, then the least recently "
    "used") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  auto store = recall::disk_store(tmp.store(), with_clock(clock, {.max_entries = 20}));
  const std::vector<std::string> hot = {"hot0", "hot1", "hot2", "hot3", "hot4"};
  for (const auto& k : hot) store->set(k, "h", 1h);
  for (int i = 0; i < 5; ++i) store->set("soon" + std::to_string(i), "s", 1s);
  clock->advance(2s);  // the soon* entries are expired, not yet reclaimed
  for (int i = 0; i < 200; ++i) {
    for (const auto& k : hot) CHECK(get1(*store, k) == "h");
    clock->advance(1ms);
    store->set("cold" + std::to_string(i), "c", 1h);
    clock->advance(1ms);
    CHECK(stats(store).entries <= 20);
  }
  const auto s = stats(store);
  CHECK(s.entries == 20);
  CHECK(disk_test::count_files(tmp.store() / "e") == 20);
  CHECK(s.expired == 5);
  CHECK(s.evicted == 200 + 10 - 20 - 5);
  for (const auto& k : hot) CHECK(get1(*store, k) == "h");
  CHECK(get1(*store, "cold199") == "c");
}

TEST_CASE("disk store: the byte bound holds with ten times the budget written") {
  temp_dir tmp;
  const std::uint64_t block = disk_test::block_size(tmp.path());
  const std::size_t budget = 64 * block;
  auto store = recall::disk_store(tmp.store(), {.max_bytes = budget});
  std::uint64_t written = 0;
  for (std::uint64_t i = 0; written < 10 * budget; ++i) {
    const std::size_t size = 100 + disk_test::mix(i) % (3 * block);
    store->set("k" + std::to_string(i % 300), make_value(i, size), 1h);
    written += size;
    REQUIRE(stats(store).bytes <= budget);
  }
  const auto s = stats(store);
  const auto files = disk_test::list_entries(tmp.store());
  CHECK(files.bytes <= budget);
  CHECK(files.bytes == s.bytes);
  CHECK(files.files == s.entries);
  CHECK(files.undecodable == 0);
  CHECK(s.evicted > 0);
  for (const auto& v : files.values) CHECK(whole(v));
  // A value larger than the whole budget is not stored, and takes the old one with it.
  store->set("k1", make_value(1, 100), 1h);
  store->set("k1", make_value(2, budget + 1), 1h);
  CHECK_FALSE(get1(*store, "k1"));
  CHECK(stats(store).rejected == 1);
}

TEST_CASE("disk store: cache_data's markers are never evicted") {
  temp_dir tmp;
  auto store = recall::disk_store(tmp.store(), {.max_entries = 8});
  store->set("{f:0}:cleared", "123", recall::duration::max());
  store->set("tag:sales", "456", recall::duration::max());
  for (int i = 0; i < 100; ++i) store->set("{f:0}:e:" + std::to_string(i), "v", 1h);
  CHECK(get1(*store, "{f:0}:cleared") == "123");
  CHECK(get1(*store, "tag:sales") == "456");
  CHECK(stats(store).entries == 8);
  // When nothing else can go, a write is refused rather than a marker lost.
  auto tiny = recall::disk_store(tmp.path() / "tiny", {.max_entries = 2});
  tiny->set("{f:0}:cleared", "1", recall::duration::max());
  tiny->set("tag:t", "2", recall::duration::max());
  tiny->set("{f:0}:e:1", "v", 1h);
  CHECK_FALSE(get1(*tiny, "{f:0}:e:1"));
  CHECK(stats(tiny).rejected == 1);
  CHECK(get1(*tiny, "{f:0}:cleared") == "1");
}

TEST_CASE("disk store: a missing directory is created private; unsafe ones are refused") {
  temp_dir tmp;
  const auto refused = [](const std::filesystem::path& p, recall::disk_store_options o = {}) {
    try {
      recall::disk_store(p, o);
    } catch (const recall::config_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  // World- and group-writable.
  const auto open_dir = tmp.path() / "open";
  std::filesystem::create_directory(open_dir);
  ::chmod(open_dir.c_str(), 0777);
  std::string message = refused(open_dir);
  CHECK_THAT(message, Catch::Matchers::Contains(open_dir.string()));
  CHECK_THAT(message, Catch::Matchers::Contains("every user"));
  CHECK_THAT(message, Catch::Matchers::Contains("chmod 700"));
  ::chmod(open_dir.c_str(), 0770);
  CHECK_THAT(refused(open_dir), Catch::Matchers::Contains("its group"));
  // Readable by others is fine: the files themselves are 0600.
  ::chmod(open_dir.c_str(), 0755);
  CHECK(refused(open_dir) == "accepted");
  // Another user's.
  if (::geteuid() == 0) {
    const auto theirs = tmp.path() / "theirs";
    std::filesystem::create_directory(theirs);
    ::chmod(theirs.c_str(), 0700);
    REQUIRE(::chown(theirs.c_str(), 65534, 65534) == 0);
    message = refused(theirs);
    CHECK_THAT(message, Catch::Matchers::Contains(theirs.string()));
    CHECK_THAT(message, Catch::Matchers::Contains("belongs to user 65534"));
  }
  // A symbolic link to a good directory.
  const auto good = tmp.path() / "good";
  const auto link = tmp.path() / "link";
  std::filesystem::create_symlink(good, link);
  recall::disk_store(good);
  CHECK_THAT(refused(link), Catch::Matchers::Contains("symbolic link"));
  // A directory with someone else's files in it.
  const auto busy = tmp.path() / "busy";
  std::filesystem::create_directory(busy);
  ::chmod(busy.c_str(), 0700);
  disk_test::write_file(busy / "notes.txt", "mine");
  CHECK_THAT(refused(busy), Catch::Matchers::Contains("not empty"));
  CHECK(disk_test::read_file(busy / "notes.txt") == "mine");
  // Not a directory; no parent.
  CHECK_THAT(refused(busy / "notes.txt"), Catch::Matchers::Contains("not a directory"));
  CHECK_THAT(refused(tmp.path() / "no" / "such"),
             Catch::Matchers::Contains("parent does not exist"));
  // Bounds.
  CHECK_THAT(refused(good, {.max_entries = 0}), Catch::Matchers::Contains("max_entries"));
  CHECK_THAT(refused(good, {.max_entries = (1u << 22) + 1}),
             Catch::Matchers::Contains("max_entries"));
  CHECK_THAT(refused(good, {.max_bytes = 0}), Catch::Matchers::Contains("max_bytes"));
  CHECK_THAT(refused(""), Catch::Matchers::Contains("empty"));
}

TEST_CASE("disk store: temporary files of dead writers are reclaimed, live ones kept") {
  temp_dir tmp;
  recall::disk_store(tmp.store());
  disk_test::write_file(tmp.store() / "tmp" / "123-4-dead", "half a value");
  const auto live = tmp.store() / "tmp" / "456-7-live";
  disk_test::write_file(live, "being written");
  recall::detail::unique_fd held(::open(live.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(::flock(held.get(), LOCK_EX) == 0);
  auto store = recall::disk_store(tmp.store());
  CHECK(stats(store).temp_reclaimed == 1);
  CHECK_FALSE(std::filesystem::exists(tmp.store() / "tmp" / "123-4-dead"));
  CHECK(std::filesystem::exists(live));
}

TEST_CASE("disk store: a change a dead process left unfinished is repaired") {
  temp_dir tmp;
  auto store = recall::disk_store(tmp.store());
  store->set("a", "1", 1h);
  store->set("b", "2", 1h);
  {
    // Act as a process killed between filling a slot and renaming its file
    // into place, and another killed between removing a file and its slot.
    recall::detail::unique_fd fd(::open((tmp.store() / "index").c_str(), O_RDWR | O_CLOEXEC));
    std::string why;
    auto index = recall::detail::disk_index::open(fd.get(), why);
    REQUIRE(index);
    REQUIRE(index->put({recall::detail::disk_file::name_of("ghost"), 4096,
                        recall::detail::disk_file::never, 0, false}));
    CHECK(index->entries() == 3);
  }
  auto other = recall::disk_store(tmp.store());  // takes the lock: repairs
  auto s = stats(other);
  CHECK(s.index_repairs == 1);
  CHECK(s.entries == 2);
  CHECK(s.bytes == disk_test::list_entries(tmp.store()).bytes);
  {
    recall::detail::unique_fd fd(::open((tmp.store() / "index").c_str(), O_RDWR | O_CLOEXEC));
    std::string why;
    auto index = recall::detail::disk_index::open(fd.get(), why);
    REQUIRE(index);
    const auto slot = index->find(recall::detail::disk_file::name_of("a"));
    REQUIRE(slot);
    index->begin_change(*slot);
    std::filesystem::remove(disk_test::entry_file(tmp.store(), "a"));
  }
  store->set("c", "3", 1h);
  s = stats(store);
  CHECK(s.index_repairs == 1);
  CHECK(s.entries == 2);
  CHECK(s.bytes == disk_test::list_entries(tmp.store()).bytes);
}

TEST_CASE("disk store: a lost index is rebuilt in the background from the files") {
  temp_dir tmp;
  auto clock = std::make_shared<recall::manual_clock>();
  {
    auto store = recall::disk_store(tmp.store(), with_clock(clock));
    for (int i = 0; i < 300; ++i) store->set("k" + std::to_string(i), make_value(i, 200), 1h);
    store->set("short", "s", 1s);
  }
  std::filesystem::remove(tmp.store() / "index");
  disk_test::write_file(tmp.store() / "e" / "not-an-entry", "stray");
  clock->advance(2s);
  auto store = recall::disk_store(tmp.store(), with_clock(clock, {.max_entries = 250}));
  // Reads do not wait for the scan.
  CHECK(whole(get1(*store, "k7").value_or("")));
  wait_indexed(store);
  const auto s = stats(store);
  CHECK(s.index_rebuilds == 1);
  CHECK(s.entries == 250);  // the new bound, applied by the scan
  CHECK(s.corrupt == 1);    // the stray file
  CHECK(s.expired == 1);
  CHECK(s.evicted == 50);
  const auto files = disk_test::list_entries(tmp.store());
  CHECK(files.files == 250);
  CHECK(files.bytes == s.bytes);
  CHECK(files.undecodable == 0);
}

TEST_CASE("disk store: an index from before a reboot is rebuilt") {
  temp_dir tmp;
  {
    auto store = recall::disk_store(tmp.store());
    store->set("k", "v", 1h);
  }
  {
    // Another boot id in the header (words 9 and 10).
    recall::detail::unique_fd fd(::open((tmp.store() / "index").c_str(), O_RDWR | O_CLOEXEC));
    const std::uint64_t other[2] = {1, 2};
    REQUIRE(::pwrite(fd.get(), other, sizeof(other), 9 * 8) == sizeof(other));
  }
  auto store = recall::disk_store(tmp.store());
  wait_indexed(store);
  const auto s = stats(store);
#if defined(__linux__)
  CHECK(s.index_rebuilds == 1);
#endif
  CHECK(s.entries == 1);
  CHECK(get1(*store, "k") == "v");
}

TEST_CASE("disk store: a corrupt index is rebuilt, never trusted") {
  temp_dir tmp;
  {
    auto store = recall::disk_store(tmp.store());
    store->set("k", "v", 1h);
  }
  disk_test::write_file(tmp.store() / "index", std::string(100, 'x'));
  auto store = recall::disk_store(tmp.store());
  wait_indexed(store);
  CHECK(stats(store).index_rebuilds == 1);
  CHECK(stats(store).entries == 1);
  CHECK(get1(*store, "k") == "v");
}

TEST_CASE("disk store: messages reach every subscriber of the directory in this process") {
  temp_dir tmp;
  auto a = recall::disk_store(tmp.store());
  auto b = recall::disk_store(tmp.store());
  auto elsewhere = recall::disk_store(tmp.path() / "elsewhere");
  std::vector<std::string> seen_a, seen_b, seen_elsewhere;
  bool gap = false;
  auto sa = a->subscribe([&](std::string_view m) { seen_a.emplace_back(m); }, [&] { gap = true; });
  auto sb = b->subscribe([&](std::string_view m) { seen_b.emplace_back(m); }, [&] { gap = true; });
  auto se = elsewhere->subscribe([&](std::string_view m) { seen_elsewhere.emplace_back(m); },
                                 [&] { gap = true; });
  CHECK(a->publish("one") == recall::l2_status::ok);
  CHECK(b->publish("two") == recall::l2_status::ok);
  CHECK(seen_a == std::vector<std::string>{"one", "two"});
  CHECK(seen_b == std::vector<std::string>{"one", "two"});
  CHECK(seen_elsewhere.empty());
  sb.reset();
  a->publish("three");
  CHECK(seen_b.size() == 2);
  CHECK(seen_a.size() == 3);
  CHECK_FALSE(gap);
}

TEST_CASE("disk store: threads share a store and its directory") {
  temp_dir tmp;
  auto a = recall::disk_store(tmp.store(), {.max_entries = 32});
  auto b = recall::disk_store(tmp.store(), {.max_entries = 32});
  std::atomic<int> broken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto& store = t % 2 ? *a : *b;
      for (std::uint64_t i = 0; i < 300; ++i) {
        const std::uint64_t r = disk_test::mix(t * 1000 + i);
        const std::string key = "k" + std::to_string(r % 48);
        switch (r % 5) {
          case 0:
          case 1:
            store.set(key, make_value(r, 50 + r % 9000), 1h);
            break;
          case 2: {
            bool added;
            store.add(key, make_value(r, 30), 1h, added);
            break;
          }
          case 3:
            store.erase(key);
            break;
          default: {
            std::vector<std::optional<std::string>> v;
            const std::string keys[] = {key};
            if (store.get(keys, v) != recall::l2_status::ok || (v[0] && !whole(*v[0]))) ++broken;
          }
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(broken == 0);
  const auto files = disk_test::list_entries(tmp.store());
  CHECK(files.undecodable == 0);
  CHECK(files.files == stats(a).entries);
  CHECK(files.files <= 32);
  CHECK(files.bytes == stats(b).bytes);
}

TEST_CASE("disk store: stats in the registry; disk_stats only for disk stores") {
  temp_dir tmp;
  auto store = recall::disk_store(tmp.store());
  store->set("k", "v", 1h);
  bool listed = false;
  for (const auto& o : recall::registered()) {
    if (o.kind != "disk_store" || o.name != tmp.store().string()) continue;
    listed = true;
    for (const auto& m : o.metrics) {
      if (m.name == "writes") CHECK(m.value == 1);
      if (m.name == "entries") CHECK(m.value == 1);
    }
  }
  CHECK(listed);
  struct other_store final : recall::second_level {
    other_store() : second_level({}) {}
    std::string_view kind() const noexcept override { return "other"; }
    recall::l2_status get(std::span<const std::string>,
                          std::vector<std::optional<std::string>>&) override {
      return recall::l2_status::ok;
    }
    recall::l2_status set(std::string_view, std::string_view, recall::duration) override {
      return recall::l2_status::ok;
    }
    recall::l2_status add(std::string_view, std::string_view, recall::duration, bool&) override {
      return recall::l2_status::ok;
    }
    recall::l2_status erase(std::string_view) override { return recall::l2_status::ok; }
    recall::l2_status erase_if_equal(std::string_view, std::string_view) override {
      return recall::l2_status::ok;
    }
    recall::l2_status publish(std::string_view) override { return recall::l2_status::ok; }
    std::unique_ptr<recall::l2_subscription> subscribe(std::function<void(std::string_view)>,
                                                       std::function<void()>) override {
      return nullptr;
    }
  } other;
  CHECK_FALSE(recall::disk_stats(other));
}

TEST_CASE("disk store: every sync policy writes whole files") {
  for (const auto sync :
       {recall::disk_sync::none, recall::disk_sync::data, recall::disk_sync::data_and_directory}) {
    temp_dir tmp;
    auto store = recall::disk_store(tmp.store(), {.sync = sync});
    store->set("k", make_value(1, 5000), 1h);
    CHECK(whole(get1(*store, "k").value_or("")));
    store->erase("k");
    CHECK_FALSE(get1(*store, "k"));
  }
}

TEST_CASE("disk store: a restrictive umask leaves the store usable and private") {
  temp_dir tmp;
  const mode_t saved = ::umask(0277);  // would make directories 0500 and files 0400
  std::shared_ptr<recall::second_level> store;
  try {
    store = recall::disk_store(tmp.store());
    store->set("k", "v", 1h);
  } catch (...) {
    ::umask(saved);
    throw;
  }
  ::umask(saved);
  CHECK(get1(*store, "k") == "v");
  CHECK(disk_test::mode_of(tmp.store()) == 0700);
  CHECK(disk_test::mode_of(tmp.store() / "e") == 0700);
  CHECK(disk_test::mode_of(tmp.store() / "index") == 0600);
  auto again = recall::disk_store(tmp.store());
  CHECK(stats(again).index_rebuilds == 0);
  CHECK(get1(*again, "k") == "v");
}
