#!/usr/bin/env bash
# The embedded dashboard, checked end to end: one process, no proxy, a small
# warehouse generated on first run, real HTTP requests with curl.
#
#   tests/dashboard/smoke.sh path/to/dashboard [work-dir]
#
# Used by `scripts/demo.sh --smoke` and by the test command (CTest).
set -euo pipefail
bin=${1:?usage: smoke.sh path/to/dashboard [work-dir]}
work=${2:-$(mktemp -d)}
mkdir -p "$work"
log=$work/dashboard.log
failures=0

check() {  # description, then a command that must succeed
  local what=$1
  shift
  if "$@"; then
    echo "ok   $what"
  else
    echo "FAIL $what"
    failures=$((failures + 1))
  fi
}

"$bin" serve --warehouse "$work/warehouse.db" --rows "${ROWS:-200000}" --port 0 --test-routes \
  >"$log" 2>&1 &
pid=$!
trap 'kill -KILL $pid 2>/dev/null || true' EXIT
url=""
for _ in $(seq 1 600); do
  url=$(sed -n 's/.*listening on \(http:[^ ]*\)\/$/\1/p' "$log")
  [ -n "$url" ] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
[ -n "$url" ] || { echo "FAIL the dashboard did not start:"; cat "$log"; exit 1; }
echo "dashboard at $url"
jar=$work/cookies

page=$(curl -s -D "$work/headers" "$url/")
check "the page renders a chart and the products" \
  grep -q '<svg id="chart"' <<<"$page"
check "it tells how old its data is" grep -q 'Data as of' <<<"$page"
check "a page that stores nothing sets no cookie" \
  bash -c "! grep -qi '^set-cookie' '$work/headers'"

curl -s -c "$jar" -b "$jar" -D "$work/headers" "$url/?region=Asia&range=7" >"$work/page"
check "changing a filter stores it (one Set-Cookie)" \
  test "$(grep -ci '^set-cookie' "$work/headers")" -eq 1
curl -s -c "$jar" -b "$jar" -D "$work/headers" "$url/" >"$work/page"
check "the next request keeps the filter" grep -q 'data-region="Asia" data-range="7"' "$work/page"
check "... and sets no cookie again" bash -c "! grep -qi '^set-cookie' '$work/headers'"

curl -s -c "$jar" -b "$jar" -o /dev/null --data-urlencode "text=check <b>escaping</b>" "$url/notes"
check "a note is kept, escaped" \
  bash -c "curl -s -b '$jar' '$url/' | grep -q 'check &lt;b&gt;escaping&lt;/b&gt;'"
printf 'region,target\nAsia,1000\nEurope,2000\n' >"$work/targets.csv"
check "a CSV upload is answered for that request" \
  bash -c "curl -s -b '$jar' -F 'targets=@$work/targets.csv' '$url/upload' | grep -q '<td>Europe</td>'"
check "a bad filter is a 400" \
  test "$(curl -s -o /dev/null -w '%{http_code}' "$url/?range=12")" = 400
check "the admin page needs a signed-in admin (401 without a proxy)" \
  test "$(curl -s -o /dev/null -w '%{http_code}' "$url/admin")" = 401
check "/healthz" test "$(curl -s "$url/healthz")" = ok
check "/readyz" test "$(curl -s "$url/readyz")" = ready
curl -s "$url/metrics" >"$work/metrics"
check "/metrics has the caches and the sessions" \
  grep -q 'recall_session_live{kind="session_store",name="dashboard_sessions"} 1' "$work/metrics"
if command -v promtool >/dev/null; then
  check "promtool check metrics accepts /metrics" promtool check metrics <"$work/metrics"
fi

# SIGTERM while a slow request runs: it completes, then the process exits 0.
curl -s "$url/slow?ms=1500" >"$work/slow" &
slow=$!
sleep 0.5
kill -TERM $pid
wait $slow || true
check "the in-flight request completes during the drain" grep -q done "$work/slow"
status=0
wait $pid || status=$?
check "SIGTERM drains and exits 0" test "$status" -eq 0
trap - EXIT

if [ "$failures" -ne 0 ]; then
  echo "smoke: $failures check(s) failed; the service log:"
  cat "$log"
  exit 1
fi
echo "smoke: all checks passed"
