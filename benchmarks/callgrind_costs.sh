#!/usr/bin/env bash
# Instructions per operation, measured with callgrind (deterministic on a
# noisy machine). Each scenario of benchmarks/callgrind/cost_driver.cpp runs
# at two iteration counts; the difference in instructions divided by the
# difference in iterations is the cost of one operation, set-up excluded.
#
#   benchmarks/callgrind_costs.sh [BUILD_DIR]     # default build/release
#
# To add a row: add a scenario to cost_driver.cpp and its name to ROWS.
set -euo pipefail

ROWS=(
  cache_data_hit
  session_request
  session_open_cookieless
)
LOW=${LOW:-2000}
HIGH=${HIGH:-12000}

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build/release}
if [[ ! -d $build ]]; then
  (cd "$root" && cmake --preset release >/dev/null)
fi
cmake "$build" >/dev/null  # picks up the driver in a build dir configured before it existed
nice -n 10 cmake --build "$build" -j1 --target callgrind_driver >/dev/null
driver=$build/benchmarks/callgrind_driver
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

instructions() {  # scenario iterations
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.out" "$driver" "$1" "$2" \
    2>"$out/log" >/dev/null
  awk '/^summary:/ {print $2}' "$out/cg.out"
}

printf '%-28s %12s\n' operation instructions/op
for row in "${ROWS[@]}"; do
  low=$(instructions "$row" "$LOW")
  high=$(instructions "$row" "$HIGH")
  printf '%-28s %12d\n' "$row" $(( (high - low) / (HIGH - LOW) ))
done
