#!/usr/bin/env bash
# The main job: set up, build and run the quickstart example. Uses its own
# build folder (build/demo), so it never changes what scripts/test.sh builds.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake --preset demo >/dev/null
cmake --build --preset demo --target quickstart -j "$(nproc)"
./build/demo/examples/quickstart
