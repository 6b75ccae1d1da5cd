#!/usr/bin/env bash
# Instructions per operation, measured with callgrind (deterministic, so it
# can be compared across runs on a noisy machine). Builds the Release preset's
# callgrind drivers and prints one row per operation.
#
#   benchmarks/callgrind_costs.sh [BUILD_DIR]    # default build/release
#
# Cache rows: cache_data hits (copy, shared(), with()), cache_resource hits
# (copy of the shared_ptr, with()), the engine's hit and its miss + insert.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${1:-build/release}"
count=20000

command -v valgrind >/dev/null || { echo "callgrind_costs.sh: valgrind not found (apt install valgrind)" >&2; exit 2; }
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake --preset release >/dev/null
fi
cmake --build "$build" -j "${JOBS:-1}" --target callgrind_cache_costs >/dev/null

driver="$build/benchmarks/callgrind_cache_costs"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
printf '%-26s %14s\n' operation instructions/op
for kind in cache_data_hit cache_data_shared_hit cache_data_with_hit cache_resource_hit \
            cache_resource_with_hit engine_hit engine_miss_insert; do
  valgrind --tool=callgrind --toggle-collect=measured_ops --callgrind-out-file="$out/$kind" \
    "$driver" "$kind" "$count" >/dev/null 2>"$out/$kind.log"
  total="$(grep -m1 '^summary:' "$out/$kind" | awk '{print $2}')"
  awk -v k="$kind" -v t="$total" -v n="$count" 'BEGIN { printf "%-26s %14.0f\n", k, t / n }'
done
