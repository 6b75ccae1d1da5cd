// One hiredis connection of the Redis client: connect, handshake, commands,
// and the mapping of hiredis failures to redis_error. connection.cpp is the
// only file that includes hiredis.
//
// Thread safety: a connection is used by one thread at a time (the pool
// hands it out; the subscriber thread owns its own).
#pragma once

#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "recall/redis.hpp"

struct redisContext;
struct redisReply;

namespace recall::detail {

using real_clock = std::chrono::steady_clock;

inline constexpr auto idle_check_after = std::chrono::milliseconds(1);

// What every connection of one client shares: the options and the words
// that name the client and its server in messages.
struct connection_settings {
  redis_options options;
  std::string label;     // "recall redis 'sessions'"
  std::string endpoint;  // "127.0.0.1:6379" or "unix:/run/redis.sock"
};

// The deep copy of a hiredis reply; redis_error(protocol) for a reply type
// that RESP2 does not have.
redis_reply to_reply(const redisReply& reply);

class redis_connection {
 public:
  // Connects (within connect_timeout) and authenticates and selects the
  // database (each read within the time left until `deadline`). Throws
  // redis_error: unavailable or timeout for the connection, auth for refused
  // credentials, server for a refused SELECT.
  static std::unique_ptr<redis_connection> open(const connection_settings& settings,
                                                real_clock::time_point deadline);
  ~redis_connection();
  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;

  // Readable while idle means the server closed the connection (or sent
  // something unasked): it must not be used. Checked (one poll() call) only
  // after idle_check_after without use: a connection in constant use learns
  // of a dead server from its next read anyway, and costs no syscall more.
  // `now` is the start of the call about to use it.
  bool closed_while_idle(real_clock::time_point now) noexcept;

  // The socket send/receive timeout of the following calls (a syscall only
  // when it changes).
  void set_timeout(duration timeout);

  // Sends one command and reads its reply.
  redis_reply run(std::span<const std::string_view> argv);
  // Buffers one command. read_reply() returns a reply already read, or
  // sends every buffered command and reads one reply.
  void append(std::span<const std::string_view> argv);
  void append(std::span<const std::string> argv);
  redis_reply read_reply(std::string_view command_name);

  // For the subscriber's poll() loop.
  int fd() const noexcept;
  // Reads what the socket has (after poll() said readable) into hiredis'
  // reader; throws when the connection failed.
  void read_available();
  // A complete reply already read, or false.
  bool next_buffered_reply(redis_reply& out);

 private:
  redis_connection(const connection_settings& settings, redisContext* context);
  void handshake(real_clock::time_point deadline);
  [[noreturn]] void fail(std::string_view command_name, int saved_errno) const;

  const connection_settings& settings_;
  redisContext* context_;
  duration timeout_;
  real_clock::time_point last_used_ = real_clock::now();
};

}  // namespace recall::detail
