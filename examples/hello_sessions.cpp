// The smallest service with recall's request glue: a visit counter per
// session, a memoized "slow" greeting, and /metrics, on cpp-httplib.
//
//   hello_sessions [port]        then: curl -c jar -b jar http://127.0.0.1:8081/
#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <recall/httplib.hpp>
#include <recall/recall.hpp>
#include <string>

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 8081;
  recall::session_store sessions({.name = "hello_sessions"});
  // Plain HTTP on loopback; behind TLS use the default cookie options.
  recall::http_sessions web(sessions,
                            recall::session_cookie({.name = "hello_session",
                                                    .secure = false,
                                                    .allow_insecure_for_local_development = true}));
  auto greeting = recall::cache_data(
      [](int visits) { return "Hello! This is visit number " + std::to_string(visits) + "."; },
      {.name = "greeting", .ttl = std::chrono::minutes(5), .max_entries = 100});

  httplib::Server server;
  server.Get(
      "/", recall::cpp_httplib::with_session(
               web, [&](const httplib::Request&, httplib::Response& res, recall::http_request& r) {
                 const int visits = r.session().get_or("visits", 0) + 1;
                 r.session().set("visits", visits);  // the first write sets the cookie
                 res.set_content(greeting(visits) + "\n", "text/plain");
               }));
  recall::cpp_httplib::serve_metrics(server);
  std::printf("hello_sessions: http://127.0.0.1:%d/\n", port);
  std::fflush(stdout);
  return server.listen("127.0.0.1", port) ? 0 : 1;
}
