// Sessions on Redis, against one redis-server started by the tests' fixture
// on loopback (persistence off).
//
// redis_session_request_vs_get: each iteration is one session request
// (open(id), three gets, one set, the handle's end) and one raw GET of a
// small value through the same client, each timed on its own, so both see
// the same machine at the same moment. Counters: p50/p99 of each (us), the
// ratio of the p50s, the round trips per request, and the server's own time
// per call (INFO commandstats) of the write's FCALL and of the open's HGETALL.
//
// redis_session_memory: Redis' used_memory (INFO memory) before and after
// 100,000 idle sessions holding two small values ("region" = "EU", "n" = an
// int), per session.
//
// Built only with recall::redis and the tests.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "recall/redis_sessions.hpp"
#include "support/redis_server.hpp"

namespace {

using std::chrono::steady_clock;

const std::string secret = "benchmark secret of 32 bytes....";

std::shared_ptr<recall::redis_client> client_for(const recall::test::redis_server& server) {
  recall::redis_options o;
  o.port = server.port();
  o.command_timeout = std::chrono::seconds(1);
  o.name = "bench";
  return std::make_shared<recall::redis_client>(o);
}

double percentile(std::vector<double>& us, std::size_t p) {
  std::sort(us.begin(), us.end());
  return us[std::min(us.size() - 1, us.size() * p / 100)];
}

double micros(steady_clock::duration d) {
  return std::chrono::duration<double, std::micro>(d).count();
}

void redis_session_request_vs_get(benchmark::State& state) {
  static recall::test::redis_server server;
  auto client = client_for(server);
  recall::session_store store({.name = "bench_redis_sessions",
                               .storage = recall::redis_sessions(client, {.secret = secret})});
  client->command({"SET", "recall:bench:small", "a small value"}).throw_if_error();
  std::string id;
  {
    auto s = store.open("");
    s.set("region", std::string("EU"));
    s.set("page", 3);
    s.set("user_name", std::string("alice"));
    id = s.id();
  }
  std::vector<double> request_us, get_us;
  request_us.reserve(static_cast<std::size_t>(state.max_iterations));
  get_us.reserve(static_cast<std::size_t>(state.max_iterations));
  const auto trips_before = client->stats().round_trips;
  int i = 0;
  for (auto _ : state) {
    const auto start = steady_clock::now();
    {
      auto s = store.open(id);
      benchmark::DoNotOptimize(s.get<std::string>("region"));
      benchmark::DoNotOptimize(s.get<int>("page"));
      benchmark::DoNotOptimize(s.get<std::string>("user_name"));
      s.set("page", ++i);
    }
    const auto middle = steady_clock::now();
    benchmark::DoNotOptimize(client->command({"GET", "recall:bench:small"}));
    const auto end = steady_clock::now();
    request_us.push_back(micros(middle - start));
    get_us.push_back(micros(end - middle));
  }
  if (request_us.empty()) return;
  const double trips = double(client->stats().round_trips - trips_before);
  state.counters["round_trips_per_request"] = trips / double(request_us.size()) - 1.0;
  // Where the time goes: the server's own microseconds per call.
  const std::string stats(client->command({"INFO", "commandstats"}).throw_if_error().str());
  const auto server_us = [&](std::string_view command) {
    const auto at = stats.find(fmt::format("cmdstat_{}:", command));
    if (at == std::string::npos) return 0.0;
    const auto per_call = stats.find("usec_per_call=", at);
    return std::stod(stats.substr(per_call + 14));
  };
  state.counters["server_us_per_fcall"] = server_us("fcall");
  state.counters["server_us_per_open"] = server_us("hgetall");
  state.counters["server_us_per_get"] = server_us("get");
  state.counters["request_p50_us"] = percentile(request_us, 50);
  state.counters["request_p99_us"] = percentile(request_us, 99);
  state.counters["get_p50_us"] = percentile(get_us, 50);
  state.counters["get_p99_us"] = percentile(get_us, 99);
  state.counters["p50_ratio"] = percentile(request_us, 50) / percentile(get_us, 50);
}
BENCHMARK(redis_session_request_vs_get)->UseRealTime();

long long used_memory(recall::redis_client& client) {
  const std::string info(client.command({"INFO", "memory"}).throw_if_error().str());
  const auto at = info.find("used_memory:");
  return std::stoll(info.substr(at + 12));
}

void redis_session_memory(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    recall::test::redis_server server;
    auto client = client_for(server);
    {
      // The store's own first keys (its indexes) exist before the count starts.
      recall::session_store warm({.storage = recall::redis_sessions(client, {.secret = secret})});
      auto s = warm.open("");
      s.set("region", std::string("EU"));
      s.end();
    }
    const long long before = used_memory(*client);
    state.ResumeTiming();
    recall::session_store store({.name = "bench_redis_memory",
                                 .max_sessions = count * 2,
                                 .storage = recall::redis_sessions(client, {.secret = secret})});
    for (std::size_t i = 0; i < count; ++i) {
      auto s = store.open("");
      s.set("region", std::string("EU"));
      s.set("n", static_cast<int>(i));
    }
    state.PauseTiming();
    const long long after = used_memory(*client);
    state.counters["redis_bytes_per_session"] = double(after - before) / double(count);
    state.counters["sessions"] = double(store.stats().live);
    state.ResumeTiming();
  }
}
BENCHMARK(redis_session_memory)->Arg(100'000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
