#!/usr/bin/env bash
# The main job: build the dashboard service, generate its warehouse on first
# run, start it (one process: in-memory caches and sessions, no proxy) and
# print the URL to open. Ctrl-C stops it (it drains, then exits).
#
#   scripts/demo.sh            # http://127.0.0.1:8080/ (PORT=... to change)
#   scripts/demo.sh --smoke    # start it, check it end to end, stop it
#
# Without a terminal (CI, a fresh-machine check, `scripts/demo.sh </dev/null`)
# a server that waits for Ctrl-C would never end the job: it runs the --smoke
# check instead, and says so.
#
# Uses its own build folder (build/demo), so it never changes what
# scripts/test.sh builds. The fleet (nginx, two replicas, Redis) is
# scripts/fleet.sh; see docs/dashboard.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake --preset demo >/dev/null
cmake --build --preset demo --target dashboard
bin=build/demo/examples/dashboard
if [ "${1:-}" != "--smoke" ] && ! [ -t 0 ]; then
  echo "recall demo: no terminal to stop a server with Ctrl-C: checking the dashboard end to end instead (--smoke)"
  set -- --smoke
fi
if [ "${1:-}" = "--smoke" ]; then
  exec tests/dashboard/smoke.sh "$bin" build/demo/smoke
fi
echo "recall demo: open the URL below (first run: generating a 1,000,000-row warehouse)"
exec "$bin" serve --warehouse build/demo/dashboard.db --port "${PORT:-8080}"
