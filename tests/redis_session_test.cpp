// session_store over a real redis-server: replicas A and B are two stores in
// this process, each with its own client (as two processes would have), on
// one Redis. The two-process tests, kills and restarts are in
// redis_session_fleet_test.cpp.
#include <array>
#include <atomic>
#include <cereal/types/string.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/vector.hpp>
#include <chrono>
#include <cstdio>
#include <map>
#include <recall/cache_data.hpp>
#include <recall/redis_sessions.hpp>
#include <recall/session_id.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "redis/session_format.hpp"
#include "support/redis_server.hpp"

using namespace std::chrono_literals;
using recall::rejected_id_reason;
using recall::session_errc;
using recall::test::redis_server;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

const std::string secret = "test secret: 32 bytes of entropy";

std::shared_ptr<recall::redis_client> client_for(const redis_server& server,
                                                 recall::redis_options o = {}) {
  o.port = server.port();
  if (o.command_timeout == std::chrono::milliseconds(50)) o.command_timeout = 2s;
  return std::make_shared<recall::redis_client>(o);
}

// A fleet of replicas sharing one clock and one Redis.
struct fleet {
  redis_server& server;
  std::shared_ptr<recall::manual_clock> clock = std::make_shared<recall::manual_clock>();
  recall::session_options base{};
  std::vector<std::shared_ptr<recall::redis_client>> clients{};  // one per replica, in order

  explicit fleet(redis_server& s, recall::session_options o = {}) : server(s), base(std::move(o)) {
    base.clock = clock;
  }

  std::unique_ptr<recall::session_store> replica(recall::redis_options client = {}) {
    recall::session_options o = base;
    clients.push_back(client_for(server, std::move(client)));
    o.storage = recall::redis_sessions(clients.back(), {.secret = secret});
    return std::make_unique<recall::session_store>(o);
  }
};

std::string written(recall::session_store& store, const recall::identity& who = {}) {
  auto s = store.open("", who);
  s.set("v", 1);
  return s.id();
}

template <class F>
session_errc error_code_of(F&& f) {
  try {
    f();
  } catch (const recall::session_error& e) {
    return e.code();
  }
  FAIL("expected a session_error");
  return session_errc::ended;
}

long long dbsize(recall::redis_client& c) { return c.command({"DBSIZE"}).integer(); }

}  // namespace

TEST_CASE("a session created on replica A is read on replica B, values, lists and maps") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  std::string id;
  {
    auto s = a->open("");
    CHECK(s.is_new());
    CHECK(s.id().empty());
    s.set("region", std::string("EU"));
    s.set("n", 42);
    s.set("cart", std::vector<int>{1, 2, 3});
    auto chat = s.list<std::string>("chat", 3);
    for (int i = 0; i < 5; ++i) chat.push_back("m" + std::to_string(i));
    CHECK(chat.items() == std::vector<std::string>{"m2", "m3", "m4"});  // read your writes
    auto filters = s.map<std::string, int>("filters", 2);
    filters.put("a", 1);
    filters.put("b", 2);
    CHECK(filters.get("a") == 1);  // a is now the most recent
    filters.put("c", 3);           // b goes
    CHECK(s.id_changed());
    id = s.id();
    CHECK(recall::is_well_formed_session_id(id));
  }
  auto s = b->open(id);
  CHECK_FALSE(s.is_new());
  CHECK(s.id() == id);
  CHECK(s.tag() == a->open(id).tag());  // one tag for the session in every replica
  CHECK(s.get<std::string>("region") == "EU");
  CHECK(s.get<int>("n") == 42);
  CHECK(s.get<std::vector<int>>("cart") == std::vector<int>{1, 2, 3});
  CHECK(s.list<std::string>("chat", 3).items() == std::vector<std::string>{"m2", "m3", "m4"});
  CHECK(s.list<std::string>("chat", 2).items() == std::vector<std::string>{"m3", "m4"});
  CHECK((s.map<std::string, int>("filters", 2).items() ==
         std::vector<std::pair<std::string, int>>{{"a", 1}, {"c", 3}}));
  CHECK_FALSE(s.contains("missing"));
  CHECK(s.get_or<int>("missing", 7) == 7);
  // The quota counts as the in-process store does: key + encoding.
  std::size_t expected = 6 + recall::encode(std::string("EU")).size() + 1 +
                         recall::encode(42).size() + 4 +
                         recall::encode(std::vector<int>{1, 2, 3}).size() + 4;
  for (const char* m : {"m2", "m3", "m4"}) expected += recall::encode(std::string(m)).size();
  expected += 7;
  for (const auto& [k, v] : std::vector<std::pair<std::string, int>>{{"a", 1}, {"c", 3}}) {
    expected += recall::encode(k).size() + recall::encode(v).size();
  }
  CHECK(s.bytes() == expected);
  CHECK_THROWS_AS(s.get<std::string>("n"), recall::codec_error);
  CHECK(error_code_of([&] { (void)s.get<int>("chat"); }) == session_errc::wrong_kind);
  CHECK(error_code_of([&] { s.list<int>("n", 3).push_back(1); }) == session_errc::wrong_kind);
  CHECK(s.get<int>("n") == 42);
}

TEST_CASE("a request without a cookie costs Redis nothing until it writes") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto raw = client_for(server);
  const auto round_trips = [&] { return f.clients[0]->stats().round_trips; };
  {
    auto s = a->open("");
    CHECK(s.get<int>("x") == std::nullopt);
    CHECK(s.list<int>("l", 3).empty());
    CHECK_FALSE(s.id_changed());
  }
  CHECK(dbsize(*raw) == 0);
  // Malformed ids are refused before any lookup.
  for (const std::string& bad :
       {std::string("short"), std::string(43, '+'), std::string(10'000, 'A')}) {
    auto s = a->open(bad);
    CHECK(s.rejected_reason() == rejected_id_reason::malformed);
  }
  CHECK(dbsize(*raw) == 0);
  CHECK(round_trips() == 0);
  const auto before = round_trips();
  auto s = a->open(recall::new_session_id());  // well formed, never issued
  CHECK(s.is_new());
  CHECK(s.rejected_reason() == rejected_id_reason::unknown);
  CHECK(dbsize(*raw) == 0);  // strict mode: the presented id created nothing
  CHECK(round_trips() == before + 1);
  s.set("v", 1);
  CHECK(s.id_changed());
  CHECK(a->stats().created == 1);
  CHECK(a->stats().live == 1);
  const auto st = a->stats();
  CHECK(st.rejected_empty == 1);
  CHECK(st.rejected_malformed == 3);
  CHECK(st.rejected_unknown == 1);
}

TEST_CASE("a request (open, three gets, one set, end) costs two round trips") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  std::string id;
  {
    auto s = a->open("");
    s.set("region", std::string("EU"));
    s.set("page", 1);
    s.set("name", std::string("alice"));
    id = s.id();
  }
  const auto request = [&](recall::session_store& store, int page) {
    auto s = store.open(id);
    REQUIRE_FALSE(s.is_new());
    CHECK(s.get<std::string>("region") == "EU");
    CHECK(s.get<int>("page") == page - 1);
    CHECK(s.get<std::string>("name") == "alice");
    s.set("page", page);
  };
  request(*a, 2);  // the first call loads recall's function library into Redis
  const auto before = f.clients[1]->stats();
  for (int page = 3; page < 103; ++page) request(*b, page);
  const auto after = f.clients[1]->stats();
  CHECK(after.round_trips - before.round_trips == 200);
  CHECK(after.eval_fallbacks == before.eval_fallbacks);
  // Reads alone: the open only.
  {
    const auto start = f.clients[1]->stats().round_trips;
    auto s = b->open(id);
    CHECK(s.get<int>("page") == 102);
    CHECK(s.contains("region"));
    CHECK(f.clients[1]->stats().round_trips == start + 1);
  }
}

TEST_CASE("after FUNCTION FLUSH the next call loads recall's functions again") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto raw = client_for(server);
  const auto libraries = [&] {
    return raw->command({"FUNCTION", "LIST", "LIBRARYNAME", "recall_sessions_v1_*"})
        .throw_if_error()
        .elements()
        .size();
  };
  const std::string id = written(*a);
  CHECK(libraries() == 1);
  raw->command({"FUNCTION", "FLUSH"}).throw_if_error();
  CHECK(libraries() == 0);
  {
    auto s = a->open(id);
    REQUIRE_FALSE(s.is_new());
    const auto before = f.clients[0]->stats().round_trips;
    s.set("v", 2);  // FCALL: not found; FUNCTION LOAD; FCALL again
    CHECK(f.clients[0]->stats().round_trips == before + 3);
  }
  CHECK(libraries() == 1);
  CHECK(a->open(id).get<int>("v") == 2);
  // Another store's bounds are another library beside it, not a replacement.
  recall::session_options shorter = f.base;
  shorter.idle_timeout = 10min;
  fleet g(server, shorter);
  auto c = g.replica();
  const std::string other = written(*c);
  CHECK(libraries() == 2);
  {
    auto s = a->open(id);
    const auto before = f.clients[0]->stats().round_trips;
    s.set("v", 3);
    CHECK(f.clients[0]->stats().round_trips == before + 1);
  }
  CHECK(a->open(id).get<int>("v") == 3);
  CHECK_FALSE(c->open(other).is_new());
  CHECK(a->stats().storage_unavailable == 0);
  CHECK(c->stats().storage_unavailable == 0);
}

TEST_CASE("Redis never holds a usable session id") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto s = a->open("", {.user = "alice"});
  s.set("v", std::string("secret value"));
  const std::string id = s.id();
  auto raw = client_for(server);
  const auto keys = raw->command({"KEYS", "*"});
  std::string everything;
  for (const auto& k : keys.elements()) {
    everything += k.str();
    everything += "\n";
    const auto type = raw->command({"TYPE", k.str()});
    const auto contents = type.str() == "hash"   ? raw->command({"HGETALL", k.str()})
                          : type.str() == "zset" ? raw->command({"ZRANGE", k.str(), "0", "-1"})
                                                 : recall::redis_reply::make_array({});
    for (const auto& e : contents.elements()) everything += e.str();
  }
  CHECK(everything.find(id) == std::string::npos);
  CHECK(everything.find(id.substr(0, 16)) == std::string::npos);
  CHECK(everything.find(id.substr(20, 16)) == std::string::npos);
  // A dump loaded under another secret finds nothing.
  recall::session_options o;
  o.storage =
      recall::redis_sessions(client_for(server), {.secret = "another secret of 32 bytes......"});
  recall::session_store other(o);
  CHECK(other.open(id, {.user = "alice"}).is_new());
}

TEST_CASE("writes of different keys on A and B at once are all kept (1,000 rounds)") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  const std::string id = written(*a);
  const int rounds = sanitized ? 200 : 1000;
  std::atomic<int> lost{0};  // Catch's assertions are for the main thread only
  const auto writer = [&](recall::session_store& store, const std::string& prefix) {
    for (int i = 0; i < rounds; ++i) {
      auto s = store.open(id);
      if (s.is_new()) ++lost;
      (void)s.get<int>("v");
      s.set(prefix + std::to_string(i), i);
      s.set("last", prefix);  // one key both write: last writer wins, nobody loses another key
    }
  };
  std::thread ta([&] { writer(*a, "a"); });
  std::thread tb([&] { writer(*b, "b"); });
  ta.join();
  tb.join();
  REQUIRE(lost == 0);
  auto s = a->open(id);
  for (int i = 0; i < rounds; ++i) {
    REQUIRE(s.get<int>("a" + std::to_string(i)) == i);
    REQUIRE(s.get<int>("b" + std::to_string(i)) == i);
  }
  const std::string last = *s.get<std::string>("last");
  CHECK((last == "a" || last == "b"));
  CHECK(s.get<int>("v") == 1);
}

TEST_CASE("A and B each push 1,000 items into one list at once: all land, the last N are kept") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  const std::string id = written(*a);
  const int pushes = sanitized ? 300 : 1000;
  const std::size_t keep = static_cast<std::size_t>(pushes) * 3 / 2;
  const auto pusher = [&](recall::session_store& store, int who) {
    for (int i = 0; i < pushes; ++i) {
      auto s = store.open(id);
      s.list<std::pair<int, int>>("log", keep).push_back({who, i});
      s.list<std::pair<int, int>>("all", 2 * pushes).push_back({who, i});  // nothing trimmed
    }
  };
  std::thread ta([&] { pusher(*a, 0); });
  std::thread tb([&] { pusher(*b, 1); });
  ta.join();
  tb.join();
  const auto items = b->open(id).list<std::pair<int, int>>("log", keep).items();
  REQUIRE(items.size() == keep);
  // Each replica's items are in order, with no gap, up to its last push: so
  // every push landed, and what was trimmed is the oldest.
  std::array<std::vector<int>, 2> seen;
  for (const auto& [who, i] : items) seen[who].push_back(i);
  for (const auto& s : seen) {
    REQUIRE_FALSE(s.empty());
    CHECK(s.back() == pushes - 1);
    for (std::size_t j = 1; j < s.size(); ++j) REQUIRE(s[j] == s[j - 1] + 1);
  }
  CHECK(seen[0].size() + seen[1].size() == keep);
  // Every one of the 2 x pushes landed.
  std::array<std::vector<int>, 2> all;
  for (const auto& [who, i] : b->open(id).list<std::pair<int, int>>("all", 2 * pushes).items()) {
    all[who].push_back(i);
  }
  for (const auto& s : all) {
    REQUIRE(s.size() == static_cast<std::size_t>(pushes));
    for (int j = 0; j < pushes; ++j) REQUIRE(s[j] == j);
  }
}

TEST_CASE("rotate on A, then the old id on B: rejected and never resurrected") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  auto s = a->open("");
  s.set("cart", 3);
  const std::string old_id = s.id();
  const auto tag = s.tag();
  auto in_flight = b->open(old_id);  // a request on B that began before the rotation
  REQUIRE_FALSE(in_flight.is_new());
  s.rotate();
  CHECK(s.id_changed());
  const std::string new_id = s.id();
  CHECK(new_id != old_id);
  CHECK(s.tag() == tag);

  auto stale = b->open(old_id);
  CHECK(stale.is_new());
  CHECK(stale.rejected_reason() == rejected_id_reason::unknown);
  CHECK_FALSE(stale.contains("cart"));
  stale.set("x", 1);  // a write through it makes a new session with a new id ...
  CHECK(stale.id() != old_id);
  CHECK(b->open(old_id).is_new());  // ... and the old id stays dead
  CHECK(a->open(old_id).is_new());

  // The request that opened before the rotation follows it: its writes land
  // in the session, now under the new id.
  in_flight.set("during", 1);
  auto resumed = b->open(new_id);
  CHECK_FALSE(resumed.is_new());
  CHECK(resumed.tag() == tag);
  CHECK(resumed.get<int>("cart") == 3);
  CHECK(resumed.get<int>("during") == 1);
  CHECK(a->stats().rotated == 1);
}

TEST_CASE("an id change racing writes on another replica loses no write (spring-session #1428)") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  auto first = a->open("");
  first.set("v", 0);
  std::string id = first.id();
  std::vector<std::string> old_ids;
  auto writer = b->open(id);  // one long request on B
  const int writes = sanitized ? 100 : 500;
  std::atomic<bool> done{false}, lost{false};
  std::atomic<int> written_so_far{0};
  std::thread rotator([&] {
    int seen = -1;
    while (!done && !lost) {
      if (written_so_far == seen) {
        std::this_thread::yield();  // a few rotations per write at most, as sign-ins are
        continue;
      }
      seen = written_so_far;
      auto s = a->open(id);
      if (s.is_new()) {
        lost = true;
        std::printf("lost: %s\n", recall::to_string(*s.rejected_reason()));
        return;
      }
      old_ids.push_back(id);
      try {
        s.rotate();
      } catch (const std::exception& e) {
        std::printf("rotate: %s\n", e.what());
        lost = true;
        return;
      }
      id = s.id();
    }
  });
  try {
    for (int i = 0; i < writes; ++i) {
      writer.set("k" + std::to_string(i), i);
      ++written_so_far;
    }
  } catch (const std::exception& e) {
    std::printf("writer: %s\n", e.what());
    lost = true;
  }
  done = true;
  rotator.join();
  REQUIRE_FALSE(lost);
  CHECK(old_ids.size() > 1);
  auto s = b->open(id);
  REQUIRE_FALSE(s.is_new());
  for (int i = 0; i < writes; ++i) REQUIRE(s.get<int>("k" + std::to_string(i)) == i);
  for (const auto& old : old_ids) REQUIRE(a->open(old).is_new());
}

TEST_CASE("logout on A while a request is open on B: B's writes fail with ended") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  std::vector<std::uint64_t> announced;
  std::mutex mu;
  recall::detail::session_end_subscription sub([&](std::uint64_t tag) {
    std::lock_guard lock(mu);
    announced.push_back(tag);
  });
  const std::string id = written(*a);
  auto on_b = b->open(id);
  CHECK(on_b.get<int>("v") == 1);
  auto on_a = a->open(id);
  const auto tag = on_a.tag();
  on_a.end();
  CHECK(on_a.ended());
  CHECK_FALSE(on_a.id_changed());
  CHECK(on_a.id() == id);
  {
    std::lock_guard lock(mu);
    CHECK(std::count(announced.begin(), announced.end(), tag) >= 1);
  }
  CHECK(error_code_of([&] { on_b.set("b", 2); }) == session_errc::ended);
  CHECK(on_b.ended());
  CHECK_FALSE(on_b.get<int>("v"));  // what it knows to be ended, it no longer shows
  CHECK(error_code_of([&] { on_b.list<int>("l", 3).push_back(1); }) == session_errc::ended);
  CHECK(error_code_of([&] { on_b.map<int, int>("m", 3).put(1, 1); }) == session_errc::ended);
  CHECK(error_code_of([&] { on_b.rotate(); }) == session_errc::ended);
  CHECK_FALSE(on_b.erase("v"));
  on_b.clear();
  on_b.end();
  auto again = b->open(id);
  CHECK(again.is_new());
  CHECK(again.rejected_reason() == rejected_id_reason::unknown);
  CHECK(a->stats().ended == 1);
  CHECK(b->stats().ended == 0);
  CHECK(a->stats().live == 0);
}

TEST_CASE("a logout racing writes on the other replica leaves nothing behind") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  for (int round = 0; round < (sanitized ? 10 : 50); ++round) {
    const std::string id = written(*a);
    std::atomic<bool> other_error{false};
    std::thread writer([&] {
      auto s = b->open(id);
      if (s.is_new()) return;
      for (int i = 0; i < 20; ++i) {
        try {
          s.set("k" + std::to_string(i), i);
        } catch (const recall::session_error& e) {
          if (e.code() != session_errc::ended) other_error = true;
        }
      }
    });
    std::thread ender([&] {
      auto s = a->open(id);
      if (!s.is_new()) s.end();
    });
    writer.join();
    ender.join();
    REQUIRE_FALSE(other_error);
    REQUIRE(b->open(id).is_new());
  }
  CHECK(a->stats().live == 0);
}

TEST_CASE("the quota holds when A and B write at once") {
  redis_server server;
  recall::session_options o;
  o.max_bytes_per_session = 4000;
  fleet f(server, o);
  auto a = f.replica();
  auto b = f.replica();
  const std::string id = written(*a);
  std::atomic<int> refused{0}, other{0};
  const auto writer = [&](recall::session_store& store, char who) {
    for (int i = 0; i < 100; ++i) {
      auto s = store.open(id);
      try {
        s.set(std::string(1, who) + std::to_string(i), std::string(100, who));
      } catch (const recall::quota_error& e) {
        ++refused;
        if (e.limit() != 4000 || e.session_bytes() <= 4000) ++other;
      } catch (...) {
        ++other;
      }
    }
  };
  std::thread ta([&] { writer(*a, 'a'); });
  std::thread tb([&] { writer(*b, 'b'); });
  ta.join();
  tb.join();
  CHECK(other == 0);
  CHECK(refused > 0);
  auto s = a->open(id);
  std::size_t stored = recall::encode(1).size() + 1;  // "v"
  int kept = 0;
  for (char who : {'a', 'b'}) {
    for (int i = 0; i < 100; ++i) {
      const std::string key = std::string(1, who) + std::to_string(i);
      if (s.contains(key)) {
        stored += key.size() + recall::encode(std::string(100, who)).size();
        ++kept;
      }
    }
  }
  CHECK(kept + refused == 200);
  CHECK(s.bytes() == stored);  // the server's count is exact ...
  CHECK(s.bytes() <= 4000);    // ... and within the quota
  CHECK(a->stats().quota_exceeded + b->stats().quota_exceeded == static_cast<unsigned>(refused));
}

TEST_CASE("the per-user limit holds when A and B sign in at once") {
  redis_server server;
  recall::session_options o;
  o.max_sessions_per_user = 3;
  fleet f(server, o);
  auto a = f.replica();
  auto b = f.replica();
  const recall::identity carol{.user = "carol"};
  std::vector<std::string> ids_a, ids_b;
  std::thread ta([&] {
    for (int i = 0; i < 50; ++i) ids_a.push_back(written(*a, carol));
  });
  std::thread tb([&] {
    for (int i = 0; i < 50; ++i) ids_b.push_back(written(*b, carol));
  });
  ta.join();
  tb.join();
  int alive = 0;
  for (const auto* ids : {&ids_a, &ids_b}) {
    for (const auto& id : *ids) alive += a->open(id, carol).is_new() ? 0 : 1;
  }
  CHECK(alive == 3);
  CHECK(a->stats().ended_user_limit + b->stats().ended_user_limit == 97);
  // The newest of each replica's are among the survivors' candidates, never an older one alone.
  CHECK(a->end_all("carol") == 3);
}

TEST_CASE("end_all(user) on A ends the user's sessions created on both replicas") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  const recall::identity dave{.user = "dave"}, erin{.user = "erin"};
  std::vector<std::string> daves;
  for (int i = 0; i < 3; ++i) daves.push_back(written(*a, dave));
  for (int i = 0; i < 3; ++i) daves.push_back(written(*b, dave));
  // One anonymous session signed in as dave on B: bound (and rotated) there.
  {
    auto anon = a->open("");
    anon.set("cart", 1);
    auto signed_in = b->open(anon.id(), dave);
    CHECK(signed_in.id_changed());
    daves.push_back(signed_in.id());
  }
  const std::string erins = written(*b, erin);
  const std::string anonymous = written(*a);
  auto in_flight = b->open(daves[4], dave);
  CHECK(a->end_all("dave") == 7);
  for (const auto& id : daves) {
    CHECK(a->open(id, dave).is_new());
    CHECK(b->open(id, dave).is_new());
  }
  CHECK(error_code_of([&] { in_flight.set("x", 1); }) == session_errc::ended);
  CHECK_FALSE(b->open(erins, erin).is_new());
  CHECK_FALSE(a->open(anonymous).is_new());
  CHECK(a->end_all("dave") == 0);
  CHECK(a->end_all("") == 0);
}

TEST_CASE("end_all ends every session of the user while another replica rotates them") {
  redis_server server;
  recall::session_options o;
  o.max_sessions_per_user = SIZE_MAX;
  fleet f(server, o);
  auto a = f.replica();
  auto b = f.replica();
  const recall::identity frank{.user = "frank"};
  for (int round = 0; round < (sanitized ? 2 : 5); ++round) {
    std::vector<std::string> ids;
    for (int i = 0; i < 100; ++i) ids.push_back(written(*b, frank));
    std::atomic<bool> done{false};
    std::atomic<int> rotations{0}, other_errors{0};
    std::thread rotator([&] {
      while (!done) {
        for (auto& id : ids) {
          auto s = b->open(id, frank);
          if (s.is_new()) continue;
          try {
            s.rotate();
            id = s.id();
            ++rotations;
          } catch (const recall::session_error& e) {
            if (e.code() != session_errc::ended) ++other_errors;
          }
        }
      }
    });
    while (rotations < 20) std::this_thread::yield();
    a->end_all("frank");
    done = true;
    rotator.join();
    REQUIRE(other_errors == 0);
    int survivors = 0;
    for (const auto& id : ids) survivors += a->open(id, frank).is_new() ? 0 : 1;
    REQUIRE(survivors == 0);
  }
}

TEST_CASE("idle and absolute timeouts are decided by recall's clock") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();

  SECTION("idle") {
    const std::string id = written(*a);
    f.clock->advance(29min);
    CHECK_FALSE(b->open(id).is_new());  // activity on B restarts the idle timer for A too
    f.clock->advance(29min);
    CHECK_FALSE(a->open(id).is_new());
    f.clock->advance(30min);
    auto s = b->open(id);
    CHECK(s.is_new());
    CHECK(s.rejected_reason() == rejected_id_reason::expired);
    CHECK(b->stats().expired_idle == 1);
    CHECK(a->open(id).rejected_reason() == rejected_id_reason::unknown);
  }
  SECTION("absolute: activity never extends it") {
    const std::string id = written(*a);
    for (int i = 0; i < 8 * 3 - 1; ++i) {
      f.clock->advance(20min);
      REQUIRE_FALSE((i % 2 ? a : b)->open(id).is_new());
    }
    f.clock->advance(20min);
    auto s = a->open(id);
    CHECK(s.rejected_reason() == rejected_id_reason::expired);
    CHECK(a->stats().expired_absolute == 1);
  }
  SECTION("a request whose session passes its deadline cannot write or rotate it") {
    auto s = a->open("");
    s.set("v", 1);
    auto t = b->open(s.id());
    f.clock->advance(31min);
    CHECK(error_code_of([&] { t.set("w", 2); }) == session_errc::ended);
    CHECK(error_code_of([&] { s.rotate(); }) == session_errc::ended);
    CHECK(s.ended());
    CHECK(b->stats().expired_idle == 1);
  }
  SECTION("cleanup() reclaims expired sessions no request looks at") {
    for (int i = 0; i < 5; ++i) written(*a);
    written(*b, {.user = "gina"});
    CHECK(a->stats().live == 6);
    f.clock->advance(31min);
    CHECK(b->cleanup() == 6);
    const auto st = b->stats();
    CHECK(st.live == 0);
    CHECK(st.expired_idle == 6);
  }
}

TEST_CASE(
    "max_sessions evicts anonymous sessions before signed-in ones, least recently used first") {
  redis_server server;
  recall::session_options o;
  o.max_sessions = 200;
  o.idle_timeout = 4h;
  fleet f(server, o);
  auto a = f.replica();
  auto b = f.replica();
  std::vector<std::pair<std::string, recall::identity>> users;
  for (int i = 0; i < 20; ++i) {
    const recall::identity who{.user = "user" + std::to_string(i)};
    users.emplace_back(written(i % 2 ? *a : *b, who), who);
  }
  const std::string active = written(*a);
  const int flood = sanitized ? 500 : 2000;
  for (int i = 0; i < flood; ++i) {
    f.clock->advance(5s);
    written(i % 2 ? *a : *b);
    if (i % 20 == 0) REQUIRE_FALSE(b->open(active).is_new());
  }
  const auto st_a = a->stats(), st_b = b->stats();
  CHECK(st_a.live == 200);
  CHECK(st_a.evicted + st_b.evicted == st_a.created + st_b.created - 200);
  for (const auto& [id, who] : users) REQUIRE_FALSE(a->open(id, who).is_new());
  CHECK_FALSE(a->open(active).is_new());
  // With no anonymous session left to take, a signed-in one goes.
  recall::session_options small;
  small.max_sessions = 3;
  fleet g(server, small);
  auto c = g.replica({.key_prefix = "small:"});
  const std::string anon = written(*c);
  g.clock->advance(1min);
  const std::string u1 = written(*c, {.user = "u1"});
  g.clock->advance(1min);
  const std::string u2 = written(*c, {.user = "u2"});
  g.clock->advance(1min);
  written(*c, {.user = "u3"});  // the anonymous one goes, though it is the newest of none
  g.clock->advance(1min);
  CHECK_FALSE(c->open(u1, {.user = "u1"}).is_new());  // u1 is used: u2 is now the least recent
  written(*c, {.user = "u4"});
  CHECK(c->open(anon).is_new());
  CHECK(c->open(u2, {.user = "u2"}).is_new());
  CHECK_FALSE(c->open(u1, {.user = "u1"}).is_new());
}

TEST_CASE("a write past the deadline its request read but before the moved one is kept") {
  // A write sends the deadline open() read; the server reads the real one
  // once that has passed.
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  const std::string id = written(*a);  // deadline: now + 30 min
  auto held = a->open(id);
  f.clock->advance(20min);
  CHECK_FALSE(b->open(id).is_new());  // moves the deadline to now + 30 min
  f.clock->advance(15min);            // past what `held` read, before the moved deadline
  held.set("late", 1);
  CHECK(b->open(id).get<int>("late") == 1);
  f.clock->advance(31min);
  CHECK(error_code_of([&] { held.set("later", 2); }) == session_errc::ended);
  CHECK(a->stats().expired_idle == 1);
}

TEST_CASE("a session bound to one user is never another's; signing in rotates") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  const recall::identity alice{.user = "alice"}, bob{.user = "bob"};
  auto s = a->open("", alice);
  s.set("secret", std::string("alice's"));
  const std::string id = s.id();
  CHECK(s.user() == "alice");
  for (const recall::identity& who : {bob, recall::identity{}}) {
    auto other = b->open(id, who);
    CHECK(other.is_new());
    CHECK(other.rejected_reason() == rejected_id_reason::identity_mismatch);
    CHECK_FALSE(other.contains("secret"));
    CHECK_FALSE(other.id_changed());
  }
  CHECK(b->open(id, alice).get<std::string>("secret") == "alice's");

  auto anon = a->open("");
  anon.set("cart", 3);
  const std::string anon_id = anon.id();
  auto signed_in = b->open(anon_id, bob);
  CHECK_FALSE(signed_in.is_new());
  CHECK(signed_in.id_changed());
  CHECK(signed_in.id() != anon_id);
  CHECK(signed_in.user() == "bob");
  CHECK(signed_in.get<int>("cart") == 3);
  signed_in.set("after", 1);
  CHECK(a->open(anon_id, bob).is_new());    // the anonymous id is dead
  CHECK(a->open(signed_in.id()).is_new());  // bob's is not for anonymous requests
  CHECK(a->open(signed_in.id(), bob).get<int>("after") == 1);
  anon.set("late", 1);  // the anonymous request that was still open follows the sign-in
  CHECK(a->open(signed_in.id(), bob).get<int>("late") == 1);
  CHECK(b->stats().rotated == 1);
}

TEST_CASE("versioned values: checked on the server across replicas") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  const std::string id = written(*a);
  auto sa = a->open(id);
  auto sb = b->open(id);
  const std::size_t empty = sa.bytes();
  sa.set("summary", std::string("from v2"), 2);
  sb.set("summary", std::string("from v1"), 1);  // a slower request, older data: not stored
  CHECK(a->open(id).get<std::string>("summary", 2) == "from v2");
  sb.set("summary", std::string("from v3"), 3);
  CHECK(a->open(id).get<std::string>("summary") == "from v3");
  {
    auto s = a->open(id);
    CHECK_FALSE(s.get<std::string>("summary", 4));  // older than what the reader needs: dropped
    CHECK_FALSE(s.contains("summary"));
    CHECK(s.bytes() == empty);
  }
  CHECK_FALSE(b->open(id).contains("summary"));
  sb.set("summary", std::string("unversioned"));  // version 0 replaces, as in memory
  CHECK(a->open(id).get<std::string>("summary") == "unversioned");
}

TEST_CASE("every end is announced to scope::session caches, and counted") {
  redis_server server;
  recall::session_options o;
  o.max_sessions = 4;
  fleet f(server, o);
  auto a = f.replica();
  auto b = f.replica();
  std::multiset<std::uint64_t> announced;
  std::mutex mu;
  recall::detail::session_end_subscription sub([&](std::uint64_t tag) {
    std::lock_guard lock(mu);
    announced.insert(tag);
  });
  const auto tag_of = [&](recall::session_store& store, const recall::identity& who) {
    auto s = store.open("", who);
    s.rotate();
    return s.tag();
  };
  const auto count = [&](std::uint64_t tag) {
    std::lock_guard lock(mu);
    return announced.count(tag);
  };
  const auto t1 = tag_of(*a, {.user = "hal"});
  const auto t2 = tag_of(*b, {.user = "hal"});
  const auto t3 = tag_of(*a, {.user = "ivy"});
  CHECK(b->end_all("hal") == 2);
  CHECK(count(t1) >= 1);
  CHECK(count(t2) >= 1);
  f.clock->advance(31min);
  a->cleanup();
  CHECK(count(t3) >= 1);
  std::vector<std::uint64_t> tags;
  for (int i = 0; i < 6; ++i) {
    f.clock->advance(1s);  // distinct deadlines: the least recently used goes first
    tags.push_back(tag_of(i % 2 ? *a : *b, {}));
  }
  CHECK(a->stats().evicted + b->stats().evicted == 2);
  CHECK(count(tags[0]) >= 1);
  CHECK(count(tags[1]) >= 1);
  CHECK(count(tags[5]) == 0);

  int calls = 0;
  auto per_session = recall::cache_data(
      [&](int x) { return ++calls + x; },
      {.name = "redis_per_session", .ttl = 1h, .scope = recall::scope::session, .clock = f.clock});
  std::string id;
  {
    auto s = a->open("");
    s.set("v", 1);
    id = s.id();
    (void)per_session(1);
  }
  {
    auto s = b->open(id);
    CHECK(per_session(1) == 2);  // the same tag on B: the same entry
    CHECK(per_session.stats().entries == 1);
    s.end();
    CHECK(per_session.stats().entries == 0);
  }
}

TEST_CASE("redis_sessions is configured safely") {
  redis_server server;
  auto client = client_for(server);
  CHECK_THROWS_WITH(recall::redis_sessions(client, {}), Catch::Matchers::Contains(".secret"));
  CHECK_THROWS_AS(recall::redis_sessions(client, {.secret = "short"}), recall::config_error);
  CHECK_THROWS_AS(recall::redis_sessions(nullptr, {.secret = secret}), recall::config_error);
  CHECK_THROWS_AS(recall::redis_sessions(client, {.secret = secret, .tombstone_ttl = 0s}),
                  recall::config_error);
  recall::session_store store({.storage = recall::redis_sessions(client, {.secret = secret})});
  CHECK(store.options().storage.kind() == "redis");
  CHECK(recall::session_store{}.options().storage.kind() == "memory");
  bool found = false;
  for (const auto& r : recall::registered()) {
    if (r.kind != "session_store") continue;
    for (const auto& m : r.metrics) found = found || m.name == "storage_unavailable";
  }
  CHECK(found);
}

namespace {

// The Redis key of a session, as the storage names it (white box: the
// format is the storage's own, see src/redis/session_format.hpp).
std::string key_of(const std::string& id) {
  const recall::detail::session_format format(secret);
  return "recall:s:" + recall::detail::session_format::key_suffix(format.id_hash(id));
}

}  // namespace

TEST_CASE("bytes read from Redis are checked: corrupt or moved values are typed errors, counted") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto raw = client_for(server);
  auto x = a->open("");
  x.set("secret", std::string("x's secret"));
  x.set("n", 1);
  x.list<std::string>("log", 5).push_back("x's item");
  x.map<int, std::string>("m", 5).put(1, "x's entry");
  const std::string xid = x.id();
  auto y = a->open("");
  y.set("secret", std::string("y's secret"));
  y.list<std::string>("log", 5).push_back("y's item");
  y.map<int, std::string>("m", 5).put(1, "y's entry");
  const std::string yid = y.id();
  const auto field = [&](const std::string& id, const std::string& name) {
    return std::string(raw->command({"HGET", key_of(id), name}).str());
  };
  const auto rejected = [&] { return a->stats().storage_rejected; };

  SECTION("a value moved from another session does not verify; never the other's data") {
    raw->command({"HSET", key_of(yid), ".secret", field(xid, ".secret")});
    auto s = a->open(yid);
    try {
      (void)s.get<std::string>("secret");
      FAIL("a moved value must not be read");
    } catch (const recall::codec_error& e) {
      CHECK(e.code() == recall::codec_errc::checksum_mismatch);
      CHECK(std::string(e.what()).find("'secret'") != std::string::npos);
    }
    CHECK(rejected() == 1);
    raw->command({"HSET", key_of(yid), ".log", field(xid, ".log")});
    CHECK_THROWS_AS(a->open(yid).list<std::string>("log", 5).items(), recall::codec_error);
    raw->command({"HSET", key_of(yid), ".m", field(xid, ".m")});
    CHECK_THROWS_AS((a->open(yid).map<int, std::string>("m", 5).items()), recall::codec_error);
    CHECK(rejected() == 3);
  }
  SECTION("a value moved to another key of the same session does not verify") {
    raw->command({"HSET", key_of(xid), ".other", field(xid, ".secret")});
    CHECK_THROWS_AS(a->open(xid).get<std::string>("other"), recall::codec_error);
    CHECK(a->open(xid).get<std::string>("secret") == "x's secret");
  }
  SECTION("garbage is a typed error; the rest of the session is intact, and a write repairs it") {
    for (const std::string& garbage :
         {std::string("v"), std::string("not a value"), std::string(200, '\xff'),
          std::string("l\xff\xff\xff\xff"), std::string("m\x00\x00\x00\x01", 5)}) {
      raw->command({"HSET", key_of(xid), ".secret", garbage});
      auto s = a->open(xid);
      try {
        (void)s.get<std::string>("secret");
        FAIL("garbage must not be read");
      } catch (const recall::codec_error&) {
      } catch (const recall::session_error& e) {
        CHECK(e.code() == session_errc::wrong_kind);  // a list or map header
      }
      CHECK(s.get<int>("n") == 1);
      s.set("secret", std::string("repaired"));
      CHECK(a->open(xid).get<std::string>("secret") == "repaired");
    }
    CHECK(rejected() >= 3);
    raw->command({"HSET", key_of(xid), ".log", std::string("l\x00\x00\x00\xff garbage", 13)});
    auto s = a->open(xid);
    CHECK_THROWS_AS(s.list<std::string>("log", 5).items(), recall::codec_error);
    CHECK_THROWS_AS(s.list<std::string>("log", 5).push_back("more"), recall::codec_error);
    s.list<std::string>("log", 5).clear();
    s.list<std::string>("log", 5).push_back("fresh");
    CHECK(a->open(xid).list<std::string>("log", 5).items() == std::vector<std::string>{"fresh"});
  }
  SECTION("a whole session copied under another id's key is refused: a fresh session") {
    const auto all = raw->command({"HGETALL", key_of(xid)});
    std::vector<std::string> args{"HSET", key_of(yid)};
    for (const auto& e : all.elements()) args.emplace_back(e.str());
    std::vector<std::string_view> argv(args.begin(), args.end());
    raw->command(argv);
    auto s = a->open(yid);
    CHECK(s.is_new());
    CHECK_FALSE(s.contains("secret"));
    CHECK(rejected() == 1);
    CHECK_FALSE(a->open(xid).is_new());
  }
  SECTION("a session record with broken metadata is an unknown id, counted") {
    raw->command({"HSET", key_of(xid), "c", "not a time"});
    CHECK(a->open(xid).is_new());
    raw->command({"HSET", key_of(yid), "t", "short"});
    CHECK(a->open(yid).is_new());
    CHECK(rejected() == 2);
  }
  SECTION("garbage on the ended channel is counted, not announced") {
    raw->publish("recall:s:ended", "not a tag");
    const auto start = std::chrono::steady_clock::now();
    while (rejected() == 0 && std::chrono::steady_clock::now() - start < 5s) {
      std::this_thread::sleep_for(1ms);
    }
    CHECK(rejected() == 1);
  }
}

namespace {

// A session's deadline as Redis holds it: its score in the sorted set of
// anonymous (z:0) or signed-in (z:1) sessions, and the hint 'd' in its hash.
struct deadline_of {
  recall::redis_client& raw;
  std::string key;
  std::string zset = "recall:s:z:0";

  static std::optional<long long> number(const recall::redis_reply& r) {
    if (r.is_nil()) return std::nullopt;
    return std::stoll(std::string(r.str()));
  }
  std::optional<long long> score() const {
    return number(raw.command({"ZSCORE", zset, std::string_view(key).substr(9)}));
  }
  std::optional<long long> hint() const { return number(raw.command({"HGET", key, "d"})); }
  void set_hint(long long d) const { raw.command({"HSET", key, "d", std::to_string(d)}); }
  // What a session an older recall wrote looks like.
  void drop_hint() const { raw.command({"HDEL", key, "d"}); }
};

}  // namespace

TEST_CASE(
    "a session without 'd' (an older recall wrote it) opens with its values; 'd' comes back") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto raw = client_for(server);
  const recall::identity alice{.user = "alice"}, bob{.user = "bob"};

  SECTION("anonymous: open, a write through a handle opened before, the end") {
    auto s = a->open("");
    s.set("region", std::string("EU"));
    s.set("n", 1);
    const std::string id = s.id();
    const deadline_of d{*raw, key_of(id)};
    REQUIRE(d.hint() == d.score());
    d.drop_hint();
    f.clock->advance(1min);
    {
      auto t = a->open(id);
      REQUIRE_FALSE(t.is_new());
      CHECK(t.get<std::string>("region") == "EU");
      CHECK(t.get<int>("n") == 1);
      CHECK(d.hint() == d.score());  // written back by the open's refresh
    }
    auto held = a->open(id);
    d.drop_hint();
    held.set("n", 2);  // the server asks the sorted set
    CHECK(a->open(id).get<int>("n") == 2);
    CHECK(a->stats().storage_rejected == 0);  // a missing 'd' is not corruption
    auto late = a->open(id);
    d.drop_hint();
    f.clock->advance(31min);
    CHECK(error_code_of([&] { late.set("n", 3); }) == session_errc::ended);
    CHECK(a->stats().expired_idle == 1);
  }
  SECTION("signed in: another user's request is refused and moves nothing") {
    auto s = a->open("", alice);
    s.set("v", 1);
    const std::string id = s.id();
    const deadline_of d{*raw, key_of(id), "recall:s:z:1"};
    d.drop_hint();
    f.clock->advance(10min);  // the deadline is due to move
    const auto before = d.score();
    CHECK(a->open(id, bob).rejected_reason() == rejected_id_reason::identity_mismatch);
    CHECK(a->open(id).rejected_reason() == rejected_id_reason::identity_mismatch);
    CHECK(d.score() == before);
    auto mine = a->open(id, alice);
    REQUIRE_FALSE(mine.is_new());
    CHECK(mine.get<int>("v") == 1);
    CHECK(d.score() > before);
    CHECK(d.hint() == d.score());
  }
}

TEST_CASE("a stale 'd' never ends a live session, a corrupt one is counted; the zset decides") {
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  auto raw = client_for(server);
  const std::string id = written(*a);
  const deadline_of d{*raw, key_of(id)};
  const auto created_deadline = *d.score();

  f.clock->advance(20min);
  d.set_hint(created_deadline - 25min / 1ms);  // passed, but the session lives
  {
    auto s = b->open(id);
    REQUIRE_FALSE(s.is_new());
    CHECK(s.get<int>("v") == 1);
  }
  CHECK(d.score() == created_deadline + 20min / 1ms);  // moved, as any open 20 min in does
  CHECK(d.hint() == d.score());
  CHECK(b->stats().storage_rejected == 0);

  auto held = a->open(id);
  d.set_hint(1);
  held.set("w", 2);  // the server asks the sorted set
  CHECK(b->open(id).get<int>("w") == 2);

  raw->command({"HSET", d.key, "d", "not a number"});
  CHECK_FALSE(b->open(id).is_new());
  CHECK(b->stats().storage_rejected == 1);
  CHECK(d.hint() == d.score());

  d.set_hint(1);
  f.clock->advance(31min);  // past the deadline in the sorted set too
  auto s = b->open(id);
  CHECK(s.rejected_reason() == rejected_id_reason::expired);
  CHECK(b->stats().expired_idle == 1);
}

TEST_CASE("a 'd' later than the session's deadline (written into Redis directly) moves nothing") {
  // 'd' is trusted as a lower bound of the deadline in the sorted set, which
  // stays the authority: sweeps, sign-ins and refreshes read it (docs/redis.md).
  redis_server server;
  fleet f(server);
  auto a = f.replica();
  auto b = f.replica();
  auto raw = client_for(server);
  const std::string id = written(*a);
  const deadline_of d{*raw, key_of(id)};
  const auto deadline = *d.score();
  d.set_hint(deadline + 10 * 60 * 60 * 1000);
  f.clock->advance(20min);
  CHECK_FALSE(b->open(id).is_new());
  CHECK(d.score() == deadline);  // the opens did not move it
  f.clock->advance(11min);       // past the deadline in the sorted set

  SECTION("cleanup() ends it") {
    CHECK_FALSE(b->open(id).is_new());  // trusted until a sweep reaches it
    CHECK(a->cleanup() == 1);
    CHECK(a->stats().expired_idle == 1);
    CHECK(b->open(id).rejected_reason() == rejected_id_reason::unknown);
  }
  SECTION("a session's creation sweeps it") {
    written(*b);
    CHECK(b->stats().expired_idle == 1);
    CHECK(a->open(id).rejected_reason() == rejected_id_reason::unknown);
  }
  SECTION("signing in ends it as expired") {
    CHECK(a->open(id, {.user = "carol"}).rejected_reason() == rejected_id_reason::expired);
    CHECK(a->stats().expired_idle == 1);
  }
  SECTION("a rotation carries the real deadline; the next open ends it") {
    auto s = a->open(id);
    s.rotate();
    const deadline_of rotated{*raw, key_of(s.id())};
    CHECK(rotated.hint() == deadline);
    CHECK(b->open(s.id()).rejected_reason() == rejected_id_reason::expired);
  }
}

TEST_CASE("Redis unavailable: typed errors, nothing reported stored, no local fallback, recovery") {
  redis_server server;
  fleet f(server);
  auto a = f.replica({.command_timeout = 100ms, .breaker_open_for = 200ms});
  const std::string id = written(*a);
  auto held = a->open(id);

  SECTION("killed, then restarted without persistence") {
    server.kill();
    const auto unavailable = [](auto&& fn) {
      try {
        fn();
      } catch (const recall::session_error& e) {
        CHECK(e.http_status() == 503);
        return e.code() == session_errc::storage_unavailable;
      }
      return false;
    };
    CHECK(unavailable([&] { (void)a->open(id); }));
    CHECK(unavailable([&] { held.set("w", 2); }));
    CHECK(unavailable([&] { held.list<int>("l", 3).push_back(1); }));
    CHECK(unavailable([&] { held.rotate(); }));
    CHECK(unavailable([&] { held.end(); }));
    CHECK(unavailable([&] { a->end_all("anyone"); }));
    CHECK_FALSE(held.ended());
    CHECK(held.get<int>("v") == 1);  // the request's snapshot is still what it read
    // A request without a cookie still gets a session; its first write fails
    // and nothing claims it was stored.
    auto fresh = a->open("");
    CHECK(unavailable([&] { fresh.set("x", 1); }));
    CHECK(fresh.id().empty());
    CHECK_FALSE(fresh.id_changed());
    CHECK(a->stats().storage_unavailable == 7);
    // Back, empty (no persistence): the old id finds nothing; writes work
    // again with the same client, once its breaker lets a call through.
    server.restart();
    const auto start = std::chrono::steady_clock::now();
    std::optional<recall::session> s;
    while (!s && std::chrono::steady_clock::now() - start < 5s) {
      try {
        s.emplace(a->open(id));
      } catch (const recall::session_error&) {
        std::this_thread::sleep_for(20ms);
      }
    }
    REQUIRE(s);
    CHECK(s->is_new());
    s->set("after", 1);
    CHECK_FALSE(a->open(s->id()).is_new());
  }
  SECTION("frozen: a call fails within the command timeout") {
    server.freeze();
    const auto start = std::chrono::steady_clock::now();
    CHECK(error_code_of([&] { held.set("w", 2); }) == session_errc::storage_unavailable);
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    server.thaw();
  }
}

TEST_CASE("wrong credentials and an out-of-memory Redis are storage_unavailable too") {
  SECTION("wrong password") {
    redis_server server({.requirepass = "right"});
    fleet f(server);
    auto a = f.replica({.password = "wrong"});
    try {
      (void)a->open(recall::new_session_id());
      FAIL("must not open without Redis");
    } catch (const recall::session_error& e) {
      CHECK(e.code() == session_errc::storage_unavailable);
      CHECK(std::string(e.what()).find("Redis") != std::string::npos);
    }
  }
  SECTION("out of memory: a write fails whole, what was stored stays") {
    redis_server server({.config = {"maxmemory 2mb", "maxmemory-policy noeviction"}});
    fleet f(server);
    auto a = f.replica();
    auto s = a->open("");
    s.set("kept", std::string("still here"));
    const std::string id = s.id();
    auto raw = client_for(server);
    for (int i = 0; i < 200; ++i) {  // fill Redis from outside, then lower its limit
      if (raw->command({"SET", "filler:" + std::to_string(i), std::string(64 << 10, 'f')})
              .is_error()) {
        break;
      }
    }
    raw->command({"CONFIG", "SET", "maxmemory", "1mb"});
    try {
      s.set("big", std::string(1000, 'b'));
      FAIL("a write into a full Redis must fail");
    } catch (const recall::session_error& e) {
      CHECK(e.code() == session_errc::storage_unavailable);
      CHECK(std::string(e.what()).find("OOM") != std::string::npos);
    }
    CHECK_FALSE(s.contains("big"));
    CHECK(a->open(id).get<std::string>("kept") == "still here");  // reading needs no memory
    for (int i = 0; i < 200; ++i) raw->command({"DEL", "filler:" + std::to_string(i)});
    raw->command({"CONFIG", "SET", "maxmemory", "0"});
    auto again = a->open(id);
    CHECK(again.get<std::string>("kept") == "still here");
    CHECK_FALSE(again.contains("big"));
    again.set("big", std::string(1000, 'b'));
  }
}

TEST_CASE("an ACL user who may not load functions is told what to grant") {
  redis_server server({.acl_users = {"sessions on >s3cret ~recall:s:* &recall:s:* -@all +fcall "
                                     "+hgetall +zscore +subscribe +ping"},
                       .default_user_off = true});
  fleet f(server);
  auto a = f.replica({.username = "sessions", .password = "s3cret"});
  auto s = a->open("");
  try {
    s.set("v", 1);
    FAIL("the library cannot be loaded, so nothing can be stored");
  } catch (const recall::session_error& e) {
    CHECK(e.code() == session_errc::storage_unavailable);
    CHECK(std::string(e.what()).find("+function|load") != std::string::npos);
  }
  CHECK(s.id().empty());
}

TEST_CASE("works with an ACL user holding only the documented commands") {
  // docs/redis.md, "Sessions": the minimal ACL of a sessions user.
  redis_server server(
      {.acl_users = {"sessions on >s3cret ~recall:s:* &recall:s:* -@all +fcall +function|load "
                     "+hgetall +hmget +hget +hset +hdel +hkeys +del +exists +pexpire +rename "
                     "+zadd +zrem +zscore +zcard +zrange +zrangebyscore +publish +subscribe "
                     "+ping"},
       .default_user_off = true});
  recall::session_options o;
  o.max_sessions = 3;
  o.max_sessions_per_user = 1;
  fleet f(server, o);
  auto a = f.replica({.username = "sessions", .password = "s3cret"});
  auto b = f.replica({.username = "sessions", .password = "s3cret"});
  auto s = a->open("");
  s.set("v", 1);
  s.set("versioned", 1, 2);
  s.list<int>("l", 2).push_back(1);
  s.map<int, int>("m", 2).put(1, 1);
  CHECK(s.map<int, int>("m", 2).get(1) == 1);
  CHECK(s.map<int, int>("m", 2).erase(1));
  CHECK(s.erase("v"));
  s.rotate();
  auto t = b->open(s.id(), {.user = "jo"});  // sign-in
  CHECK(t.id_changed());
  CHECK_FALSE(t.get<int>("versioned", 3));  // a stale value dropped
  written(*b, {.user = "jo"});              // the per-user limit ends t's session
  for (int i = 0; i < 4; ++i) written(*a);  // max_sessions evicts
  t.clear();
  CHECK(b->end_all("jo") == 1);
  f.clock->advance(31min);
  CHECK(a->cleanup() == 2);  // the two newest anonymous sessions; the others were evicted
  CHECK(a->stats().live == 0);
  CHECK(a->stats().storage_unavailable == 0);
  CHECK(b->stats().storage_unavailable == 0);
}
