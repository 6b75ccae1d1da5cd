#!/usr/bin/env bash
# Instructions per operation, measured with callgrind (deterministic, so it
# can be compared across runs on a noisy machine). Builds the Release preset's
# two callgrind drivers and prints one row per operation:
#
# - benchmarks/callgrind/cache_costs.cpp: cache_data hits (copy, shared(),
#   with()), cache_resource hits (copy of the shared_ptr, with()), the
#   engine's hit and its miss + insert, the same two on recall-bench's
#   reference LRU behind a std::mutex, and one operation of recall-bench's
#   throughput replay at 1 thread for each (issue 12's target 4 in
#   instructions). Counted only inside the measured loop (--toggle-collect),
#   divided by the iterations.
# - benchmarks/callgrind/cost_driver.cpp: a cache_data hit, a session request
#   (open, 3 gets, 1 set, end), a cookieless open. Each runs at two iteration
#   counts; the difference divided by the difference in iterations is the
#   cost of one operation, set-up excluded. Its cache_data_hit row is the
#   yardstick for the session rows (the same method).
#
#   benchmarks/callgrind_costs.sh [BUILD_DIR]    # default build/release
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${1:-build/release}"

command -v valgrind >/dev/null || { echo "callgrind_costs.sh: valgrind not found (apt install valgrind)" >&2; exit 2; }
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake --preset release >/dev/null
fi
cmake --build "$build" -j "${JOBS:-1}" --target callgrind_cache_costs callgrind_driver >/dev/null

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
printf '%-34s %14s\n' operation instructions/op

for kind in cache_data_hit cache_data_shared_hit cache_data_with_hit cache_resource_hit \
            cache_resource_with_hit engine_hit lru_hit engine_miss_insert lru_miss_insert \
            replay_recall replay_lru; do
  count=20000
  [[ $kind == replay_* ]] && count=100000
  valgrind --tool=callgrind --toggle-collect=measured_ops --callgrind-out-file="$out/$kind" \
    "$build/benchmarks/callgrind_cache_costs" "$kind" "$count" >/dev/null 2>"$out/$kind.log"
  total="$(grep -m1 '^summary:' "$out/$kind" | awk '{print $2}')"
  awk -v k="$kind" -v t="$total" -v n="$count" 'BEGIN { printf "%-34s %14.0f\n", k, t / n }'
done

low=2000
high=12000
instructions() {  # scenario iterations
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" \
    "$build/benchmarks/callgrind_driver" "$1" "$2" 2>"$out/log" >/dev/null
  awk '/^summary:/ {print $2}' "$out/cg.out"
}
for row in cache_data_hit session_request session_open_cookieless; do
  a=$(instructions "$row" "$low")
  b=$(instructions "$row" "$high")
  printf '%-34s %14d\n' "$row (two-point)" $(( (b - a) / (high - low) ))
done
