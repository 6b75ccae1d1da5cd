// One request on an existing session: open(id), three gets, one set, and the
// handle's end. With 2 threads, either both threads use one session (two tabs
// of one user) or each its own (two users).
//
// session_memory reports, as counters, what an idle session with two small
// values costs: heap bytes (glibc mallinfo2, so no allocator hooks disturb the
// timed benchmarks) and the store's accounted bytes, per session.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <string>

#include "recall/session.hpp"

using namespace std::chrono_literals;

namespace {

recall::session_store& store() {
  static recall::session_store s({.name = "bench_sessions"});
  return s;
}

std::string make_session() {
  auto s = store().open("");
  s.set("region", std::string("EU"));
  s.set("page", 3);
  s.set("user_name", std::string("alice"));
  return s.id();
}

const std::string& shared_id() {
  static const std::string id = make_session();
  return id;
}

void request(const std::string& id, int i) {
  auto s = store().open(id);
  benchmark::DoNotOptimize(s.get<std::string>("region"));
  benchmark::DoNotOptimize(s.get<int>("page"));
  benchmark::DoNotOptimize(s.get<std::string>("user_name"));
  s.set("page", i);
}

void session_request_same_session(benchmark::State& state) {
  const std::string& id = shared_id();
  int i = 0;
  for (auto _ : state) request(id, ++i);
}
BENCHMARK(session_request_same_session)->Threads(1)->Threads(2)->UseRealTime();

void session_request_own_session(benchmark::State& state) {
  thread_local const std::string id = make_session();
  int i = 0;
  for (auto _ : state) request(id, ++i);
}
BENCHMARK(session_request_own_session)->Threads(1)->Threads(2)->UseRealTime();

void session_memory(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    state.PauseTiming();
    malloc_trim(0);
    const std::size_t heap_before = mallinfo2().uordblks;
    state.ResumeTiming();
    {
      recall::session_store sessions(
          {.name = "bench_memory", .max_sessions = count, .max_total_bytes = std::size_t{1} << 30});
      for (std::size_t i = 0; i < count; ++i) {
        auto s = sessions.open("");
        s.set("region", std::string("EU"));
        s.set("n", static_cast<int>(i));
      }
      state.PauseTiming();
      const std::size_t heap = mallinfo2().uordblks - heap_before;
      const auto st = sessions.stats();
      state.counters["heap_per_session"] = double(heap) / double(count);
      state.counters["accounted_per_session"] = double(st.bytes) / double(st.live);
      state.counters["values_per_session"] =
          double(st.bytes - st.live * recall::session_overhead_bytes) / double(st.live);
      state.ResumeTiming();
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));
}
BENCHMARK(session_memory)->Arg(100'000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
