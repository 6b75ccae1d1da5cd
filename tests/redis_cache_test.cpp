// cache_data over a real redis-server: one cache for a fleet of replicas.
// Replicas are cache instances with the same name and version, each with its
// own client (in this process), or other processes (tests/support/l2_replica).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <recall/cache_data.hpp>
#include <recall/redis_store.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/redis_server.hpp"

using namespace std::chrono_literals;
using recall::test::redis_server;

extern char** environ;

namespace {

// A patient client: the tests share two cores with builds, and a reply later
// than the default 50 ms would make a replica compute locally (the documented
// fallback) and fail a check of what the fleet does while Redis is healthy.
// The tests of timeouts set their own.
recall::redis_options patient(recall::redis_options o = {}) {
  o.command_timeout = 2s;
  return o;
}

std::shared_ptr<recall::redis_client> client_for(const redis_server& server,
                                                 recall::redis_options o = patient()) {
  o.port = server.port();
  return std::make_shared<recall::redis_client>(o);
}

std::shared_ptr<recall::second_level> store_for(const redis_server& server,
                                                recall::second_level_options o = {}) {
  return recall::redis_store(client_for(server), std::move(o));
}

// Waits (real time, bounded) until `done` holds; the time it took.
std::chrono::steady_clock::duration until(const std::function<bool()>& done,
                                          std::chrono::seconds bound = 5s) {
  const auto start = std::chrono::steady_clock::now();
  while (!done() && std::chrono::steady_clock::now() - start < bound) {
    std::this_thread::sleep_for(200us);
  }
  return std::chrono::steady_clock::now() - start;
}

// Another replica: the l2_replica program, its standard output captured.
class replica_process {
 public:
  explicit replica_process(std::vector<std::string> args) {
    int out[2];
    REQUIRE(pipe(out) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    args.insert(args.begin(), RECALL_L2_REPLICA);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    REQUIRE(posix_spawn(&pid_, RECALL_L2_REPLICA, &actions, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    output_fd_ = out[0];
  }
  ~replica_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(output_fd_);
  }
  void kill() {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  // Waits for the exit; the exit status and what it printed.
  std::pair<int, std::string> finish() {
    std::string text;
    char buffer[256];
    for (ssize_t n; (n = read(output_fd_, buffer, sizeof(buffer))) > 0;) text.append(buffer, n);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
  }

 private:
  pid_t pid_ = -1;
  int output_fd_ = -1;
};

// Runs Debian's redis-cli against the server, as an operator would.
int redis_cli(const redis_server& server, std::vector<std::string> args) {
  args.insert(args.begin(), {"redis-cli", "-p", std::to_string(server.port())});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int spawned = posix_spawnp(&pid, "redis-cli", &quiet, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&quiet);
  if (spawned != 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

long long field(const std::string& text, const std::string& name) {
  const auto at = text.find(name + "=");
  if (at == std::string::npos) throw std::runtime_error("no " + name + " in: " + text);
  return std::stoll(text.substr(at + name.size() + 1));
}

}  // namespace

TEST_CASE("a result loaded on one replica is an L2 hit on another, with the same age") {
  redis_server server;
  auto clock = std::make_shared<recall::manual_clock>();
  int calls_a = 0, calls_b = 0;
  auto a = recall::cache_data([&](int x) { return x + ++calls_a; },
                              {.name = "same_age",
                               .ttl = 10min,
                               .clock = clock,
                               .l2 = store_for(server, {.clock = clock})});
  auto b = recall::cache_data([&](int x) { return x + 100 + ++calls_b; },
                              {.name = "same_age",
                               .ttl = 10min,
                               .clock = clock,
                               .l2 = store_for(server, {.clock = clock})});
  const auto t0 = clock->now();
  CHECK(a(7) == 8);
  clock->advance(3min);
  const auto r = b.lookup(7);
  CHECK(r.value == 8);
  CHECK(r.from_cache);
  CHECK(r.computed_at == t0);
  CHECK(r.age == 3min);
  CHECK(calls_b == 0);
  // The remaining TTL came along: both replicas expire it at t0 + 10min.
  clock->advance(7min - 1ns);
  CHECK(b.peek(7));
  clock->advance(1ns);
  CHECK_FALSE(b.peek(7));
  const recall::cache_stats sa = a.stats(), sb = b.stats();
  CHECK(sa.l2_misses == 1);
  CHECK(sa.l2_writes == 1);
  CHECK(sb.l2_hits == 1);
  CHECK(sb.loads == 0);
}

TEST_CASE("a result loaded by another process is an L2 hit here, with its age") {
  redis_server server;
  auto client = client_for(server);
  client->command({"SET", "go", "1"});
  replica_process other(
      {"load", std::to_string(server.port()), "cross_process", "5", "1", "0", "go"});
  const auto [status, out] = other.finish();
  REQUIRE(status == 0);
  CHECK(field(out, "calls") == 1);
  int calls = 0;
  auto f = recall::cache_data(
      [&](int x) { return x + ++calls; },
      {.name = "cross_process", .ttl = 10min, .l2 = recall::redis_store(client)});
  const auto r = f.lookup(5);
  CHECK(r.value == field(out, "value"));
  CHECK(r.from_cache);
  CHECK(calls == 0);
  // The same computed_at in calendar time, within the coarse clocks' ticks.
  const auto here = recall::default_clock()->wall_now() - r.age;
  const long long here_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(here.time_since_epoch()).count();
  CHECK(std::llabs(here_ns - field(out, "computed_at")) < 20'000'000);
}

TEST_CASE("2 processes x 8 threads missing one key at once: the function runs once") {
  redis_server server;
  auto client = client_for(server);
  const std::string port = std::to_string(server.port());
  replica_process one({"load", port, "fleet_once", "42", "8", "300", "go"});
  replica_process two({"load", port, "fleet_once", "42", "8", "300", "go"});
  std::this_thread::sleep_for(200ms);  // both processes start and wait at the barrier
  client->command({"SET", "go", "1"});
  const auto [status1, out1] = one.finish();
  const auto [status2, out2] = two.finish();
  REQUIRE(status1 == 0);
  REQUIRE(status2 == 0);
  CHECK(field(out1, "calls") + field(out2, "calls") == 1);
  CHECK(field(out1, "value") == field(out2, "value"));
}

TEST_CASE("the lease holder killed mid-load: another replica takes over after the lease") {
  redis_server server;
  auto client = client_for(server);
  replica_process holder({"hang", std::to_string(server.port()), "takeover", "9", "started"});
  CHECK(until([&] { return client->command({"EXISTS", "started"}).integer() == 1; }) < 5s);
  holder.kill();  // dies holding the lease (lease_ttl 1s)
  int calls = 0;
  auto f =
      recall::cache_data([&](int x) { return x + ++calls; },
                         {.name = "takeover",
                          .ttl = 10min,
                          .l2 = recall::redis_store(
                              client, {.lease_ttl = 1s, .lease_wait = 20s, .lease_poll = 10ms})});
  const auto started = std::chrono::steady_clock::now();
  CHECK(f(9) == 10);
  const auto waited = std::chrono::steady_clock::now() - started;
  CHECK(calls == 1);
  CHECK(waited < 5s);  // the lease lapsed (1 s); nobody waited for lease_wait (20 s)
  const auto s = f.stats();
  CHECK(s.lease_waits == 1);
  CHECK(s.lease_timeouts == 0);
}

TEST_CASE("invalidate, clear and tags reach the other replica's memory within 100 ms") {
  redis_server server;
  int calls_a = 0, calls_b = 0;
  auto a = recall::cache_data(
      [&](int x) { return x + ++calls_a; },
      {.name = "fleet_inval", .ttl = 10min, .tags = {"sales"}, .l2 = store_for(server)});
  auto b = recall::cache_data(
      [&](int x) { return x + ++calls_b; },
      {.name = "fleet_inval", .ttl = 10min, .tags = {"sales"}, .l2 = store_for(server)});
  const auto both_hold = [&](int x) {
    a(x);
    b(x);
    return a.peek(x) && b.peek(x);
  };

  REQUIRE(both_hold(1));
  a.invalidate(1);
  CHECK(until([&] { return !b.peek(1); }) < 100ms);
  REQUIRE(both_hold(2));
  a.clear();
  CHECK(until([&] { return !b.peek(2); }) < 100ms);
  REQUIRE(both_hold(3));
  CHECK(recall::invalidate_tag("sales").caches == 2);
  CHECK_FALSE(a.peek(3));
  CHECK(until([&] { return !b.peek(3); }) < 100ms);
  // And the second level: the next read computes again (once for the fleet).
  const int before = calls_a + calls_b;
  const int fresh = b(3);
  CHECK(fresh == 3 + calls_b);
  CHECK(a(3) == fresh);
  CHECK(calls_a + calls_b == before + 1);
  CHECK(b.stats().invalidations_received >= 2);  // del and clear (the tag came from this process)
}

TEST_CASE("a new value stored by one replica replaces the other's copy") {
  redis_server server;
  auto clock = std::make_shared<recall::manual_clock>();
  std::vector<std::function<void()>> queued;
  const auto queue = [&](std::function<void()> t) { queued.push_back(std::move(t)); };
  std::atomic<int> calls{0};
  const auto make = [&] {
    return recall::cache_data([&](int x) { return x * 100 + ++calls; },
                              {.name = "refresh_once",
                               .ttl = 10min,
                               .refresh_after = 4min,
                               .clock = clock,
                               .executor = queue,
                               .l2 = store_for(server, {.clock = clock})});
  };
  auto a = make();
  auto b = make();
  CHECK(a(1) == 101);
  CHECK(b(1) == 101);
  clock->advance(5min);
  // Both replicas see the value stale and queue a refresh ...
  CHECK(a(1) == 101);
  CHECK(b(1) == 101);
  REQUIRE(queued.size() == 2);
  // ... but the fleet refreshes once.
  for (auto& t : queued) t();
  CHECK(calls == 2);
  CHECK(until([&] { return b(1) == 102; }) < 100ms);
  CHECK(a(1) == 102);
  CHECK(calls == 2);
  CHECK(b.lookup(1).age == 0ns);
}

TEST_CASE("fail-safe: another replica's expired value is served while the function fails") {
  redis_server server;
  auto clock = std::make_shared<recall::manual_clock>();
  auto a = recall::cache_data([](int x) { return x; }, {.name = "fleet_fail_safe",
                                                        .ttl = 10min,
                                                        .clock = clock,
                                                        .l2 = store_for(server, {.clock = clock}),
                                                        .fail_safe = 1h});
  auto b = recall::cache_data([](int) -> int { throw std::runtime_error("warehouse down"); },
                              {.name = "fleet_fail_safe",
                               .ttl = 10min,
                               .clock = clock,
                               .l2 = store_for(server, {.clock = clock}),
                               .fail_safe = 1h});
  CHECK(a(4) == 4);
  clock->advance(20min);
  const auto r = b.lookup(4);
  CHECK(r.value == 4);
  CHECK(r.fail_safe);
  CHECK(r.age == 20min);
  CHECK(b.stats().fail_safe_hits == 1);
}

TEST_CASE("Redis killed during 10,000 calls: no caller sees an error, and it comes back") {
  redis_server server;
  std::vector<std::string> logged;
  std::mutex log_mu;
  auto client = client_for(server);
  auto f =
      recall::cache_data([](int x) { return x * 2; },
                         {.name = "outage",
                          .ttl = 10min,
                          .max_entries = 64,
                          .l2 = recall::redis_store(client, {.on_error = [&](std::string_view m) {
                                                      std::lock_guard lock(log_mu);
                                                      logged.emplace_back(m);
                                                    }})});
  std::atomic<int> done{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2'500; ++i) {
        try {
          if (f((i * 4 + t) % 500) != ((i * 4 + t) % 500) * 2) ++errors;
        } catch (...) {
          ++errors;
        }
        ++done;
      }
    });
  }
  until([&] { return done >= 3'000; }, 60s);
  server.kill();
  until([&] { return done >= 6'000; }, 60s);
  const auto down = f.stats();
  for (auto& t : threads) t.join();
  CHECK(errors == 0);
  CHECK(down.l2_unavailable > 0);
  {
    std::lock_guard lock(log_mu);
    CHECK_FALSE(logged.empty());  // told once per interval, not per call
    CHECK(logged.size() < 5);
  }
  // Back: the second level is used again within 2 s, same process, same client.
  server.restart();
  const auto writes = f.stats().l2_writes;
  int next = 1'000;
  const auto took = until([&] {
    f(next++);
    return f.stats().l2_writes > writes;
  });
  CHECK(took < 2s);
}

TEST_CASE("Redis frozen: a call waits at most the command timeout") {
  redis_server server;
  auto client = client_for(server, {.command_timeout = 50ms});
  auto f = recall::cache_data([](int x) { return x; },
                              {.name = "frozen", .ttl = 10min, .l2 = recall::redis_store(client)});
  CHECK(f(0) == 0);
  server.freeze();
  std::atomic<long long> worst_us{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {  // no more callers than pooled connections
    threads.emplace_back([&, t] {
      for (int i = 1; i <= 10; ++i) {
        const auto start = std::chrono::steady_clock::now();
        CHECK(f(t * 100 + i) == t * 100 + i);
        const long long us = std::chrono::duration_cast<std::chrono::microseconds>(
                                 std::chrono::steady_clock::now() - start)
                                 .count();
        long long seen = worst_us.load();
        while (us > seen && !worst_us.compare_exchange_weak(seen, us)) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  server.thaw();
  INFO("slowest call: " << worst_us.load() << " us");
  // One timeout per call (50 ms), with the margin the client's own tests use.
  CHECK(worst_us.load() < 200'000);
  CHECK(f.stats().l2_unavailable > 0);
}

TEST_CASE("invalidations made while Redis is down reach the other replicas when it is back") {
  redis_server server;
  int calls = 0;
  const auto make = [&](std::size_t max_pending) {
    return recall::cache_data(
        [&](int x) { return x + ++calls; },
        {.name = "pending",
         .ttl = 10min,
         .l2 = store_for(server, {.max_pending_invalidations = max_pending})});
  };
  auto a = make(1024);
  auto b = make(1024);
  CHECK(a(1) == 2);
  CHECK(b(1) == 2);
  server.kill();
  a.invalidate(1);  // not sent: Redis is down
  CHECK_FALSE(a.peek(1));
  CHECK(b.peek(1));
  server.restart();
  // The next call of A that reaches Redis sends what it kept.
  CHECK(until([&] {
          a(99);
          return !b.peek(1);
        }) < 5s);
  CHECK(a.stats().invalidations_lost == 0);

  // Past the bound, the whole cache is cleared on every replica instead.
  auto c = make(2);
  auto d = make(2);
  for (int x = 10; x < 15; ++x) CHECK(c(x) == d(x));
  server.kill();
  for (int x = 10; x < 15; ++x) c.invalidate(x);
  CHECK(c.stats().invalidations_lost == 1);
  server.restart();
  CHECK(until([&] {
          c(99);
          return !d.peek(10) && !d.peek(14);
        }) < 5s);
}

TEST_CASE("bytes that are not a record are a counted miss, never a wrong value") {
  redis_server server;
  auto client = client_for(server);
  int calls = 0;
  // max_entries = 1: every other call misses memory and reads Redis.
  auto f = recall::cache_data(
      [&](int x) { return x * 10 + ++calls; },
      {.name = "garbage", .ttl = 10min, .max_entries = 1, .l2 = recall::redis_store(client)});
  const auto name_of = [](int x) {
    return "recall:c:{garbage:0}:e:" + recall::make_key("garbage", "", x).to_hex();
  };
  CHECK(f(1) == 11);
  REQUIRE(client->command({"EXISTS", name_of(1)}).integer() == 1);
  int rejected = 0;
  for (const std::string garbage : {"not a record", "RCL2", "RCL2 truncated after the magic"}) {
    REQUIRE(redis_cli(server, {"SET", name_of(1), garbage}) == 0);
    f(2);                   // pushes 1 out of memory
    CHECK(f(1) / 10 == 1);  // computed again: the right value, never the garbage
    CHECK(f.stats().l2_rejected == static_cast<std::uint64_t>(++rejected));
  }
  // A whole record moved under another key is refused too: it is bound to its key.
  f(2);
  const std::string record_of_2(client->command({"GET", name_of(2)}).str());
  client->command({"SET", name_of(1), record_of_2});
  f(2);
  CHECK(f(1) / 10 == 1);
  CHECK(f.stats().l2_rejected == 4);
}

TEST_CASE("signed records: a replica decodes only what a holder of the key wrote") {
  redis_server server;
  int calls = 0;
  const auto make = [&](std::string key) {
    return recall::cache_data(
        [&](int x) { return x + ++calls; },
        {.name = "signed", .ttl = 10min, .l2 = store_for(server, {.signing_key = std::move(key)})});
  };
  auto writer = make("fleet secret");
  CHECK(writer(1) == 2);
  auto same_key = make("fleet secret");
  CHECK(same_key(1) == 2);
  CHECK(same_key.stats().l2_hits == 1);
  auto other_key = make("another secret");
  other_key(1);  // refused, computed, and stored signed with its own key
  CHECK(other_key.stats().l2_rejected == 1);
  CHECK(other_key.stats().loads == 1);
  auto no_key = make("");
  no_key(1);  // a signed record, and no key to check it with
  CHECK(no_key.stats().l2_rejected == 1);
  auto again = make("fleet secret");
  again(1);  // now an unsigned record: refused where signatures are required
  CHECK(again.stats().l2_rejected == 1);
}

TEST_CASE("works with an ACL user holding only the documented commands") {
  // docs/redis.md: the minimal ACL of a cache user.
  redis_server server({.acl_users = {"cache on >s3cret ~recall:c:* &recall:c:* -@all +get +mget "
                                     "+set +del +evalsha +eval +publish +subscribe +ping"},
                       .default_user_off = true});
  const auto store = [&] {
    return recall::redis_store(
        client_for(server, patient({.username = "cache", .password = "s3cret"})));
  };
  int calls = 0;
  auto a = recall::cache_data([&](int x) { return x + ++calls; },
                              {.name = "acl", .ttl = 10min, .tags = {"t"}, .l2 = store()});
  auto b = recall::cache_data([&](int x) { return x + ++calls; },
                              {.name = "acl", .ttl = 10min, .tags = {"t"}, .l2 = store()});
  CHECK(a(1) == 2);
  CHECK(b(1) == 2);
  a.invalidate(1);
  CHECK(until([&] { return !b.peek(1); }) < 1s);
  CHECK(recall::invalidate_tag("t").unreachable_stores == 0);
  a.clear();
  CHECK(a.stats().l2_unavailable == 0);
  CHECK(b.stats().l2_unavailable == 0);
}

TEST_CASE("a cache with a second level is configured safely") {
  redis_server server;
  auto l2 = store_for(server);
  const auto fn = [](int x) { return x; };
  CHECK_THROWS_WITH(recall::cache_data(fn, {.ttl = 1min, .l2 = l2}),
                    Catch::Matchers::Contains("give it a stable .name"));
  CHECK_THROWS_WITH(recall::cache_data(fn, {.name = "a{b}", .ttl = 1min, .l2 = l2}),
                    Catch::Matchers::Contains("letters, digits"));
  CHECK_THROWS_WITH(
      recall::cache_data(fn, {.name = "n", .ttl = 1min, .tags = {"has space"}, .l2 = l2}),
      Catch::Matchers::Contains("tag"));
  CHECK_THROWS_WITH(
      recall::cache_data(fn, {.name = "n", .ttl = 1min, .scope = recall::scope::session, .l2 = l2}),
      Catch::Matchers::Contains("scope::session"));
  CHECK_THROWS_AS(recall::redis_store(nullptr), recall::config_error);
}
