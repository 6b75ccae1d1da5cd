#!/usr/bin/env bash
# Headless Chromium through nginx with basic auth: load the dashboard, change
# a filter (the form's GET submission), check the rendered DOM, and save a
# screenshot.
#
#   tests/dashboard/chromium_test.sh path/to/dashboard screenshot.png [work-dir]
#
# docs/dashboard.png (shown by the README) is made with this script.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export DASHBOARD_BIN=${1:?usage: chromium_test.sh path/to/dashboard screenshot.png [work-dir]}
shot=${2:?usage: chromium_test.sh path/to/dashboard screenshot.png [work-dir]}
dir=${3:-$(mktemp -d)}
export ROWS=${ROWS:-200000}
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
url="http://viewer:viewer-pw@127.0.0.1:$PORT"

browse() {  # extra chromium arguments...; a fresh profile each time
  local profile
  profile=$(mktemp -d "$dir/chromium.XXXXXX")
  timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" "$@" 2>>"$dir/chromium.log"
}

browse --dump-dom "$url/" >"$dir/first.html"
check "the page loads through nginx's basic auth, signed in" grep -q 'signed in as viewer' "$dir/first.html"
check "it has the chart and the product table" \
  bash -c "grep -q '<svg id=\"chart\"' '$dir/first.html' && grep -q '<table id=\"products\"' '$dir/first.html'"
check "the default filter is all regions, 30 days" \
  grep -q 'data-region="All" data-range="30"' "$dir/first.html"

# What the browser requests when the form is submitted with Asia and 7 days.
browse --dump-dom "$url/?region=Asia&range=7&page=1" >"$dir/filtered.html"
check "the changed filter is rendered" grep -q 'data-region="Asia" data-range="7"' "$dir/filtered.html"
check "the title and the chart follow it" \
  bash -c "grep -q 'Asia · last 7 days' '$dir/filtered.html' && grep -q 'Daily revenue, 7 days' '$dir/filtered.html'"
check "the region's option is selected" grep -q '<option value="Asia" selected' "$dir/filtered.html"

mkdir -p "$(dirname "$shot")"
rm -f "$shot"
browse --hide-scrollbars --window-size=1200,1250 --screenshot="$shot" \
  "$url/?region=Europe&range=90&page=1" >/dev/null
check "a screenshot was saved ($shot)" test -s "$shot"

if [ "$failures" -ne 0 ]; then
  echo "chromium: $failures check(s) failed; logs in $dir"
  tail -n 20 "$dir/chromium.log"
  exit 1
fi
echo "chromium: all checks passed"
