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
# Prints Markdown tables for docs/dashboard.md: the runs, the CPU each
# component spent per request (from /proc/<pid>/stat over the measured run),
# and the same nginx and replicas answering /healthz (no auth, no session, no
# Redis, 3 bytes) at 200 connections: what the proxy and the HTTP server cost
# before the dashboard does anything.
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

# CPU ticks (user + system) of the fleet's processes and of one more pid.
ticks() {
  local pids="$PID_A $PID_B $PID_REDIS $PID_NGINX $(pgrep -P "$PID_NGINX" | tr '\n' ' ') $1"
  for pid in $pids; do
    [ -r "/proc/$pid/stat" ] || { echo "load.sh: process $pid is gone" >&2; continue; }
    local name=nginx
    case $pid in "$PID_A" | "$PID_B") name=replicas ;; "$PID_REDIS") name=redis ;; "$1") name=wrk ;; esac
    awk -v n="$name" -v p="$pid" '{ sub(/^.*\) /, ""); print p, n, $12 + $13 }' "/proc/$pid/stat"
  done
}

# wrk in the background, with the fleet's CPU sampled from 1 s after it
# starts to 1 s before it ends. Args: output file, wrk arguments.
measured_wrk() {
  local out=$1
  shift
  wrk "$@" >"$out" &
  local pid=$!
  sleep 1
  ticks "$pid" >"$out.cpu0"
  sleep $((seconds - 2))
  ticks "$pid" >"$out.cpu1"
  wait "$pid"
}

# Microseconds of CPU per request of each component, from the samples.
cpu_per_request() {  # wrk output file
  local rps
  rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$1")
  awk -v rps="$rps" -v s=$((seconds - 2)) -v hz="$(getconf CLK_TCK)" '
    NR == FNR { before[$1] = $3; next }
    $1 in before { d[$2] += $3 - before[$1] } END {
      for (k in d) { us = d[k] / hz / (rps * s) * 1e6; all += us; printf "%s %.0f\n", k, us }
      printf "all %.0f\n", all }' "$1.cpu0" "$1.cpu1"
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
  measured_wrk "$dir/wrk-$connections.txt" -t2 -c"$connections" -d"${seconds}s" --latency \
    -s "$root/benchmarks/dashboard/users.lua" "http://127.0.0.1:$PORT/"
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

# The same proxy and servers with nothing behind them.
wrk -t2 -c200 -d5s "http://127.0.0.1:$PORT/healthz" >/dev/null
measured_wrk "$dir/wrk-healthz.txt" -t2 -c200 -d"${seconds}s" --latency "http://127.0.0.1:$PORT/healthz"
echo
echo "CPU per request, microseconds (user + system, from /proc/<pid>/stat):"
echo
echo "| run | requests/s | p50 | p99 | replicas | nginx | Redis | wrk | all |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for run in 20 200 healthz; do
  f=$dir/wrk-$run.txt
  declare -A us=()
  while read -r k v; do us[$k]=$v; done < <(cpu_per_request "$f")
  rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p' "$f")
  label="dashboard, $run connections"
  [ "$run" = healthz ] && label="/healthz, 200 connections"
  echo "| $label | ${rps%.*} | $(awk '$1 == "50%" { print $2 }' "$f") | $(awk '$1 == "99%" { print $2 }' "$f") |" \
    "${us[replicas]:-0} | ${us[nginx]:-0} | ${us[redis]:-0} | ${us[wrk]:-0} | ${us[all]:-0} |"
done
