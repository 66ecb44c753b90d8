#!/usr/bin/env bash
# run.sh: start Jaeger (trace store) and the scadaotel appliance on their
# default loopback ports with all state under $DATA_DIR; Ctrl-C stops both.
set -euo pipefail
BIN=${BIN:-$(pwd)/bin}
DATA_DIR=${DATA_DIR:-$(pwd)/data}
export SCADAOTEL_DATA_DIR=$DATA_DIR
mkdir -p "$DATA_DIR"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping..."
  # appliance first, so it flushes to Jaeger before Jaeger goes away
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  echo "stopped."
}
trap stop INT TERM EXIT

wait_http() { # url what
  for _ in $(seq 1 150); do
    if curl -fsS -o /dev/null "$1" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "error: $2 did not become healthy at $1" >&2
  return 1
}

"$BIN/jaeger" --config tools/jaeger/config.yaml >"$DATA_DIR/jaeger.log" 2>&1 &
pids+=($!)
wait_http http://127.0.0.1:13134/status "jaeger (log: $DATA_DIR/jaeger.log)"

"$BIN/scadaotel" --data-dir "$DATA_DIR" &
pids+=($!)
wait_http http://127.0.0.1:13133/status "scadaotel"

cat <<MSG

scadaotel is running (data: $DATA_DIR)
  OTLP gRPC            127.0.0.1:4317
  OTLP HTTP            http://127.0.0.1:4318
  health               http://127.0.0.1:13133/status
  self-metrics         http://127.0.0.1:8888/metrics
  Jaeger query/API     http://127.0.0.1:16686/api/services
  Jaeger OTLP (store)  127.0.0.1:14317
Ctrl-C stops both.
MSG
wait -n "${pids[@]}"
