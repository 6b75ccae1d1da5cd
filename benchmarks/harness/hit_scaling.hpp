// Hit scaling: the table at the top of issue 12. Each operation is a hit on
// one of 64 hot keys holding a ~1 KiB value (recall_bench::sales_row), run by
// 1 thread and by 2 threads over the same 64 keys, in interleaved repetitions;
// the harness reports medians. The last row is a session request, each thread
// on its own session.
#pragma once

#include <string>
#include <vector>

namespace recall_bench {

struct hit_scaling_row {
  std::string operation;
  double ns_1_thread = 0;   // median wall time per operation
  double ns_2_threads = 0;  // median wall time per operation of both threads together
  double scaling = 0;       // ns_1_thread / ns_2_threads: aggregate throughput ratio
  // Median CPU time per operation of each thread. On a machine shared with
  // other work the wall figures depend on what else runs; CPU time does not,
  // and a hit that contends for cache lines costs more CPU time per operation
  // at 2 threads. 2 x cpu_1 / cpu_2 is the scaling two idle cores would give.
  double cpu_1_thread = 0;
  double cpu_2_threads = 0;
  double cpu_scaling = 0;
};

// `repetitions` interleaved runs of `ops_per_thread` hits per thread each.
std::vector<hit_scaling_row> measure_hit_scaling(int repetitions, std::size_t ops_per_thread);

}  // namespace recall_bench
