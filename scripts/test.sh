#!/usr/bin/env bash
# Every test: set up, then the whole suite in an optimised GCC build (with the
# benchmark harness in --quick mode), again under ASan+UBSan with Clang (plus
# the fuzzers, each for a bounded time), and under ThreadSanitizer with GCC.
# Each preset has its own build folder and configures every option it needs,
# whatever state build/ is in; a preset whose ctest ran no test fails.
# Usage: scripts/test.sh [preset...]   (default: release asan tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
jobs=$(nproc)
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(release asan tsan)

# A build folder made by another generator (older scripts used Make) cannot be
# reconfigured with Ninja: start it again.
fresh_build_dir() {
  if [ -f "$1/CMakeCache.txt" ] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$1/CMakeCache.txt"; then
    echo "recall: $1 was configured with another generator; starting it again"
    rm -rf "$1"
  fi
}

summary=()
for preset in "${presets[@]}"; do
  started=$SECONDS
  echo "=== recall: $preset"
  fresh_build_dir "build/$preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  log="build/$preset/ctest.log"
  ctest --preset "$preset" -j "$jobs" 2>&1 | tee "$log"
  count=$(sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "$log" | tail -n 1)
  if [ -z "$count" ] || [ "$count" -eq 0 ]; then
    echo "recall: the $preset preset ran no test or some failed; see $log" >&2
    exit 1
  fi
  compiler=$(sed -n 's/^CMAKE_CXX_COMPILER:[A-Z]*=//p' "build/$preset/CMakeCache.txt")
  line="$preset: $count tests passed with $("$compiler" --version | head -n 1) in $((SECONDS - started)) s"
  echo "=== recall: $line"
  summary+=("$line")
done
echo "=== recall: all passed"
printf '  %s\n' "${summary[@]}"
