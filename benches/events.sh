#!/usr/bin/env bash
# benches/events.sh -- event invocation on each queue store: how fast the node accepts events
# (202s per second, CPU per accepted event) and how fast it drains a backlog.
#
# For each store (sqlite, nats) and each run:
#   accept: edge-proxy with `[queue] concurrency = 0` (it only accepts) takes DURATION seconds
#           of wrk POSTs (CONNS connections, a 200-byte body) to an event origin; reported: 202/s,
#           p99, and CPU per accepted event of edge-proxy (and of nats-server for nats), from
#           /proc utime+stime.
#   drain:  edge-proxy restarted on the same store with `concurrency = 16` invokes the backlog
#           (the `collect` sample function, which prints one line per event); reported: events
#           per second from start until `edge_async_queued_events` reads 0, and CPU per event.
# edge-proxy is pinned to CPU 0, wrk (and nats-server) to CPU 1. Medians over RUNS runs.
#
# Needs: wrk, nats-server (scripts/setup.sh --bench), a release edge-proxy and the guests
# (`make bench` builds them). Tunables (env): RUNS=3 DURATION=5 CONNS=16 STORES="sqlite nats"
# OUTDIR=target/bench/events-<timestamp>
set -u

RUNS=${RUNS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-16}
STORES=${STORES:-"sqlite nats"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EDGE=${EDGE_PROXY_BIN:-$ROOT/target/release/edge-proxy}
GUESTS=$ROOT/target/guests/wasm32-wasip2/guest
OUTDIR=${OUTDIR:-$ROOT/target/bench/events-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd)
PORT=18180
ADMIN=18181
NATS_PORT=18182

for tool in wrk nats-server curl python3; do
  command -v "$tool" >/dev/null || { echo "events.sh: $tool is missing (scripts/setup.sh --bench installs it)" >&2; exit 1; }
done
for f in "$EDGE" "$GUESTS/collect.wasm"; do
  [ -e "$f" ] || { echo "events.sh: $f is missing (make bench builds it)" >&2; exit 1; }
done

LOG_TAG=events
# shellcheck source=benches/processes.sh
. "$ROOT/benches/processes.sh"
HZ=$(getconf CLK_TCK)

cpu_ticks() { awk '{ line=$0; sub(/^.*\) /, "", line); split(line, a, " "); print a[12]+a[13] }' "/proc/$1/stat"; }


queued() {
  curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '$1 == "edge_async_queued_events" { print $2 }'
}

# config STORE CONCURRENCY DIR: the proxy's configuration.
config() {
  local store_keys
  if [ "$1" = sqlite ]; then
    store_keys="data-dir = \"$3/data\""
  else
    store_keys="backend = \"nats\"
nats-url = \"nats://127.0.0.1:$NATS_PORT\""
  fi
  cat <<EOF
version = 1
[[listeners]]
address = "127.0.0.1:$PORT"
[admin]
address = "127.0.0.1:$ADMIN"
[node]
worker-threads = 1
access-log = false
[queue]
$store_keys
concurrency = $2
max-events = 10000000
[functions.collect]
module = "$GUESTS/collect.wasm"
[origins.collect]
type = "function"
function = "collect"
invocation = "event"
[default-behavior]
origin = "collect"
EOF
}

cat >"$OUTDIR/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("x", 200)
wrk.headers["Content-Type"] = "text/plain"
EOF

RESULTS=$OUTDIR/results.tsv
printf 'store\trun\taccept_rps\tp99_us\tproxy_us_per_event\tnats_us_per_event\taccepted\tdrain_eps\tdrain_us_per_event\n' >"$RESULTS"

for store in $STORES; do
  for run in $(seq 1 "$RUNS"); do
    dir=$OUTDIR/$store-$run
    mkdir -p "$dir"
    nats_pid=""
    if [ "$store" = nats ]; then
      $CLIENT_CPU nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$dir/nats" >"$dir/nats.log" 2>&1 &
      nats_pid=$!; PIDS+=("$nats_pid")
      wait_port "$NATS_PORT" || exit 1
    fi
    config "$store" 0 "$dir" >"$dir/accept.toml"
    $SERVER_CPU "$EDGE" run --conf "$dir/accept.toml" >"$dir/accept.out" 2>"$dir/accept.err" &
    edge_pid=$!; PIDS+=("$edge_pid")
    wait_port "$PORT" || exit 1
    before=$(cpu_ticks "$edge_pid"); nats_before=0
    [ -n "$nats_pid" ] && nats_before=$(cpu_ticks "$nats_pid")
    $CLIENT_CPU timeout $((DURATION + 30)) wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency -s "$OUTDIR/post.lua" \
      "http://127.0.0.1:$PORT/collect" >"$dir/wrk.txt" 2>&1
    after=$(cpu_ticks "$edge_pid"); nats_after=0
    [ -n "$nats_pid" ] && nats_after=$(cpu_ticks "$nats_pid")
    accepted=$(curl -s "http://127.0.0.1:$ADMIN/metrics" | awk '/^edge_async_events_accepted_total/ { print $2 }')
    kill -TERM "$edge_pid"; wait "$edge_pid" 2>/dev/null
    rps=$(awk '/^Requests\/sec/ { print $2 }' "$dir/wrk.txt")
    p99=$(awk '$1 == "99%" { v=$2; n=v+0; if (v ~ /ms$/) n*=1000; else if (v ~ /[^m]s$/) n*=1000000; printf "%.0f", n }' "$dir/wrk.txt")
    proxy_us=$(awk -v t=$((after - before)) -v n="$accepted" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    nats_us=$(awk -v t=$((nats_after - nats_before)) -v n="$accepted" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    non202=$(grep -c "Non-2xx" "$dir/wrk.txt")
    [ "$non202" = 0 ] || log "$store run $run: wrk saw non-2xx answers: $(grep Non-2xx "$dir/wrk.txt")"

    config "$store" 16 "$dir" >"$dir/drain.toml"
    $SERVER_CPU "$EDGE" run --conf "$dir/drain.toml" >"$dir/drain.out" 2>"$dir/drain.err" &
    edge_pid=$!; PIDS+=("$edge_pid")
    wait_port "$ADMIN" || exit 1
    # From here: the node is up (its start-up is not drain time; it may have begun already).
    start=$(date +%s.%N)
    before=$(cpu_ticks "$edge_pid")
    while q=$(queued); [ "${q:-1}" != 0 ]; do sleep 0.05; done
    end=$(date +%s.%N)
    after=$(cpu_ticks "$edge_pid")
    kill -TERM "$edge_pid"; wait "$edge_pid" 2>/dev/null
    drain_eps=$(awk -v n="$accepted" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / (e - s) }')
    drain_us=$(awk -v t=$((after - before)) -v n="$accepted" -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')
    [ -n "$nats_pid" ] && { kill -TERM "$nats_pid"; wait "$nats_pid" 2>/dev/null; }
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$store" "$run" "$rps" "$p99" "$proxy_us" "$nats_us" \
      "$accepted" "$drain_eps" "$drain_us" >>"$RESULTS"
    log "$store run $run: $rps 202/s, $proxy_us us/event (+$nats_us nats), drained $accepted at $drain_eps/s, $drain_us us/event"
  done
done

python3 - "$RESULTS" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
print("| store | 202/s | p99 µs | CPU µs per accepted event (proxy) | (nats-server) | backlog drained, events/s | CPU µs per drained event |")
print("|---|---:|---:|---:|---:|---:|---:|")
for store in dict.fromkeys(r["store"] for r in rows):
    rs = [r for r in rows if r["store"] == store]
    med = lambda k: statistics.median(float(r[k]) for r in rs)
    print(f"| {store} | {med('accept_rps'):,.0f} | {med('p99_us'):,.0f} | {med('proxy_us_per_event'):.1f} | "
          f"{med('nats_us_per_event'):.1f} | {med('drain_eps'):,.0f} | {med('drain_us_per_event'):.1f} |")
EOF
log "results: $RESULTS"
