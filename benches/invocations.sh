#!/usr/bin/env bash
# benches/invocations.sh -- instructions per warm invocation of HookFunction::invoke, counted by
# callgrind: criterion's `warm` and `warm-sync` cases (benches/benches/hooks.rs) as counts, which a
# noisy machine does not move.
#
# Each case runs benches/benches/invocation_count.rs twice under callgrind, with FEW and MANY
# calls; (instructions of MANY − instructions of FEW) / (MANY − FEW) is one call's count, start-up
# (compiling the guest, instantiating) cancelled out. The copy of the event each call is given
# (counted apart, the `copy` row) is subtracted.
# Rows: noop (viewer-request) and security-headers (viewer-response), each `starting` (no budget:
# on probation on the synchronous path, the default), `fitting` (a 1 ms budget keeps it there)
# and `lent` (fitting, as a trigger calls it: Pingora's headers lent and the edits made on them,
# the copies of the event and headers subtracted);
# first, `empty sync`: the engine's floor, an empty component export called synchronously on a
# warm instance (the ladder's row 1a), against which the rows above are the proxy's own.
# Needs: valgrind (scripts/setup.sh --bench installs it). Builds the bench in release.
# Tunables (env): FEW=1000 MANY=6000
set -eu

FEW=${FEW:-1000}
MANY=${MANY:-6000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
command -v valgrind >/dev/null || { echo "invocations.sh: valgrind is missing (scripts/setup.sh --bench installs it)" >&2; exit 1; }

BIN=$(cd "$ROOT" && cargo bench --locked -p edge-benches --bench invocation_count --no-run 2>&1 |
  sed -n 's/.*Executable benches\/invocation_count.rs (\(.*\))$/\1/p' | tail -1)
[ -n "$BIN" ] || { echo "invocations.sh: building the bench failed" >&2; exit 1; }
BIN=$ROOT/${BIN#"$ROOT"/}

# instructions FUNCTION PATH CALLS : user-space instructions of one run.
instructions() {
  (cd "$ROOT/benches" && valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" "$2" "$3" 2>&1) |
    sed -n 's/.*I *refs: *\([0-9,]*\).*/\1/p' | tr -d ,
}

# per_call FUNCTION PATH : instructions of one call (or one copy).
per_call() {
  local few many
  few=$(instructions "$1" "$2" "$FEW")
  many=$(instructions "$1" "$2" "$MANY")
  echo $(((many - few) / (MANY - FEW)))
}

printf 'function\tpath\tinstructions per call\n'
printf 'empty\tsync\t%d\n' "$(per_call empty sync)"
for function in noop security-headers; do
  copy=$(per_call "$function" copy)
  for path in starting fitting; do
    printf '%s\t%s\t%d\n' "$function" "$path" $(($(per_call "$function" "$path") - copy))
  done
  copy=$(per_call "$function" lent-copy)
  printf '%s\t%s\t%d\n' "$function" lent $(($(per_call "$function" lent) - copy))
done
