#!/usr/bin/env bash
# The dashboard fleet under load: wrk through nginx at 20 and at 200
# connections against nginx + two replicas + Redis (scripts/fleet.sh), the
# 1,000,000-row warehouse, users changing filters (users.lua). Before each run
# every cache is cleared fleet-wide, then a 5 s warm-up fills them (the cold
# loads), then the measured run; the warehouse queries of both replicas are
# counted from their /metrics over warm-up and run together (one refresh
# window: the TTL is 120 s).
#
#   benchmarks/dashboard/load.sh path/to/dashboard [seconds=30]
#
# Prints a Markdown table for docs/dashboard.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export DASHBOARD_BIN=${1:?usage: load.sh path/to/dashboard [seconds]}
seconds=${2:-30}
dir=$(mktemp -d)
# 200 people, each with their own session (users.lua): the seed's "twenty
# people instead of two", ten times over.
export LOAD_USERS=${LOAD_USERS:-200}
"$root/scripts/fleet.sh" start "$dir" >/dev/null
trap '"$root/scripts/fleet.sh" stop "$dir"; rm -rf "$dir"' EXIT
# shellcheck disable=SC1091
source "$dir/fleet.env"

# Sums a metric over both replicas; the data caches only for recall_cache_*.
total() {
  for port in "$PORT_A" "$PORT_B"; do curl -s "http://127.0.0.1:$port/metrics"; done |
    awk -v m="$1" '$1 ~ "^"m"\\{" && ($1 !~ /kind="cache_resource"/) { s += $2 } END { printf "%d", s }'
}

echo "| connections | requests/s | p50 | p99 | L1 hit ratio | warehouse queries (fleet) | non-2xx |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for connections in 20 200; do
  curl -s -o /dev/null -u "$ADMIN" -d '' "http://127.0.0.1:$PORT/admin/clear"
  q0=$(total dashboard_warehouse_queries_total)
  h0=$(total recall_cache_hits_total)
  m0=$(total recall_cache_misses_total)
  wrk -t2 -c"$connections" -d5s -s "$root/benchmarks/dashboard/users.lua" \
    "http://127.0.0.1:$PORT/" >/dev/null
  wrk -t2 -c"$connections" -d"${seconds}s" --latency -s "$root/benchmarks/dashboard/users.lua" \
    "http://127.0.0.1:$PORT/" >"$dir/wrk-$connections.txt"
  q=$(($(total dashboard_warehouse_queries_total) - q0))
  h=$(($(total recall_cache_hits_total) - h0))
  m=$(($(total recall_cache_misses_total) - m0))
  rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$dir/wrk-$connections.txt")
  p50=$(awk '$1 == "50%" { print $2 }' "$dir/wrk-$connections.txt")
  p99=$(awk '$1 == "99%" { print $2 }' "$dir/wrk-$connections.txt")
  bad=$(sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\)/\1/p' "$dir/wrk-$connections.txt")
  ratio=$(awk -v h="$h" -v m="$m" 'BEGIN { printf "%.4f", (h + m) ? h / (h + m) : 0 }')
  echo "| $connections | ${rps%.*} | $p50 | $p99 | $ratio | $q | ${bad:-0} |"
done
echo
echo "Each run: a 5 s warm-up, then wrk -t2 -c<connections> -d${seconds}s -s benchmarks/dashboard/users.lua, through nginx."
