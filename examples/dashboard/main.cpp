// dashboard: the sales dashboard service (docs/dashboard.md).
//
//   dashboard generate --warehouse dashboard.db [--rows 1000000]
//   dashboard refresh  --warehouse dashboard.db [--redis-port 6379]   (cron)
//   dashboard serve    --warehouse dashboard.db [--port 8080] [options]
//
// serve creates the warehouse on first run. SIGTERM (or SIGINT) stops
// accepting, lets the requests in flight finish (at most --drain seconds) and
// exits 0; past that bound it exits 1.
#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include "app.hpp"
#include "warehouse.hpp"

#if RECALL_DASHBOARD_WITH_REDIS
#include <recall/redis_store.hpp>
#endif

namespace {

using namespace dashboard;

constexpr const char* usage =
    "usage: dashboard generate|refresh|serve [--warehouse FILE] [--rows N]\n"
    "  serve: [--host 127.0.0.1] [--port 8080] [--replica NAME] [--trusted-proxy ADDR]...\n"
    "         [--redis-port N] [--sessions memory|redis] [--ttl S] [--refresh-after S]\n"
    "         [--refresh-every S] [--drain S] [--threads N] [--keep-alive-requests N]\n"
    "         [--secure-cookie] [--test-routes]\n"
    "  refresh: [--redis-port N] (tells every replica sharing that Redis)\n"
    "  DASHBOARD_SIGNING_KEY signs the cache records shared through Redis;\n"
    "  DASHBOARD_SESSION_SECRET keys the session ids hashed in Redis (--sessions redis).\n";

struct arguments {
  std::string command;
  config cfg;
  std::int64_t rows = 1'000'000;
};

long number(const std::string& flag, const std::string& text) {
  std::size_t used = 0;
  long v = 0;
  try {
    v = std::stol(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || v < 0) {
    throw std::invalid_argument(flag + " needs a non-negative whole number, not '" + text + "'");
  }
  return v;
}

// Threads and requests per connection: 0 would serve nothing, silently.
std::size_t positive(const std::string& flag, const std::string& text) {
  const long v = number(flag, text);
  if (v == 0) throw std::invalid_argument(flag + " needs at least 1, not 0");
  return std::size_t(v);
}

arguments parse(int argc, char** argv) {
  if (argc < 2) throw std::invalid_argument("no command");
  arguments a;
  a.command = argv[1];
  config& c = a.cfg;
  for (int i = 2; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--secure-cookie") {
      c.secure_cookie = true;
      continue;
    }
    if (flag == "--test-routes") {
      c.test_routes = true;
      continue;
    }
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    const std::string v = argv[++i];
    if (flag == "--warehouse") {
      c.warehouse = v;
    } else if (flag == "--rows") {
      a.rows = number(flag, v);
    } else if (flag == "--host") {
      c.host = v;
    } else if (flag == "--port") {
      c.port = int(number(flag, v));
    } else if (flag == "--replica") {
      if (v.empty() ||
          v.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
        throw std::invalid_argument("--replica takes lowercase letters, digits, '-' and '_'");
      }
      c.replica = v;
    } else if (flag == "--trusted-proxy") {
      c.trusted_proxies.push_back(v);
    } else if (flag == "--redis-port") {
      c.redis_port = int(number(flag, v));
    } else if (flag == "--sessions") {
      c.sessions = v;
    } else if (flag == "--ttl") {
      c.ttl = std::chrono::seconds(number(flag, v));
    } else if (flag == "--refresh-after") {
      c.refresh_after = std::chrono::seconds(number(flag, v));
    } else if (flag == "--refresh-every") {
      c.refresh_every = std::chrono::seconds(number(flag, v));
    } else if (flag == "--drain") {
      c.drain = std::chrono::seconds(number(flag, v));
    } else if (flag == "--threads") {
      c.threads = positive(flag, v);
    } else if (flag == "--keep-alive-requests") {
      c.keep_alive_requests = positive(flag, v);
    } else {
      throw std::invalid_argument("unknown option " + flag);
    }
  }
  if (const char* key = std::getenv("DASHBOARD_SIGNING_KEY")) c.signing_key = key;
  if (const char* key = std::getenv("DASHBOARD_SESSION_SECRET")) c.session_secret = key;
  return a;
}

int serve(const config& c, std::int64_t rows) {
  // Before any thread starts, so that only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  if (generate(c.warehouse, rows)) {
    std::fprintf(stderr, "dashboard: generated the warehouse %s (%lld sales rows)\n",
                 c.warehouse.c_str(), static_cast<long long>(rows));
  }
  app service(c);
  const int port = c.port == 0 ? service.server().bind_to_any_port(c.host)
                               : (service.server().bind_to_port(c.host, c.port) ? c.port : -1);
  if (port <= 0) {
    std::fprintf(stderr, "dashboard: cannot listen on %s:%d\n", c.host.c_str(), c.port);
    return 1;
  }
  service.widen_backlog();
  std::mutex mu;
  std::condition_variable cv;
  bool stopped = false;
  std::thread listener([&] {
    service.server().listen_after_bind();
    std::lock_guard lock(mu);
    stopped = true;
    cv.notify_all();
  });
  std::printf("dashboard: replica %s listening on http://%s:%d/\n", c.replica.c_str(),
              c.host.c_str(), port);
  std::fflush(stdout);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  std::fprintf(stderr, "dashboard: %s: draining %llu requests in flight (at most %lld s)\n",
               signal_number == SIGTERM ? "SIGTERM" : "SIGINT",
               static_cast<unsigned long long>(service.in_flight()),
               static_cast<long long>(c.drain.count()));
  service.set_draining();
  // Closes the listening socket (the proxy moves to the other replicas at
  // once); the requests already read run to their end.
  service.server().stop();
  std::unique_lock lock(mu);
  if (!cv.wait_for(lock, c.drain, [&] { return stopped; })) {
    std::fprintf(stderr, "dashboard: %llu requests still running after %lld s; exiting anyway\n",
                 static_cast<unsigned long long>(service.in_flight()),
                 static_cast<long long>(c.drain.count()));
    std::fflush(stderr);
    std::_Exit(1);
  }
  lock.unlock();
  listener.join();
  service.release_resources();
  std::fprintf(stderr, "dashboard: drained; exiting\n");
  return 0;
}

int refresh_once(const config& c) {
#if RECALL_DASHBOARD_WITH_REDIS
  // The same tag invalidation reaches every replica through this store.
  std::shared_ptr<recall::second_level> l2;
  if (c.redis_port != 0) {
    auto client = std::make_shared<recall::redis_client>(recall::redis_options{
        .port = static_cast<std::uint16_t>(c.redis_port), .key_prefix = "dashboard:"});
    l2 = recall::redis_store(client, {.signing_key = c.signing_key});
  }
#else
  if (c.redis_port != 0) throw std::runtime_error("this build has no Redis support");
#endif
  refresh_and_invalidate(c.warehouse);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const arguments a = parse(argc, argv);
    if (a.command == "generate") {
      const bool made = generate(a.cfg.warehouse, a.rows);
      std::printf("dashboard: %s %s\n", a.cfg.warehouse.c_str(),
                  made ? "generated" : "exists already");
      return 0;
    }
    if (a.command == "refresh") return refresh_once(a.cfg);
    if (a.command == "serve") return serve(a.cfg, a.rows);
    throw std::invalid_argument("unknown command " + a.command);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "dashboard: %s\n%s", e.what(), usage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dashboard: %s\n", e.what());
    return 1;
  }
}
