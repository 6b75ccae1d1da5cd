// recall/redis_reply.hpp: the values the Redis client (recall/redis.hpp)
// returns and throws.
//
// A redis_reply is an owning copy of one server reply, so no hiredis type
// appears in recall's headers. The rule that separates the two outcomes of a
// call: every reply the server sent is returned, error replies included (kind
// `error`: "OOM ...", "ERR ...", "NOSCRIPT ..."); redis_error is thrown when
// the call got no reply to its command (not connected, connection lost,
// timeout, breaker open, pool exhausted, credentials refused, a malformed
// reply). throw_if_error() turns an error reply into a redis_error for
// callers that want one.
//
// Thread safety: replies and errors are values; const members may be used
// from any number of threads.
//
//   recall::redis_reply r = client.command({"GET", key});
//   if (r.is_nil()) return std::nullopt;
//   return std::string(r.throw_if_error().str());
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "recall/error.hpp"
#include "recall/redis_export.hpp"

namespace recall {

enum class redis_errc {
  unavailable = 1,  // cannot connect, connection lost, breaker open, no free pooled connection
  timeout,          // no reply within command_timeout
  auth,             // credentials refused or missing (WRONGPASS, NOAUTH, NOPERM)
  server,           // the server answered with an error (OOM, ERR ...), see the message
  protocol,         // a reply that is not valid RESP, or not of the kind the caller read
};

RECALL_REDIS_EXPORT std::string_view to_string(redis_errc code) noexcept;

class RECALL_REDIS_EXPORT redis_error : public error {
 public:
  redis_error(redis_errc code, const std::string& message) : error(message), code_(code) {}
  redis_errc code() const noexcept { return code_; }

 private:
  redis_errc code_;
};

enum class redis_reply_kind { nil, integer, string, status, error, array };

RECALL_REDIS_EXPORT std::string_view to_string(redis_reply_kind kind) noexcept;

class RECALL_REDIS_EXPORT redis_reply {
 public:
  // A nil reply.
  redis_reply() = default;
  static redis_reply make_integer(std::int64_t value);
  // kind must be string, status or error.
  static redis_reply make_text(redis_reply_kind kind, std::string text);
  static redis_reply make_array(std::vector<redis_reply> elements);

  redis_reply_kind kind() const noexcept { return kind_; }
  bool is_nil() const noexcept { return kind_ == redis_reply_kind::nil; }
  bool is_error() const noexcept { return kind_ == redis_reply_kind::error; }

  // Each accessor throws redis_error(protocol) naming both kinds when the
  // reply is of another kind: the server did not answer what the caller
  // expected.
  std::int64_t integer() const;
  // The bytes of a string, the text of a status ("OK") or of an error.
  std::string_view str() const;
  const std::vector<redis_reply>& elements() const;

  // The reply itself, or, for an error reply, a redis_error carrying the
  // server's message: code auth for NOAUTH/WRONGPASS/NOPERM, server for the
  // rest (OOM, ERR, BUSY, READONLY, ...).
  const redis_reply& throw_if_error() const&;
  redis_reply&& throw_if_error() &&;

  friend bool operator==(const redis_reply&, const redis_reply&) = default;

 private:
  [[noreturn]] void throw_wrong_kind(redis_reply_kind wanted) const;

  redis_reply_kind kind_ = redis_reply_kind::nil;
  std::int64_t integer_ = 0;
  std::string text_;
  std::vector<redis_reply> elements_;
};

// The redis_error an error reply stands for (see throw_if_error).
RECALL_REDIS_EXPORT redis_error to_redis_error(std::string_view server_message);

}  // namespace recall
