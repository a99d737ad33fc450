# benches/processes.sh -- sourced by the benchmark scripts: every process a benchmark starts
# is recorded in PIDS and killed by PID on exit, whatever way the script ends; servers are
# pinned to CPU 0 and load generators to CPU 1 (SERVER_CPU, CLIENT_CPU) when there are two;
# listening says whether a port is taken, wait_port waits for a server to listen, wait_200 for a
# URL to answer 200.
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

# Servers on CPU 0, load generators on CPU 1, when the machine has two and taskset.
SERVER_CPU=""; CLIENT_CPU=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  SERVER_CPU="taskset -c 0"; CLIENT_CPU="taskset -c 1"
fi

# listening PORT : whether something listens on PORT.
listening() { ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }

# wait_port PORT [SECONDS] : until something listens on PORT (default 60 s); 1 if nothing does.
wait_port() {
  local port=$1 secs=${2:-60} i
  for ((i = 0; i < secs * 10; i++)); do
    if listening "$port"; then return 0; fi
    sleep 0.1
  done
  log "port $port not listening after ${secs}s"; return 1
}

# wait_200 URL : until URL answers 200 (up to 120 s); 1 if it never does.
wait_200() {
  local url=$1 i
  for ((i = 0; i < 600; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -m 5 "$url")" = 200 ] && return 0
    sleep 0.2
  done
  log "$url did not answer 200"; return 1
}
