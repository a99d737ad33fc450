#!/usr/bin/env bash
# benches/start.sh -- how long `edge-proxy run` takes to answer on conf/edge.toml, with an
# empty compiled-module cache (cold: every component compiled) and with a filled one (warm).
# RUNS=3 of each; prints each time and the median. Needs the release build and the sample
# hooks (`make run` builds both). The ports of conf/edge.toml (8080, 9080) must be free.
set -u
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EDGE=${EDGE_PROXY_BIN:-$ROOT/target/release/edge-proxy}
CONF=${CONF:-$ROOT/conf/edge.toml}
URL=${URL:-http://127.0.0.1:8080/}
CACHE=$(mktemp -d "${TMPDIR:-/tmp}/edge-start.XXXXXX")
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$CACHE"' EXIT

once() { # prints seconds until $URL answers
  local t0 t1
  t0=$(date +%s.%N)
  XDG_CACHE_HOME=$CACHE "$EDGE" run --conf "$CONF" > /dev/null 2>&1 &
  PID=$!
  until curl -so /dev/null "$URL"; do sleep 0.01; done
  t1=$(date +%s.%N)
  kill "$PID"; wait "$PID" 2>/dev/null; PID=
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

cold=(); warm=()
for _ in $(seq "$RUNS"); do
  rm -rf "${CACHE:?}"/*
  cold+=("$(once)")
  warm+=("$(once)")
done
echo "cold (empty module cache): ${cold[*]} s, median $(printf '%s\n' "${cold[@]}" | median) s"
echo "warm (module cache filled): ${warm[*]} s, median $(printf '%s\n' "${warm[@]}" | median) s"
