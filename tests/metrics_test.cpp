#include "recall/metrics.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "recall/cache_data.hpp"
#include "recall/cache_resource.hpp"
#include "recall/codec.hpp"
#include "recall/disk_store.hpp"
#include "recall/session.hpp"
#include "recall/trusted_proxy.hpp"
#include "support/promtool.hpp"

namespace {

using headers = std::vector<std::pair<std::string, std::string>>;

struct sample {
  std::string labels;
  std::string value;
};

// One family as the exposition format writes it: HELP, TYPE, then samples.
std::string family(const std::string& name, const char* type, const char* help,
                   const std::vector<sample>& samples) {
  std::string out = fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n", name, help, type);
  for (const auto& s : samples) out += fmt::format("{}{{{}}} {}\n", name, s.labels, s.value);
  return out;
}

const std::string data = "kind=\"cache_data\",name=\"orders\"";
const std::string resource = "kind=\"cache_resource\",name=\"pool\"";
const std::string store = "kind=\"session_store\",name=\"web\"";
const std::string proxy = "kind=\"trusted_proxy\",name=\"edge\"";

std::string seconds(std::chrono::nanoseconds t) {
  return fmt::format("{}", std::chrono::duration<double>(t).count());
}

std::string exported() {
  std::string out;
  recall::write_prometheus(out);
  return out;
}

}  // namespace

TEST_CASE("write_prometheus pins every family of a known set of objects") {
  auto orders = recall::cache_data(
      [](int n) { return std::string(std::size_t(n), 'x'); },
      {.name = "orders", .ttl = std::chrono::minutes(1), .max_entries = 100, .max_bytes = 1 << 20});
  orders(3);
  orders(3);
  orders(5);
  auto pool =
      recall::cache_resource([](int n) { return std::make_shared<int>(n); },
                             {.name = "pool", .ttl = std::chrono::hours(1), .max_entries = 10});
  pool(1);
  pool(1);
  // SIZE_MAX bounds print as exact integers, not as 1.84467e+19.
  recall::session_store sessions({.name = "web",
                                  .max_sessions = 20'000'000,
                                  .max_total_bytes = SIZE_MAX,
                                  .max_sessions_per_user = SIZE_MAX});
  {
    auto s = sessions.open("");
    s.set("region", std::string("EU"));
  }
  recall::trusted_proxy edge({.trusted_networks = {"127.0.0.2/32"}, .name = "edge"});
  edge.identify("127.0.0.2", headers{{"X-Forwarded-User", "alice"}});
  edge.identify("127.0.0.1:5000", headers{{"X-Forwarded-User", "mallory"}});

  REQUIRE(orders.stats().hits == 1);
  REQUIRE(orders.stats().misses == 2);
  REQUIRE(pool.stats().hits == 1);
  const std::size_t order_bytes =
      recall::encode(std::string(3, 'x')).size() + recall::encode(std::string(5, 'x')).size();
  const auto session_bytes = std::to_string(sessions.stats().bytes);
  REQUIRE(sessions.stats().bytes > 0);

  std::string expected;
  const auto cache = [&](const std::string& name, const char* type, const char* help,
                         const std::string& of_data, const std::string* of_resource) {
    std::vector<sample> samples{{data, of_data}};
    if (of_resource) samples.push_back({resource, *of_resource});
    expected += family("recall_cache_" + name, type, help, samples);
  };
  const std::string zero = "0", one = "1", ten = "10";
  const std::string pool_load = seconds(pool.stats().load_time);
  cache("bytes", "gauge", "Encoded bytes held now.", std::to_string(order_bytes), nullptr);
  cache("cleared_total", "counter", "Entries dropped by clear() or clear_all().", "0", &zero);
  cache("entries", "gauge", "Entries held now.", "2", &one);
  cache("evicted_total", "counter", "Entries pushed out by the entry or byte bound.", "0", &zero);
  cache("expired_total", "counter", "Entries that left because their TTL passed.", "0", &zero);
  cache("fail_safe_hits_total", "counter", "Expired values served because the function failed.",
        "0", nullptr);
  cache("hits_total", "counter", "Calls answered from the cache.", "1", &one);
  cache("inserts_total", "counter", "Values stored.", "2", &one);
  cache("load_failures_total", "counter", "Calls of the cached function or factory that threw.",
        "0", &zero);
  cache("load_seconds_total", "counter",
        "Time spent in the cached function or factory, in seconds.",
        seconds(orders.stats().load_time), &pool_load);
  cache("loads_total", "counter", "Calls of the cached function or factory.", "2", &one);
  cache("max_bytes", "gauge", "The max_bytes bound.", "1048576", nullptr);
  cache("max_entries", "gauge", "The max_entries bound.", "100", &ten);
  cache("misses_total", "counter",
        "Calls that found no value (each caller of a shared load counts).", "2", &one);
  cache("refresh_failures_total", "counter", "Background refresh-ahead loads that threw.", "0",
        nullptr);
  cache("refreshes_dropped_total", "counter", "Refreshes not started because the queue was full.",
        "0", nullptr);
  cache("refreshes_total", "counter", "Background refresh-ahead loads that succeeded.", "0",
        nullptr);
  cache("rejected_total", "counter", "Values larger than the whole byte budget, not stored.", "0",
        nullptr);
  expected += family("recall_cache_release_failures_total", "counter",
                     "on_release calls that threw.", {{resource, "0"}});
  cache("removed_total", "counter", "Entries removed by invalidate() or the end of their session.",
        "0", &zero);
  cache("replaced_total", "counter", "Entries replaced by a new value.", "0", &zero);
  cache("stale_hits_total", "counter", "Hits served from the refresh-ahead window.", "0", nullptr);

  const auto session = [&](const std::string& name, const char* type, const char* help,
                           const std::string& value) {
    expected += family("recall_session_" + name, type, help, {{store, value}});
  };
  session("bytes", "gauge", "Accounted heap bytes of the stored sessions.", session_bytes);
  session("created_total", "counter", "Sessions stored (at their first write).", "1");
  session("ended_total", "counter", "Sessions ended by logout, end_all() or the store's end.", "0");
  session("ended_user_limit_total", "counter",
          "Sessions ended because their user passed max_sessions_per_user.", "0");
  session("evicted_total", "counter", "Sessions evicted by the session or byte bound.", "0");
  session("expired_absolute_total", "counter", "Sessions that passed the absolute timeout.", "0");
  session("expired_idle_total", "counter", "Sessions that passed the idle timeout.", "0");
  session("live", "gauge", "Stored sessions.", "1");
  session("max_sessions", "gauge", "The max_sessions bound.", "20000000");
  session("max_total_bytes", "gauge", "The max_total_bytes bound.", "18446744073709551615");
  session("pinned_over_bound", "gauge",
          "Sessions evicted while a request held them, kept for that request.", "0");
  session("quota_exceeded_total", "counter", "Writes refused by max_bytes_per_session.", "0");
  session("rejected_ids_total", "counter",
          "Presented ids that resumed no session (empty, malformed, unknown, expired, another "
          "user's).",
          "1");
  session("rotated_total", "counter", "Session id rotations.", "0");
  session("storage_rejected_total", "counter",
          "Bytes read from the storage and refused (corrupted, or moved from another session).",
          "0");
  session("storage_unavailable_total", "counter",
          "Calls that threw session_error(storage_unavailable): the storage (Redis) could not be "
          "reached or refused the call.",
          "0");

  const auto trusted = [&](const std::string& name, const char* help, const std::string& value) {
    expected +=
        family("recall_trusted_proxy_" + name + "_total", "counter", help, {{proxy, value}});
  };
  trusted("bad_peer_address", "Requests whose peer address was not an IP address.", "0");
  trusted("identified", "Requests identified by the trusted proxy's headers.", "1");
  trusted("no_user", "Requests from a trusted peer without a user header.", "0");
  trusted("rejected_header",
          "Identity headers from the trusted peer refused as unsafe (duplicate, too long, "
          "control characters).",
          "0");
  trusted("untrusted_headers_ignored",
          "Identity headers from an untrusted peer, ignored (spoofing, or a proxy missing from "
          "the trusted networks).",
          "1");
  trusted("untrusted_peer", "Requests from an untrusted peer without identity headers.", "0");

  CHECK(exported() == expected);

  std::ostringstream stream;
  recall::write_prometheus(stream);
  CHECK(stream.str() == expected);

  const auto lint = recall::test::promtool_check(expected);
  INFO(lint.output);
  CHECK(lint.accepted);
}

TEST_CASE("names are escaped in labels, and namesakes get a copy label") {
  auto a = recall::cache_resource([](int n) { return std::make_shared<int>(n); },
                                  {.name = "say \"hi\"\\now", .ttl = std::chrono::hours(1)});
  auto b = recall::cache_resource([](int n) { return std::make_shared<int>(n); },
                                  {.name = "say \"hi\"\\now", .ttl = std::chrono::hours(1)});
  a(1);
  const std::string text = exported();
  const std::string labels = R"({kind="cache_resource",name="say \"hi\"\\now")";
  CHECK(text.find("recall_cache_entries" + labels + "} ") != std::string::npos);
  CHECK(text.find("recall_cache_entries" + labels + ",copy=\"2\"} ") != std::string::npos);
  const auto lint = recall::test::promtool_check(text);
  INFO(lint.output);
  CHECK(lint.accepted);
}

TEST_CASE("a destroyed object leaves the exposition") {
  {
    auto gone = recall::cache_data([](int n) { return n; },
                                   {.name = "short_lived", .ttl = std::chrono::minutes(1)});
    gone(1);
    CHECK(exported().find("name=\"short_lived\"") != std::string::npos);
  }
  CHECK(exported().find("name=\"short_lived\"") == std::string::npos);
}

TEST_CASE("metric values compare exactly and keep integers whole") {
  const recall::metric_value big = std::uint64_t{18446744073709551615u};
  CHECK(big.is_integer());
  CHECK(big.integer() == 18446744073709551615u);
  CHECK_FALSE(big == recall::metric_value(std::uint64_t{18446744073709551614u}));
  CHECK(recall::metric_value(2) == recall::metric_value(2.0));
  CHECK_FALSE(recall::metric_value(0.5).is_integer());
}

TEST_CASE("a disk store exports typed counters and gauges that promtool accepts") {
  const auto dir =
      std::filesystem::temp_directory_path() / fmt::format("recall_metrics_disk_{}", ::getpid());
  std::filesystem::remove_all(dir);
  {
    auto l2 = recall::disk_store(dir, {.max_entries = 64});
    auto cached = recall::cache_data([](int n) { return n * 2; },
                                     {.name = "doubled", .ttl = std::chrono::minutes(1), .l2 = l2});
    cached(1);
    cached(2);
    const std::string text = exported();
    const std::string labels = fmt::format("{{kind=\"disk_store\",name=\"{}\"}}", dir.string());
    CHECK(text.find("# TYPE recall_disk_store_writes_total counter\n") != std::string::npos);
    const auto stats = recall::disk_stats(*l2);
    REQUIRE(stats);
    REQUIRE(stats->writes >= 2);  // two values, and the leases that guarded them
    CHECK(text.find(fmt::format("recall_disk_store_writes_total{} {}\n", labels, stats->writes)) !=
          std::string::npos);
    CHECK(text.find("# TYPE recall_disk_store_entries gauge\n") != std::string::npos);
    CHECK(text.find("recall_disk_store_entries" + labels + " 2\n") != std::string::npos);
    CHECK(text.find("recall_disk_store_max_entries" + labels + " 64\n") != std::string::npos);
    const auto lint = recall::test::promtool_check(text);
    INFO(lint.output);
    CHECK(lint.accepted);
  }
  std::filesystem::remove_all(dir);
}
