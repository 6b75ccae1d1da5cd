#include "app.hpp"

#include <fmt/format.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <recall/httplib.hpp>
#include <stdexcept>

#include "html.hpp"

namespace dashboard {
namespace {

using namespace std::chrono_literals;
namespace glue = recall::cpp_httplib;

constexpr int page_size = 8;
constexpr std::size_t max_notes = 50;
constexpr std::size_t max_note_bytes = 500;
constexpr std::size_t max_target_rows = 1000;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int parse_int(std::string_view text, std::string_view what) {
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    throw std::invalid_argument(fmt::format("{} must be a whole number", what));
  }
  return v;
}

// Every result derived from the warehouse carries the tag the refresh job
// invalidates; short TTL, refresh-ahead, and fail-safe if SQLite is down.
recall::data_options cached(const char* name, const config& c,
                            std::shared_ptr<recall::second_level> l2) {
  return {.name = name,
          .version = "1",
          .ttl = c.ttl,
          .max_entries = 2'000,
          .max_bytes = std::size_t{32} << 20,
          .refresh_after = c.refresh_after,
          .tags = {"sales"},
          .l2 = std::move(l2),
          .fail_safe = std::chrono::minutes(10)};
}

recall::session_cookie cookie_for(const config& c) {
  if (c.secure_cookie) return recall::session_cookie({.name = "__Host-dashboard_session"});
  // Plain HTTP on loopback (the demo and the local fleet).
  return recall::session_cookie(
      {.name = "dashboard_session", .secure = false, .allow_insecure_for_local_development = true});
}

// A cross-site form post carries an Origin that is not ours: refuse it, so a
// page elsewhere cannot make a signed-in admin's browser act (basic auth
// credentials are sent automatically).
bool same_origin(const httplib::Request& req) {
  if (req.get_header_value("Sec-Fetch-Site") == "cross-site") return false;
  if (!req.has_header("Origin")) return true;
  const std::string origin = req.get_header_value("Origin");
  const auto host = origin.find("://");
  return host != std::string::npos && origin.substr(host + 3) == req.get_header_value("Host");
}

}  // namespace

// --- the refresh job --------------------------------------------------------

std::int64_t refresh_and_invalidate(const std::filesystem::path& warehouse) {
  const refresh_result r = refresh(warehouse);
  // Every replica drops its results of the old data (through the second
  // level's channel in fleet mode); pages never waited for any of this.
  const recall::tag_invalidation t = recall::invalidate_tag("sales");
  std::fprintf(stderr,
               "dashboard: refresh #%lld: %lld new rows in %.2f s; %zu caches invalidated, %zu "
               "stores unreachable\n",
               static_cast<long long>(r.generation), static_cast<long long>(r.new_rows), r.seconds,
               t.caches, t.unreachable_stores);
  return r.generation;
}

refresher::refresher(std::filesystem::path warehouse, std::chrono::seconds every)
    : warehouse_(std::move(warehouse)), every_(every), thread_([this] { loop(); }) {}

refresher::~refresher() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::optional<std::int64_t> refresher::run_now(std::chrono::seconds bound) {
  std::unique_lock lock(mu_);
  const std::uint64_t ticket = ++requested_;
  cv_.notify_all();
  if (!cv_.wait_for(lock, bound, [&] { return finished_ >= ticket || stop_; })) return std::nullopt;
  if (stop_ || !last_ok_) return std::nullopt;
  return last_generation_;
}

void refresher::loop() {
  std::unique_lock lock(mu_);
  auto next = std::chrono::steady_clock::now() + every_;
  for (;;) {
    const auto due = [&] {
      return stop_ || requested_ > started_ ||
             (every_.count() > 0 && std::chrono::steady_clock::now() >= next);
    };
    if (every_.count() > 0) {
      cv_.wait_until(lock, next, due);
    } else {
      cv_.wait(lock, due);
    }
    if (stop_) return;
    if (!due()) continue;
    started_ = requested_;
    lock.unlock();
    std::int64_t generation = 0;
    bool ok = true;
    try {
      generation = refresh_and_invalidate(warehouse_);
      runs_.fetch_add(1);
    } catch (const std::exception& e) {
      ok = false;
      std::fprintf(stderr, "dashboard: refresh failed: %s\n", e.what());
    }
    lock.lock();
    finished_ = started_;
    last_ok_ = ok;
    if (ok) last_generation_ = generation;
    next = std::chrono::steady_clock::now() + every_;
    cv_.notify_all();
  }
}

// --- the service --------------------------------------------------------------

app::app(config c)
    : cfg_(std::move(c)),
#if RECALL_DASHBOARD_WITH_REDIS
      redis_(cfg_.redis_port == 0 ? nullptr
                                  : std::make_shared<recall::redis_client>(recall::redis_options{
                                        .port = static_cast<std::uint16_t>(cfg_.redis_port),
                                        .key_prefix = "dashboard:",
                                        // Every request needs it (sessions): one
                                        // connection per server thread, and
                                        // time for a burst.
                                        .command_timeout = std::chrono::milliseconds(250),
                                        .pool_size = cfg_.threads,
                                        .name = "dashboard_redis"})),
      l2_(redis_ ? recall::redis_store(redis_, {.signing_key = cfg_.signing_key}) : nullptr),
#endif
      pools_(recall::cache_resource(
          [](const std::string& path) { return std::make_shared<connection_pool>(path, 4); },
          {.name = "warehouse_connections",
           .ttl = std::chrono::hours(1),
           .max_entries = 4,
           .validate = [](connection_pool& p) { return p.ok(); },
           .on_release = [](connection_pool& p) { p.close(); }})),
      regions_(recall::cache_data(
          [this] {
            ++warehouse_queries_;
            return pool()->regions();
          },
          cached("regions", cfg_, l2_))),
      freshness_(recall::cache_data(
          [this] {
            ++warehouse_queries_;
            return pool()->latest();
          },
          cached("freshness", cfg_, l2_))),
      daily_(recall::cache_data(
          [this](const std::string& region, int from, int to) {
            ++warehouse_queries_;
            return pool()->daily(region, from, to);
          },
          cached("daily_sales", cfg_, l2_))),
      products_(recall::cache_data(
          [this](const std::string& region, int from, int to, int page) {
            ++warehouse_queries_;
            return pool()->top_products(region, from, to, page, page_size);
          },
          cached("top_products", cfg_, l2_))),
      sessions_(session_options()),
      proxy_({.trusted_networks = cfg_.trusted_proxies, .name = "nginx"}),
      web_(sessions_, cookie_for(cfg_), &proxy_),
      refresher_(cfg_.warehouse, cfg_.refresh_every) {
  if (cfg_.redis_port != 0 && !l2_) {
    throw std::runtime_error(
        "dashboard: fleet mode needs recall::redis (build recall with hiredis installed)");
  }
  server_.new_task_queue = [n = cfg_.threads] { return new httplib::ThreadPool(n); };
  // Headers and body go out in two writes: without TCP_NODELAY the body
  // waits for the peer's delayed ACK (40 ms on Linux).
  server_.set_tcp_nodelay(true);
  // Debian's cpp-httplib listens with a backlog of 5: a burst of new
  // connections from the proxy overflows it and their SYNs are dropped (nginx
  // then times out and marks the replica down). The listening socket passes
  // through here before bind(); widen_backlog() listens again, wider.
  server_.set_socket_options([this](int sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_socket_ = sock;
  });
  server_.set_payload_max_length(std::size_t{1} << 20);
  server_.set_keep_alive_max_count(cfg_.keep_alive_requests);
  server_.set_keep_alive_timeout(5);
  server_.set_read_timeout(5s);
  server_.set_write_timeout(5s);
  routes();
}

app::~app() = default;

void app::widen_backlog() const {
  if (listen_socket_ >= 0) ::listen(listen_socket_, SOMAXCONN);
}

void app::route(const std::string& method, const std::string& path, handler h) {
  auto wrapped = glue::with_session(
      web_,
      [this, h = std::move(h)](const httplib::Request& req, httplib::Response& res,
                               recall::http_request& r) {
        ++in_flight_;
        struct done {
          std::atomic<std::uint64_t>& n;
          ~done() { --n; }
        } leave{in_flight_};
        h(req, res, r);
      },
      [](const httplib::Request& req, const recall::http_error& e) {
        std::fprintf(stderr, "dashboard: %s %s: %d %s\n", req.method.c_str(), req.path.c_str(),
                     e.status, e.detail.c_str());
      });
  if (method == "GET") {
    server_.Get(path, std::move(wrapped));
  } else {
    server_.Post(path, std::move(wrapped));
  }
}

void app::routes() {
  route("GET", "/", [this](const auto& req, auto& res, auto& r) { dashboard_page(req, res, r); });

  route("POST", "/notes",
        [](const httplib::Request& req, httplib::Response& res, recall::http_request& r) {
          const std::string text = req.get_param_value("text");
          if (text.empty() || text.size() > max_note_bytes) {
            throw std::invalid_argument("a note needs 1 to 500 characters");
          }
          r.session().list<note>("notes", max_notes).push_back({text, r.user().user, unix_now()});
          res.set_redirect("/", 303);
        });

  route("POST", "/upload", [this](const auto& req, auto& res, auto& r) { upload(req, res, r); });

  route("GET", "/admin",
        [this](const httplib::Request& req, httplib::Response& res, recall::http_request& r) {
          if (auto d = r.require_role("admin"); !d)
            return glue::send_error(res, recall::http_error_of(d));
          admin_page(req, res, r, req.get_param_value("done"));
        });
  route("POST", "/admin/refresh",
        [this](const httplib::Request& req, httplib::Response& res, recall::http_request& r) {
          if (auto d = r.require_role("admin"); !d)
            return glue::send_error(res, recall::http_error_of(d));
          if (!same_origin(req))
            return glue::send_error(res, {403, "cross-site request refused", {}});
          const auto generation = refresher_.run_now(std::chrono::seconds(120));
          if (!generation) return glue::send_error(res, {503, "the refresh did not finish", {}});
          res.set_redirect(fmt::format("/admin?done=refresh+%23{}", *generation), 303);
        });
  route("POST", "/admin/clear",
        [](const httplib::Request& req, httplib::Response& res, recall::http_request& r) {
          if (auto d = r.require_role("admin"); !d)
            return glue::send_error(res, recall::http_error_of(d));
          if (!same_origin(req))
            return glue::send_error(res, {403, "cross-site request refused", {}});
          recall::clear_all();
          res.set_redirect("/admin?done=caches+cleared", 303);
        });

  // Operations: no session, no cookie.
  server_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  server_.Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    std::string why;
    const bool ok = ready(why);
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ready\n" : why + "\n", "text/plain");
  });
  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_text(), std::string(recall::prometheus_content_type).c_str());
  });
  if (cfg_.test_routes) {
    server_.Get("/slow", [this](const httplib::Request& req, httplib::Response& res) {
      ++in_flight_;
      std::this_thread::sleep_for(
          std::chrono::milliseconds(parse_int(req.get_param_value("ms"), "ms")));
      res.set_content("done\n", "text/plain");
      --in_flight_;
    });
  }
}

void app::dashboard_page(const httplib::Request& req, httplib::Response& res,
                         recall::http_request& r) {
  recall::session& s = r.session();
  const std::vector<std::string> regions = regions_();
  // Query parameters change the UI state (a GET form: no JavaScript needed);
  // the session keeps it for the next page. The form sends every filter each
  // time, and with sessions in Redis each set is a round trip: write only the
  // filters that changed (a click changes one).
  if (req.has_param("region")) {
    const std::string region = req.get_param_value("region");
    if (!region.empty() && std::find(regions.begin(), regions.end(), region) == regions.end()) {
      throw std::invalid_argument("unknown region");
    }
    if (region != s.get_or<std::string>("region", "")) s.set("region", region);
  }
  if (req.has_param("range")) {
    const int days = parse_int(req.get_param_value("range"), "range");
    if (days != 7 && days != 30 && days != 90 && days != 365) {
      throw std::invalid_argument("range must be 7, 30, 90 or 365");
    }
    if (days != s.get_or("range", 30)) s.set("range", days);
  }
  if (req.has_param("page")) {
    const int page = parse_int(req.get_param_value("page"), "page");
    if (page < 1 || page > 1000) throw std::invalid_argument("page must be 1 to 1000");
    if (page != s.get_or("page", 1)) s.set("page", page);
  }

  dashboard_view v;
  v.replica = cfg_.replica;
  v.user = r.user().user;
  v.admin = recall::has_role(r.user(), "admin");
  v.regions = regions;
  v.region = s.get_or<std::string>("region", "");
  v.range_days = s.get_or("range", 30);
  v.page = s.get_or("page", 1);
  const auto fresh = freshness_.lookup();
  v.fresh = fresh.value;
  const int to = v.fresh.last_day, from = to - v.range_days + 1;
  const auto daily = daily_.lookup(v.region, from, to);
  v.daily = daily.value;
  auto products = products_.lookup(v.region, from, to, v.page);
  v.products = std::move(products.value);
  v.age_seconds = std::chrono::duration_cast<std::chrono::seconds>(
                      std::max({fresh.age, daily.age, products.age}))
                      .count();
  v.stale = fresh.stale || daily.stale || products.stale;
  if (s.contains("notes")) v.notes = s.list<note>("notes", max_notes).items();
  res.set_content(render_dashboard(v), "text/html; charset=utf-8");
}

// Runs in the constructor's initializer list: reads only cfg_ and redis_,
// which come before sessions_.
recall::session_options app::session_options() const {
  recall::session_options o{.name = "dashboard_sessions",
                            .idle_timeout = std::chrono::minutes(30),
                            .absolute_timeout = std::chrono::hours(8),
                            .max_sessions = 100'000,
                            .max_total_bytes = std::size_t{256} << 20,
                            .max_bytes_per_session = std::size_t{32} << 10};
  if (cfg_.sessions == "memory") return o;
  if (cfg_.sessions != "redis") {
    throw std::invalid_argument("dashboard: --sessions takes memory or redis, not '" +
                                cfg_.sessions + "'");
  }
#if RECALL_DASHBOARD_WITH_REDIS
  if (!redis_) throw std::invalid_argument("dashboard: --sessions redis needs --redis-port");
  // Every replica reads and writes the same sessions: no sticky sessions.
  o.storage = recall::redis_sessions(redis_, {.secret = cfg_.session_secret});
  return o;
#else
  throw std::invalid_argument("dashboard: --sessions redis needs recall::redis (hiredis)");
#endif
}

void app::upload(const httplib::Request& req, httplib::Response& res, recall::http_request& r) {
  if (!req.has_file("targets")) throw std::invalid_argument("send a CSV file as 'targets'");
  // Parsed for this request only: the scratch goes with the request, nothing
  // reaches the session store.
  auto& rows = r.session().scratch().put("targets", std::vector<target_row>{});
  // cpp-httplib returns the part by value: keep it while the view reads it.
  const auto file = req.get_file_value("targets");
  std::string_view csv = file.content;
  while (!csv.empty()) {
    const auto end = csv.find('\n');
    std::string_view line = csv.substr(0, end);
    csv = end == std::string_view::npos ? std::string_view() : csv.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.starts_with("region,")) continue;
    const auto comma = line.find(',');
    if (comma == std::string_view::npos) throw std::invalid_argument("each line is region,target");
    if (rows.size() == max_target_rows) throw std::invalid_argument("at most 1000 targets");
    rows.push_back({std::string(line.substr(0, comma)),
                    std::int64_t{parse_int(line.substr(comma + 1), "target")} * 100, 0});
  }
  const int days = r.session().get_or("range", 30);
  const int to = freshness_().last_day, from = to - days + 1;
  for (auto& row : rows) {
    for (const auto& d : daily_(row.region, from, to)) row.actual_cents += d.revenue_cents;
  }
  res.set_content(render_targets(cfg_.replica, rows, days), "text/html; charset=utf-8");
}

void app::admin_page(const httplib::Request&, httplib::Response& res, recall::http_request& r,
                     const std::string& message) {
  admin_view v;
  v.replica = cfg_.replica;
  v.user = r.user().user;
  v.message = message;
  for (const auto& o : recall::registered()) {
    admin_view::object_row row{o.kind, o.name};
    for (const auto& m : o.metrics) {
      if (m.name == "entries" || m.name == "live") row.entries = m.value.integer();
      if (m.name == "hits") row.hits = m.value.integer();
      if (m.name == "misses") row.misses = m.value.integer();
      if (m.name == "loads") row.loads = m.value.integer();
    }
    v.objects.push_back(std::move(row));
  }
  const recall::session_stats st = sessions_.stats();
  v.sessions_live = st.live;
  v.sessions_created = st.created;
  v.sessions_bytes = st.bytes;
  v.warehouse_queries = warehouse_queries_.load();
  v.refreshes = refresher_.runs();
  v.fresh = freshness_();
  res.set_content(render_admin(v), "text/html; charset=utf-8");
}

bool app::ready(std::string& why) const {
  if (draining_) {
    why = "draining";
    return false;
  }
  try {
    if (!pool()->ping()) {
      why = "the warehouse does not answer";
      return false;
    }
  } catch (const std::exception& e) {
    why = e.what();
    return false;
  }
#if RECALL_DASHBOARD_WITH_REDIS
  if (redis_) {
    try {
      if (redis_->command({"PING"}).is_error()) {
        why = "Redis refuses PING";
        return false;
      }
    } catch (const std::exception& e) {
      why = std::string("Redis is unreachable: ") + e.what();
      return false;
    }
  }
#endif
  return true;
}

std::string app::metrics_text() const {
  std::string out;
  recall::write_prometheus(out);
  fmt::format_to(std::back_inserter(out),
                 "# HELP dashboard_warehouse_queries_total Queries sent to the warehouse.\n"
                 "# TYPE dashboard_warehouse_queries_total counter\n"
                 "dashboard_warehouse_queries_total{{replica=\"{0}\"}} {1}\n"
                 "# HELP dashboard_refreshes_total Warehouse refreshes run by this replica.\n"
                 "# TYPE dashboard_refreshes_total counter\n"
                 "dashboard_refreshes_total{{replica=\"{0}\"}} {2}\n"
                 "# HELP dashboard_requests_in_flight Requests being handled now.\n"
                 "# TYPE dashboard_requests_in_flight gauge\n"
                 "dashboard_requests_in_flight{{replica=\"{0}\"}} {3}\n",
                 cfg_.replica, warehouse_queries_.load(), refresher_.runs(), in_flight_.load());
  return out;
}

}  // namespace dashboard
