// The Redis client against a real redis-server (tests/support/redis_server):
// replies, pipelines, scripts, credentials, sockets, the pool bound, and
// real faults (SIGKILL, SIGSTOP, restarts, OOM).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"
#include "recall/redis.hpp"
#include "recall/registry.hpp"
#include "support/redis_server.hpp"

using namespace std::chrono_literals;
using recall::redis_errc;
using recall::redis_reply_kind;
using recall::test::redis_server;
using real_clock = std::chrono::steady_clock;

namespace {

// Functional tests use a generous timeout: on a loaded machine (or under
// TSan) a round trip can take longer than the 50 ms default.
recall::redis_options options_for(const redis_server& server) {
  recall::redis_options o;
  o.port = server.port();
  o.command_timeout = 2s;
  o.connect_timeout = 2s;
  return o;
}

template <class Predicate>
bool eventually(Predicate done, recall::duration timeout = 5s) {
  const auto until = real_clock::now() + timeout;
  while (!done()) {
    if (real_clock::now() > until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

redis_errc code_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const recall::redis_error& e) {
    return e.code();
  }
  FAIL("expected a redis_error");
  return redis_errc::protocol;
}

std::string message_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const recall::redis_error& e) {
    return e.what();
  }
  FAIL("expected a redis_error");
  return {};
}

// Messages of one subscription, collected on the subscriber thread.
struct inbox {
  std::mutex mu;
  std::condition_variable changed;
  std::vector<std::string> messages;
  int reconnects = 0;

  std::function<void(std::string_view)> on_message() {
    return [this](std::string_view m) {
      {
        std::lock_guard lock(mu);
        messages.emplace_back(m);
      }
      changed.notify_all();
    };
  }
  std::function<void()> on_reconnect() {
    return [this] {
      {
        std::lock_guard lock(mu);
        ++reconnects;
      }
      changed.notify_all();
    };
  }
  bool wait_for_messages(std::size_t n) {
    std::unique_lock lock(mu);
    return changed.wait_for(lock, 5s, [&] { return messages.size() >= n; });
  }
  bool wait_for_reconnects(int n) {
    std::unique_lock lock(mu);
    return changed.wait_for(lock, 10s, [&] { return reconnects >= n; });
  }
};

}  // namespace

TEST_CASE("commands return replies of every kind, error replies included") {
  redis_server server;
  recall::redis_client client(options_for(server));

  const auto ok = client.command({"SET", "recall:k", std::string_view("a\0b", 3)});
  CHECK(ok.kind() == redis_reply_kind::status);
  CHECK(ok.str() == "OK");

  const auto value = client.command({"GET", "recall:k"});
  CHECK(value.kind() == redis_reply_kind::string);
  CHECK(value.str() == std::string_view("a\0b", 3));

  CHECK(client.command({"GET", "recall:missing"}).is_nil());
  CHECK(client.command({"INCRBY", "recall:n", "41"}).integer() == 41);

  const auto nested = client.command({"EVAL", "return {7, {'x', false}}", "0"});
  REQUIRE(nested.kind() == redis_reply_kind::array);
  REQUIRE(nested.elements().size() == 2);
  CHECK(nested.elements()[0].integer() == 7);
  CHECK(nested.elements()[1].elements()[0].str() == "x");
  CHECK(nested.elements()[1].elements()[1].is_nil());

  // The server said no: returned, not thrown, and counted as a reply.
  const auto refused = client.command({"INCR", "recall:k"});
  CHECK(refused.is_error());
  CHECK(refused.str().starts_with("ERR"));
  CHECK(code_of([&] { refused.throw_if_error(); }) == redis_errc::server);
  CHECK(message_of([&] { refused.throw_if_error(); }).find("not an integer") != std::string::npos);
  // Reading a reply as the wrong kind names both kinds.
  CHECK(code_of([&] { (void)value.integer(); }) == redis_errc::protocol);
  CHECK(message_of([&] { (void)value.integer(); }).find("expected integer reply, got string") !=
        std::string::npos);

  const auto s = client.stats();
  CHECK(s.commands == 6);
  CHECK(s.round_trips == 6);
  CHECK(s.error_replies == 1);
  CHECK(s.failures() == 0);
  CHECK(s.connects == 1);
}

TEST_CASE("a pipeline sends its commands together and returns every reply in order") {
  redis_server server;
  recall::redis_client client(options_for(server));
  recall::redis_pipeline p;
  p.add({"SET", "recall:a", "1"}).add({"INCR", "recall:a"}).add({"HINCRBY", "recall:a", "f", "1"});
  for (int i = 0; i < 100; ++i) p.add({"INCR", "recall:count"});
  p.add({"GET", "recall:a"});
  const auto replies = client.pipeline(p);
  REQUIRE(replies.size() == p.size());
  CHECK(replies[0].str() == "OK");
  CHECK(replies[1].integer() == 2);
  CHECK(replies[2].is_error());  // WRONGTYPE, in place, the rest still there
  CHECK(replies[2].str().starts_with("WRONGTYPE"));
  CHECK(replies[102].integer() == 100);
  CHECK(replies.back().str() == "2");
  CHECK(client.stats().commands == p.size());
  CHECK(client.stats().round_trips == 1);
  CHECK(client.stats().error_replies == 1);
  CHECK(client.pipeline(recall::redis_pipeline()).empty());
}

TEST_CASE("eval runs EVALSHA and falls back to EVAL when the server lost the script") {
  redis_server server;
  recall::redis_client client(options_for(server));
  const recall::redis_script script("return redis.call('INCRBY', KEYS[1], ARGV[1])");

  CHECK(client.eval(script, {"recall:e"}, {"5"}).integer() == 5);  // fresh server: NOSCRIPT
  CHECK(client.stats().eval_fallbacks == 1);
  CHECK(client.eval(script, {"recall:e"}, {"5"}).integer() == 10);  // cached now
  CHECK(client.stats().eval_fallbacks == 1);

  CHECK(client.command({"SCRIPT", "FLUSH"}).str() == "OK");
  CHECK(client.eval(script, {"recall:e"}, {"5"}).integer() == 15);
  CHECK(client.stats().eval_fallbacks == 2);
  CHECK(client.stats().round_trips == 6);  // 1 + 2 + 1 + 2 (each fallback is a second trip)

  // Our digest is the server's.
  CHECK(client.command({"SCRIPT", "LOAD", script.source()}).str() == script.sha1());

  const recall::redis_script failing("return redis.call('INCR', KEYS[1])");
  client.command({"SET", "recall:text", "abc"});
  const auto r = client.eval(failing, {"recall:text"});
  CHECK(r.is_error());
  CHECK(r.str().find("not an integer") != std::string::npos);
}

TEST_CASE("an ACL user authenticates; wrong or missing credentials are auth errors") {
  redis_server server(
      {.acl_users = {"app on >secret ~recall:* &recall:* +@all"}, .default_user_off = true});
  auto o = options_for(server);
  o.username = "app";
  o.password = "secret";
  recall::redis_client app(o);
  CHECK(app.command({"SET", "recall:x", "1"}).str() == "OK");
  // Outside the user's keys: the server refuses the command (NOPERM).
  const auto denied = app.command({"SET", "other:x", "1"});
  CHECK(denied.is_error());
  CHECK(code_of([&] { denied.throw_if_error(); }) == redis_errc::auth);

  o.password = "not-the-s3cret";
  recall::redis_client wrong(o);
  const std::string message = message_of([&] { wrong.command({"PING"}); });
  CHECK(message.find("WRONGPASS") != std::string::npos);
  CHECK(message.find("user 'app'") != std::string::npos);
  CHECK(message.find("redis_options.username and password") != std::string::npos);
  CHECK(message.find("not-the-s3cret") == std::string::npos);  // never the password
  CHECK(code_of([&] { wrong.command({"PING"}); }) == redis_errc::auth);
  CHECK(wrong.stats().failures_auth == 2);

  recall::redis_client anonymous(options_for(server));
  const auto noauth = anonymous.command({"GET", "recall:x"});
  CHECK(noauth.str().starts_with("NOAUTH"));
  CHECK(code_of([&] { noauth.throw_if_error(); }) == redis_errc::auth);
}

TEST_CASE("a password alone uses the legacy AUTH") {
  redis_server server({.requirepass = "hunter2"});
  auto o = options_for(server);
  o.password = "hunter2";
  recall::redis_client client(o);
  CHECK(client.command({"PING"}).str() == "PONG");
}

TEST_CASE("a unix socket is used instead of host and port") {
  redis_server server({.unix_socket = true});
  auto o = options_for(server);
  o.unix_socket = server.unix_socket();
  o.port = 1;  // ignored
  recall::redis_client client(o);
  CHECK(client.command({"PING"}).str() == "PONG");
  const auto info = client.command({"CLIENT", "INFO"});
  CHECK(std::string(info.str()).find("laddr=" + server.unix_socket()) != std::string::npos);
}

TEST_CASE("database selects the logical database of every connection") {
  redis_server server;
  auto o = options_for(server);
  o.database = 3;
  recall::redis_client db3(o);
  recall::redis_client db0(options_for(server));
  db3.command({"SET", "recall:where", "three"});
  CHECK(db0.command({"GET", "recall:where"}).is_nil());
  recall::redis_client db3_again(o);
  CHECK(db3_again.command({"GET", "recall:where"}).str() == "three");

  o.database = 999;
  recall::redis_client out_of_range(o);
  const std::string message = message_of([&] { out_of_range.command({"PING"}); });
  CHECK(message.find("SELECT 999") != std::string::npos);
  CHECK(message.find("redis_options.database") != std::string::npos);
}

TEST_CASE("16 threads share a pool of 2: never more than 2 connections, no failures") {
  redis_server server;
  auto o = options_for(server);
  o.pool_size = 2;
  recall::redis_client client(o);
  recall::redis_client monitor(options_for(server));

  std::atomic<bool> running{true};
  std::size_t most_seen = 0;
  std::thread watcher([&] {
    while (running.load()) {
      std::istringstream list(std::string(monitor.command({"CLIENT", "LIST"}).str()));
      std::size_t n = 0;
      for (std::string line; std::getline(list, line);) {
        if (line.find("cmd=client|list") == std::string::npos) ++n;
      }
      most_seen = std::max(most_seen, n);
      std::this_thread::sleep_for(1ms);
    }
  });
  std::vector<std::thread> workers;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 16; ++t) {
    workers.emplace_back([&, t] {
      const std::string key = "recall:t" + std::to_string(t);
      for (int i = 0; i < 200; ++i) {
        if (client.command({"INCR", key}).integer() != i + 1) ++wrong;
      }
    });
  }
  for (auto& w : workers) w.join();
  running = false;
  watcher.join();

  const auto s = client.stats();
  CHECK(wrong == 0);
  CHECK(s.failures() == 0);
  CHECK(s.commands == 16 * 200);
  CHECK(s.connects <= 2);
  CHECK(s.pool_waits > 0);  // the bound was reached
  CHECK(most_seen <= 2);
  CHECK(most_seen >= 1);
}

TEST_CASE("a killed server: calls fail fast as unavailable, the breaker opens, counters show it") {
  redis_server server;
  auto clock = std::make_shared<recall::manual_clock>();
  std::vector<std::string> log;
  std::mutex log_mu;
  auto o = options_for(server);
  o.clock = clock;
  o.breaker_failures = 5;
  o.on_error = [&](std::string_view m) {
    std::lock_guard lock(log_mu);
    log.emplace_back(m);
  };
  recall::redis_client client(o);
  client.command({"PING"});
  server.kill(SIGKILL);

  for (int i = 0; i < 8; ++i) {
    const auto start = real_clock::now();
    CHECK(code_of([&] { client.command({"GET", "recall:k"}); }) == redis_errc::unavailable);
    CHECK(real_clock::now() - start < 1s);  // refused at once, never a hang
  }
  const auto s = client.stats();
  CHECK(s.failures_unavailable == 8);
  CHECK(s.breaker_opens == 1);
  CHECK(s.short_circuited == 3);  // calls 6, 7, 8
  CHECK(s.breaker == recall::breaker_state::open);
  CHECK(s.connections == 0);
  CHECK(message_of([&] { client.command({"PING"}); }).find("circuit breaker open") !=
        std::string::npos);
  std::lock_guard lock(log_mu);
  REQUIRE(log.size() == 1);  // the rest suppressed within log_interval
  CHECK(log[0].find("127.0.0.1:" + std::to_string(server.port())) != std::string::npos);
}

TEST_CASE("a restarted server: the same client recovers by itself within 2 s") {
  redis_server server({.append_only = true});
  auto o = options_for(server);
  o.command_timeout = 50ms;  // the defaults of a cache client
  o.connect_timeout = 100ms;
  recall::redis_client client(o);
  client.command({"SET", "recall:kept", "yes"}).throw_if_error();
  server.kill(SIGKILL);
  for (int i = 0; i < 10; ++i) {
    CHECK(code_of([&] { client.command({"PING"}); }) == redis_errc::unavailable);
  }
  CHECK(client.stats().breaker == recall::breaker_state::open);

  server.restart();
  const auto restarted = real_clock::now();
  const bool recovered = eventually([&] {
    try {
      return client.command({"GET", "recall:kept"}).str() == "yes";  // from the AOF
    } catch (const recall::redis_error&) {
      return false;
    }
  });
  const auto took = real_clock::now() - restarted;
  INFO("recovered after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                          << " ms");
  CHECK(recovered);
  CHECK(took < 2s);
  const auto s = client.stats();
  CHECK(s.breaker == recall::breaker_state::closed);
  CHECK(s.reconnects >= 1);
}

TEST_CASE("a server restarted while the client was idle: the next call already succeeds") {
  redis_server server;
  auto o = options_for(server);
  o.pool_size = 1;
  recall::redis_client client(o);
  client.command({"PING"});
  server.restart();
  // The pooled connection was closed by the old server: noticed before use.
  CHECK(client.command({"PING"}).str() == "PONG");
  const auto s = client.stats();
  CHECK(s.failures() == 0);
  CHECK(s.connects == 2);
  CHECK(s.reconnects == 1);
}

TEST_CASE("a frozen server: each call gives up after command_timeout with timeout") {
  redis_server server;
  recall::redis_options o;
  o.port = server.port();
  o.command_timeout = 50ms;
  o.breaker_failures = SIZE_MAX;
  recall::redis_client client(o);
  client.command({"PING"});

  server.freeze();
  // Documented margin: command_timeout plus scheduling delay; generous here
  // because the test machine is shared.
  constexpr auto margin = 150ms;
  for (int i = 0; i < 5; ++i) {
    const auto start = real_clock::now();
    CHECK(code_of([&] { client.command({"GET", "recall:k"}); }) == redis_errc::timeout);
    const auto took = real_clock::now() - start;
    INFO("call " << i << " took "
                 << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    CHECK(took >= 45ms);
    CHECK(took < 50ms + margin);
  }
  CHECK(client.stats().failures_timeout == 5);
  server.thaw();
  CHECK(eventually([&] {
    try {
      return client.command({"PING"}).str() == "PONG";
    } catch (const recall::redis_error&) {
      return false;
    }
  }));
}

TEST_CASE("callers queued for a busy pool give up within command_timeout too") {
  redis_server server;
  recall::redis_options o;
  o.port = server.port();
  o.command_timeout = 50ms;
  o.pool_size = 1;
  o.breaker_failures = SIZE_MAX;
  recall::redis_client client(o);
  client.command({"PING"});
  server.freeze();
  std::vector<std::thread> callers;
  std::atomic<int> slow{0}, not_thrown{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      const auto start = real_clock::now();
      try {
        client.command({"PING"});
        ++not_thrown;
      } catch (const recall::redis_error& e) {
        if (e.code() != redis_errc::timeout && e.code() != redis_errc::unavailable) ++not_thrown;
      }
      if (real_clock::now() - start > 50ms + 150ms) ++slow;
    });
  }
  for (auto& c : callers) c.join();
  CHECK(not_thrown == 0);
  CHECK(slow == 0);
  const auto s = client.stats();
  CHECK(s.pool_waits >= 1);
  CHECK(s.failures_timeout + s.pool_exhausted == 4);
}

TEST_CASE("a frozen server opens the breaker: later calls fail fast") {
  redis_server server;
  recall::redis_options o;
  o.port = server.port();
  o.command_timeout = 50ms;
  o.breaker_failures = 3;
  o.breaker_open_for = 1h;
  recall::redis_client client(o);
  client.command({"PING"});
  server.freeze();
  for (int i = 0; i < 3; ++i) {
    CHECK(code_of([&] { client.command({"PING"}); }) == redis_errc::timeout);
  }
  const auto start = real_clock::now();
  CHECK(code_of([&] { client.command({"PING"}); }) == redis_errc::unavailable);
  CHECK(real_clock::now() - start < 40ms);  // no wait for the server at all
  CHECK(client.stats().short_circuited == 1);
  CHECK(client.stats().breaker_opens == 1);
}

TEST_CASE("publish and subscribe across two clients") {
  redis_server server;
  recall::redis_client subscriber(options_for(server));
  recall::redis_client publisher(options_for(server));
  inbox box;
  auto sub = subscriber.subscribe("recall:events", box.on_message(), box.on_reconnect());
  REQUIRE(sub.wait_until_active(5s));
  CHECK(sub.channel() == "recall:events");
  CHECK(subscriber.stats().subscriptions == 1);

  CHECK(publisher.publish("recall:events", "one") == 1);
  CHECK(publisher.publish("recall:events", std::string_view("t\0o", 3)) == 1);
  CHECK(publisher.publish("recall:other", "ignored") == 0);
  REQUIRE(box.wait_for_messages(2));
  {
    std::lock_guard lock(box.mu);
    CHECK(box.messages == std::vector<std::string>{"one", std::string("t\0o", 3)});
    CHECK(box.reconnects == 0);  // the first connection is not a reconnection
  }
  CHECK(subscriber.stats().messages_received == 2);
  CHECK(publisher.stats().publishes == 3);

  sub.reset();
  CHECK(subscriber.stats().subscriptions == 0);
  CHECK(eventually([&] { return publisher.publish("recall:events", "late") == 0; }));
  std::lock_guard lock(box.mu);
  CHECK(box.messages.size() == 2);
}

TEST_CASE("subscriptions share one connection; each is served until its handle goes") {
  redis_server server;
  recall::redis_client client(options_for(server));
  inbox a, b;
  auto sa = client.subscribe("recall:shared", a.on_message());
  auto sb = client.subscribe("recall:shared", b.on_message());
  REQUIRE(sa.wait_until_active(5s));
  REQUIRE(sb.wait_until_active(5s));
  CHECK(client.command({"PUBSUB", "NUMSUB", "recall:shared"}).elements()[1].integer() == 1);
  CHECK(client.publish("recall:shared", "1") == 1);
  REQUIRE(a.wait_for_messages(1));
  REQUIRE(b.wait_for_messages(1));
  sa.reset();
  CHECK(client.publish("recall:shared", "2") == 1);
  REQUIRE(b.wait_for_messages(2));
  std::lock_guard lock(a.mu);
  CHECK(a.messages.size() == 1);
}

// Regression: the replies to several SUBSCRIBEs sent together arrive in one
// read; those after the first were left in hiredis' reader until other
// traffic came, so a quiet subscription stayed inactive.
TEST_CASE("subscriptions made together all become active without other traffic") {
  redis_server server;
  auto o = options_for(server);
  o.subscriber_ping_interval = 1h;
  recall::redis_client client(o);
  server.kill();  // the subscriber cannot connect: both wait for the same connection
  auto a = client.subscribe("recall:a", [](std::string_view) {});
  auto b = client.subscribe("recall:b", [](std::string_view) {});
  auto c = client.subscribe("recall:c", [](std::string_view) {});
  server.restart();
  CHECK(a.wait_until_active(5s));
  CHECK(b.wait_until_active(5s));
  CHECK(c.wait_until_active(5s));
}

TEST_CASE("a subscriber survives a server restart and runs on_reconnect") {
  redis_server server;
  recall::redis_client subscriber(options_for(server));
  recall::redis_client publisher(options_for(server));
  inbox box;
  auto sub = subscriber.subscribe("recall:inval", box.on_message(), box.on_reconnect());
  REQUIRE(sub.wait_until_active(5s));

  server.restart();
  REQUIRE(box.wait_for_reconnects(1));
  CHECK(sub.active());
  CHECK(subscriber.stats().subscription_reconnects >= 1);
  const bool delivered = eventually([&] {
    try {
      return publisher.publish("recall:inval", "after restart") == 1;
    } catch (const recall::redis_error&) {
      return false;
    }
  });
  CHECK(delivered);
  REQUIRE(box.wait_for_messages(1));
  std::lock_guard lock(box.mu);
  CHECK(box.messages.back() == "after restart");
}

TEST_CASE("a throwing callback is counted and reported; its subscription goes on") {
  redis_server server;
  std::atomic<int> reports{0};
  auto o = options_for(server);
  o.log_interval = recall::duration::zero();
  o.on_error = [&](std::string_view m) {
    if (m.find("threw: boom") != std::string_view::npos) ++reports;
  };
  recall::redis_client client(o);
  std::atomic<int> calls{0};
  auto sub = client.subscribe("recall:t", [&](std::string_view) {
    if (++calls == 1) throw std::runtime_error("boom");
  });
  REQUIRE(sub.wait_until_active(5s));
  client.publish("recall:t", "1");
  client.publish("recall:t", "2");
  CHECK(eventually([&] { return calls == 2; }));
  CHECK(client.stats().subscriber_callback_failures == 1);
  CHECK(reports == 1);
}

TEST_CASE("a callback may drop its own subscription") {
  redis_server server;
  recall::redis_client client(options_for(server));
  recall::redis_subscription sub;
  std::atomic<int> calls{0};
  std::atomic<bool> dropped{false};
  sub = client.subscribe("recall:once", [&](std::string_view) {
    ++calls;
    sub.reset();
    dropped = true;
  });
  inbox witness;  // on the same channel: once it has a message, so would `sub`
  auto w = client.subscribe("recall:once", witness.on_message());
  REQUIRE(sub.wait_until_active(5s));
  REQUIRE(w.wait_until_active(5s));
  client.publish("recall:once", "1");
  CHECK(eventually([&] { return dropped.load(); }));
  client.publish("recall:once", "2");
  REQUIRE(witness.wait_for_messages(2));
  CHECK(calls == 1);
  CHECK(client.stats().subscriptions == 1);
}

TEST_CASE("an OOM reply is a server error carrying the server's message") {
  redis_server server({.config = {"maxmemory 1mb", "maxmemory-policy noeviction"}});
  recall::redis_client client(options_for(server));
  const std::string blob(64 * 1024, 'x');
  recall::redis_reply last;
  for (int i = 0; i < 200 && !last.is_error(); ++i) {
    last = client.command({"SET", "recall:fill" + std::to_string(i), blob});
  }
  REQUIRE(last.is_error());
  CHECK(last.str().starts_with("OOM"));
  CHECK(code_of([&] { last.throw_if_error(); }) == redis_errc::server);
  const std::string message = message_of([&] { last.throw_if_error(); });
  CHECK(message.find("OOM command not allowed") != std::string::npos);
  CHECK(message.find("raise maxmemory") != std::string::npos);
  CHECK(client.stats().failures() == 0);  // the server answered
}

TEST_CASE("nothing listening: unavailable, with what to check") {
  std::uint16_t port;
  {
    redis_server gone;
    port = gone.port();
  }
  recall::redis_options o;
  o.port = port;
  recall::redis_client client(o);
  const std::string message = message_of([&] { client.command({"PING"}); });
  CHECK(message.find("cannot connect to 127.0.0.1:" + std::to_string(port)) != std::string::npos);
  CHECK(message.find("redis_options.host and port") != std::string::npos);
  // Within the backoff no second attempt is made.
  CHECK(message_of([&] { client.command({"PING"}); }).find("reconnect backoff") !=
        std::string::npos);
}

TEST_CASE("the client is in the registry with its stats") {
  redis_server server;
  auto o = options_for(server);
  o.name = "registry_probe";
  recall::redis_client client(o);
  client.command({"PING"});
  const auto all = recall::registered();
  const auto it = std::find_if(all.begin(), all.end(),
                               [](const auto& r) { return r.name == "registry_probe"; });
  REQUIRE(it != all.end());
  CHECK(it->kind == "redis");
  const auto commands = std::find_if(it->metrics.begin(), it->metrics.end(),
                                     [](const auto& m) { return m.name == "commands"; });
  REQUIRE(commands != it->metrics.end());
  CHECK(commands->value == 1);
}

TEST_CASE("options that cannot work are refused with what to change") {
  const auto refused = [](recall::redis_options o) {
    try {
      recall::redis_client client(std::move(o));
    } catch (const recall::config_error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(refused({.pool_size = 0}).find("pool_size") != std::string::npos);
  CHECK(refused({.username = "app"}).find("needs a password") != std::string::npos);
  CHECK(refused({.command_timeout = recall::duration::zero()}).find("command_timeout") !=
        std::string::npos);
  CHECK(refused({.breaker_failures = 0}).find("SIZE_MAX") != std::string::npos);
  CHECK(refused({}).empty());
  CHECK_THROWS_AS(recall::redis_client().command(std::span<const std::string_view>()),
                  std::invalid_argument);
}
