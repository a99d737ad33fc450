#!/usr/bin/env bash
# benches/soak.sh -- edge-proxy under load while its configuration is reloaded all along.
#
# Serves a 1 KiB file through a viewer-response hook whose module alternates between two
# versions (fixture-noop, fixture-header-work) at every reload; wrk loads /1k for SOAK_SECONDS
# while the config is rewritten and SIGHUP sent every RELOAD_EVERY seconds. Passes when wrk saw
# no error of any kind (non-2xx, connect, read, write, timeout), every reload succeeded, and RSS
# grew less than 10 % from the end of the first fifth of the run to the end. (RSS rises while
# the first few hundred reloads warm the instance pool's slots for the new modules, then stays
# flat: the first fifth is that warm-up. Both figures are printed.) Prints the figures
# benches/README.md records.
#
# Needs wrk and release builds of edge-proxy and the two fixtures (`make soak` builds them).
# Tunables (env): SOAK_SECONDS=300 RELOAD_EVERY=2 CONNS=16 WARMUP=15 PORT=18190 ADMIN_PORT=18191
set -u

SOAK_SECONDS=${SOAK_SECONDS:-300}
RELOAD_EVERY=${RELOAD_EVERY:-2}
CONNS=${CONNS:-16}
WARMUP=${WARMUP:-15}
PORT=${PORT:-18190}
ADMIN_PORT=${ADMIN_PORT:-18191}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EDGE=${EDGE_PROXY_BIN:-$ROOT/target/release/edge-proxy}
GUESTS=$ROOT/target/guests/wasm32-wasip2/guest
OUT=$(mktemp -d "${TMPDIR:-/tmp}/edge-soak.XXXXXX")
PID=

command -v wrk >/dev/null || { echo "soak.sh: wrk is missing (scripts/setup.sh --bench installs it)" >&2; exit 1; }
for f in "$EDGE" "$GUESTS/fixture_noop.wasm" "$GUESTS/fixture_header_work.wasm"; do
  [ -e "$f" ] || { echo "soak.sh: $f is missing (make soak builds it)" >&2; exit 1; }
done
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT

mkdir -p "$OUT/site"
head -c 1024 /dev/zero | tr '\0' 'x' > "$OUT/site/1k"

write_config() { # $1: module
  cat > "$OUT/edge.toml.tmp" <<CONF
version = 1
[[listeners]]
address = "127.0.0.1:$PORT"
[admin]
address = "127.0.0.1:$ADMIN_PORT"
[node]
access-log = false
[origins.site]
type = "files"
root = "$OUT/site"
[functions.hook]
module = "$1"
[default-behavior]
origin = "site"
[default-behavior.hooks]
viewer-response = { function = "hook" }
CONF
  mv "$OUT/edge.toml.tmp" "$OUT/edge.toml"
}

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }

write_config "$GUESTS/fixture_noop.wasm"
"$EDGE" run --conf "$OUT/edge.toml" > /dev/null 2> "$OUT/edge.err" &
PID=$!
for _ in $(seq 100); do curl -fso /dev/null "http://127.0.0.1:$PORT/1k" && break; sleep 0.1; done
curl -fso /dev/null "http://127.0.0.1:$PORT/1k" || { echo "soak.sh: edge-proxy did not start" >&2; cat "$OUT/edge.err" >&2; exit 1; }

timeout $((SOAK_SECONDS + 30)) wrk -t2 -c"$CONNS" -d"${SOAK_SECONDS}s" --latency "http://127.0.0.1:$PORT/1k" > "$OUT/wrk.txt" 2>&1 &
WRK=$!
sleep "$WARMUP"
RSS_FIRST=$(rss_kb)
reloads=0
version=0
started=$(date +%s)
while kill -0 "$WRK" 2>/dev/null && [ $(( $(date +%s) - started )) -lt $((SOAK_SECONDS - WARMUP - 3)) ]; do
  version=$((1 - version))
  if [ $version = 1 ]; then write_config "$GUESTS/fixture_header_work.wasm"; else write_config "$GUESTS/fixture_noop.wasm"; fi
  kill -HUP "$PID"
  reloads=$((reloads + 1))
  sleep "$RELOAD_EVERY"
  echo "$(( $(date +%s) - started )) $(rss_kb)" >> "$OUT/rss.txt"
  [ -z "${RSS_BASE:-}" ] && [ $(( $(date +%s) - started )) -ge $((SOAK_SECONDS / 5)) ] && RSS_BASE=$(rss_kb)
done
RSS_LAST=$(rss_kb)
wait "$WRK"
metrics=$(curl -fs "http://127.0.0.1:$ADMIN_PORT/metrics")
ok=$(echo "$metrics" | awk '/^edge_config_reloads_total\{result="ok"\}/ {print $2}')
bad=$(echo "$metrics" | awk '/^edge_config_reloads_total\{result="error"\}/ {print $2}')
requests=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
rps=$(awk '/^Requests\/sec/ {print $2}' "$OUT/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$OUT/wrk.txt")
errors=$(grep -E "Non-2xx|Socket errors" "$OUT/wrk.txt" || true)
RSS_BASE=${RSS_BASE:-$RSS_FIRST}
growth=$(python3 -c "print(f'{($RSS_LAST - $RSS_BASE) * 100 / $RSS_BASE:.1f}')")

echo "soak: ${SOAK_SECONDS}s, $CONNS connections, reload every ${RELOAD_EVERY}s"
echo "  requests      $requests ($rps req/s, p99 $p99)"
echo "  reloads       sent $reloads, ok ${ok:-0}, failed ${bad:-0}"
echo "  errors        ${errors:-none}"
echo "  RSS           ${RSS_FIRST} kB before reloads, ${RSS_BASE} kB after the first fifth, ${RSS_LAST} kB at the end ($growth %); by minute (kB):" \
  "$(awk '{ m = int($1 / 60); last[m] = $2 } END { for (i = 0; i in last; i++) printf "%s ", last[i] }' "$OUT/rss.txt")"
status=0
[ -z "$errors" ] || { echo "soak.sh: FAIL: wrk saw errors" >&2; status=1; }
[ "$reloads" -gt 0 ] && [ "${bad:-0}" = 0 ] && [ "${ok:-0}" -ge "$reloads" ] || { echo "soak.sh: FAIL: not every reload succeeded" >&2; grep -i "reload" "$OUT/edge.err" | tail -5 >&2; status=1; }
python3 -c "import sys; sys.exit(0 if ($RSS_LAST - $RSS_BASE) * 100 < 10 * $RSS_BASE else 1)" || { echo "soak.sh: FAIL: RSS grew $growth %" >&2; status=1; }
[ $status = 0 ] && echo "soak: PASS"
exit $status
