// recall/httplib.hpp: recall's request glue (recall/http.hpp) for
// cpp-httplib servers. Target recall::httplib, built and installed only where
// cpp-httplib is found; the core library needs no HTTP library.
//
// with_session() wraps a handler: it opens the request's session (identity
// through the trusted proxy, the session cookie), runs the handler, answers
// recall's errors with their status (http_error_of), and adds the Set-Cookie
// header only when it is needed. serve_metrics() adds a Prometheus endpoint
// over recall::write_prometheus.
//
// Thread safety: as recall/http.hpp; the wrapped handler runs on
// cpp-httplib's worker threads.
//
//   recall::http_sessions web(store, cookie, &proxy);
//   server.Get("/", recall::cpp_httplib::with_session(web,
//       [](const httplib::Request& req, httplib::Response& res, recall::http_request& r) {
//         r.session().set("seen", true);
//         res.set_content("hello", "text/plain");
//       }));
//   recall::cpp_httplib::serve_metrics(server);
#pragma once

#include <httplib.h>

#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "recall/http.hpp"
#include "recall/metrics.hpp"

namespace recall::cpp_httplib {

using session_handler =
    std::function<void(const httplib::Request&, httplib::Response&, http_request&)>;
// Told about every error answered with a status of 500 or more (the detail
// is for the server's log, never for the client).
using error_logger = std::function<void(const httplib::Request&, const http_error&)>;

inline http_request open(const http_sessions& sessions, const httplib::Request& req) {
  // remote_addr is the socket's peer; headers is every header, repeats kept.
  return sessions.open(req.remote_addr, req.headers);
}

// Adds the Set-Cookie header if the request needs one.
inline void finish(const http_request& r, httplib::Response& res) {
  if (auto c = r.set_cookie()) {
    res.set_header("Set-Cookie", *c);
    // A response that sets a session cookie must not be stored by a cache.
    res.set_header("Cache-Control", "no-store");
  }
}

inline void send_error(httplib::Response& res, const http_error& e) {
  res.status = e.status;
  res.set_content(std::string(e.reason) + "\n", "text/plain; charset=utf-8");
}

inline httplib::Server::Handler with_session(const http_sessions& sessions, session_handler handler,
                                             error_logger log = {}) {
  return [&sessions, handler = std::move(handler), log = std::move(log)](
             const httplib::Request& req, httplib::Response& res) {
    const auto fail = [&](std::exception_ptr error) {
      const http_error e = http_error_of(error);
      res = httplib::Response();
      send_error(res, e);
      if (log && e.status >= 500) log(req, e);
    };
    std::optional<http_request> r;
    try {
      r.emplace(open(sessions, req));
      handler(req, res, *r);
    } catch (...) {
      fail(std::current_exception());
    }
    if (!r) return;
    try {
      finish(*r, res);
    } catch (...) {
      fail(std::current_exception());
    }
  };
}

inline void serve_metrics(httplib::Server& server, const std::string& path = "/metrics") {
  server.Get(path, [](const httplib::Request&, httplib::Response& res) {
    std::string body;
    write_prometheus(body);
    res.set_content(body, std::string(prometheus_content_type).c_str());
  });
}

}  // namespace recall::cpp_httplib
