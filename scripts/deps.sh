#!/usr/bin/env bash
# Installs the Debian packages recall needs, and only those that are missing.
# Run by demo.sh and test.sh; safe to run on its own.
#
#   scripts/deps.sh          # what building and running the examples needs
#   scripts/deps.sh test     # that, plus everything the tests start or use
set -euo pipefail

# A minimal Debian 12 root has no build tool, compiler or pkg-config: list them all.
build=(g++ make ninja-build cmake pkg-config libabsl-dev libxxhash-dev libcereal-dev libfmt-dev
       libhiredis-dev
       # The dashboard example (scripts/demo.sh): its HTTP server and warehouse,
       # and what its --smoke check and scripts/fleet.sh run.
       libcpp-httplib-dev libsqlite3-dev curl python3 redis-server nginx-light openssl)
# Tests: both compilers (clang for ASan+UBSan and the fuzzers), Catch2, Google
# Benchmark (the harness runs in --quick mode), the real servers tests start,
# and the dashboard tests' tools: promtool (package prometheus) checks the
# metrics, wrk loads the fleet, chromium renders the page; iproute2 (ss)
# finds a replica's pid.
test=(clang libclang-rt-14-dev catch2 libbenchmark-dev redis-server python3 prometheus wrk
      chromium iproute2)

packages=("${build[@]}")
case "${1:-build}" in
  build) ;;
  test) packages+=("${test[@]}") ;;
  *) echo "usage: scripts/deps.sh [build|test]" >&2; exit 2 ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "recall: installing missing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "recall: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
