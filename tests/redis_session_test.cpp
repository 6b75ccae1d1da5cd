// session_store over a real redis-server: replicas A and B are two stores in
// this process, each with its own client (as two processes would have), on
// one Redis. The two-process tests, kills and restarts are in
// redis_session_fleet_test.cpp.
#include <cereal/types/string.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/vector.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <recall/cache_data.hpp>
#include <recall/redis_sessions.hpp>
#include <recall/session_id.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
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

  explicit fleet(redis_server& s, recall::session_options o = {}) : server(s), base(std::move(o)) {
    base.clock = clock;
  }

  std::unique_ptr<recall::session_store> replica(recall::redis_options client = {}) {
    recall::session_options o = base;
    o.storage = recall::redis_sessions(client_for(server, std::move(client)), {.secret = secret});
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
  const auto commands = [&] { return raw->stats().commands; };
  {
    auto s = a->open("");
    CHECK(s.get<int>("x") == std::nullopt);
    CHECK(s.list<int>("l", 3).empty());
    CHECK_FALSE(s.id_changed());
  }
  CHECK(dbsize(*raw) == 0);
  // Malformed ids are refused before any lookup.
  for (const std::string& bad : {std::string("short"), std::string(43, '+'), std::string(10'000, 'A')}) {
    auto s = a->open(bad);
    CHECK(s.rejected_reason() == rejected_id_reason::malformed);
  }
  CHECK(dbsize(*raw) == 0);
  const auto before = commands();
  auto s = a->open(recall::new_session_id());  // well formed, never issued
  CHECK(s.is_new());
  CHECK(s.rejected_reason() == rejected_id_reason::unknown);
  CHECK(dbsize(*raw) == 0);  // strict mode: the presented id created nothing
  CHECK(commands() == before + 1);
  s.set("v", 1);
  CHECK(s.id_changed());
  CHECK(a->stats().created == 1);
  CHECK(a->stats().live == 1);
  const auto st = a->stats();
  CHECK(st.rejected_empty == 1);
  CHECK(st.rejected_malformed == 3);
  CHECK(st.rejected_unknown == 1);
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
  o.storage = recall::redis_sessions(client_for(server), {.secret = "another secret of 32 bytes......"});
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
  const auto writer = [&](recall::session_store& store, const std::string& prefix) {
    for (int i = 0; i < rounds; ++i) {
      auto s = store.open(id);
      REQUIRE_FALSE(s.is_new());
      (void)s.get<int>("v");
      s.set(prefix + std::to_string(i), i);
      s.set("last", prefix);  // one key both write: last writer wins, nobody loses another key
    }
  };
  std::thread ta([&] { writer(*a, "a"); });
  std::thread tb([&] { writer(*b, "b"); });
  ta.join();
  tb.join();
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
}
