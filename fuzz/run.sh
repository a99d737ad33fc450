#!/usr/bin/env bash
# make fuzz: runs each cargo-fuzz target for FUZZ_SECONDS (default 60), starting from its seeds
# and AWS's sample vectors, and prints executions and findings per target. A crash lands in
# fuzz/artifacts/<target>/ (replayed by `make test` once committed).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
targets="${FUZZ_TARGETS:-cf_event_json function_result hook_outcome path cache_key host}"
declare -A vectors=([cf_event_json]="cf-*.json cff-*.json" [function_result]="alb-response-*.json apigw-*")
status=0
for t in $targets; do
  mkdir -p "fuzz/corpus/$t"
  cp -n fuzz/seeds/"$t"/* "fuzz/corpus/$t/" 2>/dev/null || true
  for pattern in ${vectors[$t]:-}; do cp -n tests/vectors/$pattern "fuzz/corpus/$t/" 2>/dev/null || true; done
  log="target/fuzz-$t.log"
  mkdir -p target
  echo "fuzz: $t for ${seconds}s (log: $log)"
  if cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$seconds" -timeout=10 >"$log" 2>&1; then
    result="no finding"
  else
    result="FINDING (see fuzz/artifacts/$t/)"; status=1
  fi
  runs=$(grep -Eo 'Done [0-9]+ runs' "$log" | tail -1 || true)
  echo "fuzz: $t: ${runs:-?} in ${seconds}s: $result"
done
exit $status
