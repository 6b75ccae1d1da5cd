// recall/redis.hpp: the Redis client under recall's Redis backends (cache L2,
// session storage), usable on its own. Target recall::redis (built when
// hiredis is found; see docs/redis.md).
//
// A redis_client owns a bounded pool of connections, reconnects with
// exponential backoff, fails fast behind a circuit breaker while the server
// is down, bounds every wait by command_timeout, and runs publish/subscribe on
// one extra connection and thread. Replies, error replies included, are
// returned; redis_error is thrown when a call got no reply (see
// recall/redis_reply.hpp for the rule).
//
// Thread safety: every member function of redis_client may be called from any
// number of threads at once. Subscription callbacks run on the client's one
// subscriber thread, one at a time; they may call the client (publish,
// command, subscribe, or destroy their own subscription) but must not block
// for long, or they delay every other subscription. A redis_subscription is
// an RAII handle owned by one thread at a time.
//
// The client sets SIGPIPE to SIG_IGN when it is at its default disposition
// (which would kill the process on a write to a connection the server
// closed); a host with its own SIGPIPE handler keeps it.
//
//   recall::redis_client redis({.host = "127.0.0.1", .port = 6379, .password = secret});
//   redis.command({"SET", redis.prefix() + "greeting", "hello", "PX", "60000"});
//   recall::redis_reply r = redis.command({"GET", redis.prefix() + "greeting"});
//   auto sub = redis.subscribe(redis.prefix() + "events",
//                              [](std::string_view msg) { handle(msg); },
//                              [] { l1.clear(); });  // after a reconnection
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "recall/clock.hpp"
#include "recall/detail/circuit_breaker.hpp"
#include "recall/redis_export.hpp"
#include "recall/redis_reply.hpp"
#include "recall/registry.hpp"

namespace recall {

struct redis_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  // A Unix domain socket path; when set it is used instead of host and port.
  std::string unix_socket{};
  // ACL credentials: AUTH username password. A password alone uses the
  // legacy AUTH password (the `default` user, or requirepass).
  std::string username{};
  std::string password{};
  int database = 0;  // SELECT on every new connection when not 0
  // Prepended to every key by the users of the client (caches, sessions);
  // the client itself sends commands as given.
  std::string key_prefix = "recall:";
  // One TCP (or Unix socket) connection attempt.
  duration connect_timeout = std::chrono::milliseconds(100);
  // Every wait of a call for the server: for a free pooled connection, for
  // the connection handshake, for each read of a reply. A cache must not wait
  // long for its second level.
  duration command_timeout = std::chrono::milliseconds(50);
  // At most this many command connections (plus one for subscriptions).
  std::size_t pool_size = 4;
  // After a failed connection attempt no other attempt is made for a delay
  // growing from min to max (doubling, with jitter); calls meanwhile fail
  // fast with redis_errc::unavailable.
  duration reconnect_backoff_min = std::chrono::milliseconds(10);
  duration reconnect_backoff_max = std::chrono::seconds(1);
  // After this many consecutive failed calls the client fails fast for
  // breaker_open_for, then lets one probe call through. SIZE_MAX: never opens.
  std::size_t breaker_failures = 5;
  duration breaker_open_for = std::chrono::seconds(1);
  // The subscriber connection sends PING after this long without traffic,
  // so that a dead connection is noticed and replaced.
  duration subscriber_ping_interval = std::chrono::seconds(1);
  // The name in the process registry (recall/registry.hpp) and in messages.
  std::string name = "redis";
  // Time for backoff, breaker and log throttling (not for socket timeouts).
  std::shared_ptr<const recall::clock> clock = default_clock();
  // Connection trouble, breaker changes, subscriber reconnections and
  // failing subscription callbacks are reported here, at most once per
  // log_interval (the next message says how many were suppressed). May be
  // called from any thread. Error replies are not reported: they are the
  // caller's.
  std::function<void(std::string_view message)> on_error{};
  duration log_interval = std::chrono::seconds(10);
};

// A Lua script for eval(): its source and SHA-1, computed once.
class RECALL_REDIS_EXPORT redis_script {
 public:
  explicit redis_script(std::string source);
  const std::string& source() const noexcept { return source_; }
  const std::string& sha1() const noexcept { return sha1_; }  // 40 lowercase hex digits

 private:
  std::string source_;
  std::string sha1_;
};

// Commands to send in one round trip with redis_client::pipeline(). Holds
// copies of its arguments.
class RECALL_REDIS_EXPORT redis_pipeline {
 public:
  redis_pipeline& add(std::span<const std::string_view> argv);
  redis_pipeline& add(std::initializer_list<std::string_view> argv) {
    return add(std::span<const std::string_view>(argv.begin(), argv.size()));
  }
  std::size_t size() const noexcept { return offsets_.size(); }
  bool empty() const noexcept { return offsets_.empty(); }
  void clear() noexcept;

  // The arguments of command i.
  std::span<const std::string> command(std::size_t i) const;

 private:
  std::vector<std::string> args_;
  std::vector<std::size_t> offsets_;  // where each command starts in args_
};

// A snapshot: each field was read atomically, one after another.
struct redis_stats {
  std::uint64_t commands = 0;       // commands sent (a pipeline of n counts n)
  std::uint64_t round_trips = 0;    // requests sent and answered: a pipeline counts 1
  std::uint64_t error_replies = 0;  // replies of kind error
  // Calls that threw redis_error, by code.
  std::uint64_t failures_unavailable = 0;  // includes short_circuited and pool_exhausted
  std::uint64_t failures_timeout = 0;
  std::uint64_t failures_auth = 0;
  std::uint64_t failures_server = 0;  // a handshake command (SELECT) refused
  std::uint64_t failures_protocol = 0;
  std::uint64_t connects = 0;         // command connections opened
  std::uint64_t reconnects = 0;       // ... of which replaced one lost to a failure
  std::uint64_t connections = 0;      // command connections open now
  std::uint64_t breaker_opens = 0;    // times the breaker opened
  std::uint64_t short_circuited = 0;  // calls refused by the open breaker
  breaker_state breaker = breaker_state::closed;
  std::uint64_t pool_waits = 0;      // calls that found every pooled connection busy
  std::uint64_t pool_exhausted = 0;  // ... and got none within command_timeout
  std::uint64_t eval_fallbacks = 0;  // EVALSHA answered NOSCRIPT; EVAL sent
  std::uint64_t publishes = 0;
  std::uint64_t messages_received = 0;             // delivered to subscriptions
  std::uint64_t subscriptions = 0;                 // live redis_subscription handles
  std::uint64_t subscription_reconnects = 0;       // subscriber connection re-established
  std::uint64_t subscriber_callback_failures = 0;  // callbacks that threw

  std::uint64_t failures() const noexcept {
    return failures_unavailable + failures_timeout + failures_auth + failures_server +
           failures_protocol;
  }
};

// The metrics of a redis_stats, in the registry's naming (breaker_state: 0
// closed, 1 open, 2 half-open).
RECALL_REDIS_EXPORT std::vector<metric> to_metrics(const redis_stats& stats);

namespace detail {
class redis_subscriber;
}

// Receives the messages of one channel until destroyed (or reset()). After
// the destructor returns, none of its callbacks runs again.
class RECALL_REDIS_EXPORT redis_subscription {
 public:
  redis_subscription() = default;
  redis_subscription(redis_subscription&& other) noexcept;
  redis_subscription& operator=(redis_subscription&& other) noexcept;
  ~redis_subscription();

  // Unsubscribes now.
  void reset() noexcept;

  const std::string& channel() const noexcept { return channel_; }
  // The server confirmed the subscription on the current connection.
  bool active() const;
  // Waits (real time) until active(); false if it was not within `timeout`.
  bool wait_until_active(duration timeout) const;

 private:
  friend class redis_client;
  redis_subscription(std::weak_ptr<detail::redis_subscriber> owner, std::uint64_t id,
                     std::string channel)
      : owner_(std::move(owner)), id_(id), channel_(std::move(channel)) {}

  std::weak_ptr<detail::redis_subscriber> owner_;
  std::uint64_t id_ = 0;
  std::string channel_;
};

class RECALL_REDIS_EXPORT redis_client {
 public:
  // Connects lazily: constructing never fails because of the server, only
  // for options that cannot work (config_error).
  explicit redis_client(redis_options options = {});
  ~redis_client();  // stops the subscriber thread and closes every connection
  redis_client(const redis_client&) = delete;
  redis_client& operator=(const redis_client&) = delete;

  // One command. Every reply is returned, error replies included.
  redis_reply command(std::span<const std::string_view> argv);
  redis_reply command(std::initializer_list<std::string_view> argv) {
    return command(std::span<const std::string_view>(argv.begin(), argv.size()));
  }

  // Every command of `commands` in one round trip; one reply each, in order.
  std::vector<redis_reply> pipeline(const redis_pipeline& commands);

  // EVALSHA, falling back to EVAL (on the same connection, in the same call)
  // when the server does not have the script (NOSCRIPT).
  redis_reply eval(const redis_script& script, std::span<const std::string_view> keys,
                   std::span<const std::string_view> args = {});
  redis_reply eval(const redis_script& script, std::initializer_list<std::string_view> keys,
                   std::initializer_list<std::string_view> args = {}) {
    return eval(script, std::span<const std::string_view>(keys.begin(), keys.size()),
                std::span<const std::string_view>(args.begin(), args.size()));
  }

  // PUBLISH; returns how many subscribers (across the deployment) got it.
  std::int64_t publish(std::string_view channel, std::string_view message);

  // Subscribes on the client's subscriber connection (started on first use).
  // Never throws for the server: while it is unreachable the subscription
  // waits and becomes active when the connection is back. on_reconnect runs
  // (on the subscriber thread) each time the subscription is active again
  // after the subscriber connection was lost or could not be made: messages
  // published meanwhile were missed.
  redis_subscription subscribe(std::string channel,
                               std::function<void(std::string_view message)> on_message,
                               std::function<void()> on_reconnect = {});

  redis_stats stats() const;
  const std::string& prefix() const noexcept;
  const redis_options& options() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace recall
