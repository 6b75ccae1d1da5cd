// Runs one named operation a given number of times, for callgrind:
// benchmarks/callgrind_costs.sh runs each scenario at two iteration counts
// and divides the difference in instructions by the difference in
// iterations, which cancels start-up and set-up costs.
//
// To add a row: write a scenario below (set-up outside the returned loop
// body), register it in scenarios(), and add its name to the script's ROWS.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>

#include "bench_types.hpp"
#include "recall/cache_data.hpp"
#include "recall/session.hpp"

using namespace std::chrono_literals;

namespace {

template <class T>
void keep(const T& value) {
  asm volatile("" : : "r"(&value) : "memory");
}

// A cache_data hit copying the ~1 KiB sales_row (as cache_data_bench).
void cache_data_hit(long iterations) {
  auto cache = recall::cache_data(
      [](const std::string& region, int day) {
        auto row = recall_bench::make_sales_row();
        row.region = region + std::to_string(day);
        return row;
      },
      {.name = "cost_sales", .ttl = 1h, .max_entries = 10'000});
  const std::string region = "EU-west";
  keep(cache(region, 1));
  for (long i = 0; i < iterations; ++i) keep(cache(region, 1));
}

// One request on an existing session: open(id), three gets, one set, and the
// handle's end (as session_bench).
void session_request(long iterations) {
  recall::session_store store({.name = "cost_sessions"});
  std::string id;
  {
    auto s = store.open("");
    s.set("region", std::string("EU"));
    s.set("page", 3);
    s.set("user_name", std::string("alice"));
    id = s.id();
  }
  for (long i = 0; i < iterations; ++i) {
    auto s = store.open(id);
    keep(s.get<std::string>("region"));
    keep(s.get<int>("page"));
    keep(s.get<std::string>("user_name"));
    s.set("page", static_cast<int>(i));
  }
}

// open() of a request without a cookie that writes nothing.
void session_open_cookieless(long iterations) {
  recall::session_store store({.name = "cost_cookieless"});
  for (long i = 0; i < iterations; ++i) keep(store.open(""));
}

const std::map<std::string, std::function<void(long)>>& scenarios() {
  static const std::map<std::string, std::function<void(long)>> all = {
      {"cache_data_hit", cache_data_hit},
      {"session_request", session_request},
      {"session_open_cookieless", session_open_cookieless},
  };
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || !scenarios().contains(argv[1])) {
    std::fprintf(stderr, "usage: %s SCENARIO ITERATIONS\nscenarios:", argv[0]);
    for (const auto& [name, run] : scenarios()) std::fprintf(stderr, " %s", name.c_str());
    std::fprintf(stderr, "\n");
    return 2;
  }
  scenarios().at(argv[1])(std::atol(argv[2]));
  return 0;
}
