#!/usr/bin/env bash
# The dashboard fleet, driven through nginx: scripts/fleet.sh starts nginx
# (basic auth, round-robin), two replicas and Redis on free loopback ports;
# every request below is real. Bounded: a few minutes at most.
#
#   tests/dashboard/fleet_test.sh path/to/dashboard [work-dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export DASHBOARD_BIN=${1:?usage: fleet_test.sh path/to/dashboard [work-dir]}
dir=${2:-$(mktemp -d)}
export ROWS=${ROWS:-200000} EXTRA_ARGS=--test-routes
failures=0
check() {
  local what=$1
  shift
  if "$@"; then echo "ok   $what"; else
    echo "FAIL $what"
    failures=$((failures + 1))
  fi
}

"$root/scripts/fleet.sh" start "$dir"
trap '"$root/scripts/fleet.sh" stop "$dir"' EXIT
# shellcheck disable=SC1091
source "$dir/fleet.env"
base=http://127.0.0.1:$PORT
status() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
replica_of() { sed -n 's/.*<meta name="replica" content="\([a-z]*\)">.*/\1/p'; }

# --- sign in as each role; the proxy's identity reaches both replicas ------
seen=""
for _ in 1 2 3 4; do
  page=$(curl -s -u "$VIEWER" "$base/")
  grep -q "signed in as viewer" <<<"$page" || seen="$seen wrong-user"
  seen="$seen $(replica_of <<<"$page")"
done
check "the viewer is signed in on every page, served by both replicas ($seen)" \
  bash -c "grep -q ' a' <<<'$seen' && grep -q ' b' <<<'$seen' && ! grep -q wrong <<<'$seen'"
check "the admin is signed in" bash -c "curl -s -u '$ADMIN' '$base/' | grep -q 'signed in as admin'"
check "without credentials nginx answers 401" test "$(status "$base/")" = 401
check "the viewer gets 403 on the admin page (both replicas)" \
  test "$(status -u "$VIEWER" "$base/admin")$(status -u "$VIEWER" "$base/admin")" = 403403
check "the admin gets the admin page" test "$(status -u "$ADMIN" "$base/admin")" = 200
check "identity headers sent straight to a replica are ignored (401)" \
  test "$(status -H 'X-Forwarded-User: admin' -H 'X-Forwarded-Groups: admin' \
    "http://127.0.0.1:$PORT_A/admin")" = 401

# --- sessions across replicas (in Redis: no sticky sessions) ---------------
jar=$dir/viewer.jar
curl -s -u "$VIEWER" -c "$jar" -b "$jar" -o /dev/null "$base/?region=Oceania&range=90"
kept=0
served=""
for _ in 1 2 3 4; do
  page=$(curl -s -u "$VIEWER" -c "$jar" -b "$jar" "$base/")
  grep -q 'data-region="Oceania" data-range="90"' <<<"$page" && kept=$((kept + 1))
  served="$served $(replica_of <<<"$page")"
done
check "a filter set on one replica is seen on the next 4 requests, whichever replica ($served)" \
  bash -c "test $kept -eq 4 && grep -q ' a' <<<'$served' && grep -q ' b' <<<'$served'"

# --- metrics ----------------------------------------------------------------
curl -s -u "$ADMIN" "$base/metrics" >"$dir/metrics"
check "promtool check metrics accepts /metrics through nginx" promtool check metrics <"$dir/metrics"
check "/metrics has the shared caches' second-level counters" \
  grep -q '^recall_cache_l2_writes_total{kind="cache_data",name="daily_sales"}' "$dir/metrics"

# --- a refresh invalidates on both replicas ----------------------------------
generation() { curl -s "http://127.0.0.1:$1/" | sed -n 's/.*data-generation="\([0-9]*\)".*/\1/p'; }
before_a=$(generation "$PORT_A")
before_b=$(generation "$PORT_B")
check "both replicas show the same refresh before ($before_a, $before_b)" test "$before_a" = "$before_b"
check "the admin's refresh answers 303" \
  test "$(status -u "$ADMIN" -d '' "$base/admin/refresh")" = 303
after_a=$(generation "$PORT_A")
after_b=$(generation "$PORT_B")
check "after the refresh both replicas show the new data ($after_a, $after_b; TTL is 120 s)" \
  test "$after_a" = $((before_a + 1)) -a "$after_b" = $((before_a + 1))
check "a viewer cannot trigger a refresh" \
  test "$(status -u "$VIEWER" -d '' "$base/admin/refresh")" = 403

# --- SIGTERM drains an in-flight slow request ---------------------------------
curl -s "http://127.0.0.1:$PORT_B/slow?ms=2000" >"$dir/slow" &
slow=$!
sleep 0.5
kill -TERM "$PID_B"
wait $slow || true
check "the slow request in flight completes after SIGTERM" grep -q done "$dir/slow"
for _ in $(seq 1 100); do [ -f "$dir/replica-b.exit" ] && break; sleep 0.1; done
check "the replica exits 0 after draining" test "$(cat "$dir/replica-b.exit" 2>/dev/null)" = 0
check "meanwhile nginx serves from the other replica" test "$(status -u "$VIEWER" "$base/")" = 200
"$root/scripts/fleet.sh" start-replica b "$dir"
# shellcheck disable=SC1091
source "$dir/fleet.env"

# --- one replica killed during a wrk run: nginx fails over --------------------
auth=$(printf '%s' "$VIEWER" | base64)
logged=$(wc -l <"$dir/nginx-error.log")
wrk -t2 -c20 -d6s --latency -H "Authorization: Basic $auth" "$base/" >"$dir/wrk.txt" 2>&1 &
load=$!
sleep 2
kill -KILL "$PID_A"
wait $load
cat "$dir/wrk.txt"
requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$dir/wrk.txt")
check "wrk made requests through the kill ($requests)" test "${requests:-0}" -gt 100
# nginx retries on the live replica every request the dead one had not begun
# to answer. One whose answer had begun (cpp-httplib writes the headers and
# the body separately, and SIGKILL can fall between them) cannot be retried:
# nginx logs it as closed prematurely and drops the client's connection. So
# every failed request must be one of those, and no answer may be an error.
check "no request got an error answer" bash -c "! grep -q 'Non-2xx' '$dir/wrk.txt'"
read_errors=$(sed -n 's/.*Socket errors: connect 0, read \([0-9]*\), write 0, timeout 0$/\1/p' \
  "$dir/wrk.txt")
grep -q 'Socket errors' "$dir/wrk.txt" || read_errors=0
cut_short=$(tail -n +$((logged + 1)) "$dir/nginx-error.log" |
  grep -c 'upstream prematurely closed connection while reading upstream' || true)
check "every other request was retried on the live replica (${read_errors:-?} failed, \
$cut_short cut short mid-answer)" test -n "$read_errors" -a "${read_errors:-x}" = "$cut_short"
check "... and at most the answers in flight were cut short (20 connections)" \
  test "$cut_short" -le 20
# Every user's session outlives the replica: the same cookie, served by the
# survivor, still has its filter (sessions live in Redis).
lost=0
for _ in 1 2 3 4; do
  curl -s -u "$VIEWER" -c "$jar" -b "$jar" "$base/" |
    grep -q 'data-region="Oceania" data-range="90"' || lost=$((lost + 1))
done
check "after replica a was killed, the viewer's session still has its filter ($lost lost)" \
  test "$lost" -eq 0
"$root/scripts/fleet.sh" start-replica a "$dir"

if [ "$failures" -ne 0 ]; then
  echo "fleet: $failures check(s) failed; logs in $dir"
  tail -n 20 "$dir"/replica-*.log "$dir/nginx-error.log"
  exit 1
fi
echo "fleet: all checks passed"
