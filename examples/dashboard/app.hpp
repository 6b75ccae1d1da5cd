// The dashboard service: its caches, sessions, refresh job and routes over a
// cpp-httplib server. main.cpp parses the command line and owns the process
// (signals, draining); docs/dashboard.md maps each production pattern to the
// code here.
//
// Thread safety: routes run on the server's worker threads; everything they
// share is a recall object (thread-safe) or an atomic.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <recall/recall.hpp>
#include <string>
#include <thread>
#include <vector>

#include "warehouse.hpp"

#if RECALL_DASHBOARD_WITH_REDIS
#include <recall/redis_sessions.hpp>
#include <recall/redis_store.hpp>
#endif

namespace dashboard {

struct config {
  std::filesystem::path warehouse = "dashboard.db";
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string replica = "embedded";
  // Peers whose X-Forwarded-User/-Groups are believed (the proxy's address).
  // Empty: every request is anonymous (embedded mode, no proxy).
  std::vector<std::string> trusted_proxies;
  // Fleet mode: Redis on 127.0.0.1:redis_port shares the caches (and, with
  // sessions = "redis", the sessions). 0: embedded, in-memory only.
  int redis_port = 0;
  std::string sessions = "memory";
  std::string signing_key;  // signs the shared cache records
  // With sessions = "redis": the key of the hashed session ids in Redis, the
  // same on every replica (recall::redis_session_options::secret).
  std::string session_secret;
  std::chrono::seconds ttl{120};
  std::chrono::seconds refresh_after{60};
  std::chrono::seconds refresh_every{0};  // 0: only on demand (admin, `dashboard refresh`)
  std::chrono::seconds drain{10};
  std::size_t threads = 64;
  // Requests per connection before the server closes it; 1 behind a proxy
  // (scripts/fleet.sh), since each open connection holds one of the threads.
  std::size_t keep_alive_requests = 10'000;
  bool secure_cookie = false;  // set behind TLS
  bool test_routes = false;    // /slow, for the drain test
};

// The scheduled refresh, off the render path: a thread that runs the job
// every `every` (and when asked), then drops the cached results fleet-wide.
class refresher {
 public:
  refresher(std::filesystem::path warehouse, std::chrono::seconds every);
  ~refresher();
  // Asks for a run and waits (at most `bound`) until one that started after
  // the request has finished; its generation, or nullopt on timeout/failure.
  std::optional<std::int64_t> run_now(std::chrono::seconds bound);
  std::uint64_t runs() const { return runs_.load(); }

 private:
  void loop();

  std::filesystem::path warehouse_;
  std::chrono::seconds every_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::uint64_t requested_ = 0, started_ = 0, finished_ = 0;
  std::int64_t last_generation_ = 0;
  bool last_ok_ = false;
  std::atomic<std::uint64_t> runs_{0};
  std::thread thread_;
};

// The job itself, shared by the thread and `dashboard refresh` (cron).
std::int64_t refresh_and_invalidate(const std::filesystem::path& warehouse);

class app {
 public:
  explicit app(config c);
  ~app();

  httplib::Server& server() { return server_; }
  // Readiness off: /readyz answers 503 so the proxy stops sending (draining).
  void set_draining() { draining_ = true; }
  std::uint64_t in_flight() const { return in_flight_.load(); }
  // Call after binding: a listen backlog for bursts of proxy connections.
  void widen_backlog() const;
  // Drops the cached connections (their on_release closes them).
  void release_resources() { pools_.clear(); }

 private:
  using handler =
      std::function<void(const httplib::Request&, httplib::Response&, recall::http_request&)>;
  void route(const std::string& method, const std::string& path, handler h);
  void routes();
  std::shared_ptr<connection_pool> pool() const { return pools_(cfg_.warehouse.string()); }
  void dashboard_page(const httplib::Request& req, httplib::Response& res, recall::http_request& r);
  void upload(const httplib::Request& req, httplib::Response& res, recall::http_request& r);
  void admin_page(const httplib::Request& req, httplib::Response& res, recall::http_request& r,
                  const std::string& message);
  bool ready(std::string& why) const;
  std::string metrics_text() const;
  recall::session_options session_options() const;

  config cfg_;
#if RECALL_DASHBOARD_WITH_REDIS
  std::shared_ptr<recall::redis_client> redis_;
#endif
  std::shared_ptr<recall::second_level> l2_;
  recall::cached_resource<std::shared_ptr<connection_pool>(const std::string&)> pools_;
  std::atomic<std::uint64_t> warehouse_queries_{0};
  recall::cached_function<std::vector<std::string>()> regions_;
  recall::cached_function<freshness()> freshness_;
  recall::cached_function<std::vector<day_total>(const std::string&, int, int)> daily_;
  recall::cached_function<product_page(const std::string&, int, int, int)> products_;
  recall::session_store sessions_;
  recall::trusted_proxy proxy_;
  recall::http_sessions web_;
  refresher refresher_;
  std::atomic<bool> draining_{false};
  std::atomic<std::uint64_t> in_flight_{0};
  int listen_socket_ = -1;
  httplib::Server server_;
};

}  // namespace dashboard
