#!/usr/bin/env bash
# benches/workers.sh -- how edge-proxy's throughput scales with node.worker-threads.
#
# Proxies a 1 KiB file from an nginx origin (one worker; http origin, no hooks, no access log)
# with worker-threads = 1, then 2, ... up to WORKERS, each RUNS times; wrk (-t2 -c$CONNS) loads
# it for DURATION seconds. Prints req/s and the proxy's CPU time per request (utime + stime from
# /proc) per run and their medians. On a machine with as many cores as workers, wrk and nginx
# share those cores: the figure is how the node scales beside its load generator and origin.
# Needs wrk, nginx and the release build. Tunables (env): WORKERS=2 RUNS=3 DURATION=10 CONNS=32
set -u
WORKERS=${WORKERS:-2}
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-32}
PORT=${PORT:-18290}
ORIGIN_PORT=${ORIGIN_PORT:-18292}
ADMIN_PORT=${ADMIN_PORT:-18291}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EDGE=${EDGE_PROXY_BIN:-$ROOT/target/release/edge-proxy}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/edge-workers.XXXXXX")
PID=
ORIGIN=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; [ -n "$ORIGIN" ] && kill "$ORIGIN" 2>/dev/null; wait 2>/dev/null' EXIT
for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "workers.sh: $tool is missing (scripts/setup.sh --bench installs it)" >&2; exit 1; }
done
mkdir -p "$OUT/site" "$OUT/logs"
head -c 1024 /dev/zero | tr '\0' 'x' > "$OUT/site/1k"
cat > "$OUT/origin.conf" <<CONF
worker_processes 1; pid $OUT/origin.pid; error_log $OUT/logs/origin.err warn;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:$ORIGIN_PORT; root $OUT/site; location / { try_files \$uri =404; } } }
CONF
nginx -c "$OUT/origin.conf" -p "$OUT" -g 'daemon off;' &
ORIGIN=$!
ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

for w in $(seq "$WORKERS"); do
  cat > "$OUT/edge.toml" <<CONF
version = 1
[[listeners]]
address = "127.0.0.1:$PORT"
[admin]
address = "127.0.0.1:$ADMIN_PORT"
[node]
worker-threads = $w
access-log = false
[origins.site]
type = "http"
servers = ["127.0.0.1:$ORIGIN_PORT"]
[default-behavior]
origin = "site"
CONF
  "$EDGE" run --conf "$OUT/edge.toml" > /dev/null 2>&1 &
  PID=$!
  until curl -so /dev/null "http://127.0.0.1:$PORT/1k"; do sleep 0.05; done
  wrk -t2 -c"$CONNS" -d2s "http://127.0.0.1:$PORT/1k" > /dev/null # warm-up
  rps_all=(); cpu_all=()
  for _ in $(seq "$RUNS"); do
    before=$(ticks)
    wrk -t2 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$PORT/1k" > "$OUT/wrk.txt"
    after=$(ticks)
    requests=$(awk '/requests in/ { print $1 }' "$OUT/wrk.txt")
    rps_all+=("$(awk '/^Requests\/sec/ { printf "%d", $2 }' "$OUT/wrk.txt")")
    cpu_all+=("$(python3 -c "print(f'{($after - $before) / $HZ * 1e6 / $requests:.1f}')")")
  done
  kill "$PID"; wait "$PID" 2>/dev/null; PID=
  echo "worker-threads = $w: req/s ${rps_all[*]} (median $(printf '%s\n' "${rps_all[@]}" | median)); CPU µs/request ${cpu_all[*]} (median $(printf '%s\n' "${cpu_all[@]}" | median))"
done
