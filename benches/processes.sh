# benches/processes.sh -- sourced by load.sh and instructions.sh: every process a benchmark
# starts is recorded in PIDS and killed by PID on exit, whatever way the script ends.
# Set LOG_TAG before sourcing; log lines read "[LOG_TAG hh:mm:ss] ...".

PIDS=()

log() { printf '[%s %s] %s\n' "$LOG_TAG" "$(date +%T)" "$*" >&2; }

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  sleep 0.5
  for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null; done
  PIDS=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM
