#include "hit_scaling.hpp"

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_types.hpp"
#include "recall/cache_data.hpp"
#include "recall/cache_resource.hpp"
#include "recall/session.hpp"

using namespace std::chrono_literals;

namespace recall_bench {
namespace {

constexpr int hot_keys = 64;
const std::string region = "EU-west";

// Keeps results alive without a shared write per operation.
template <class T>
void keep(const T& value) {
  asm volatile("" : : "g"(&value) : "memory");
}

// The key of the two threads' i-th operation: both walk the same 64 keys,
// half a lap apart, so they meet on every key but rarely at the same moment.
int key_of(int thread, std::size_t i) {
  return static_cast<int>((i + static_cast<std::size_t>(thread) * (hot_keys / 2)) % hot_keys);
}

double thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

struct timing {
  double wall_ns;  // per operation, all threads' operations together
  double cpu_ns;   // per operation of one thread, averaged over the threads
};

// Wall time from the moment every thread is running to the moment the last
// one is done. The threads meet spinning, not blocked: a thread woken from
// a futex on this shared 2-vCPU machine may start a millisecond late, which
// is a tenth of a run and would count against two threads only.
timing run(int threads, std::size_t ops_per_thread,
           const std::function<void(int, std::size_t)>& op) {
  using clock = std::chrono::steady_clock;
  std::atomic<int> running{0};
  std::vector<double> cpu(static_cast<std::size_t>(threads));
  std::vector<clock::time_point> began(static_cast<std::size_t>(threads));
  std::vector<clock::time_point> ended(static_cast<std::size_t>(threads));
  std::vector<std::jthread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const auto me = static_cast<std::size_t>(t);
      running.fetch_add(1);
      while (running.load() < threads) {
      }
      began[me] = clock::now();
      const double cpu_began = thread_cpu_ns();
      for (std::size_t i = 0; i < ops_per_thread; ++i) op(t, i);
      cpu[me] = thread_cpu_ns() - cpu_began;
      ended[me] = clock::now();
    });
  }
  pool.clear();
  const auto took =
      *std::max_element(ended.begin(), ended.end()) - *std::min_element(began.begin(), began.end());
  double cpu_total = 0;
  for (double c : cpu) cpu_total += c;
  const double ops = static_cast<double>(ops_per_thread * static_cast<std::size_t>(threads));
  return {std::chrono::duration<double, std::nano>(took).count() / ops, cpu_total / ops};
}

struct client {
  int id;
};

struct operation {
  std::string name;
  std::function<void(int, std::size_t)> op;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

std::vector<hit_scaling_row> measure_hit_scaling(int repetitions, std::size_t ops_per_thread) {
  // The limit: XXH3 over the same arguments, then a copy out of a map nobody locks.
  const std::uint64_t seed = recall::key_seed("hit_limit", "");
  absl::flat_hash_map<recall::key, sales_row> limit;
  for (int day = 0; day < hot_keys; ++day) {
    limit.emplace(recall::make_key_with_seed(seed, region, day), make_sales_row());
  }

  auto data = recall::cache_data(
      [](const std::string& r, int day) {
        auto row = make_sales_row();
        row.region = r + std::to_string(day);
        return row;
      },
      {.name = "hit_scaling", .ttl = 1h});
  auto resources = recall::cache_resource([](int k) { return std::make_unique<client>(client{k}); },
                                          {.name = "hit_scaling_client", .ttl = 1h});
  for (int day = 0; day < hot_keys; ++day) {
    data(region, day);
    resources(day);
  }

  std::vector<operation> ops = {
      {"unlocked absl::flat_hash_map copy after XXH3 (the limit)",
       [&](int t, std::size_t i) {
         const sales_row row =
             limit.find(recall::make_key_with_seed(seed, region, key_of(t, i)))->second;
         keep(row);
       }},
      {"cache_data hit (copy)",
       [&](int t, std::size_t i) {
         const sales_row row = data(region, key_of(t, i));
         keep(row);
       }},
      {"cache_data shared() hit",
       [&](int t, std::size_t i) {
         const auto row = data.shared(region, key_of(t, i));
         keep(row);
       }},
      {"cache_resource hit",
       [&](int t, std::size_t i) {
         const auto c = resources(key_of(t, i));
         keep(c);
       }},
  };

  // with() rows where the caches have it (the harness also builds against
  // versions of recall from before with()); a generic lambda, so that the
  // branch is only compiled when it applies.
  const auto borrow_row = [](const sales_row& row) { return row.values[3]; };
  const auto add_borrowing = [&](auto& d, auto& r) {
    if constexpr (requires { d.with(region, 0, borrow_row); }) {
      ops.insert(ops.begin() + 3, operation{"cache_data with() hit (borrowed, reads one value)",
                                            [&](int t, std::size_t i) {
                                              keep(d.with(region, key_of(t, i), borrow_row));
                                            }});
      ops.push_back({"cache_resource with() hit (borrowed)", [&](int t, std::size_t i) {
                       keep(r.with(key_of(t, i), [](client& c) { return c.id; }));
                     }});
    }
  };
  add_borrowing(data, resources);

  // The last row: a session request, each thread on its own session
  // (two users), so it shows what the two share inside the store.
  recall::session_store sessions({.name = "hit_scaling_sessions"});
  std::vector<std::string> session_ids;
  for (int t = 0; t < 2; ++t) {
    auto s = sessions.open("");
    s.set("region", std::string("EU"));
    s.set("page", 3);
    s.set("user_name", std::string("alice"));
    session_ids.push_back(s.id());
  }
  ops.push_back({"session request (open, 3 gets, 1 set, end; own session per thread)",
                 [&](int t, std::size_t i) {
                   auto s = sessions.open(session_ids[static_cast<std::size_t>(t)]);
                   keep(s.get<std::string>("region"));
                   keep(s.get<int>("page"));
                   keep(s.get<std::string>("user_name"));
                   s.set("page", static_cast<int>(i));
                 }});

  std::vector<std::vector<timing>> one(ops.size()), two(ops.size());
  for (int rep = 0; rep < repetitions; ++rep) {
    for (std::size_t o = 0; o < ops.size(); ++o) {
      one[o].push_back(run(1, ops_per_thread, ops[o].op));
      two[o].push_back(run(2, ops_per_thread, ops[o].op));
    }
  }
  std::vector<hit_scaling_row> rows;
  for (std::size_t o = 0; o < ops.size(); ++o) {
    const auto wall = [](const std::vector<timing>& v) {
      std::vector<double> x;
      for (const timing& t : v) x.push_back(t.wall_ns);
      return median(x);
    };
    const auto cpu = [](const std::vector<timing>& v) {
      std::vector<double> x;
      for (const timing& t : v) x.push_back(t.cpu_ns);
      return median(x);
    };
    const double a = wall(one[o]), b = wall(two[o]), c = cpu(one[o]), d = cpu(two[o]);
    rows.push_back({ops[o].name, a, b, a / b, c, d, 2 * c / d});
  }
  return rows;
}

}  // namespace recall_bench
