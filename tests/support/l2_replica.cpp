// A second process for the Redis cache tests: one replica of a service, with
// one cache_data over a Redis second level, doing one scripted thing.
//
//   l2_replica load <port> <cache> <arg> <threads> <compute_ms> <barrier_key>
//     waits until <barrier_key> exists (all replicas start together), then
//     <threads> threads call the cache with <arg> at once; prints
//     "calls=<fn calls> value=<v> computed_at=<calendar ns>" and exits 0.
//   l2_replica hang <port> <cache> <arg> <started_key>
//     calls the cache with <arg>; the function sets <started_key>, then
//     never returns (the test kills this process while it holds the lease).
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <recall/cache_data.hpp>
#include <recall/redis_store.hpp>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

std::shared_ptr<recall::redis_client> client_for(int port) {
  return std::make_shared<recall::redis_client>(
      // Patient (2 s, not 50 ms): a loaded test machine must not turn a slow
      // reply into a local computation, which the tests would count.
      recall::redis_options{.port = static_cast<std::uint16_t>(port), .command_timeout = 2s});
}

recall::second_level_options lease_options() {
  return {
      .lease_ttl = 1s, .lease_wait = 20s, .lease_poll = 10ms, .on_error = [](std::string_view m) {
        fmt::print(stderr, "{}\n", m);
      }};
}

int load(int port, const std::string& name, int arg, int threads, int compute_ms,
         const std::string& barrier) {
  auto client = client_for(port);
  std::atomic<int> calls{0};
  auto f = recall::cache_data(
      [&](int x) {
        ++calls;
        std::this_thread::sleep_for(std::chrono::milliseconds(compute_ms));
        return x * 1000 + static_cast<int>(::getpid() % 1000);
      },
      {.name = name, .ttl = 10min, .l2 = recall::redis_store(client, lease_options())});
  while (client->command({"EXISTS", barrier}).integer() == 0) std::this_thread::sleep_for(1ms);
  std::vector<std::thread> workers;
  std::vector<int> values(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) {
    workers.emplace_back([&, i] { values[static_cast<std::size_t>(i)] = f(arg); });
  }
  for (auto& w : workers) w.join();
  for (int v : values) {
    if (v != values.front()) return 2;
  }
  const auto r = f.lookup(arg);
  const auto computed_wall = recall::default_clock()->wall_now() - (r.age);
  fmt::print("calls={} value={} computed_at={}\n", calls.load(), values.front(),
             std::chrono::duration_cast<std::chrono::nanoseconds>(computed_wall.time_since_epoch())
                 .count());
  return 0;
}

int hang(int port, const std::string& name, int arg, const std::string& started) {
  auto client = client_for(port);
  auto f = recall::cache_data(
      [&](int x) {
        client->command({"SET", started, "1"});
        for (;;) std::this_thread::sleep_for(1s);
        return x;
      },
      {.name = name, .ttl = 10min, .l2 = recall::redis_store(client, lease_options())});
  return f(arg);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() == 7 && a[0] == "load") {
    return load(std::stoi(a[1]), a[2], std::stoi(a[3]), std::stoi(a[4]), std::stoi(a[5]), a[6]);
  }
  if (a.size() == 5 && a[0] == "hang") return hang(std::stoi(a[1]), a[2], std::stoi(a[3]), a[4]);
  fmt::print(stderr, "usage: l2_replica load|hang ... (see the source)\n");
  return 64;
}
