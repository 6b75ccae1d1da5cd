#include <fmt/format.h>
#include <signal.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>

#include "connection.hpp"
#include "options.hpp"
#include "recall/detail/backoff.hpp"
#include "recall/detail/circuit_breaker.hpp"
#include "recall/detail/rate_limited_log.hpp"
#include "recall/error.hpp"
#include "recall/redis.hpp"
#include "recall/registry.hpp"
#include "subscriber.hpp"

namespace recall {
namespace {

using detail::real_clock;
using detail::redis_connection;
using admission = detail::circuit_breaker::admission;

std::string millis(duration d) {
  return fmt::format("{} ms", std::chrono::ceil<std::chrono::milliseconds>(d).count());
}

// A write to a connection the server closed raises SIGPIPE, whose default
// action ends the process; hiredis cannot ask send() not to raise it.
void ignore_sigpipe_if_default() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) != 0) return;
    if ((current.sa_flags & SA_SIGINFO) == 0 && current.sa_handler == SIG_DFL) {
      ::signal(SIGPIPE, SIG_IGN);
    }
  });
}

}  // namespace

struct redis_client::impl {
  explicit impl(redis_options options)
      : settings(std::make_shared<const detail::connection_settings>(
            detail::connection_settings{options, fmt::format("recall redis '{}'", options.name),
                                        detail::endpoint_of(options)})),
        o(settings->options),
        log(std::make_shared<detail::rate_limited_log>(o.on_error, o.log_interval, o.clock)),
        breaker(o.breaker_failures, o.breaker_open_for, o.clock),
        retry(o.reconnect_backoff_min, o.reconnect_backoff_max,
              reinterpret_cast<std::uintptr_t>(this)) {
    idle.resize(o.pool_size);
  }

  // One pooled connection slot (maybe not connected) for the length of a
  // call. Only a call that completed returns its connection to the pool:
  // after any failure its state on the wire is unknown.
  struct lease {
    lease(impl& o, std::unique_ptr<redis_connection> c) : owner(o), conn(std::move(c)) {}
    ~lease() { owner.give_back(std::move(conn), succeeded); }
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;

    impl& owner;
    std::unique_ptr<redis_connection> conn;
    bool succeeded = false;
  };

  // Runs body(connection) with the breaker, the pool, the connection and the
  // deadline in place, and keeps the books.
  template <class Body>
  auto call(Body&& body) {
    const admission admitted = breaker.admit();
    if (admitted == admission::rejected) {
      short_circuited.fetch_add(1, std::memory_order_relaxed);
      failures_unavailable.fetch_add(1, std::memory_order_relaxed);
      throw redis_error(redis_errc::unavailable,
                        fmt::format("{}: circuit breaker open after {} consecutive failures; "
                                    "failing fast for another {} before probing {} again",
                                    settings->label, o.breaker_failures,
                                    millis(breaker.remaining_open()), settings->endpoint));
    }
    const auto start = real_clock::now();
    const auto deadline = start + o.command_timeout;
    std::optional<lease> held = acquire(deadline);
    if (!held) {
      breaker.abandon(admitted);
      pool_exhausted.fetch_add(1, std::memory_order_relaxed);
      failures_unavailable.fetch_add(1, std::memory_order_relaxed);
      throw redis_error(redis_errc::unavailable,
                        fmt::format("{}: no free connection within command_timeout = {} (all "
                                    "pool_size = {} busy); raise pool_size or command_timeout, or "
                                    "make fewer concurrent calls",
                                    settings->label, millis(o.command_timeout), o.pool_size));
    }
    try {
      redis_connection& c = connected(*held, admitted, start, deadline);
      c.set_timeout(time_left(deadline));
      auto result = body(c);
      held->succeeded = true;
      if (breaker.on_success(admitted)) {
        log->report(fmt::format("{}: {} answers again; circuit breaker closed", settings->label,
                                settings->endpoint));
      }
      return result;
    } catch (const redis_error& e) {
      record_failure(e, admitted);
      throw;
    } catch (...) {
      breaker.abandon(admitted);
      throw;
    }
  }

  std::optional<lease> acquire(real_clock::time_point deadline) {
    std::unique_lock lock(pool_mu);
    if (idle.empty()) {
      pool_waits.fetch_add(1, std::memory_order_relaxed);
      if (!pool_cv.wait_until(lock, deadline, [&] { return !idle.empty(); })) return std::nullopt;
    }
    std::unique_ptr<redis_connection> c = std::move(idle.back());
    idle.pop_back();
    return std::optional<lease>(std::in_place, *this, std::move(c));
  }

  // Connected slots go to the back, where acquire() takes from.
  void give_back(std::unique_ptr<redis_connection> c, bool healthy) {
    if (c && !healthy) {
      c.reset();
      drop_connection();
    }
    {
      std::lock_guard lock(pool_mu);
      if (c) {
        idle.push_back(std::move(c));
      } else {
        idle.insert(idle.begin(), nullptr);
      }
    }
    pool_cv.notify_one();
  }

  void drop_connection() {
    connections.fetch_sub(1, std::memory_order_relaxed);
    std::lock_guard lock(gate_mu);
    ++lost_connections;
  }

  redis_connection& connected(lease& held, admission admitted, real_clock::time_point start,
                              real_clock::time_point deadline) {
    if (held.conn && held.conn->closed_while_idle(start)) {
      held.conn.reset();
      drop_connection();
    }
    if (held.conn) return *held.conn;
    {
      std::lock_guard lock(gate_mu);
      const auto now = o.clock->now();
      // After a failed attempt, one attempt per backoff delay, not one per
      // caller. The breaker's probe is the attempt the breaker chose to make.
      const bool recovering = retry.failures() > 0;
      if (admitted != admission::probe && recovering && (now < next_attempt || attempting)) {
        // The failure stays what it was (refused credentials remain an auth
        // error), but nobody waited: no timeout.
        throw redis_error(
            last_connect_code == redis_errc::timeout ? redis_errc::unavailable : last_connect_code,
            fmt::format("{}: not connected; {}. The last attempt failed: {}", settings->label,
                        attempting ? std::string("another call is reconnecting")
                                   : "reconnect backoff allows the next attempt "
                                     "in " +
                                         millis(next_attempt - now),
                        last_connect_failure));
      }
      if (recovering) attempting = true;
    }
    try {
      held.conn = redis_connection::open(*settings, deadline);
    } catch (const redis_error& e) {
      std::lock_guard lock(gate_mu);
      attempting = false;
      next_attempt = o.clock->now() + retry.next_delay();
      last_connect_failure = e.what();
      last_connect_code = e.code();
      throw;
    } catch (...) {
      std::lock_guard lock(gate_mu);
      attempting = false;
      throw;
    }
    connects.fetch_add(1, std::memory_order_relaxed);
    connections.fetch_add(1, std::memory_order_relaxed);
    std::lock_guard lock(gate_mu);
    retry.reset();
    attempting = false;
    next_attempt = {};
    if (lost_connections > 0) {
      --lost_connections;
      reconnects.fetch_add(1, std::memory_order_relaxed);
    }
    return *held.conn;
  }

  // What the socket may wait: command_timeout, or what is left of it after
  // waiting for the pool or a connection (kept unchanged when nothing was
  // waited, so the fast path makes no syscall).
  duration time_left(real_clock::time_point deadline) const {
    const duration left = deadline - real_clock::now();
    if (left >= o.command_timeout - std::chrono::milliseconds(1)) return o.command_timeout;
    return std::max<duration>(left, std::chrono::milliseconds(1));
  }

  void record_failure(const redis_error& e, admission admitted) {
    switch (e.code()) {
      case redis_errc::unavailable:
        failures_unavailable.fetch_add(1, std::memory_order_relaxed);
        break;
      case redis_errc::timeout:
        failures_timeout.fetch_add(1, std::memory_order_relaxed);
        break;
      case redis_errc::auth:
        failures_auth.fetch_add(1, std::memory_order_relaxed);
        break;
      case redis_errc::server:
        failures_server.fetch_add(1, std::memory_order_relaxed);
        break;
      case redis_errc::protocol:
        failures_protocol.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    if (breaker.on_failure(admitted)) {
      breaker_opens.fetch_add(1, std::memory_order_relaxed);
      log->report(
          fmt::format("{}: circuit breaker open for {}: calls fail fast, then one probes "
                      "{} again. Last failure: {}",
                      settings->label, millis(o.breaker_open_for), settings->endpoint, e.what()));
      return;
    }
    log->report(e.what());
  }

  std::shared_ptr<detail::redis_subscriber> subscriber_started() {
    std::lock_guard lock(subscriber_mu);
    if (!subscriber) {
      subscriber = std::make_shared<detail::redis_subscriber>(settings, log);
      subscriber->start();
    }
    return subscriber;
  }

  redis_stats snapshot() const {
    redis_stats s;
    const auto get = [](const std::atomic<std::uint64_t>& a) {
      return a.load(std::memory_order_relaxed);
    };
    s.commands = get(commands);
    s.round_trips = get(round_trips);
    s.error_replies = get(error_replies);
    s.failures_unavailable = get(failures_unavailable);
    s.failures_timeout = get(failures_timeout);
    s.failures_auth = get(failures_auth);
    s.failures_server = get(failures_server);
    s.failures_protocol = get(failures_protocol);
    s.connects = get(connects);
    s.reconnects = get(reconnects);
    s.connections = get(connections);
    s.breaker_opens = get(breaker_opens);
    s.short_circuited = get(short_circuited);
    s.breaker = breaker.state();
    s.pool_waits = get(pool_waits);
    s.pool_exhausted = get(pool_exhausted);
    s.eval_fallbacks = get(eval_fallbacks);
    s.publishes = get(publishes);
    std::lock_guard lock(subscriber_mu);
    if (subscriber) {
      s.messages_received = subscriber->messages_received();
      s.subscriptions = subscriber->subscriptions();
      s.subscription_reconnects = subscriber->reconnects();
      s.subscriber_callback_failures = subscriber->callback_failures();
    }
    return s;
  }

  const std::shared_ptr<const detail::connection_settings> settings;
  const redis_options& o;
  const std::shared_ptr<detail::rate_limited_log> log;
  detail::circuit_breaker breaker;

  std::mutex pool_mu;
  std::condition_variable pool_cv;
  std::vector<std::unique_ptr<redis_connection>> idle;  // nullptr: a slot not connected

  std::mutex gate_mu;  // reconnect backoff
  detail::backoff retry;
  time_point next_attempt{};
  std::string last_connect_failure;
  redis_errc last_connect_code = redis_errc::unavailable;
  bool attempting = false;             // a connection attempt after a failure is under way
  std::uint64_t lost_connections = 0;  // dropped, not yet replaced

  mutable std::mutex subscriber_mu;
  std::shared_ptr<detail::redis_subscriber> subscriber;

  std::atomic<std::uint64_t> commands{0}, round_trips{0}, error_replies{0}, failures_unavailable{0},
      failures_timeout{0}, failures_auth{0}, failures_server{0}, failures_protocol{0}, connects{0},
      reconnects{0}, connections{0}, breaker_opens{0}, short_circuited{0}, pool_waits{0},
      pool_exhausted{0}, eval_fallbacks{0}, publishes{0};

  std::optional<detail::registration> registration;
};

// --- redis_client ------------------------------------------------------------

redis_client::redis_client(redis_options options) {
  detail::validate(options);
  ignore_sigpipe_if_default();
  impl_ = std::make_unique<impl>(std::move(options));
  impl_->registration.emplace(impl_->o.name, "redis",
                              detail::registry_hooks{[this] { return to_metrics(stats()); }, {}});
}

redis_client::~redis_client() {
  impl_->registration.reset();
  std::shared_ptr<detail::redis_subscriber> subscriber;
  {
    std::lock_guard lock(impl_->subscriber_mu);
    subscriber = impl_->subscriber;
  }
  if (subscriber) subscriber->stop();
}

redis_reply redis_client::command(std::span<const std::string_view> argv) {
  if (argv.empty()) {
    throw std::invalid_argument(
        "recall::redis_client::command: empty command; pass at least the "
        "command's name");
  }
  return impl_->call([&](redis_connection& c) {
    impl_->commands.fetch_add(1, std::memory_order_relaxed);
    impl_->round_trips.fetch_add(1, std::memory_order_relaxed);
    redis_reply r = c.run(argv);
    if (r.is_error()) impl_->error_replies.fetch_add(1, std::memory_order_relaxed);
    return r;
  });
}

std::vector<redis_reply> redis_client::pipeline(const redis_pipeline& commands) {
  if (commands.empty()) return {};
  return impl_->call([&](redis_connection& c) {
    for (std::size_t i = 0; i < commands.size(); ++i) c.append(commands.command(i));
    impl_->commands.fetch_add(commands.size(), std::memory_order_relaxed);
    impl_->round_trips.fetch_add(1, std::memory_order_relaxed);
    std::vector<redis_reply> replies;
    replies.reserve(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) {
      replies.push_back(c.read_reply(commands.command(i)[0]));
      if (replies.back().is_error()) impl_->error_replies.fetch_add(1, std::memory_order_relaxed);
    }
    return replies;
  });
}

redis_reply redis_client::eval(const redis_script& script, std::span<const std::string_view> keys,
                               std::span<const std::string_view> args) {
  const std::string key_count = std::to_string(keys.size());
  std::vector<std::string_view> argv;
  argv.reserve(3 + keys.size() + args.size());
  argv.insert(argv.end(), {"EVALSHA", script.sha1(), key_count});
  argv.insert(argv.end(), keys.begin(), keys.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return impl_->call([&](redis_connection& c) {
    impl_->commands.fetch_add(1, std::memory_order_relaxed);
    impl_->round_trips.fetch_add(1, std::memory_order_relaxed);
    redis_reply r = c.run(argv);
    if (r.is_error() && r.str().starts_with("NOSCRIPT")) {
      impl_->eval_fallbacks.fetch_add(1, std::memory_order_relaxed);
      impl_->commands.fetch_add(1, std::memory_order_relaxed);
      impl_->round_trips.fetch_add(1, std::memory_order_relaxed);
      argv[0] = "EVAL";
      argv[1] = script.source();
      r = c.run(argv);
    }
    if (r.is_error()) impl_->error_replies.fetch_add(1, std::memory_order_relaxed);
    return r;
  });
}

std::int64_t redis_client::publish(std::string_view channel, std::string_view message) {
  const std::array<std::string_view, 3> argv = {"PUBLISH", channel, message};
  const redis_reply r = command(argv);
  impl_->publishes.fetch_add(1, std::memory_order_relaxed);
  return r.throw_if_error().integer();
}

redis_subscription redis_client::subscribe(std::string channel,
                                           std::function<void(std::string_view)> on_message,
                                           std::function<void()> on_reconnect) {
  if (!on_message) {
    throw std::invalid_argument(
        "recall::redis_client::subscribe: on_message is empty; pass the "
        "function that handles the channel's messages");
  }
  auto subscriber = impl_->subscriber_started();
  const std::uint64_t id = subscriber->add(channel, std::move(on_message), std::move(on_reconnect));
  return redis_subscription(subscriber, id, std::move(channel));
}

redis_stats redis_client::stats() const { return impl_->snapshot(); }

const std::string& redis_client::prefix() const noexcept { return impl_->o.key_prefix; }

const redis_options& redis_client::options() const noexcept { return impl_->o; }

}  // namespace recall
