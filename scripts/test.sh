#!/usr/bin/env bash
# Every test: set up, then the whole suite in an optimised build (with the
# benchmark harness in --quick mode), then again under ASan+UBSan and TSan.
# Usage: scripts/test.sh [preset...]   (default: release asan tsan)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)
presets=("$@")
[ ${#presets[@]} -gt 0 ] || presets=(release asan tsan)

for preset in "${presets[@]}"; do
  echo "=== recall: $preset"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  ctest --preset "$preset" -j "$jobs"
done
