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

# A demo tenant on first run: a fresh token is printed once; only its hash
# is stored (in the tenants file, which the appliance re-reads while running).
TENANTS_FILE=${SCADAOTEL_TENANTS_FILE:-$DATA_DIR/tenants.yaml}
export SCADAOTEL_TENANTS_FILE=$TENANTS_FILE
demo_token=""
if [ ! -f "$TENANTS_FILE" ]; then
  demo_token=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
  hash=$(printf '%s' "$demo_token" | "$BIN/scadaotel" tenants hash-token)
  umask 077
  cat >"$TENANTS_FILE" <<TENANTS
# scadaotel tenants (created by make run). Add one per pipeline:
#   echo -n "\$TOKEN" | scadaotel tenants hash-token
tenants:
  - id: west-pipeline-01
    token_sha256: [$hash]
TENANTS
fi

# Kafka for alert records: an external cluster when SCADAOTEL_KAFKA_BROKERS
# names one, else the testbench's local Kafka-protocol broker.
if [ -z "${SCADAOTEL_KAFKA_BROKERS:-}" ]; then
  echo "no SCADAOTEL_KAFKA_BROKERS configured: starting the testbench's local Kafka-protocol broker on 127.0.0.1:9092"
  "$BIN/scadaotel-testbench" kafka --port 9092 >"$DATA_DIR/kafka.log" 2>&1 &
  pids+=($!)
  export SCADAOTEL_KAFKA_BROKERS=127.0.0.1:9092
fi

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
  Prometheus query API http://127.0.0.1:8428/api/v1/query   (Grafana: Prometheus data source + Authorization header)
  remote write in      http://127.0.0.1:9201/api/v1/write
  traces (tenant API)  http://127.0.0.1:16687/api/traces
  alert history API    http://127.0.0.1:8089
  operator UI          http://127.0.0.1:8080
  Jaeger (all tenants) http://127.0.0.1:16686/api/services
  Kafka alerts         $SCADAOTEL_KAFKA_BROKERS topic scada.alerts
  tenants file         $TENANTS_FILE
MSG
if [ -n "$demo_token" ]; then
  cat <<MSG

Demo tenant west-pipeline-01 created. Its token (shown once, only its hash is stored):
  $demo_token
Send with:  Authorization: Bearer <token>
MSG
fi
echo "Ctrl-C stops everything."
wait -n "${pids[@]}"
