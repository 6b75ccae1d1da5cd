// recall-bench: replays request streams against recall's engine and the
// reference policies, and prints hit ratios, throughput, latency and memory.
// Run with --help for the options; docs/benchmarks.md explains the output.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_types.hpp"
#include "heap_meter.hpp"
#include "hit_scaling.hpp"
#include "recall/detail/engine.hpp"
#include "reference_policies.hpp"
#include "workloads.hpp"

namespace {

using recall::detail::engine;
using recall::detail::engine_config;
using recall::detail::entry_info;
using recall::detail::never;
using recall_bench::trace;
using steady = std::chrono::steady_clock;

struct options {
  bool quick = false;
  bool json = false;
  bool hits_only = false;
  std::string json_file;
  std::string trace_path;
  std::vector<double> skews = {0.8, 0.99};
  std::size_t keys = 100'000;
  std::size_t ops = 1'000'000;
};

struct result {
  std::string workload;
  std::string policy;
  std::size_t cache_size = 0;
  double cache_pct = 0;
  std::size_t distinct = 0;
  std::size_t shards = 0;
  int threads = 1;
  std::size_t ops = 0;
  std::optional<double> ops_per_s = std::nullopt;
  std::optional<double> p50_ns = std::nullopt;
  std::optional<double> p99_ns = std::nullopt;
  double hit_ratio = 0;
  std::optional<std::ptrdiff_t> bytes = std::nullopt;
};

// The engine as the hit-ratio replay uses it: unit weights, so only the entry
// bound decides, and no expiry.
engine_config<std::uint64_t> engine_setup(std::size_t capacity, std::size_t shards) {
  engine_config<std::uint64_t> c;
  c.max_entries = capacity;
  c.max_weight = std::size_t{1} << 62;
  c.shards = shards;
  return c;
}

std::vector<recall::key> keys_for(const trace& t) {
  std::vector<recall::key> keys(t.distinct);
  for (std::size_t i = 0; i < keys.size(); ++i) keys[i] = recall_bench::key_of(i);
  return keys;
}

template <class Fn>
std::ptrdiff_t heap_growth(Fn&& fn) {
  const std::ptrdiff_t before = recall_bench::live_heap_bytes();
  fn();
  return recall_bench::live_heap_bytes() - before;
}

result replay_engine(const trace& t, const std::vector<recall::key>& keys, std::size_t capacity,
                     std::size_t shards, const char* policy) {
  result r{.workload = t.name, .policy = policy, .cache_size = capacity};
  std::size_t hits = 0;
  std::optional<engine<std::uint64_t>> e;
  r.bytes = heap_growth([&] {
    e.emplace(engine_setup(capacity, shards));
    for (const std::uint32_t id : t.requests) {
      std::uint64_t v = 0;
      const auto k = e->hashed(keys[id]);
      if (e->visit(k, [&](const std::uint64_t& x, const entry_info&) { v = x; })) {
        ++hits;
      } else {
        e->insert(k, id, 1, never);
      }
    }
  });
  r.shards = e->shard_count();
  r.hit_ratio = static_cast<double>(hits) / static_cast<double>(t.requests.size());
  return r;
}

result replay_lru(const trace& t, std::size_t capacity) {
  result r{.workload = t.name, .policy = "lru", .cache_size = capacity};
  std::size_t hits = 0;
  std::optional<recall_bench::lru_model<std::uint32_t, std::uint64_t>> lru;
  r.bytes = heap_growth([&] {
    lru.emplace(capacity);
    for (const std::uint32_t id : t.requests) {
      std::uint64_t v = 0;
      if (lru->get(id, v)) {
        ++hits;
      } else {
        lru->put(id, id);
      }
    }
  });
  r.hit_ratio = static_cast<double>(hits) / static_cast<double>(t.requests.size());
  return r;
}

template <class Model>
result replay_model(const trace& t, std::size_t capacity, const char* policy) {
  result r{.workload = t.name, .policy = policy, .cache_size = capacity};
  std::size_t hits = 0;
  std::optional<Model> model;
  r.bytes = heap_growth([&] {
    model.emplace(capacity, t.distinct);
    for (const std::uint32_t id : t.requests) hits += model->access(id);
  });
  r.hit_ratio = static_cast<double>(hits) / static_cast<double>(t.requests.size());
  return r;
}

result replay_belady(const trace& t, std::size_t capacity) {
  result r{.workload = t.name, .policy = "belady", .cache_size = capacity};
  r.hit_ratio = static_cast<double>(recall_bench::belady_hits(t.requests, t.distinct, capacity)) /
                static_cast<double>(t.requests.size());
  return r;
}

// Positions in the rows hit_ratio_rows returns.
constexpr std::size_t recall_row = 0, lru_row = 2, s3fifo_row = 3, wtinylfu_row = 4, belady_row = 5;

// The best of the online reference policies recall must match (within 1 point).
double best_reference(const std::vector<result>& rows) {
  return std::max(
      {rows[lru_row].hit_ratio, rows[s3fifo_row].hit_ratio, rows[wtinylfu_row].hit_ratio});
}

// Every result for one trace and cache size, with the invariants no correct
// replay can break checked on the way.
std::vector<result> hit_ratio_rows(const trace& t, std::size_t capacity, double pct,
                                   std::vector<std::string>& violations) {
  const auto keys = keys_for(t);
  std::vector<result> rows = {replay_engine(t, keys, capacity, 1, "recall"),
                              replay_engine(t, keys, capacity, 0, "recall-sharded"),
                              replay_lru(t, capacity),
                              replay_model<recall_bench::s3fifo_model>(t, capacity, "s3-fifo"),
                              replay_model<recall_bench::wtinylfu_model>(t, capacity, "w-tinylfu"),
                              replay_belady(t, capacity)};
  for (result& r : rows) {
    r.cache_pct = pct;
    r.distinct = t.distinct;
    r.ops = t.requests.size();
    if (!(r.hit_ratio >= 0.0 && r.hit_ratio <= 1.0)) {
      violations.push_back(fmt::format("{} {} at {}: hit ratio {} outside [0, 1]", r.workload,
                                       r.policy, capacity, r.hit_ratio));
    }
  }
  const double belady = rows[belady_row].hit_ratio;
  for (std::size_t i = 0; i < belady_row; ++i) {
    if (rows[i].hit_ratio > belady + 1e-12) {
      violations.push_back(fmt::format("{} at {}: {} ({:.4f}) beats Belady's optimum ({:.4f})",
                                       t.name, capacity, rows[i].policy, rows[i].hit_ratio,
                                       belady));
    }
  }
  return rows;
}

// Throughput: `threads` threads replay disjoint slices of `t` with get, and
// insert on a miss, against one shared cache that a single-threaded warm-up
// (the first tenth of the trace) has filled. Every 16th operation is timed.
template <class Cache, class Op>
result throughput(const trace& t, const char* policy, std::size_t capacity, int threads,
                  Cache& cache, Op op) {
  result r{.workload = t.name, .policy = policy, .cache_size = capacity};
  r.threads = threads;
  r.distinct = t.distinct;
  const std::size_t warm = t.requests.size() / 10;
  r.bytes = heap_growth([&] {
    for (std::size_t i = 0; i < warm; ++i) op(cache, t.requests[i]);
  });
  const std::size_t per_thread = (t.requests.size() - warm) / static_cast<std::size_t>(threads);
  std::vector<std::vector<std::uint32_t>> samples(static_cast<std::size_t>(threads));
  std::vector<std::size_t> hits(static_cast<std::size_t>(threads));
  for (auto& s : samples) s.reserve(per_thread / 16 + 1);
  recall_bench::set_heap_metering(false);
  const auto start = steady::now();
  {
    std::vector<std::jthread> pool;
    for (int w = 0; w < threads; ++w) {
      pool.emplace_back([&, w] {
        const std::size_t begin = warm + static_cast<std::size_t>(w) * per_thread;
        std::size_t h = 0;
        auto& mine = samples[static_cast<std::size_t>(w)];
        for (std::size_t i = 0; i < per_thread; ++i) {
          const std::uint32_t id = t.requests[begin + i];
          if (i % 16 == 0) {
            const auto t0 = steady::now();
            h += op(cache, id);
            mine.push_back(static_cast<std::uint32_t>(
                std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now() - t0).count()));
          } else {
            h += op(cache, id);
          }
        }
        hits[static_cast<std::size_t>(w)] = h;
      });
    }
  }
  const double seconds = std::chrono::duration<double>(steady::now() - start).count();
  recall_bench::set_heap_metering(true);
  std::vector<std::uint32_t> all;
  for (auto& s : samples) all.insert(all.end(), s.begin(), s.end());
  std::sort(all.begin(), all.end());
  r.ops = per_thread * static_cast<std::size_t>(threads);
  r.ops_per_s = static_cast<double>(r.ops) / seconds;
  r.p50_ns = all[all.size() / 2];
  r.p99_ns = all[all.size() * 99 / 100];
  std::size_t total_hits = 0;
  for (std::size_t h : hits) total_hits += h;
  r.hit_ratio = static_cast<double>(total_hits) / static_cast<double>(r.ops);
  return r;
}

std::vector<result> throughput_rows(const trace& t, std::size_t capacity, double pct) {
  const auto keys = keys_for(t);
  std::vector<result> rows;
  for (int threads : {1, 2}) {
    engine<std::uint64_t> e(engine_setup(capacity, 0));
    const auto engine_op = [&](engine<std::uint64_t>& c, std::uint32_t id) {
      std::uint64_t v = 0;
      const auto k = c.hashed(keys[id]);
      if (c.visit(k, [&](const std::uint64_t& x, const entry_info&) { v = x; })) return true;
      c.insert(k, id, 1, never);
      return false;
    };
    rows.push_back(throughput(t, "recall-sharded", capacity, threads, e, engine_op));
    rows.back().shards = e.shard_count();

    struct locked_lru {
      std::mutex mu;
      recall_bench::lru_model<recall::key, std::uint64_t> lru;
    } l{{}, recall_bench::lru_model<recall::key, std::uint64_t>(capacity)};
    const auto lru_op = [&](locked_lru& c, std::uint32_t id) {
      std::lock_guard lock(c.mu);
      std::uint64_t v = 0;
      if (c.lru.get(keys[id], v)) return true;
      c.lru.put(keys[id], id);
      return false;
    };
    rows.push_back(throughput(t, "lru+mutex", capacity, threads, l, lru_op));
  }
  for (result& r : rows) r.cache_pct = pct;
  return rows;
}

std::string json_number(const std::optional<double>& v) {
  return v ? fmt::format("{:.6g}", *v) : "null";
}

std::string to_json(const result& r) {
  return fmt::format(
      R"({{"name":"{}/{}/{}/{}t","kind":"{}","workload":"{}","policy":"{}","cache_size":{},"cache_pct":{},)"
      R"("distinct_keys":{},"shards":{},"threads":{},"ops":{},"ops_per_s":{},"p50_ns":{},)"
      R"("p99_ns":{},"hit_ratio":{:.6f},"bytes":{}}})",
      r.workload, r.policy, r.cache_size, r.threads, r.ops_per_s ? "throughput" : "hit_ratio",
      r.workload, r.policy, r.cache_size, r.cache_pct, r.distinct, r.shards, r.threads, r.ops,
      json_number(r.ops_per_s), json_number(r.p50_ns), json_number(r.p99_ns), r.hit_ratio,
      r.bytes ? std::to_string(*r.bytes) : "null");
}

std::string cell(const std::optional<double>& v, const char* spec) {
  return v ? fmt::format(fmt::runtime(spec), *v) : "-";
}

void print_table_header() {
  fmt::print("{:<18} {:<15} {:>7} {:>7} {:>3} {:>9} {:>11} {:>7} {:>7} {:>9} {:>11}  {}\n",
             "workload", "policy", "cache", "cache%", "thr", "ops", "ops/s", "p50ns", "p99ns",
             "hit ratio", "heap bytes", "note");
}

void print_row(const result& r, const std::string& note) {
  fmt::print("{:<18} {:<15} {:>7} {:>6.2f}% {:>3} {:>9} {:>11} {:>7} {:>7} {:>9.4f} {:>11}  {}\n",
             r.workload, r.policy, r.cache_size, r.cache_pct, r.threads, r.ops,
             cell(r.ops_per_s, "{:.3g}"), cell(r.p50_ns, "{:.0f}"), cell(r.p99_ns, "{:.0f}"),
             r.hit_ratio, r.bytes ? std::to_string(*r.bytes) : "-", note);
}

std::string hit_scaling_json(const recall_bench::hit_scaling_row& r) {
  return fmt::format(
      R"({{"name":"hits/{}","kind":"hit_scaling","operation":"{}","ns_1_thread":{:.2f},)"
      R"("ns_2_threads":{:.2f},"scaling":{:.3f},"cpu_ns_1_thread":{:.2f},)"
      R"("cpu_ns_2_threads":{:.2f},"cpu_scaling":{:.3f}}})",
      r.operation, r.operation, r.ns_1_thread, r.ns_2_threads, r.scaling, r.cpu_1_thread,
      r.cpu_2_threads, r.cpu_scaling);
}

// The table of issue 12: hits on 64 hot keys at 1 and 2 threads. Metering is
// off: its counter would be a shared write on every allocation of a copy.
void run_hit_scaling(const options& o, std::FILE* json_out) {
  recall_bench::set_heap_metering(false);
  const int reps = o.quick ? 3 : 7;
  const std::size_t ops = o.quick ? 20'000 : 300'000;
  const auto rows = recall_bench::measure_hit_scaling(reps, ops);
  recall_bench::set_heap_metering(true);
  if (!o.json) {
    fmt::print(
        "\nhits on 64 hot keys, ~1 KiB value: median of {} interleaved runs, {} hits per "
        "thread each (wall: ns per operation of both threads together; cpu: per thread)\n"
        "{:<52} {:>8} {:>8} {:>7} {:>8} {:>8} {:>7}\n",
        reps, ops, "operation", "wall 1t", "wall 2t", "scaling", "cpu 1t", "cpu 2t", "scaling");
  }
  for (const auto& r : rows) {
    if (o.json) fmt::print("{}\n", hit_scaling_json(r));
    if (!o.json) {
      fmt::print("{:<52} {:>8.1f} {:>8.1f} {:>6.2f}x {:>8.1f} {:>8.1f} {:>6.2f}x\n", r.operation,
                 r.ns_1_thread, r.ns_2_threads, r.scaling, r.cpu_1_thread, r.cpu_2_threads,
                 r.cpu_scaling);
    }
    if (json_out) fmt::print(json_out, "{}\n", hit_scaling_json(r));
  }
}

[[noreturn]] void usage(int code) {
  std::fputs(
      "usage: recall-bench [--quick] [--hits-only] [--json | --json-file PATH] [--trace PATH]\n"
      "                    [--skew S[,S...]] [--keys N] [--ops N]\n"
      "  --quick       small run for CI (under 20 s): 10k keys, 200k requests, skew 0.99\n"
      "  --hits-only   only the hit-scaling table (64 hot keys, 1 and 2 threads)\n"
      "  --json        one JSON object per result on stdout instead of the table\n"
      "  --json-file   print the table and also write the JSON lines to PATH\n"
      "  --trace PATH  also replay a trace file (one key per line); skipped if missing\n"
      "  --skew        Zipf skews to run (default 0.8,0.99)\n"
      "  --keys N      key universe of the synthetic workloads (default 100000)\n"
      "  --ops N       requests per synthetic trace (default 1000000)\n",
      code == 0 ? stdout : stderr);
  std::exit(code);
}

std::size_t parse_count(const std::string& flag, const char* text) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (*end != '\0' || v == 0) {
    std::fprintf(stderr, "recall-bench: %s needs a positive integer, got '%s'\n", flag.c_str(),
                 text);
    std::exit(2);
  }
  return static_cast<std::size_t>(v);
}

options parse(int argc, char** argv) {
  options o;
  bool keys_set = false, ops_set = false, skew_set = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "recall-bench: %s needs a value (see --help)\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      usage(0);
    } else if (a == "--quick") {
      o.quick = true;
    } else if (a == "--hits-only") {
      o.hits_only = true;
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--json-file") {
      o.json_file = value();
    } else if (a == "--trace") {
      o.trace_path = value();
    } else if (a == "--keys") {
      o.keys = parse_count(a, value());
      keys_set = true;
    } else if (a == "--ops") {
      o.ops = parse_count(a, value());
      ops_set = true;
    } else if (a == "--skew") {
      o.skews.clear();
      skew_set = true;
      std::string list = value();
      for (std::size_t pos = 0; pos <= list.size();) {
        const std::size_t comma = std::min(list.find(',', pos), list.size());
        char* end = nullptr;
        const std::string item = list.substr(pos, comma - pos);
        const double s = std::strtod(item.c_str(), &end);
        if (item.empty() || *end != '\0' || !(s > 0.0 && s < 5.0)) {
          std::fprintf(stderr, "recall-bench: --skew wants numbers in (0, 5), got '%s'\n",
                       item.c_str());
          std::exit(2);
        }
        o.skews.push_back(s);
        pos = comma + 1;
      }
    } else {
      std::fprintf(stderr, "recall-bench: unknown option '%s' (see --help)\n", a.c_str());
      std::exit(2);
    }
  }
  if (o.quick) {
    if (!keys_set) o.keys = 10'000;
    if (!ops_set) o.ops = 200'000;
    if (!skew_set) o.skews = {0.99};
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  recall_bench::set_heap_metering(true);
  const options o = parse(argc, argv);
  std::FILE* json_out = nullptr;
  if (!o.json_file.empty()) {
    json_out = std::fopen(o.json_file.c_str(), "w");
    if (!json_out) {
      std::fprintf(stderr, "recall-bench: cannot write --json-file '%s'\n", o.json_file.c_str());
      return 2;
    }
  }

  if (o.hits_only) {
    run_hit_scaling(o, json_out);
    if (json_out) std::fclose(json_out);
    return 0;
  }

  std::vector<trace> traces;
  for (double s : o.skews) traces.push_back(recall_bench::make_zipf(o.keys, o.ops, s, 42));
  traces.push_back(recall_bench::make_zipf_with_scans(o.keys, o.ops, 0.99, 43));
  traces.push_back(recall_bench::make_shifting(o.keys / 5, o.ops, 0.9, 10, 44));
  if (!o.trace_path.empty()) {
    if (auto t = recall_bench::load_trace(o.trace_path)) {
      traces.push_back(std::move(*t));
    } else {
      std::fprintf(stderr, "recall-bench: trace '%s' not found or unreadable; skipping it\n",
                   o.trace_path.c_str());
    }
  }

  std::vector<std::string> violations;
  std::vector<std::string> below_lru;
  std::vector<std::string> below_best;
  std::optional<double> shifting_margin;
  const double fractions[] = {0.001, 0.01, 0.1};
  if (!o.json) print_table_header();
  const auto emit = [&](const result& r, const std::string& note) {
    if (o.json) fmt::print("{}\n", to_json(r));
    if (!o.json) print_row(r, note);
    if (json_out) fmt::print(json_out, "{}\n", to_json(r));
  };
  const auto report = [&](const std::vector<result>& rows) {
    const double lru = rows[lru_row].hit_ratio, belady = rows[belady_row].hit_ratio;
    const double best = best_reference(rows);
    if (rows[recall_row].workload.starts_with("shifting") && rows[recall_row].cache_pct > 9.9 &&
        rows[recall_row].cache_pct < 10.1) {
      shifting_margin = rows[recall_row].hit_ratio - lru;
    }
    for (const result& r : rows) {
      std::string note;
      if (r.policy == "recall" || r.policy == "recall-sharded") {
        note = r.hit_ratio + 1e-12 >= lru ? ">= LRU" : "BELOW LRU";
        note += r.hit_ratio + 0.01 + 1e-12 >= best ? ", >= best-1pt" : ", BELOW best-1pt";
        if (r.policy == "recall" && r.hit_ratio + 0.01 + 1e-12 < best) {
          below_best.push_back(fmt::format("{} at {:.1f}% ({:.4f} vs {:.4f})", r.workload,
                                           r.cache_pct, r.hit_ratio, best));
        }
        if (belady > lru)
          note += fmt::format(", gap closed {:.0f}%", 100 * (r.hit_ratio - lru) / (belady - lru));
        if (r.hit_ratio + 1e-12 < lru && r.policy == "recall") {
          below_lru.push_back(fmt::format("{} at {:.1f}%", r.workload, r.cache_pct));
        }
      }
      emit(r, note);
    }
  };

  std::optional<double> zipf99_gap;
  for (const trace& t : traces) {
    for (double f : fractions) {
      const std::size_t capacity =
          std::max<std::size_t>(1, static_cast<std::size_t>(f * static_cast<double>(t.distinct)));
      const auto rows = hit_ratio_rows(t, capacity, 100.0 * f, violations);
      if (t.name == "zipf-0.99" && f == 0.01 &&
          rows[belady_row].hit_ratio > rows[lru_row].hit_ratio) {
        zipf99_gap = (rows[recall_row].hit_ratio - rows[lru_row].hit_ratio) /
                     (rows[belady_row].hit_ratio - rows[lru_row].hit_ratio);
      }
      report(rows);
    }
  }
  // The loop is sized from the cache: 10% longer than each cache size.
  for (double f : fractions) {
    const std::size_t capacity =
        std::max<std::size_t>(1, static_cast<std::size_t>(f * static_cast<double>(o.keys)));
    const trace loop =
        recall_bench::make_loop(capacity + std::max<std::size_t>(1, capacity / 10), o.ops);
    report(hit_ratio_rows(
        loop, capacity, 100.0 * static_cast<double>(capacity) / static_cast<double>(loop.distinct),
        violations));
  }

  // Throughput on Zipf 0.99 (the first synthetic trace if that skew was not asked for).
  const auto zipf99 = std::find_if(traces.begin(), traces.end(),
                                   [](const trace& t) { return t.name == "zipf-0.99"; });
  const trace& hot = zipf99 != traces.end() ? *zipf99 : traces.front();
  const std::size_t capacity = std::max<std::size_t>(1, hot.distinct / 10);
  for (const result& r :
       throughput_rows(hot, capacity,
                       100.0 * static_cast<double>(capacity) / static_cast<double>(hot.distinct))) {
    emit(r, "");
  }
  run_hit_scaling(o, json_out);
  if (json_out) std::fclose(json_out);

  {
    std::FILE* summary = o.json ? stderr : stdout;
    if (zipf99_gap) {
      fmt::print(summary,
                 "\nzipf-0.99 at 1%: recall closes {:.0f}% of the LRU->Belady gap (bar: 50%){}\n",
                 100 * *zipf99_gap, *zipf99_gap >= 0.5 ? "" : " -- NOT MET");
    }
    fmt::print(
        summary, "recall (1 shard) below LRU: {}\n",
        below_lru.empty() ? std::string("nowhere") : fmt::format("{}", fmt::join(below_lru, "; ")));
    fmt::print(summary,
               "recall (1 shard) more than 1 point below the best of LRU, S3-FIFO, "
               "W-TinyLFU: {}\n",
               below_best.empty() ? std::string("nowhere")
                                  : fmt::format("{}", fmt::join(below_best, "; ")));
    if (shifting_margin) {
      fmt::print(summary, "shifting at 10%: recall - LRU = {:+.4f} (bar: +0.02){}\n",
                 *shifting_margin, *shifting_margin >= 0.02 ? "" : " -- NOT MET");
    }
  }
  for (const auto& v : violations)
    std::fprintf(stderr, "recall-bench: INVARIANT BROKEN: %s\n", v.c_str());
  return violations.empty() ? 0 : 1;
}
