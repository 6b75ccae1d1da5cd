#!/usr/bin/env bash
# Builds the benchmarks in Release and runs every one of them: the micro
# benchmarks (5 repetitions, medians), the replay harness, the Python
# Streamlit-style hit, and the hit-ratio plot. Raw outputs go to
# build/bench-results/; docs/hit_ratio.png is regenerated.
#
#   benchmarks/run_all.sh            # from anywhere inside the repository
#   JOBS=1 benchmarks/run_all.sh     # build with one job (default: 2)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="build/release"
out="build/bench-results"
trace="../shared/traces/cloudphysics.txt"

cmake --preset release >/dev/null
cmake --build "$build" -j "${JOBS:-2}" --target recall-bench
# Micro benchmarks are built one by one so that one which does not compile
# (another component mid-change) is reported and skipped, not fatal.
micro=()
skipped=()
for source in benchmarks/micro/*_bench.cpp; do
  name="$(basename "$source" .cpp)"
  if cmake --build "$build" -j "${JOBS:-2}" --target "$name" >"$build/$name.build.log" 2>&1; then
    micro+=("$name")
  else
    skipped+=("$name")
    echo "run_all.sh: $name failed to build (see $build/$name.build.log); skipped"
  fi
done

mkdir -p "$out"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
  echo "compiler: $("$(grep -m1 CMAKE_CXX_COMPILER:FILEPATH "$build/CMakeCache.txt" | cut -d= -f2)" --version | head -1)"
  echo "python: $(python3 --version 2>&1)"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
} | tee "$out/machine.txt"

for name in "${micro[@]}"; do
  echo "== $name"
  "$build/benchmarks/$name" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
    --benchmark_out="$out/$name.json" --benchmark_out_format=json | tee "$out/$name.txt"
done

echo "== recall-bench"
trace_args=()
if [[ -r "$trace" ]]; then
  trace_args=(--trace "$trace")
else
  echo "run_all.sh: $trace not found; the trace workload is skipped"
fi
"$build/benchmarks/recall-bench" "${trace_args[@]}" --json-file "$out/harness.jsonl" \
  | tee "$out/harness.txt"

echo "== streamlit_hit.py"
python3 benchmarks/streamlit_hit.py --json | tee "$out/streamlit_hit.json"

echo "== plot"
python3 benchmarks/plot_hit_ratio.py "$out/harness.jsonl" docs/hit_ratio.png
echo "run_all.sh: results in $out/"
if ((${#skipped[@]})); then
  echo "run_all.sh: NOT RUN (build failed): ${skipped[*]}"
  exit 1
fi
