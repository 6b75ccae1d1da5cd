#include "options.hpp"

#include <fmt/format.h>

#include "recall/error.hpp"

namespace recall::detail {

void validate(const redis_options& o) {
  const auto fail = [&](std::string_view problem) {
    throw config_error(fmt::format("recall::redis_client '{}': {}", o.name, problem));
  };
  if (o.host.empty() && o.unix_socket.empty()) {
    fail("host is empty; set host (and port) or unix_socket");
  }
  if (o.unix_socket.empty() && o.port == 0) {
    fail("port is 0; set the server's port (6379 by default)");
  }
  if (!o.username.empty() && o.password.empty()) {
    fail("a username needs a password (AUTH username password); set password");
  }
  if (o.database < 0) fail("database is negative; use 0..15 (or the server's `databases` - 1)");
  if (o.connect_timeout <= duration::zero()) fail("connect_timeout must be positive");
  if (o.command_timeout <= duration::zero()) fail("command_timeout must be positive");
  if (o.pool_size == 0) fail("pool_size is 0; a client needs at least one connection");
  if (o.reconnect_backoff_min <= duration::zero() ||
      o.reconnect_backoff_max < o.reconnect_backoff_min) {
    fail("reconnect backoff needs 0 < reconnect_backoff_min <= reconnect_backoff_max");
  }
  if (o.breaker_failures == 0) {
    fail("breaker_failures is 0; use SIZE_MAX for a breaker that never opens");
  }
  if (o.breaker_open_for <= duration::zero()) fail("breaker_open_for must be positive");
  if (o.subscriber_ping_interval <= duration::zero()) {
    fail("subscriber_ping_interval must be positive");
  }
  if (o.log_interval < duration::zero()) fail("log_interval is negative");
  if (!o.clock) fail("clock is null; leave it at recall::default_clock()");
}

std::string endpoint_of(const redis_options& o) {
  if (!o.unix_socket.empty()) return "unix:" + o.unix_socket;
  if (o.host.find(':') != std::string::npos) return fmt::format("[{}]:{}", o.host, o.port);
  return fmt::format("{}:{}", o.host, o.port);
}

}  // namespace recall::detail
