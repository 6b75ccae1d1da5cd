#!/usr/bin/env bash
# Redis's own instructions per command of a session request, measured with
# callgrind (deterministic, so it can be compared across runs on a noisy
# machine): redis-server runs under callgrind, counting only inside
# processCommand (lookup, ACL, the command and the functions it calls); a
# session is stored by the build's tests/session_replica (v = 1) and given
# redis_session_bench's values; then `redis-benchmark -c 1` sends the
# commands a request sends, each N times (counters zeroed before, dumped
# after):
#
#   set      the write's FCALL (<library>_set of a value of 26 bytes)
#   hgetall  open()'s read
#   zscore   the read open() sent twice before the 'd' field
#   get      a GET of a missing key, the yardstick
#
#   benchmarks/redis_session_server_costs.sh [BUILD_DIR]   # default build/release
#
# OLD_CLIENT=1 sends the session's deadline as the write's fourth argument,
# as recall did before open() was one HGETALL, for measuring that build.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$(cd "${1:-$root/build/release}" && pwd)"
n="${N:-3000}"
for tool in valgrind callgrind_control redis-server redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "$0: $tool not found (scripts/deps.sh test)" >&2; exit 2; }
done
[[ -x "$build/tests/session_replica" ]] || cmake --build "$build" -j "${JOBS:-1}" --target session_replica

out="$(mktemp -d)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" --toggle-collect=processCommand \
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$out" \
  >"$out/valgrind.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$out"' EXIT
redis=(redis-cli -p "$port")
until "${redis[@]}" PING >/dev/null 2>&1; do sleep 0.2; done

"$build/tests/session_replica" "$port" "benchmark secret of 32 bytes...." create - 1 >/dev/null
key="$("${redis[@]}" --scan --pattern 'recall:s:*' | awk 'length($0) == 25')"
suffix="${key#recall:s:}"
set_function="$("${redis[@]}" FUNCTION LIST | grep -m1 '^recall_sessions')_set"
deadline="$("${redis[@]}" ZSCORE recall:s:z:0 "$suffix")"
now=$((deadline - 60000))
hint=""
[[ -n "${OLD_CLIENT:-}" ]] && hint="$deadline"
value=vAAAAAAAAAAAAAAAAAAAAAAAAA
for field in .region .user_name; do
  "${redis[@]}" FCALL "$set_function" 0 "$now" "$suffix" "" "$hint" "" "" "$field" "$value" "" \
    >/dev/null
done

dumps=0
measure() {  # name, command...
  callgrind_control -z "$server" >/dev/null 2>&1
  redis-benchmark -p "$port" -c 1 -n "$n" "${@:2}" >/dev/null
  callgrind_control -d "$1" "$server" >/dev/null 2>&1
  dumps=$((dumps + 1))
}
measure set FCALL "$set_function" 0 "$now" "$suffix" "" "$hint" "" "" .page "$value" ""
measure hgetall HGETALL "$key"
measure zscore ZSCORE recall:s:z:0 "$suffix"
measure get GET missing

printf 'the session hash: %s\n' "$("${redis[@]}" HKEYS "$key" | tr '\n' ' ')"
printf '%-8s %14s\n' command instructions/call
for i in $(seq 1 "$dumps"); do
  file="$(ls "$out"/cg.*."$i")"
  name="$(sed -n 's/^desc: Trigger: dump //p' "$file")"
  total="$(sed -n 's/^summary: //p' "$file")"
  printf '%-8s %14d\n' "$name" $((total / n))
done
