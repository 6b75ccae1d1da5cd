// session_store on Redis across processes: this test is one replica, the
// session_replica program (tests/support/session_replica.cpp) the other.
// And Redis itself killed with SIGKILL under load, restarted with and without
// persistence.
#include <cereal/types/utility.hpp>
#include <chrono>
#include <recall/cache_data.hpp>
#include <recall/redis_sessions.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "support/child_process.hpp"
#include "support/redis_server.hpp"

using namespace std::chrono_literals;
using recall::session_errc;
using recall::test::child_process;
using recall::test::redis_server;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

const std::string secret = "fleet secret: 32 bytes of random";

// This process's replica, configured as session_replica configures its own.
struct replica {
  std::shared_ptr<recall::redis_client> client;
  recall::session_store store;

  explicit replica(const redis_server& server, std::size_t quota = 256 << 10,
                   std::size_t per_user = 16)
      : client(std::make_shared<recall::redis_client>(
            recall::redis_options{.port = server.port(), .command_timeout = 1s})),
        store({.max_bytes_per_session = quota,
               .max_sessions_per_user = per_user,
               .storage = recall::redis_sessions(client, {.secret = secret})}) {}
};

// The other replica, running one command.
child_process other(const redis_server& server, std::vector<std::string> args) {
  args.insert(args.begin(), {std::to_string(server.port()), secret});
  return child_process(RECALL_SESSION_REPLICA, std::move(args));
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string run(const redis_server& server, std::vector<std::string> args) {
  auto child = other(server, std::move(args));
  auto [status, out] = child.finish();
  REQUIRE(status == 0);
  return out;
}

long long field(const std::string& text, const std::string& name) {
  const auto at = text.find(name + "=");
  if (at == std::string::npos) throw std::runtime_error("no " + name + " in: " + text);
  return std::stoll(text.substr(at + name.size() + 1));
}

std::string written(recall::session_store& store, const recall::identity& who = {}) {
  auto s = store.open("", who);
  s.set("v", 1);
  return s.id();
}

// Waits (real time, bounded) until `done` holds.
template <class F>
bool until(F&& done, std::chrono::seconds bound = 10s) {
  const auto start = std::chrono::steady_clock::now();
  while (!done()) {
    if (std::chrono::steady_clock::now() - start > bound) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("two processes: a session created in one is read in the other, both ways") {
  redis_server server;
  replica here(server);
  const auto ids = lines(run(server, {"create", "-", "1"}));
  REQUIRE(ids.size() == 1);
  auto s = here.store.open(ids[0]);
  CHECK_FALSE(s.is_new());
  CHECK(s.get<int>("v") == 1);
  s.set("mine", 7);
  CHECK(run(server, {"read", ids[0], "-", "mine"}) == "value=7\n");
  const std::string signed_in = written(here.store, {.user = "mia"});
  CHECK(run(server, {"read", signed_in, "mia", "v"}) == "value=1\n");
  CHECK(run(server, {"read", signed_in, "-", "v"}) == "fresh=identity_mismatch\n");
}

TEST_CASE("two processes write different keys of one session at once: all kept (1,000 rounds)") {
  redis_server server;
  replica here(server);
  const std::string id = written(here.store);
  const int rounds = sanitized ? 200 : 1000;
  auto child = other(server, {"write", id, "b", std::to_string(rounds), "go"});
  here.client->command({"SET", "go", "1"});
  for (int i = 0; i < rounds; ++i) here.store.open(id).set("a" + std::to_string(i), i);
  REQUIRE(child.finish().first == 0);
  auto s = here.store.open(id);
  for (int i = 0; i < rounds; ++i) {
    REQUIRE(s.get<int>("a" + std::to_string(i)) == i);
    REQUIRE(s.get<int>("b" + std::to_string(i)) == i);
  }
}

TEST_CASE("two processes push 1,000 items each into one list at once: all land, last N kept") {
  redis_server server;
  replica here(server);
  const std::string id = written(here.store);
  const int pushes = sanitized ? 300 : 1000;
  const std::size_t keep = static_cast<std::size_t>(pushes) * 3 / 2;
  auto child = other(server, {"push", id, "1", std::to_string(pushes), std::to_string(keep), "go"});
  here.client->command({"SET", "go", "1"});
  for (int i = 0; i < pushes; ++i) {
    here.store.open(id).list<std::pair<int, int>>("log", keep).push_back({0, i});
  }
  REQUIRE(child.finish().first == 0);
  const auto items = here.store.open(id).list<std::pair<int, int>>("log", keep).items();
  REQUIRE(items.size() == keep);
  std::array<std::vector<int>, 2> seen;
  for (const auto& [who, i] : items) seen[who].push_back(i);
  for (const auto& s : seen) {
    REQUIRE_FALSE(s.empty());
    CHECK(s.back() == pushes - 1);
    for (std::size_t j = 1; j < s.size(); ++j) REQUIRE(s[j] == s[j - 1] + 1);
  }
}

TEST_CASE("rotate here, then the old id in the other process: rejected, never resurrected") {
  redis_server server;
  replica here(server);
  auto s = here.store.open("");
  s.set("v", 1);
  const std::string old_id = s.id();
  s.rotate();
  CHECK(run(server, {"read", old_id, "-", "v"}) == "fresh=unknown\n");
  CHECK(run(server, {"read", old_id, "-", "v"}) == "fresh=unknown\n");
  CHECK(run(server, {"read", s.id(), "-", "v"}) == "value=1\n");
}

TEST_CASE("logout here while a request is open in the other process: its write fails, ended") {
  redis_server server;
  replica here(server);
  const std::string id = written(here.store);
  auto child = other(server, {"hold", id, "ready", "go"});
  REQUIRE(until([&] { return here.client->command({"EXISTS", "ready"}).integer() == 1; }));
  here.store.open(id).end();
  here.client->command({"SET", "go", "1"});
  const auto [status, out] = child.finish();
  CHECK(status == 0);
  CHECK(out == "ended\n");
  CHECK(here.store.open(id).is_new());
}

TEST_CASE("the quota and the per-user limit hold when two processes write at once") {
  redis_server server;
  SECTION("quota") {
    replica here(server, 4000);
    const std::string id = written(here.store);
    auto child = other(server, {"fill", id, "b", "60", "go"});
    here.client->command({"SET", "go", "1"});
    int refused = 0;
    for (int i = 0; i < 60; ++i) {
      try {
        here.store.open(id).set("a" + std::to_string(i), std::string(100, 'f'));
      } catch (const recall::quota_error&) {
        ++refused;
      }
    }
    const auto [status, out] = child.finish();
    REQUIRE(status == 0);
    auto s = here.store.open(id);
    std::size_t expected = 1 + recall::encode(1).size();
    int kept = 0;
    for (const char* prefix : {"a", "b"}) {
      for (int i = 0; i < 60; ++i) {
        const std::string key = prefix + std::to_string(i);
        if (!s.contains(key)) continue;
        expected += key.size() + recall::encode(std::string(100, 'f')).size();
        ++kept;
      }
    }
    CHECK(kept + refused + field(out, "refused") == 120);
    CHECK(s.bytes() == expected);
    CHECK(s.bytes() <= 4000);
  }
  SECTION("per-user limit") {
    replica here(server, 256 << 10, 3);
    auto child = other(server, {"sign_in", "kim", "40", "go"});
    here.client->command({"SET", "go", "1"});
    std::vector<std::string> ids;
    for (int i = 0; i < 40; ++i) ids.push_back(written(here.store, {.user = "kim"}));
    const auto [status, out] = child.finish();
    REQUIRE(status == 0);
    for (const auto& id : lines(out)) ids.push_back(id);
    REQUIRE(ids.size() == 80);
    int alive = 0;
    for (const auto& id : ids) alive += here.store.open(id, {.user = "kim"}).is_new() ? 0 : 1;
    CHECK(alive == 3);
  }
}

TEST_CASE("end_all here ends the user's sessions the other process created") {
  redis_server server;
  replica here(server);
  auto theirs = lines(run(server, {"create", "lee", "3"}));
  REQUIRE(theirs.size() == 3);
  for (int i = 0; i < 3; ++i) theirs.push_back(written(here.store, {.user = "lee"}));
  const std::string other_user = written(here.store, {.user = "max"});
  CHECK(here.store.end_all("lee") == 6);
  for (const auto& id : theirs) CHECK(run(server, {"read", id, "lee", "v"}) == "fresh=unknown\n");
  CHECK(run(server, {"read", other_user, "max", "v"}) == "value=1\n");
}

TEST_CASE("a session ended by another process drops this process's scope::session entries") {
  redis_server server;
  replica here(server);
  int calls = 0;
  auto per_session =
      recall::cache_data([&](int x) { return ++calls + x; },
                         {.name = "fleet_per_session", .ttl = 1h, .scope = recall::scope::session});
  const std::string id = written(here.store);
  {
    auto s = here.store.open(id);
    (void)per_session(1);
  }
  REQUIRE(per_session.stats().entries == 1);
  run(server, {"end", id});
  CHECK(until([&] { return per_session.stats().entries == 0; }, 5s));
}

TEST_CASE("Redis killed with SIGKILL under load: typed errors only; with AOF sessions come back") {
  redis_server server({.append_only = true});
  replica here(server);
  constexpr int threads = 4;
  std::vector<std::string> ids;
  for (int t = 0; t < threads; ++t) {
    auto s = here.store.open("");
    s.set("owner", t);
    s.set("n", -1);
    ids.push_back(s.id());
  }
  auto child = other(server, {"load", sanitized ? "8000" : "5000", "go"});
  std::atomic<bool> stop{false};
  std::atomic<int> unavailable{0}, bad{0}, lost{0};
  std::array<std::atomic<int>, threads> acked{};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (int n = 0; !stop; ++n) {
        try {
          auto s = here.store.open(ids[t]);
          if (s.is_new()) {
            ++lost;
            continue;
          }
          if (s.get<int>("owner") != t) ++bad;  // never another session's data
          s.set("n", n);
          acked[t] = n;
        } catch (const recall::session_error& e) {
          (e.code() == session_errc::storage_unavailable ? unavailable : bad) += 1;
          std::this_thread::sleep_for(1ms);
        } catch (...) {
          ++bad;
        }
      }
    });
  }
  here.client->command({"SET", "go", "1"});
  REQUIRE(until([&] { return acked[0] > 100; }));
  server.kill();
  REQUIRE(until([&] { return unavailable > 20; }));
  server.restart();  // the AOF (appendfsync always) brings every acknowledged write back
  std::array<int, threads> before{};
  for (int t = 0; t < threads; ++t) before[t] = acked[t];
  const bool recovered = until([&] {
    for (int t = 0; t < threads; ++t) {
      if (acked[t] <= before[t]) return false;
    }
    return true;
  });
  stop = true;
  for (auto& th : pool) th.join();
  CHECK(recovered);
  CHECK(bad == 0);
  CHECK(lost == 0);
  CHECK(unavailable > 0);
  for (int t = 0; t < threads; ++t) {
    auto s = here.store.open(ids[t]);
    REQUIRE_FALSE(s.is_new());
    CHECK(s.get<int>("owner") == t);
    CHECK(s.get<int>("n") == acked[t].load());
  }
  const auto [status, out] = child.finish();
  CHECK(status == 0);
  CHECK(field(out, "bad") == 0);
  CHECK(field(out, "ok") > 0);
  CHECK(field(out, "unavailable") > 0);
  CHECK(here.store.stats().storage_unavailable > 0);
}

TEST_CASE("without persistence, a restarted Redis gives fresh sessions, as documented") {
  redis_server server;
  replica here(server);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(written(here.store, {.user = i % 2 ? "ned" : ""}));
  server.kill();
  server.restart();
  std::optional<recall::session> first;
  REQUIRE(until([&] {
    try {
      first.emplace(here.store.open(ids[0]));
      return true;
    } catch (const recall::session_error& e) {
      REQUIRE(e.code() == session_errc::storage_unavailable);
      return false;
    }
  }));
  CHECK(first->is_new());
  CHECK(first->rejected_reason() == recall::rejected_id_reason::unknown);
  for (std::size_t i = 1; i < ids.size(); ++i) {
    auto s = here.store.open(ids[i], {.user = i % 2 ? "ned" : ""});
    CHECK(s.is_new());
    CHECK(s.rejected_reason() == recall::rejected_id_reason::unknown);
  }
  first->set("again", 1);
  CHECK_FALSE(here.store.open(first->id()).is_new());
}
