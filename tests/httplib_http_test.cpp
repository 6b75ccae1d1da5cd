// recall/http.hpp and its cpp-httplib adapter, driven by real HTTP requests
// against a real cpp-httplib server on a free loopback port.
#include <httplib.h>

#include <chrono>
#include <functional>
#include <recall/cache_data.hpp>
#include <recall/httplib.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "catch.hpp"
#include "support/promtool.hpp"

using namespace std::chrono_literals;
namespace glue = recall::cpp_httplib;

namespace {

// A cpp-httplib server on 127.0.0.1 and a free port, serving until destroyed.
class test_server {
 public:
  explicit test_server(const std::function<void(httplib::Server&)>& routes) {
    routes(server_);
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    for (int i = 0; i < 500 && !server_.is_running(); ++i) std::this_thread::sleep_for(2ms);
    REQUIRE(server_.is_running());
  }
  ~test_server() {
    server_.stop();
    thread_.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(5s);
    return c;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

recall::session_cookie dev_cookie() {
  return recall::session_cookie(
      {.name = "sid", .secure = false, .allow_insecure_for_local_development = true});
}

// The session id a Set-Cookie header carries ("sid=<id>; Path=/; ...").
std::string cookie_id(const std::string& set_cookie) {
  const auto start = set_cookie.find('=') + 1;
  return set_cookie.substr(start, set_cookie.find(';') - start);
}

struct world {
  recall::session_store store{recall::session_options{.max_bytes_per_session = 4096}};
  recall::trusted_proxy proxy{{.trusted_networks = {"127.0.0.1/32"}}};
  recall::http_sessions web{store, dev_cookie(), &proxy};
};

}  // namespace

TEST_CASE("a cookie is set only when the session was stored, then resumed without one") {
  world w;
  test_server server([&](httplib::Server& s) {
    // The framework-neutral helper, used by hand.
    s.Get("/read", [&](const httplib::Request& req, httplib::Response& res) {
      recall::http_request r = w.web.open(req.remote_addr, req.headers);
      res.set_content(r.session().get_or<std::string>("region", "none"), "text/plain");
      if (auto c = r.set_cookie()) res.set_header("Set-Cookie", *c);
    });
    s.Post("/region",
           glue::with_session(w.web, [](const httplib::Request& req, httplib::Response& res,
                                        recall::http_request& r) {
             r.session().set("region", req.body);
             res.set_content("ok", "text/plain");
           }));
  });
  auto client = server.client();

  auto first = client.Get("/read");
  REQUIRE(first);
  CHECK(first->body == "none");
  CHECK_FALSE(first->has_header("Set-Cookie"));
  CHECK(w.store.stats().live == 0);

  auto write = client.Post("/region", "EU", "text/plain");
  REQUIRE(write);
  CHECK(write->status == 200);
  REQUIRE(write->get_header_value_count("Set-Cookie") == 1);
  const std::string set = write->get_header_value("Set-Cookie");
  CHECK(set.find("HttpOnly") != std::string::npos);
  CHECK(write->get_header_value("Cache-Control") == "no-store");
  const std::string id = cookie_id(set);

  auto again = client.Get("/read", {{"Cookie", "theme=dark; sid=" + id}});
  REQUIRE(again);
  CHECK(again->body == "EU");
  CHECK_FALSE(again->has_header("Set-Cookie"));

  auto rewrite = client.Post("/region", {{"Cookie", "sid=" + id}}, "US", "text/plain");
  REQUIRE(rewrite);
  CHECK_FALSE(rewrite->has_header("Set-Cookie"));  // same session, same id

  // Sent twice, the cookie counts as none: whichever copy is genuine, the
  // session is not resumed.
  auto twice = client.Get("/read", {{"Cookie", "sid=" + id + "; sid=" + id}});
  REQUIRE(twice);
  CHECK(twice->body == "none");
  auto split = client.Get("/read", {{"Cookie", "sid=" + id}, {"Cookie", "sid=forged"}});
  REQUIRE(split);
  CHECK(split->body == "none");
}

TEST_CASE("identity comes from the proxy headers only from a trusted peer; roles map to 401/403") {
  world w;
  recall::trusted_proxy elsewhere({.trusted_networks = {"127.0.0.2/32"}});
  recall::http_sessions distrusting(w.store, dev_cookie(), &elsewhere);
  const auto admin_page = [](const httplib::Request&, httplib::Response& res,
                             recall::http_request& r) {
    if (auto d = r.require_role("admin"); !d)
      return glue::send_error(res, recall::http_error_of(d));
    res.set_content("welcome " + r.user().user, "text/plain");
  };
  test_server server([&](httplib::Server& s) {
    s.Get("/admin", glue::with_session(w.web, admin_page));
    s.Get("/spoofed", glue::with_session(distrusting, admin_page));
  });
  auto client = server.client();

  auto anonymous = client.Get("/admin");
  REQUIRE(anonymous);
  CHECK(anonymous->status == 401);
  auto viewer =
      client.Get("/admin", {{"X-Forwarded-User", "vera"}, {"X-Forwarded-Groups", "viewer"}});
  REQUIRE(viewer);
  CHECK(viewer->status == 403);
  auto admin =
      client.Get("/admin", {{"X-Forwarded-User", "ada"}, {"X-Forwarded-Groups", "viewer,admin"}});
  REQUIRE(admin);
  CHECK(admin->status == 200);
  CHECK(admin->body == "welcome ada");
  // The peer 127.0.0.1 is not the proxy 127.0.0.2: the same headers are ignored.
  auto spoofed =
      client.Get("/spoofed", {{"X-Forwarded-User", "ada"}, {"X-Forwarded-Groups", "admin"}});
  REQUIRE(spoofed);
  CHECK(spoofed->status == 401);
  CHECK(elsewhere.stats().untrusted_headers_ignored == 1);
  CHECK(w.proxy.stats().identified == 2);
}

TEST_CASE("recall's errors become their HTTP statuses") {
  world w;
  std::string logged;
  const auto route = [&](httplib::Server& s, const std::string& path,
                         std::function<void(recall::http_request&)> body) {
    s.Get(path,
          glue::with_session(
              w.web,
              [body](const httplib::Request&, httplib::Response& res, recall::http_request& r) {
                body(r);
                res.set_content("unreachable", "text/plain");
              },
              [&](const httplib::Request&, const recall::http_error& e) { logged = e.detail; }));
  };
  test_server server([&](httplib::Server& s) {
    route(s, "/quota",
          [](recall::http_request& r) { r.session().set("big", std::string(8192, 'x')); });
    route(s, "/ended", [](recall::http_request& r) {
      r.session().set("a", 1);
      r.session().end();
      r.session().set("b", 2);
    });
    route(s, "/codec", [](recall::http_request& r) {
      r.session().set("n", std::string("not a number"));
      r.session().get<int>("n");
    });
    route(s, "/argument", [](recall::http_request&) { throw std::invalid_argument("bad day"); });
    route(s, "/storage", [](recall::http_request&) {
      // What the Redis session storage throws when it cannot reach Redis.
      throw recall::session_error(recall::session_errc::storage_unavailable, "storage down");
    });
    route(s, "/later", [](recall::http_request&) {
      // A code this version does not list: a later storage's own failure.
      throw recall::session_error(static_cast<recall::session_errc>(100), "later storage down");
    });
    route(s, "/bug", [](recall::http_request&) { throw std::logic_error("secret detail"); });
  });
  auto client = server.client();
  const auto status = [&](const char* path) {
    auto r = client.Get(path);
    REQUIRE(r);
    return r->status;
  };
  CHECK(status("/quota") == 413);
  CHECK(status("/ended") == 409);
  CHECK(status("/codec") == 400);
  CHECK(status("/argument") == 400);
  CHECK(status("/storage") == 503);
  CHECK(logged == "storage down");
  CHECK(status("/later") == 503);
  auto bug = client.Get("/bug");
  REQUIRE(bug);
  CHECK(bug->status == 500);
  CHECK(bug->body.find("secret") == std::string::npos);  // the detail goes to the log only
  CHECK(logged == "secret detail");
}

TEST_CASE("logout and dead ids expire the cookie") {
  world w;
  test_server server([&](httplib::Server& s) {
    s.Post("/login", glue::with_session(
                         w.web, [](const httplib::Request&, httplib::Response&,
                                   recall::http_request& r) { r.session().set("seen", true); }));
    s.Post("/logout",
           glue::with_session(w.web, [](const httplib::Request&, httplib::Response&,
                                        recall::http_request& r) { r.session().end(); }));
    s.Get("/", glue::with_session(w.web, [](const httplib::Request&, httplib::Response& res,
                                            recall::http_request& r) {
            res.set_content(r.session().contains("seen") ? "known" : "new", "text/plain");
          }));
  });
  auto client = server.client();
  auto login = client.Post("/login");
  REQUIRE(login);
  const std::string id = cookie_id(login->get_header_value("Set-Cookie"));
  auto logout = client.Post("/logout", {{"Cookie", "sid=" + id}}, "", "text/plain");
  REQUIRE(logout);
  CHECK(logout->get_header_value("Set-Cookie").find("Max-Age=0") != std::string::npos);
  auto after = client.Get("/", {{"Cookie", "sid=" + id}});
  REQUIRE(after);
  CHECK(after->body == "new");
  CHECK(after->get_header_value("Set-Cookie").find("Max-Age=0") != std::string::npos);
  auto fresh = client.Get("/");
  REQUIRE(fresh);
  CHECK_FALSE(fresh->has_header("Set-Cookie"));
}

TEST_CASE("serve_metrics answers with the Prometheus text of every registered object") {
  auto squares = recall::cache_data([](int n) { return n * n; },
                                    {.name = "squares", .ttl = std::chrono::minutes(1)});
  squares(4);
  test_server server([](httplib::Server& s) { glue::serve_metrics(s); });
  auto client = server.client();
  auto res = client.Get("/metrics");
  REQUIRE(res);
  CHECK(res->status == 200);
  CHECK(res->get_header_value("Content-Type") == recall::prometheus_content_type);
  CHECK(res->body.find("recall_cache_misses_total{kind=\"cache_data\",name=\"squares\"} 1\n") !=
        std::string::npos);
  const auto lint = recall::test::promtool_check(res->body);
  INFO(lint.output);
  CHECK(lint.accepted);
}
