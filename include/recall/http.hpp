// recall/http.hpp: the glue between an HTTP request and recall's sessions,
// for any HTTP framework.
//
// http_sessions ties a session_store to its cookie and (optionally) the
// trusted proxy. open() does what every request handler must do, in the one
// safe order: identify the user through the proxy (headers honoured only from
// a trusted peer), read the session cookie (a cookie sent twice counts as
// none: which copy is genuine cannot be told), and open the session bound to
// that identity. The http_request it returns tells, when the response is
// sent, whether a Set-Cookie is needed: only when the request stored a fresh
// session or the id changed, and an expiring one when the presented cookie
// no longer names a live session. Sessions are lazy, so a page that writes
// nothing sets no cookie and stores nothing.
//
// http_error_of() maps what recall throws to the status a host answers with
// (see the table at the function); recall/httplib.hpp is a cpp-httplib
// adapter over both.
//
// Thread safety: http_sessions is immutable after construction and may be
// used from any number of threads. An http_request belongs to one request
// (see recall::session). The store, cookie and proxy must outlive both.
//
//   recall::http_sessions web(store, recall::session_cookie{}, &proxy);
//   recall::http_request r = web.open(peer_ip, headers);   // any name/value range
//   r.session().set("region", std::string("EU"));
//   if (auto c = r.set_cookie()) response.add_header("Set-Cookie", *c);
#pragma once

#include <cstddef>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "recall/cookie.hpp"
#include "recall/export.hpp"
#include "recall/identity.hpp"
#include "recall/roles.hpp"
#include "recall/session.hpp"
#include "recall/trusted_proxy.hpp"

namespace recall {

// What a host answers when a handler failed with a recall error.
struct http_error {
  int status = 500;
  // A short text safe to show to the client ("session quota exceeded").
  std::string_view reason;
  // The exception's own message, with what to do: for the server's log.
  std::string detail;
};

// The status for an exception thrown while handling a request:
//   quota_error, session_error(quota_exceeded, scratch_full)   413
//   session_error(ended)                                         409
//   codec_error (bytes that do not decode), std::invalid_argument 400
//   a session error of a storage that cannot be reached
//     (any session_errc this header does not list, such as the
//      Redis storage's storage_unavailable)                      503
//   session_error(wrong_kind, scratch_type_mismatch),
//   config_error and everything else                             500
RECALL_EXPORT http_error http_error_of(std::exception_ptr error) noexcept;
// 401 (nobody signed in) or 403 (signed in, not in the group); status 200
// and an empty reason for an allowed decision.
RECALL_EXPORT http_error http_error_of(role_decision decision) noexcept;

class http_sessions;

// One request's identity and session.
class RECALL_EXPORT http_request {
 public:
  const recall::identity& user() const noexcept { return who_.identity; }
  // How the proxy's headers were judged (for logs); "no trusted proxy" when
  // the http_sessions has none.
  const identification& identified() const noexcept { return who_; }
  recall::session& session() noexcept { return session_; }
  const recall::session& session() const noexcept { return session_; }
  cookie_presence cookie() const noexcept { return cookie_; }
  role_decision require_role(std::string_view group) const noexcept {
    return recall::require_role(who_.identity, group);
  }

  // The Set-Cookie value the response needs, if any. Call it when the
  // response is sent, after the request's writes: the session's new id when
  // it was stored or rotated; an expiring cookie when the presented one
  // names no live session (ended, expired, unknown, another user's) and no
  // new id replaces it; otherwise nothing.
  std::optional<std::string> set_cookie() const;

 private:
  friend class http_sessions;
  http_request(const session_cookie& c, identification who, recall::session s,
               cookie_presence presence)
      : cookie_options_(&c), who_(std::move(who)), session_(std::move(s)), cookie_(presence) {}

  const session_cookie* cookie_options_;
  identification who_;
  recall::session session_;
  cookie_presence cookie_;
};

class RECALL_EXPORT http_sessions {
 public:
  // proxy == nullptr: no proxy is trusted, every request is anonymous.
  http_sessions(session_store& store, session_cookie cookie, const trusted_proxy* proxy = nullptr)
      : store_(&store), cookie_(std::move(cookie)), proxy_(proxy) {}

  // `headers`: every request header as name/value pairs (names compared
  // case-insensitively); `peer_address`: the connection's remote address,
  // never a header.
  template <header_list H>
  http_request open(std::string_view peer_address, const H& headers) const {
    std::string cookies;
    for (const auto& h : headers) {
      if (!is_cookie_header(std::string_view(h.first))) continue;
      if (!cookies.empty()) cookies += "; ";
      cookies += std::string_view(h.second);
    }
    return open_with(proxy_ ? proxy_->inspect(peer_address, headers) : anonymous(), cookies);
  }

  const session_cookie& cookie() const noexcept { return cookie_; }
  session_store& store() const noexcept { return *store_; }

 private:
  static bool is_cookie_header(std::string_view name) noexcept;
  static identification anonymous() noexcept;
  http_request open_with(identification who, std::string_view cookie_header) const;

  session_store* store_;
  session_cookie cookie_;
  const trusted_proxy* proxy_;
};

}  // namespace recall
