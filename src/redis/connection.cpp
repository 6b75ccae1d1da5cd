#include "connection.hpp"

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <sys/time.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <new>
#include <vector>

namespace recall::detail {
namespace {

timeval to_timeval(duration d) {
  const auto us = std::max<std::int64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(d).count(), 1000);
  return timeval{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
}

std::string millis(duration d) {
  return fmt::format("{} ms", std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

bool is_timeout_errno(int e) { return e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT; }

// A command in the protocol's own form (RESP: an array of bulk strings),
// written in one pass: hiredis' own formatting (redisCommandArgv) goes
// through printf-style helpers and was about a fifth of a session request's
// client instructions (callgrind).
template <class Strings>
std::string resp(const Strings& argv) {
  const auto decimal = [](std::size_t n, char* out) {
    return static_cast<std::size_t>(std::to_chars(out, out + 20, n).ptr - out);
  };
  std::size_t size = 1 + 20 + 2;
  for (const auto& a : argv) size += 1 + 20 + 2 + a.size() + 2;
  std::string out;
  out.resize(size);
  char* p = out.data();
  *p++ = '*';
  p += decimal(argv.size(), p);
  *p++ = '\r';
  *p++ = '\n';
  for (const auto& a : argv) {
    *p++ = '$';
    p += decimal(a.size(), p);
    *p++ = '\r';
    *p++ = '\n';
    if (!a.empty()) std::memcpy(p, a.data(), a.size());
    p += a.size();
    *p++ = '\r';
    *p++ = '\n';
  }
  out.resize(static_cast<std::size_t>(p - out.data()));
  return out;
}

template <class Strings>
std::string_view name_of(const Strings& argv) {
  return argv.empty() ? std::string_view("(empty command)") : std::string_view(argv[0]);
}

}  // namespace

redis_reply to_reply(const redisReply& r) {
  switch (r.type) {
    case REDIS_REPLY_NIL:
      return redis_reply();
    case REDIS_REPLY_INTEGER:
      return redis_reply::make_integer(r.integer);
    case REDIS_REPLY_STRING:
      return redis_reply::make_text(redis_reply_kind::string, std::string(r.str, r.len));
    case REDIS_REPLY_STATUS:
      return redis_reply::make_text(redis_reply_kind::status, std::string(r.str, r.len));
    case REDIS_REPLY_ERROR:
      return redis_reply::make_text(redis_reply_kind::error, std::string(r.str, r.len));
    case REDIS_REPLY_ARRAY: {
      std::vector<redis_reply> elements;
      elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) elements.push_back(to_reply(*r.element[i]));
      return redis_reply::make_array(std::move(elements));
    }
    default:
      throw redis_error(redis_errc::protocol,
                        fmt::format("recall redis: reply of type {} is not RESP2; recall speaks "
                                    "RESP2 only (do not send HELLO 3)",
                                    r.type));
  }
}

// --- redis_connection --------------------------------------------------------

redis_connection::redis_connection(const connection_settings& settings, redisContext* context)
    : settings_(settings), context_(context), timeout_(settings.options.command_timeout) {}

redis_connection::~redis_connection() { redisFree(context_); }

std::unique_ptr<redis_connection> redis_connection::open(const connection_settings& settings,
                                                         real_clock::time_point deadline) {
  const redis_options& o = settings.options;
  const timeval connect_tv = to_timeval(o.connect_timeout);
  errno = 0;
  redisContext* c = o.unix_socket.empty()
                        ? redisConnectWithTimeout(o.host.c_str(), o.port, connect_tv)
                        : redisConnectUnixWithTimeout(o.unix_socket.c_str(), connect_tv);
  const int saved_errno = errno;
  if (c == nullptr) throw std::bad_alloc();
  if (c->err != 0) {
    const std::string reason = c->errstr;
    redisFree(c);
    const bool timed_out = is_timeout_errno(saved_errno);
    throw redis_error(
        timed_out ? redis_errc::timeout : redis_errc::unavailable,
        fmt::format("{}: cannot connect to {} ({}{}); check that Redis runs there and "
                    "redis_options.{}",
                    settings.label, settings.endpoint, reason,
                    timed_out ? ", connect_timeout = " + millis(o.connect_timeout) : "",
                    o.unix_socket.empty() ? "host and port" : "unix_socket"));
  }
  std::unique_ptr<redis_connection> conn(new redis_connection(settings, c));
  if (redisSetTimeout(c, to_timeval(o.command_timeout)) != REDIS_OK) conn->fail("connect", errno);
  conn->handshake(deadline);
  return conn;
}

void redis_connection::handshake(real_clock::time_point deadline) {
  const redis_options& o = settings_.options;
  if (o.password.empty() && o.database == 0) return;
  set_timeout(std::max<duration>(deadline - real_clock::now(), std::chrono::milliseconds(1)));
  if (!o.password.empty()) {
    const std::array<std::string_view, 3> acl_auth = {"AUTH", o.username, o.password};
    const std::array<std::string_view, 2> legacy_auth = {"AUTH", o.password};
    const redis_reply r = o.username.empty() ? run(legacy_auth) : run(acl_auth);
    if (r.is_error()) {
      const bool pre_acl_server = r.str().starts_with("ERR wrong number of arguments");
      throw redis_error(redis_errc::auth,
                        fmt::format("{}: {} refused the credentials of user '{}' ({}); check "
                                    "redis_options.username and password{}",
                                    settings_.label, settings_.endpoint,
                                    o.username.empty() ? "default" : o.username, r.str(),
                                    pre_acl_server ? " (a username needs Redis 6 ACLs)" : ""));
    }
  }
  if (o.database != 0) {
    const std::string db = std::to_string(o.database);
    const std::array<std::string_view, 2> select = {"SELECT", db};
    const redis_reply r = run(select);
    if (r.is_error()) {
      const redis_error e = to_redis_error(r.str());
      throw redis_error(e.code(), fmt::format("{}: SELECT {} failed at {}: {}; check "
                                              "redis_options.database",
                                              settings_.label, db, settings_.endpoint, r.str()));
    }
  }
}

bool redis_connection::closed_while_idle(real_clock::time_point now) noexcept {
  if (context_->err != 0) return true;
  const bool idle = now - last_used_ >= idle_check_after;
  last_used_ = now;
  if (!idle) return false;
  pollfd p{context_->fd, POLLIN, 0};
  return ::poll(&p, 1, 0) != 0;
}

void redis_connection::set_timeout(duration timeout) {
  if (timeout == timeout_) return;
  if (redisSetTimeout(context_, to_timeval(timeout)) != REDIS_OK) fail("setsockopt", errno);
  timeout_ = timeout;
}

redis_reply redis_connection::run(std::span<const std::string_view> argv) {
  append(argv);
  void* raw = nullptr;
  errno = 0;
  if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) fail(name_of(argv), errno);
  const auto* reply = static_cast<redisReply*>(raw);
  struct release {
    void* p;
    ~release() { freeReplyObject(p); }
  } guard{raw};
  return to_reply(*reply);
}

void redis_connection::append(std::span<const std::string_view> argv) {
  const std::string command = resp(argv);
  if (redisAppendFormattedCommand(context_, command.data(), command.size()) != REDIS_OK) {
    fail(name_of(argv), errno);
  }
}

void redis_connection::append(std::span<const std::string> argv) {
  const std::string command = resp(argv);
  if (redisAppendFormattedCommand(context_, command.data(), command.size()) != REDIS_OK) {
    fail(name_of(argv), errno);
  }
}

redis_reply redis_connection::read_reply(std::string_view command_name) {
  void* raw = nullptr;
  errno = 0;
  if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) fail(command_name, errno);
  struct release {
    void* p;
    ~release() { freeReplyObject(p); }
  } guard{raw};
  return to_reply(*static_cast<redisReply*>(raw));
}

int redis_connection::fd() const noexcept { return context_->fd; }

void redis_connection::read_available() {
  errno = 0;
  if (redisBufferRead(context_) != REDIS_OK) fail("(subscriber read)", errno);
}

bool redis_connection::next_buffered_reply(redis_reply& out) {
  void* raw = nullptr;
  if (redisGetReplyFromReader(context_, &raw) != REDIS_OK) fail("(subscriber read)", errno);
  if (raw == nullptr) return false;
  struct release {
    void* p;
    ~release() { freeReplyObject(p); }
  } guard{raw};
  out = to_reply(*static_cast<redisReply*>(raw));
  return true;
}

void redis_connection::fail(std::string_view command_name, int saved_errno) const {
  const std::string reason = context_->err != 0 ? context_->errstr : "unknown failure";
  switch (context_->err) {
    case REDIS_ERR_OOM:
      throw std::bad_alloc();
    case REDIS_ERR_PROTOCOL:
      throw redis_error(redis_errc::protocol,
                        fmt::format("{}: malformed reply from {} to {} ({}); the connection was "
                                    "closed. Is that port a Redis server?",
                                    settings_.label, settings_.endpoint, command_name, reason));
    case REDIS_ERR_EOF:
      throw redis_error(redis_errc::unavailable,
                        fmt::format("{}: connection to {} lost during {} ({}); the client "
                                    "reconnects on a later call",
                                    settings_.label, settings_.endpoint, command_name, reason));
#ifdef REDIS_ERR_TIMEOUT
    case REDIS_ERR_TIMEOUT:
      saved_errno = ETIMEDOUT;
      [[fallthrough]];
#endif
    case REDIS_ERR_IO:
      if (is_timeout_errno(saved_errno)) {
        throw redis_error(
            redis_errc::timeout,
            fmt::format("{}: no reply from {} to {} within command_timeout = {}; "
                        "the server is overloaded, blocked or unreachable (raise "
                        "command_timeout if slow replies are expected)",
                        settings_.label, settings_.endpoint, command_name, millis(timeout_)));
      }
      [[fallthrough]];
    default:
      throw redis_error(redis_errc::unavailable,
                        fmt::format("{}: connection to {} failed during {} ({}); the client "
                                    "reconnects on a later call",
                                    settings_.label, settings_.endpoint, command_name, reason));
  }
}

}  // namespace recall::detail
