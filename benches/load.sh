#!/usr/bin/env bash
# benches/load.sh -- edge-proxy side by side with its peers, HTTP/1.1 on loopback.
#
# Starts an nginx origin (1 KiB and 100 KiB static bodies; it echoes the request header the
# hooks add -- x-edge-viewer from the peers, x-viewer from edge-proxy's, as CloudFront forbids
# hooks to set X-Edge-* -- back as x-seen-viewer), then measures with wrk, RUNS times over:
#   nginx-plain, nginx-njs (two scripted header hooks), nginx-cache-hit (proxy_cache),
#   haproxy-plain, haproxy-lua (two scripted header hooks), pingora-bare (a bare Pingora
#   forwarder with jemalloc, benches/src/bin/bare-forwarder.rs), pingora-wasm4 (the same
#   forwarder calling an empty wasm export at the four hook points: the floor of four hooks on
#   wasmtime), and edge-proxy as:
#   edge-off (no hooks), edge-noop4 (a no-op hook at each of the four triggers),
#   edge-headers (the peers' header work in two warm hooks), edge-headers-fresh (the same with
#   isolation = "per-request"), edge-cache-hit (the object served from the edge cache), and
#   edge-noop4-sync, edge-headers-sync (edge-noop4 and edge-headers with cpu-budget-ms = 1, which
#   keeps the hooks on the synchronous path, where the others start and stay while no call
#   outgrows it: the two should cost the same).
# Every server runs one worker, pinned to CPU 0; wrk runs on CPU 1. Reported per target and
# body: req/s, p50/p99 latency and the server's CPU time per request (utime+stime from /proc,
# the least noisy figure on a shared box; also split into user and system time), medians over
# the runs, with ratios to nginx-plain, nginx-njs and pingora-bare from the same runs.
#
# Bounds: every server binds 127.0.0.1; wrk targets only 127.0.0.1; each wrk run is bounded
# by `timeout`; no new run starts after MAX_TOTAL seconds; every process started is recorded
# by PID and killed by PID on exit.
#
# Needs: wrk nginx libnginx-mod-http-js haproxy (scripts/setup.sh --bench installs them) and
# release builds of edge-proxy and bare-forwarder plus the guests (`make bench` builds them).
# Tunables (env): RUNS=3 DURATION=8 CONNS=32 WARMUP=1 MAX_TOTAL=3600 ONLY=regex
#   PATHS="/1k /100k"  OUTDIR=target/bench/load-<timestamp>
#   CONFIGS_ONLY=1 writes the configs and bodies into OUTDIR/run and exits (instructions.sh
#   runs the same servers under callgrind).
set -u

RUNS=${RUNS:-3}
DURATION=${DURATION:-8}
CONNS=${CONNS:-32}
WARMUP=${WARMUP:-1}
MAX_TOTAL=${MAX_TOTAL:-3600}
ONLY=${ONLY:-.}
PATHS=${PATHS:-"/1k /100k"}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EDGE=${EDGE_PROXY_BIN:-$ROOT/target/release/edge-proxy}
BARE=${BARE_FORWARDER_BIN:-$ROOT/target/release/bare-forwarder}
GUESTS=$ROOT/target/guests/wasm32-wasip2/guest
OUTDIR=${OUTDIR:-$ROOT/target/bench/load-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUTDIR" && OUTDIR=$(cd "$OUTDIR" && pwd) # absolute: the servers run with other working directories
RUN=$OUTDIR/run
RESULTS=$OUTDIR/results.tsv

ORIGIN_PORT=18080
NGX_PLAIN_PORT=18081
NGX_NJS_PORT=18083
HAP_PLAIN_PORT=18084
HAP_LUA_PORT=18086
BARE_PORT=18087
WASM4_PORT=18088
NGX_CACHE_PORT=18095
EDGE_PORTS=(18090 18091 18092 18093 18094 18096 18097)

for tool in wrk nginx haproxy curl python3; do
  command -v "$tool" >/dev/null || { echo "load.sh: $tool is missing (scripts/setup.sh --bench installs it)" >&2; exit 1; }
done
for f in "$EDGE" "$BARE" "$GUESTS/fixture_noop.wasm" "$GUESTS/fixture_header_work.wasm" "$GUESTS/fixture_empty_export.wasm"; do
  [ -e "$f" ] || { echo "load.sh: $f is missing (make bench builds it)" >&2; exit 1; }
done

mkdir -p "$RUN/www" "$RUN/logs" "$RUN/ngxcache"
chmod 755 "$OUTDIR" "$RUN" "$RUN/www"

LOG_TAG=load
# shellcheck source=benches/processes.sh
. "$ROOT/benches/processes.sh"

# start_bg NAME CMD... : a server in the background, pinned, logs to logs/NAME.log.
start_bg() {
  local name=$1; shift
  $SERVER_CPU "$@" >"$RUN/logs/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
  log "started $name pid $LAST_PID"
}

# tree_cpu PID : CPU ticks of PID and its direct children (nginx workers), as "utime:stime".
tree_cpu() {
  cat /proc/[0-9]*/stat 2>/dev/null | awk -v r="$1" '
    { pid=$1; line=$0; sub(/^.*\) /, "", line); split(line, a, " ")
      if (pid==r || a[2]==r) { u+=a[12]; s+=a[13] } }
    END { printf "%d:%d", u, s }'
}


to_us() {
  awk -v v="$1" 'BEGIN{n=v+0; if (v ~ /us$/) m=1; else if (v ~ /ms$/) m=1000; else if (v ~ /s$/) m=1000000; else m=1; printf "%.0f", n*m}'
}

# measure RUN NAME URL PID : one bounded wrk run; appends a row to results.tsv.
measure() {
  local run=$1 name=$2 url=$3 pid=$4 path out reqs c0 c1 hz cpu user sys rps p50 p99 errs check
  [[ $name =~ $ONLY ]] || return 0
  case "$url" in http://127.0.0.1:*) ;; *) log "refusing non-loopback URL $url"; return 1 ;; esac
  if (( SECONDS > MAX_TOTAL )); then log "MAX_TOTAL reached, skipping $name $url"; return 0; fi
  path=/${url#http://*/}
  check=$(curl -s -o /dev/null -m 5 -D - "$url" | tr -d '\r' | awk '
    NR==1 {c=$2}
    tolower($1)=="x-seen-viewer:" && $2!="" {v="req-hdr"}
    tolower($1)=="strict-transport-security:" {s="sts"}
    tolower($1)=="x-cache:" {x=$2}
    END {printf "%s %s %s %s", c, (v?v:"-"), (s?s:"-"), (x?x:"-")}')
  timeout $((WARMUP + 5)) $CLIENT_CPU wrk -t1 -c"$CONNS" -d"${WARMUP}s" "$url" >/dev/null 2>&1
  c0=$(tree_cpu "$pid")
  out=$(timeout $((DURATION + 10)) $CLIENT_CPU wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "$url" 2>&1)
  c1=$(tree_cpu "$pid")
  echo "$out" >"$RUN/logs/wrk-$run-$name-${path//\//_}.txt"
  hz=$(getconf CLK_TCK)
  reqs=$(awk '/requests in/{print $1}' <<<"$out"); reqs=${reqs:-0}
  # per_req FIELD : CPU µs per request in utime (1), stime (2) or both (0).
  per_req() {
    awk -v a="$c0" -v b="$c1" -v n="$reqs" -v hz="$hz" -v f="$1" 'BEGIN{
      split(a, x, ":"); split(b, y, ":")
      t = f == 0 ? y[1] + y[2] - x[1] - x[2] : y[f] - x[f]
      if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print "-" }'
  }
  cpu=$(per_req 0); user=$(per_req 1); sys=$(per_req 2)
  rps=$(awk '/^Requests\/sec:/{print $2}' <<<"$out")
  p50=$(to_us "$(awk '$1=="50%"{print $2}' <<<"$out")")
  p99=$(to_us "$(awk '$1=="99%"{print $2}' <<<"$out")")
  errs=$(awk '/Non-2xx/{n+=$NF} /Socket errors/{split($0,a,/[ ,]+/); n+=a[4]+a[6]+a[8]+a[10]} END{print n+0}' <<<"$out")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$name" "$path" "${rps:-0}" "$p50" "$p99" "$cpu" "$errs" "$check" "$user" "$sys" >>"$RESULTS"
  log "$(printf 'run %s %-18s %-6s %9s req/s p50 %5sus p99 %6sus cpu %6s us/req (user %s, sys %s) errors %s [%s]' "$run" "$name" "$path" "${rps:-?}" "$p50" "$p99" "$cpu" "$user" "$sys" "$errs" "$check")"
}

# ------------------------------------------------------------------------------ configs
head -c 1024 /dev/zero | tr '\0' 'a' >"$RUN/www/1k"
head -c 102400 /dev/zero | tr '\0' 'b' >"$RUN/www/100k"
chmod 644 "$RUN/www/"*

TEMP_PATHS="client_body_temp_path $RUN/tmp_body; proxy_temp_path $RUN/tmp_proxy; fastcgi_temp_path $RUN/tmp_fcgi; uwsgi_temp_path $RUN/tmp_uwsgi; scgi_temp_path $RUN/tmp_scgi;"
NGX_HTTP="access_log off; sendfile on; tcp_nopush off; tcp_nodelay on; keepalive_requests 1000000; keepalive_timeout 60s; default_type application/octet-stream; server_tokens off; $TEMP_PATHS"
PROXY_LOC="proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection \"\"; proxy_buffers 16 16k; proxy_buffer_size 16k; proxy_busy_buffers_size 32k;"
UPSTREAM="upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; keepalive_requests 1000000; }"

cat >"$RUN/origin.conf" <<EOF
worker_processes 1; pid $RUN/origin.pid; error_log $RUN/logs/origin.err warn;
events { worker_connections 4096; }
http { $NGX_HTTP
  server { listen 127.0.0.1:$ORIGIN_PORT; root $RUN/www; etag off;
    add_header X-Seen-Viewer \$http_x_edge_viewer\$http_x_viewer always;
    location / { try_files \$uri =404; } } }
EOF

cat >"$RUN/hooks.js" <<'EOF'
function viewer_request(r) { var ua = r.headersIn['User-Agent'] || ''; return ua.length > 0 ? 'njs-ua' : 'njs'; }
function viewer_response(r) {
    r.headersOut['Strict-Transport-Security'] = 'max-age=63072000; includeSubDomains';
    r.headersOut['X-Content-Type-Options'] = 'nosniff';
}
export default { viewer_request, viewer_response };
EOF

cat >"$RUN/nginx-proxy.conf" <<EOF
load_module /usr/lib/nginx/modules/ngx_http_js_module.so;
worker_processes 1; pid $RUN/nginx-proxy.pid; error_log $RUN/logs/nginx-proxy.err warn;
events { worker_connections 4096; }
http { $NGX_HTTP
  js_import hooks from $RUN/hooks.js;
  js_set \$viewer_hdr hooks.viewer_request;
  $UPSTREAM
  server { listen 127.0.0.1:$NGX_PLAIN_PORT; location / { $PROXY_LOC } }
  server { listen 127.0.0.1:$NGX_NJS_PORT;
    location / { $PROXY_LOC proxy_set_header X-Edge-Viewer \$viewer_hdr; js_header_filter hooks.viewer_response; } } }
EOF

cat >"$RUN/nginx-cache.conf" <<EOF
worker_processes 1; pid $RUN/nginx-cache.pid; error_log $RUN/logs/nginx-cache.err warn;
events { worker_connections 4096; }
http { $NGX_HTTP
  proxy_cache_path $RUN/ngxcache levels=1:2 keys_zone=edge:10m max_size=256m inactive=10m use_temp_path=off;
  $UPSTREAM
  server { listen 127.0.0.1:$NGX_CACHE_PORT;
    location / { $PROXY_LOC proxy_cache edge; proxy_cache_valid 200 10m;
      proxy_ignore_headers Cache-Control Expires Set-Cookie; add_header X-Cache \$upstream_cache_status; } } }
EOF

cat >"$RUN/hooks.lua" <<'EOF'
core.register_action("viewer_req", { "http-req" }, function(txn)
  local ua = txn.sf:req_fhdr("user-agent") or ""
  txn.http:req_set_header("x-edge-viewer", (#ua > 0) and "lua-ua" or "lua")
end)
core.register_action("viewer_resp", { "http-res" }, function(txn)
  txn.http:res_set_header("strict-transport-security", "max-age=63072000; includeSubDomains")
  txn.http:res_set_header("x-content-type-options", "nosniff")
end)
EOF

cat >"$RUN/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
    lua-load $RUN/hooks.lua
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 30s
    http-reuse safe
frontend hap_plain
    bind 127.0.0.1:$HAP_PLAIN_PORT
    default_backend origin
frontend hap_lua
    bind 127.0.0.1:$HAP_LUA_PORT
    http-request lua.viewer_req
    http-response lua.viewer_resp
    default_backend origin
backend origin
    server o1 127.0.0.1:$ORIGIN_PORT
EOF

# edge_conf PORT ADMIN_PORT BODY : an edge-proxy config with one worker, one http origin.
edge_conf() {
  cat <<EOF
version = 1
[[listeners]]
address = "127.0.0.1:$1"
[admin]
address = "127.0.0.1:$2"
[node]
worker-threads = 1
access-log = false
[origins.o]
type = "http"
servers = ["127.0.0.1:$ORIGIN_PORT"]
$3
EOF
}
NOOP="module = \"$GUESTS/fixture_noop.wasm\""
WORK="module = \"$GUESTS/fixture_header_work.wasm\""
edge_conf 18090 19090 '[default-behavior]
origin = "o"' >"$RUN/edge-off.toml"
edge_conf 18091 19091 "[functions.noop]
$NOOP
[default-behavior]
origin = \"o\"
[default-behavior.hooks]
viewer-request = { function = \"noop\" }
origin-request = { function = \"noop\" }
origin-response = { function = \"noop\" }
viewer-response = { function = \"noop\" }" >"$RUN/edge-noop4.toml"
edge_conf 18092 19092 "[functions.work]
$WORK
[default-behavior]
origin = \"o\"
[default-behavior.hooks]
viewer-request = { function = \"work\" }
viewer-response = { function = \"work\" }" >"$RUN/edge-headers.toml"
edge_conf 18093 19093 "[functions.work]
$WORK
isolation = \"per-request\"
[default-behavior]
origin = \"o\"
[default-behavior.hooks]
viewer-request = { function = \"work\" }
viewer-response = { function = \"work\" }" >"$RUN/edge-headers-fresh.toml"
edge_conf 18094 19094 '[default-behavior]
origin = "o"
[default-behavior.cache]
default-ttl = 3600' >"$RUN/edge-cache-hit.toml"
# Kept on the synchronous path: a CPU budget within the slow lane's threshold (slow-lane-after-ms, 1 ms).
sed -e 's/^module = .*/&\ncpu-budget-ms = 1/' -e 's/18091/18096/; s/19091/19096/' \
  "$RUN/edge-noop4.toml" >"$RUN/edge-noop4-sync.toml"
sed -e 's/^module = .*/&\ncpu-budget-ms = 1/' -e 's/18092/18097/; s/19092/19097/' \
  "$RUN/edge-headers.toml" >"$RUN/edge-headers-sync.toml"

if [ "${CONFIGS_ONLY:-0}" = 1 ]; then log "configs written to $RUN"; exit 0; fi

# ------------------------------------------------------------------------------ start
for port in $ORIGIN_PORT $NGX_PLAIN_PORT $NGX_NJS_PORT $HAP_PLAIN_PORT $HAP_LUA_PORT $BARE_PORT $WASM4_PORT $NGX_CACHE_PORT "${EDGE_PORTS[@]}"; do
  if ss -ltnH "sport = :$port" | grep -q .; then log "port $port already in use; aborting"; exit 1; fi
done
nginx -t -q -c "$RUN/origin.conf" -p "$RUN" || exit 1
nginx -t -q -c "$RUN/nginx-proxy.conf" -p "$RUN" || exit 1
nginx -t -q -c "$RUN/nginx-cache.conf" -p "$RUN" || exit 1
haproxy -c -q -f "$RUN/haproxy.cfg" || exit 1

start_bg origin nginx -c "$RUN/origin.conf" -p "$RUN" -g 'daemon off;'; ORIGIN_PID=$LAST_PID
start_bg nginx-proxy nginx -c "$RUN/nginx-proxy.conf" -p "$RUN" -g 'daemon off;'; NGX_PID=$LAST_PID
start_bg nginx-cache nginx -c "$RUN/nginx-cache.conf" -p "$RUN" -g 'daemon off;'; NGX_CACHE_PID=$LAST_PID
start_bg haproxy haproxy -db -f "$RUN/haproxy.cfg"; HAP_PID=$LAST_PID
start_bg pingora-bare "$BARE" "127.0.0.1:$BARE_PORT" "127.0.0.1:$ORIGIN_PORT"; BARE_PID=$LAST_PID
start_bg pingora-wasm4 "$BARE" "127.0.0.1:$WASM4_PORT" "127.0.0.1:$ORIGIN_PORT" "$GUESTS/fixture_empty_export.wasm"; WASM4_PID=$LAST_PID
declare -A EDGE_PID
for name in edge-off edge-noop4 edge-headers edge-headers-fresh edge-cache-hit edge-noop4-sync edge-headers-sync; do
  # The access log goes to /dev/null, as the peers run with access_log off.
  $SERVER_CPU "$EDGE" run --conf "$RUN/$name.toml" >/dev/null 2>"$RUN/logs/$name.log" &
  EDGE_PID[$name]=$!; PIDS+=("$!"); log "started $name pid $!"
done
for port in $ORIGIN_PORT $NGX_PLAIN_PORT $NGX_NJS_PORT $HAP_PLAIN_PORT $HAP_LUA_PORT $BARE_PORT $WASM4_PORT $NGX_CACHE_PORT "${EDGE_PORTS[@]}"; do
  wait_port "$port" || exit 1
done
# warm both caches: a miss, then a hit
for p in $PATHS; do
  for port in $NGX_CACHE_PORT 18094; do curl -s -o /dev/null "http://127.0.0.1:$port$p"; curl -s -o /dev/null "http://127.0.0.1:$port$p"; done
done

{
  echo "# load.sh $(date -u +%FT%TZ) host=$(hostname) cpus=$(nproc) kernel=$(uname -r) runs=$RUNS duration=${DURATION}s conns=$CONNS"
  echo "# wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'); nginx $(nginx -v 2>&1 | sed 's#.*/##'); haproxy $(haproxy -v | awk 'NR==1{print $3}'); edge-proxy $("$EDGE" --version | awk '{print $2}')"
  printf 'run\tname\tpath\trps\tp50_us\tp99_us\tcpu_us_per_req\terrors\tcheck\tuser_us_per_req\tsys_us_per_req\n'
} >"$RESULTS"

for ((run = 1; run <= RUNS; run++)); do
  for p in $PATHS; do
    measure "$run" nginx-plain "http://127.0.0.1:$NGX_PLAIN_PORT$p" "$NGX_PID"
    measure "$run" nginx-njs "http://127.0.0.1:$NGX_NJS_PORT$p" "$NGX_PID"
    measure "$run" nginx-cache-hit "http://127.0.0.1:$NGX_CACHE_PORT$p" "$NGX_CACHE_PID"
    measure "$run" haproxy-plain "http://127.0.0.1:$HAP_PLAIN_PORT$p" "$HAP_PID"
    measure "$run" haproxy-lua "http://127.0.0.1:$HAP_LUA_PORT$p" "$HAP_PID"
    measure "$run" pingora-bare "http://127.0.0.1:$BARE_PORT$p" "$BARE_PID"
    measure "$run" pingora-wasm4 "http://127.0.0.1:$WASM4_PORT$p" "$WASM4_PID"
    measure "$run" edge-off "http://127.0.0.1:18090$p" "${EDGE_PID[edge-off]}"
    measure "$run" edge-noop4 "http://127.0.0.1:18091$p" "${EDGE_PID[edge-noop4]}"
    measure "$run" edge-headers "http://127.0.0.1:18092$p" "${EDGE_PID[edge-headers]}"
    measure "$run" edge-headers-fresh "http://127.0.0.1:18093$p" "${EDGE_PID[edge-headers-fresh]}"
    measure "$run" edge-cache-hit "http://127.0.0.1:18094$p" "${EDGE_PID[edge-cache-hit]}"
    measure "$run" edge-noop4-sync "http://127.0.0.1:18096$p" "${EDGE_PID[edge-noop4-sync]}"
    measure "$run" edge-headers-sync "http://127.0.0.1:18097$p" "${EDGE_PID[edge-headers-sync]}"
  done
done

python3 "$ROOT/benches/load_report.py" "$RESULTS" | tee "$OUTDIR/results.md"
log "results: $RESULTS and $OUTDIR/results.md (elapsed ${SECONDS}s)"
