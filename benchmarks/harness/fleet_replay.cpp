// redis-fleet-replay: how often a fleet of replicas sharing a Redis second
// level calls the cached function, against one process alone.
//
// A Zipf trace is replayed (1) by one process without a second level, (2) by
// one process with Redis as its second level, and (3) by two replicas (two
// caches of the same name, each with its own Redis client, one thread each)
// splitting the trace between them, request by request, at the same time.
// Every replica's memory holds `--memory` percent of the distinct keys.
// Prints the function calls of each, and the fleet's calls over the single
// process's (issue 9's target: at most 1.05).
//
//   redis-fleet-replay [--ops N] [--keys N] [--skew S] [--memory PCT]
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "harness/workloads.hpp"
#include "recall/cache_data.hpp"
#include "recall/redis_store.hpp"
#include "support/redis_server.hpp"

namespace {

using namespace std::chrono_literals;

struct options {
  std::size_t ops = 200'000;
  std::size_t keys = 20'000;
  double skew = 0.99;
  double memory_pct = 10;
};

std::shared_ptr<recall::second_level> store_at(const recall::test::redis_server& server) {
  recall::redis_options o;
  o.port = server.port();
  o.command_timeout = 1s;
  return recall::redis_store(std::make_shared<recall::redis_client>(o));
}

struct run {
  std::uint64_t calls = 0;
  double seconds = 0;
};

// Replays the trace on `replicas` caches, replica i taking requests i, i+n, ...
run replay(const recall_bench::trace& t, std::size_t capacity, const std::string& name,
           std::vector<std::shared_ptr<recall::second_level>> l2s) {
  std::atomic<std::uint64_t> calls{0};
  std::vector<recall::cached_function<std::uint64_t(std::uint64_t)>> caches;
  for (auto& l2 : l2s) {
    caches.push_back(recall::cache_data(
        [&](std::uint64_t k) {
          calls.fetch_add(1, std::memory_order_relaxed);
          return k * 2654435761u;
        },
        {.name = name, .ttl = 1h, .max_entries = capacity, .l2 = l2}));
  }
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  const std::size_t n = caches.size();
  for (std::size_t r = 0; r < n; ++r) {
    threads.emplace_back([&, r] {
      for (std::size_t i = r; i < t.requests.size(); i += n) caches[r](t.requests[i]);
    });
  }
  for (auto& th : threads) th.join();
  return {calls.load(),
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--ops")
      o.ops = std::strtoull(v, nullptr, 10);
    else if (a == "--keys")
      o.keys = std::strtoull(v, nullptr, 10);
    else if (a == "--skew")
      o.skew = std::strtod(v, nullptr);
    else if (a == "--memory")
      o.memory_pct = std::strtod(v, nullptr);
    else {
      fmt::print(stderr,
                 "usage: redis-fleet-replay [--ops N] [--keys N] [--skew S] [--memory PCT]\n");
      return 64;
    }
  }
  const recall_bench::trace t = recall_bench::make_zipf(o.keys, o.ops, o.skew, 42);
  const auto capacity = static_cast<std::size_t>(static_cast<double>(o.keys) * o.memory_pct / 100);
  recall::test::redis_server server;

  const run alone = replay(t, capacity, "alone", {nullptr});
  const run alone_l2 = replay(t, capacity, "alone_l2", {store_at(server)});
  const run fleet = replay(t, capacity, "fleet", {store_at(server), store_at(server)});

  fmt::print("trace: zipf {} over {} keys, {} requests; memory per replica {} entries ({}%)\n",
             o.skew, o.keys, o.ops, capacity, o.memory_pct);
  fmt::print("{:<40} {:>12} {:>10}\n", "", "fn calls", "seconds");
  fmt::print("{:<40} {:>12} {:>10.2f}\n", "one process, memory only", alone.calls, alone.seconds);
  fmt::print("{:<40} {:>12} {:>10.2f}\n", "one process, memory + Redis", alone_l2.calls,
             alone_l2.seconds);
  fmt::print("{:<40} {:>12} {:>10.2f}\n", "2 replicas, memory + shared Redis", fleet.calls,
             fleet.seconds);
  fmt::print("fleet / one process (memory only): {:.3f}\n",
             static_cast<double>(fleet.calls) / static_cast<double>(alone.calls));
  fmt::print("fleet / one process (memory + Redis): {:.3f}\n",
             static_cast<double>(fleet.calls) / static_cast<double>(alone_l2.calls));
  return 0;
}
