#!/usr/bin/env bash
# The dashboard as a fleet, on loopback: nginx (basic auth, round-robin, no
# sticky sessions) in front of two replicas that share Redis for their caches,
# over one SQLite warehouse. Every port is a free one picked at start.
#
#   scripts/fleet.sh start [DIR]     # builds (demo preset) unless DASHBOARD_BIN is set
#   scripts/fleet.sh stop [DIR]
#   scripts/fleet.sh start-replica a|b [DIR]     # after a test stopped one
#   scripts/fleet.sh env [DIR]       # the ports, pids and credentials, as shell variables
#
# DIR defaults to build/fleet. Environment: DASHBOARD_BIN (the dashboard
# binary), ROWS (warehouse size, default 1000000), SESSIONS (redis, the
# default: every replica serves every session; memory: each replica its
# own), TTL / REFRESH_AFTER (cache
# seconds), LOAD_USERS (extra users user1..userN, password load-pw),
# EXTRA_ARGS (more serve options, e.g. --test-routes).
# Users: viewer / viewer-pw (group viewer) and admin / admin-pw (groups
# viewer, admin): demo credentials for a loopback-only fleet.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
command=${1:-}
replica_arg=""
if [ "$command" = start-replica ]; then
  replica_arg=${2:?start-replica needs a or b}
  dir=${3:-$root/build/fleet}
else
  dir=${2:-$root/build/fleet}
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
envfile=$dir/fleet.env

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# An htpasswd entry in nginx's salted SHA-1 scheme. Basic auth sends the
# password with every request and nginx checks it every time: apr1 (1,000
# MD5 rounds) cost nginx about 100 us of CPU per request, 40% of its share
# under load (docs/dashboard.md, "Load"). The price of a fast hash: a leaked
# htpasswd file is cheap to brute-force, so production passwords must be long
# and random, or the proxy's SSO stands in front.
ssha() {
  python3 -c 'import base64, hashlib, os, sys
salt = os.urandom(8)
print("{SSHA}" + base64.b64encode(hashlib.sha1(sys.argv[1].encode() + salt).digest() + salt).decode())' "$1"
}

wait_ready() {  # url, what
  for _ in $(seq 1 300); do
    if curl -sf -o /dev/null "$1"; then return 0; fi
    sleep 0.1
  done
  echo "fleet: $2 did not become ready; see $dir/*.log" >&2
  return 1
}

start_replica() {  # name
  # shellcheck disable=SC1090
  source "$envfile"
  local name=$1 port refresh=0
  port=$([ "$name" = a ] && echo "$PORT_A" || echo "$PORT_B")
  # One replica runs the schedule; `dashboard refresh` from cron would do too.
  [ "$name" = a ] && refresh=600
  rm -f "$dir/replica-$name.exit"
  # The wrapper records the exit status, which the tests check after SIGTERM.
  DASHBOARD_SESSION_SECRET=$SESSION_SECRET setsid bash -c 'trap "" INT; "$@" >"'"$dir"'/replica-'"$name"'.log" 2>&1; echo $? >"'"$dir"'/replica-'"$name"'.exit"' \
    replica "$DASHBOARD_BIN" serve --warehouse "$dir/warehouse.db" --port "$port" \
    --replica "$name" --trusted-proxy 127.0.0.2 --redis-port "$REDIS_PORT" \
    --sessions "${SESSIONS:-redis}" --ttl "${TTL:-120}" --refresh-after "${REFRESH_AFTER:-60}" \
    --refresh-every "$refresh" --threads 8 --keep-alive-requests 1 ${EXTRA_ARGS:-} \
    </dev/null >/dev/null 2>&1 &
  # The wrapper's pid is not the server's: find the server by its port.
  wait_ready "http://127.0.0.1:$port/readyz" "replica $name"
  local pid
  pid=$(ss -Hltnp "sport = :$port" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
  local var=PID_${name^^}
  sed -i "/^$var=/d" "$envfile"
  echo "$var=$pid" >>"$envfile"
}

stop_pid() {  # pid [signal]
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

case "$command" in
  start)
    if [ -z "${DASHBOARD_BIN:-}" ]; then
      "$root/scripts/deps.sh" build
      (cd "$root" && cmake --preset demo >/dev/null && cmake --build --preset demo --target dashboard)
      DASHBOARD_BIN=$root/build/demo/examples/dashboard
    fi
    [ -f "$envfile" ] && "$0" stop "$dir"
    mkdir -p "$dir/nginx-tmp"
    cat >"$envfile" <<EOF
DASHBOARD_BIN=$DASHBOARD_BIN
PORT=$(free_port)
PORT_A=$(free_port)
PORT_B=$(free_port)
REDIS_PORT=$(free_port)
VIEWER=viewer:viewer-pw
ADMIN=admin:admin-pw
SESSION_SECRET=$(openssl rand -hex 32)
EOF
    # shellcheck disable=SC1090
    source "$envfile"
    "$DASHBOARD_BIN" generate --warehouse "$dir/warehouse.db" --rows "${ROWS:-1000000}" >/dev/null

    cat >"$dir/redis.conf" <<EOF
bind 127.0.0.1
port $REDIS_PORT
dir $dir
save ""
appendonly no
daemonize no
EOF
    redis-server "$dir/redis.conf" </dev/null >"$dir/redis.log" 2>&1 &
    echo "PID_REDIS=$!" >>"$envfile"

    {
      echo "viewer:$(ssha viewer-pw)"
      echo "admin:$(ssha admin-pw)"
      # LOAD_USERS=N adds user1..userN (password load-pw, no group) for load
      # tests that act as many people, each with their own session.
      load_hash=$(ssha load-pw)
      for i in $(seq 1 "${LOAD_USERS:-0}"); do echo "user$i:$load_hash"; done
    } >"$dir/htpasswd"
    cat >"$dir/nginx.conf" <<EOF
daemon off;
# Workers run as whoever started the fleet: started by root, nginx would
# otherwise drop them to an unprivileged user that cannot read this folder
# (say under /root) or the htpasswd file.
user $(id -un) $(id -gn);
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/nginx-tmp/body;
  proxy_temp_path $dir/nginx-tmp/proxy;
  fastcgi_temp_path $dir/nginx-tmp/fastcgi;
  uwsgi_temp_path $dir/nginx-tmp/uwsgi;
  scgi_temp_path $dir/nginx-tmp/scgi;
  # The groups of each htpasswd user: what an SSO proxy would send.
  map \$remote_user \$recall_groups {
    admin  "viewer,admin";
    viewer "viewer";
    default "";
  }
  upstream dashboard {
    # Round-robin: no ip_hash, no sticky cookie. max_fails=0: a slow moment
    # never takes a replica out; a dead one refuses at once and nginx retries
    # the request on the other (proxy_next_upstream).
    server 127.0.0.1:$PORT_A max_fails=0;
    server 127.0.0.1:$PORT_B max_fails=0;
    # No keepalive: one connection per request (the replicas answer with
    # "Connection: close"). cpp-httplib gives a connection one of its threads
    # for as long as the connection lives, and nginx opens as many upstream
    # connections as it has requests in flight. Kept alive, 200 users need
    # 200 threads, most of them waking every 10 ms to poll an idle
    # connection, and a connection beyond the pool's threads waits for one
    # to go idle (seconds). One request per connection turns the pool's
    # queue into a first-come first-served queue of requests in front of 8
    # threads (docs/dashboard.md, "Load").
  }
  server {
    listen 127.0.0.1:$PORT;
    client_max_body_size 1m;
    # The replicas trust identity headers only from this source address. At
    # server level: upstream keepalive connections are shared by every
    # location, so one location without it would hand its 127.0.0.1
    # connections to the others.
    proxy_bind 127.0.0.2;
    # Liveness through the proxy, for a load balancer: no identity, no session.
    location = /healthz {
      proxy_pass http://dashboard;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location / {
      auth_basic "dashboard";
      auth_basic_user_file $dir/htpasswd;
      proxy_pass http://dashboard;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host:\$server_port;
      proxy_set_header X-Forwarded-User \$remote_user;
      proxy_set_header X-Forwarded-Groups \$recall_groups;
      proxy_next_upstream error timeout http_502 http_503;
      proxy_connect_timeout 1s;
    }
  }
}
EOF
    chmod -R a+rX "$dir"
    chmod a+rwx "$dir/nginx-tmp"
    nginx -p "$dir" -c "$dir/nginx.conf" </dev/null >"$dir/nginx.log" 2>&1 &
    echo "PID_NGINX=$!" >>"$envfile"
    for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    start_replica a
    start_replica b
    wait_ready "http://127.0.0.1:$PORT/healthz" "nginx" || true
    echo "fleet: http://127.0.0.1:$PORT/ (users viewer / viewer-pw and admin / admin-pw)"
    echo "fleet: replicas on :$PORT_A and :$PORT_B, Redis on :$REDIS_PORT; stop with: $0 stop $dir"
    ;;
  start-replica)
    start_replica "$replica_arg"
    ;;
  stop)
    [ -f "$envfile" ] || exit 0
    # shellcheck disable=SC1090
    source "$envfile"
    stop_pid "${PID_NGINX:-}" QUIT
    stop_pid "${PID_A:-}"
    stop_pid "${PID_B:-}"
    stop_pid "${PID_REDIS:-}"
    rm -f "$envfile"
    ;;
  env)
    cat "$envfile"
    ;;
  *)
    echo "usage: scripts/fleet.sh start|stop|env [DIR] | start-replica a|b [DIR]" >&2
    exit 2
    ;;
esac
