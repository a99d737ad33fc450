#!/usr/bin/env bash
# benches/instructions.sh -- user-space instructions per request, counted by callgrind.
#
# CPU time per request (load.sh) swings by ±30 % between runs on a shared box; instruction
# counts do not, so they show small changes and what a request costs where. Each server runs
# alone under `valgrind --tool=callgrind` with counting off; after a warm-up, counting is
# switched on for one bounded wrk run, then the total is divided by the requests wrk completed.
# Targets (the servers and configs of load.sh, written by it with CONFIGS_ONLY=1):
#   nginx-plain, nginx-njs (two scripted header hooks), nginx-cache-hit (one process:
#   master_process off), pingora-bare,
#   pingora-wasm4 (pingora-bare calling an empty wasm export at the four hook points), edge-off,
#   edge-noop4, edge-headers, edge-cache-hit, edge-noop4-sync, edge-headers-sync; and
#   edge-origin-response (edge-noop4's configuration with its origin-response hook alone).
# wasmtime's pooling allocator reserves address space for every slot up front, more than
# valgrind can map at the default `max-concurrency`; the hook configurations run here with
# `max-concurrency = 2` (a handful of slots; under valgrind's slowness a call that yields at an
# epoch tick may overlap one other). A warm call never touches the allocator, so what is counted
# is the same path. A run where any response was not 2xx (a throttled call) is refused.
#
# CACHE_SIM=1 also simulates one core's caches (an L1i and L1d of 32 and 48 KiB, the L2 of
# 2 MiB as the last level) and adds L1 instruction, L1 data and L2 misses per request: under
# load the request path finds little of its code in L1i, and a miss costs a dozen cycles or
# more, so misses weigh beside instructions. A model (no prefetching), for comparing builds
# and configurations, not a measurement of this CPU.
# What it does not count: the kernel (loopback TCP is ~a third of each request's CPU time),
# and the slow-down under valgrind changes batching (more requests per wakeup), the same for
# every target. Compare ratios, as with load.sh.
#
# Bounds: servers bind 127.0.0.1; every wrk run is bounded by `timeout`; every process started
# is killed by PID on exit.
# Needs: valgrind, wrk, nginx, curl (scripts/setup.sh --bench installs them) and the release
# builds `make bench` makes.
# Tunables (env): DURATION=10 CONNS=8 PATHS=/1k ONLY=regex CACHE_SIM=0 OUTDIR=target/bench/instr-<timestamp>
set -u

DURATION=${DURATION:-10}
CONNS=${CONNS:-8}
PATHS=${PATHS:-/1k}
ONLY=${ONLY:-.}
CACHE_SIM=${CACHE_SIM:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EDGE=${EDGE_PROXY_BIN:-$ROOT/target/release/edge-proxy}
BARE=${BARE_FORWARDER_BIN:-$ROOT/target/release/bare-forwarder}
OUTDIR=${OUTDIR:-$ROOT/target/bench/instr-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd) # absolute: the servers run with other working directories
RUN=$OUTDIR/run
RESULTS=$OUTDIR/results.tsv
ORIGIN_PORT=18080
GUESTS=$ROOT/target/guests/wasm32-wasip2/guest
SIM=()
[ "$CACHE_SIM" = 1 ] && SIM=(--cache-sim=yes --I1=32768,8,64 --D1=49152,12,64 --LL=2097152,16,64)

for tool in valgrind callgrind_control callgrind_annotate wrk nginx curl; do
  command -v "$tool" >/dev/null || { echo "instructions.sh: $tool is missing (scripts/setup.sh --bench installs it)" >&2; exit 1; }
done
OUTDIR=$OUTDIR CONFIGS_ONLY=1 "$ROOT/benches/load.sh" || exit 1

LOG_TAG=instr
# shellcheck source=benches/processes.sh
. "$ROOT/benches/processes.sh"

# per TOTAL REQUESTS : TOTAL per request, or - when not counted.
per() { [ "$1" = - ] && echo - || echo $(($1 / $2)); }

# count NAME PORT CMD... : instructions per request of CMD serving PORT, for each body path.
count() {
  local name=$1 port=$2 path out pid n ir
  shift 2
  [[ $name =~ $ONLY ]] || return 0
  for path in $PATHS; do
    out=$RUN/callgrind.$name${path//\//_}
    valgrind --tool=callgrind --instr-atstart=no "${SIM[@]}" --callgrind-out-file="$out" "$@" \
      >"$RUN/logs/$name-callgrind.log" 2>&1 &
    pid=$!; PIDS+=("$pid")
    wait_200 "http://127.0.0.1:$port$path" || return 1
    curl -s -o /dev/null "http://127.0.0.1:$port$path" # a cache target's second request hits
    timeout 30 wrk -t1 -c"$CONNS" -d3s "http://127.0.0.1:$port$path" >/dev/null 2>&1
    callgrind_control -i on "$pid" >/dev/null 2>&1
    n=$(timeout $((DURATION + 30)) wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port$path" |
      awk '/requests in/ {n = $1} /Non-2xx/ {bad = 1} END {print bad ? 0 : n}')
    callgrind_control -i off "$pid" >/dev/null 2>&1
    callgrind_control -d  "$pid" >/dev/null 2>&1
    sleep 1
    kill -TERM "$pid"; wait "$pid" 2>/dev/null
    # Totals: Ir, then with the cache simulation Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw.
    read -r ir i1 d1 ll < <(callgrind_annotate "$out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {
      for (i = 1; i <= NF; i++) gsub(",", "", $i)
      if ($3 ~ /^[0-9]+$/ && NF >= 17) print $1, $7, $9 + $11, $13 + $15 + $17; else print $1, "-", "-", "-" }')
    if [ -z "$ir" ] || [ "${n:-0}" -eq 0 ]; then log "$name $path: no count"; return 1; fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$path" "$n" "$ir" "$((ir / n))" \
      "$(per "$i1" "$n")" "$(per "$d1" "$n")" "$(per "$ll" "$n")" >>"$RESULTS"
    log "$(printf '%-15s %-6s %7s requests %14s instructions %8s per request' "$name" "$path" "$n" "$ir" "$((ir / n))")"
  done
}

printf 'name\tpath\trequests\tinstructions\tper_request\ti1_misses\td1_misses\tl2_misses\n' >"$RESULTS"
nginx -c "$RUN/origin.conf" -p "$RUN" -g 'daemon off;' >"$RUN/logs/origin.log" 2>&1 &
PIDS+=("$!")
wait_200 "http://127.0.0.1:$ORIGIN_PORT/1k" || exit 1

ONE_NGINX=(-p "$RUN" -g 'daemon off; master_process off;')
count nginx-plain 18081 nginx -c "$RUN/nginx-proxy.conf" "${ONE_NGINX[@]}"
count nginx-njs 18083 nginx -c "$RUN/nginx-proxy.conf" "${ONE_NGINX[@]}"
count nginx-cache-hit 18095 nginx -c "$RUN/nginx-cache.conf" "${ONE_NGINX[@]}"
count pingora-bare 18087 "$BARE" 127.0.0.1:18087 "127.0.0.1:$ORIGIN_PORT"
count pingora-wasm4 18088 "$BARE" 127.0.0.1:18088 "127.0.0.1:$ORIGIN_PORT" "$GUESTS/fixture_empty_export.wasm"
count edge-off 18090 "$EDGE" run --conf "$RUN/edge-off.toml"
for hooked in edge-noop4 edge-headers edge-noop4-sync edge-headers-sync; do
  # Under valgrind a call takes ~100 times as long: the slow-lane threshold (and the -sync rows'
  # budget) grow to match, so every row's calls stay on the synchronous path, as they do
  # without valgrind.
  sed -e 's/^module = .*/&\nmax-concurrency = 2/' -e 's/^cpu-budget-ms = 1$/cpu-budget-ms = 100/' \
    -e 's/^\[node\]$/&\nslow-lane-after-ms = 100/' "$RUN/$hooked.toml" >"$RUN/$hooked-valgrind.toml"
done
# An origin-response hook alone (edge-noop4 without its other three associations): the origin
# event that shows the request as sent, with no origin-request before it.
sed -e '/^viewer-request = /d' -e '/^origin-request = /d' -e '/^viewer-response = /d' \
  "$RUN/edge-noop4-valgrind.toml" >"$RUN/edge-origin-response-valgrind.toml"
count edge-noop4 18091 "$EDGE" run --conf "$RUN/edge-noop4-valgrind.toml"
count edge-origin-response 18091 "$EDGE" run --conf "$RUN/edge-origin-response-valgrind.toml"
count edge-headers 18092 "$EDGE" run --conf "$RUN/edge-headers-valgrind.toml"
count edge-cache-hit 18094 "$EDGE" run --conf "$RUN/edge-cache-hit.toml"
count edge-noop4-sync 18096 "$EDGE" run --conf "$RUN/edge-noop4-sync-valgrind.toml"
count edge-headers-sync 18097 "$EDGE" run --conf "$RUN/edge-headers-sync-valgrind.toml"

python3 - "$RESULTS" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {(r["name"], r["path"]): int(r["per_request"]) for r in rows}
print("| target | body | instructions/request | / nginx-plain | / pingora-bare |")
print("|---|---|---:|---:|---:|")
for r in rows:
    k = (r["name"], r["path"])
    ratio = lambda base: f'{by[k] / by[(base, r["path"])]:.2f}' if (base, r["path"]) in by else "-"
    print(f'| {k[0]} | {k[1]} | {by[k]:,} | {ratio("nginx-plain")} | {ratio("pingora-bare")} |')
pairs = [("edge-off", "pingora-bare"), ("pingora-wasm4", "pingora-bare"), ("edge-noop4", "edge-off"),
         ("edge-origin-response", "edge-off"), ("edge-headers", "edge-off"),
         ("edge-noop4-sync", "edge-off"), ("edge-headers-sync", "edge-off"), ("edge-cache-hit", "nginx-cache-hit")]
for a, b in pairs:
    for p in sorted({r["path"] for r in rows}):
        if (a, p) in by and (b, p) in by:
            print(f"\n{a} / {b} ({p}): {by[(a, p)] / by[(b, p)]:.2f}", end="")
# The header hooks' target, counted: what two hooks add to a request beside what njs's two add.
for p in sorted({r["path"] for r in rows}):
    keys = [("edge-headers", p), ("edge-off", p), ("nginx-njs", p), ("nginx-plain", p)]
    if all(k in by for k in keys):
        ours, njs = by[keys[0]] - by[keys[1]], by[keys[2]] - by[keys[3]]
        print(f"\nedge-headers' increment / nginx-njs's ({p}): {ours:,} / {njs:,} = {ours / njs:.2f}", end="")
print()
simulated = [r for r in rows if r["i1_misses"] != "-"]
if simulated:
    print("\n| target | body | L1i misses/request | L1d misses/request | L2 misses/request |")
    print("|---|---|---:|---:|---:|")
    for r in simulated:
        print(f'| {r["name"]} | {r["path"]} | {int(r["i1_misses"]):,} | {int(r["d1_misses"]):,} | {int(r["l2_misses"]):,} |')
EOF
log "results: $RESULTS"
