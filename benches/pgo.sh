#!/usr/bin/env bash
# benches/pgo.sh -- release builds of edge-proxy and bare-forwarder laid out by a profile of
# their own request path (profile-guided optimization), for `make pgo`.
#
# Under load a request finds little of its code in the L1 instruction cache (see
# benches/README.md, "where the misses go"): what it costs is as much the lines of code it
# touches as the instructions it runs. A profile tells the compiler which branches and
# functions are hot, so it inlines by use and moves cold blocks out of hot functions.
#
# 1. builds both binaries instrumented, with the release profile as it is (target/pgo-gen: a
#    profile names functions by their symbols, whose hashes change with the profile's
#    settings, though not with RUSTFLAGS, so both builds use the same settings);
# 2. trains them on load.sh's configurations (CONFIGS_ONLY=1): an nginx origin, then
#    pingora-bare, edge-off, edge-noop4, edge-headers and edge-cache-hit, each under wrk for
#    TRAIN_SECONDS on the 1 KiB and 100 KiB bodies, stopped so that each exits
#    cleanly and writes its profile;
# 3. merges the profiles (llvm-profdata from rustup's llvm-tools) into target/pgo-data, in a
#    file named by its content;
# 4. builds both again with the profile and the release profile's settings, into target/pgo:
#    target/pgo/release/edge-proxy and target/pgo/release/bare-forwarder.
# Code the training does not run (TLS, HTTP/2, function origins, reloads) is compiled as cold:
# it still works, and may be slower than in the plain release build. Measure before deploying
# one (EDGE_PROXY_BIN and BARE_FORWARDER_BIN point load.sh and instructions.sh at any build).
#
# Bounds: servers bind 127.0.0.1; every wrk run is bounded by `timeout`; every process started
# is killed by PID on exit.
# Needs: what `make bench` needs (scripts/setup.sh --bench) and llvm-tools (setup.sh --pgo).
# Tunables (env): TRAIN_SECONDS=5 CONNS=8
set -u

TRAIN_SECONDS=${TRAIN_SECONDS:-5}
CONNS=${CONNS:-8}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CARGO=${CARGO:-cargo}
DATA=$ROOT/target/pgo-data
GEN=$ROOT/target/pgo-gen/release
OUT=$DATA/train
ORIGIN_PORT=18080
SYSROOT=$(cd "$ROOT" && rustc --print sysroot) # the toolchain rust-toolchain.toml pins
PROFDATA=$(find "$SYSROOT/lib/rustlib" -name llvm-profdata -type f | head -1)
[ -x "$PROFDATA" ] || { echo "pgo.sh: llvm-profdata is missing (scripts/setup.sh --pgo adds llvm-tools)" >&2; exit 1; }

LOG_TAG=pgo
# shellcheck source=benches/processes.sh
. "$ROOT/benches/processes.sh"

# build TARGET_DIR RUSTFLAGS : both binaries into TARGET_DIR with RUSTFLAGS.
build() {
  local dir=$1 flags=$2
  log "building into $dir"
  (cd "$ROOT" &&
    RUSTFLAGS="$flags" "$CARGO" build --locked --release --target-dir "$dir" -p edge-proxy &&
    RUSTFLAGS="$flags" "$CARGO" build --locked --release --target-dir "$dir" -p edge-benches --bin bare-forwarder)
}

# train NAME PORT SIGNAL CMD... : CMD under wrk on both bodies, then stopped with SIGNAL (what
# makes it exit cleanly: edge-proxy drains on TERM, a bare Pingora server exits on INT) so that
# it writes its profile.
train() {
  local name=$1 port=$2 signal=$3 pid path out i
  shift 3
  if listening "$port"; then log "port $port is in use"; return 1; fi
  LLVM_PROFILE_FILE="$DATA/trained/$name-%p.profraw" "$@" >"$OUT/run/logs/$name-pgo.log" 2>&1 &
  pid=$!; PIDS+=("$pid")
  wait_200 "http://127.0.0.1:$port/1k" || return 1
  kill -0 "$pid" 2>/dev/null || { log "$name exited before its training"; return 1; }
  for path in /1k /100k; do
    out=$(timeout $((TRAIN_SECONDS + 30)) wrk -t1 -c"$CONNS" -d"${TRAIN_SECONDS}s" "http://127.0.0.1:$port$path" 2>&1)
    # A profile of error answers would lay the binary out for the wrong path.
    if grep -q Non-2xx <<<"$out" || ! grep -q "requests in" <<<"$out"; then
      log "$name $path: not every answer was 2xx"; return 1
    fi
  done
  kill -"$signal" "$pid"
  for ((i = 0; i < 300; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then log "$name did not exit after SIG$signal: no profile"; return 1; fi
  log "trained $name"
}

rm -rf "$DATA" && mkdir -p "$DATA/trained" "$OUT"
# Build scripts are compiled with the same flags and write their own profiles where the flag
# says when they run; only the training's (LLVM_PROFILE_FILE below) are merged.
build "$ROOT/target/pgo-gen" "-Cprofile-generate=$DATA/build-scripts" || exit 1

OUTDIR=$OUT CONFIGS_ONLY=1 "$ROOT/benches/load.sh" || exit 1
nginx -c "$OUT/run/origin.conf" -p "$OUT/run" -g 'daemon off;' >"$OUT/run/logs/origin.log" 2>&1 &
PIDS+=("$!")
wait_200 "http://127.0.0.1:$ORIGIN_PORT/1k" || exit 1
train pingora-bare 18087 INT "$GEN/bare-forwarder" 127.0.0.1:18087 "127.0.0.1:$ORIGIN_PORT" || exit 1
for target in edge-off:18090 edge-noop4:18091 edge-headers:18092 edge-cache-hit:18094; do
  train "${target%:*}" "${target#*:}" TERM "$GEN/edge-proxy" run --conf "$OUT/run/${target%:*}.toml" || exit 1
done

"$PROFDATA" merge -o "$DATA/merged.profdata" "$DATA"/trained/*.profraw || exit 1
# Named by its content: cargo does not watch the file a flag names, but it rebuilds when the
# flags change, so a new profile rebuilds everything and an unchanged one nothing.
PROFILE=$DATA/$(sha256sum "$DATA/merged.profdata" | cut -c1-16).profdata
mv "$DATA/merged.profdata" "$PROFILE"
log "merged $(ls "$DATA"/trained/*.profraw | wc -l) profiles into $PROFILE"
build "$ROOT/target/pgo" "-Cprofile-use=$PROFILE" || exit 1
log "built $ROOT/target/pgo/release/edge-proxy and bare-forwarder"
