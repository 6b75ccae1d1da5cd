#!/usr/bin/env bash
# The main job: set up, build and run the quickstart example.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
jobs=$(nproc)
cmake --preset release -DRECALL_BUILD_TESTS=OFF -DRECALL_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build --preset release --target quickstart -j "$jobs"
./build/release/examples/quickstart
