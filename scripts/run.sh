#!/usr/bin/env bash
# run.sh (make run): start the local Kafka-protocol broker (unless
# SCADAOTEL_KAFKA_BROKERS names a cluster), Jaeger (trace store) and the
# scadaotel appliance on loopback, all state under $DATA_DIR; Ctrl-C stops
# them in order: appliance, Jaeger, broker.
#
# Every address checked or printed here comes from the variables the
# configs read (collector/config/default.yaml, tools/jaeger/config.yaml),
# with the same defaults; see the README's Ports table. Before starting
# anything every port must be free: a port held by another program would
# make a health check pass against the wrong process.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$(pwd)/bin}
DATA_DIR=${DATA_DIR:-$(pwd)/data}

die() { echo "error: $*" >&2; exit 1; }

# --- prerequisites ----------------------------------------------------------
command -v curl >/dev/null ||
  die "make run needs curl for its health checks: install it (Debian/Ubuntu: sudo apt-get install curl)"
command -v base64 >/dev/null && command -v od >/dev/null ||
  die "make run needs base64 and od (coreutils) for Jaeger's OTLP secret"
command -v setsid >/dev/null ||
  die "make run needs setsid (util-linux) to stop its processes in order: install util-linux"
[ -z "${SCADAOTEL_TLS_CERT_FILE:-}" ] ||
  die "make run is for loopback, in plaintext, and its health checks speak plain HTTP: unset SCADAOTEL_TLS_CERT_FILE, or run bin/scadaotel with it yourself (README, \"Running on a network (TLS)\")"
for b in scadaotel jaeger; do
  [ -x "$BIN/$b" ] || die "$BIN/$b not found: run make build (or make run, which builds it)"
done

# --- addresses: the configs' variables and defaults ------------------------
: "${SCADAOTEL_OTLP_GRPC_ENDPOINT:=127.0.0.1:4317}"
: "${SCADAOTEL_OTLP_HTTP_ENDPOINT:=127.0.0.1:4318}"
: "${SCADAOTEL_HEALTH_ENDPOINT:=127.0.0.1:13133}"
: "${SCADAOTEL_METRICS_PORT:=8888}"
: "${SCADAOTEL_REMOTE_WRITE_ENDPOINT:=127.0.0.1:9201}"
: "${SCADAOTEL_QUERY_ENDPOINT:=127.0.0.1:8428}"
: "${SCADAOTEL_TRACE_QUERY_ENDPOINT:=127.0.0.1:16687}"
: "${SCADAOTEL_ALERTS_ENDPOINT:=127.0.0.1:8089}"
: "${SCADAOTEL_ALARMS_ENDPOINT:=127.0.0.1:8090}"
: "${SCADAOTEL_UI_ENDPOINT:=127.0.0.1:8080}"
: "${JAEGER_OTLP_GRPC_ENDPOINT:=127.0.0.1:14317}"
: "${JAEGER_OTLP_HTTP_ENDPOINT:=127.0.0.1:14318}"
: "${JAEGER_QUERY_HTTP_ENDPOINT:=127.0.0.1:16686}"
: "${JAEGER_QUERY_GRPC_ENDPOINT:=127.0.0.1:16685}"
: "${JAEGER_HEALTH_ENDPOINT:=127.0.0.1:13134}"
: "${SCADAOTEL_LOCAL_KAFKA_PORT:=9092}"

# host:port -> the host to connect to (a wildcard listen address is reached
# on loopback) and the port.
conn_host() {
  local h=${1%:*}
  case $h in "" | 0.0.0.0) h=127.0.0.1 ;; "[::]") h="[::1]" ;; esac
  echo "$h"
}
port_of() { echo "${1##*:}"; }
url() { echo "http://$(conn_host "$1"):$(port_of "$1")"; }

check_hostport() { # var value
  case $2 in
    *:[0-9]*) [[ ${2##*:} =~ ^[0-9]+$ ]] && [ "${2##*:}" -ge 1 ] && [ "${2##*:}" -le 65535 ] && return 0 ;;
  esac
  die "$1=$2: want host:port with a port from 1 to 65535 (e.g. 127.0.0.1:${2##*:})"
}
for v in SCADAOTEL_OTLP_GRPC_ENDPOINT SCADAOTEL_OTLP_HTTP_ENDPOINT SCADAOTEL_HEALTH_ENDPOINT \
  SCADAOTEL_REMOTE_WRITE_ENDPOINT SCADAOTEL_QUERY_ENDPOINT SCADAOTEL_TRACE_QUERY_ENDPOINT \
  SCADAOTEL_ALERTS_ENDPOINT SCADAOTEL_ALARMS_ENDPOINT SCADAOTEL_UI_ENDPOINT JAEGER_OTLP_GRPC_ENDPOINT JAEGER_OTLP_HTTP_ENDPOINT \
  JAEGER_QUERY_HTTP_ENDPOINT JAEGER_QUERY_GRPC_ENDPOINT JAEGER_HEALTH_ENDPOINT; do
  check_hostport "$v" "${!v}"
done
for v in SCADAOTEL_METRICS_PORT SCADAOTEL_LOCAL_KAFKA_PORT; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] && [ "${!v}" -le 65535 ] ||
    die "$v=${!v}: want a port number from 1 to 65535"
done

# The appliance reaches the Jaeger started here, and alert records link to
# the UI, unless these say otherwise.
: "${SCADAOTEL_JAEGER_OTLP_ENDPOINT:=$JAEGER_OTLP_GRPC_ENDPOINT}"
: "${SCADAOTEL_JAEGER_QUERY_URL:=$(url "$JAEGER_QUERY_HTTP_ENDPOINT")}"
trace_id_tmpl='{trace_id}'
: "${SCADAOTEL_TRACE_URL:=$(url "$SCADAOTEL_UI_ENDPOINT")/#/trace/$trace_id_tmpl}"
export SCADAOTEL_OTLP_GRPC_ENDPOINT SCADAOTEL_OTLP_HTTP_ENDPOINT SCADAOTEL_HEALTH_ENDPOINT \
  SCADAOTEL_METRICS_PORT SCADAOTEL_REMOTE_WRITE_ENDPOINT SCADAOTEL_QUERY_ENDPOINT \
  SCADAOTEL_TRACE_QUERY_ENDPOINT SCADAOTEL_ALERTS_ENDPOINT SCADAOTEL_ALARMS_ENDPOINT SCADAOTEL_UI_ENDPOINT \
  JAEGER_OTLP_GRPC_ENDPOINT JAEGER_OTLP_HTTP_ENDPOINT JAEGER_QUERY_HTTP_ENDPOINT \
  JAEGER_QUERY_GRPC_ENDPOINT JAEGER_HEALTH_ENDPOINT SCADAOTEL_JAEGER_OTLP_ENDPOINT \
  SCADAOTEL_JAEGER_QUERY_URL SCADAOTEL_TRACE_URL
[ "$SCADAOTEL_JAEGER_OTLP_ENDPOINT" = "$JAEGER_OTLP_GRPC_ENDPOINT" ] ||
  echo "note: the appliance sends traces to SCADAOTEL_JAEGER_OTLP_ENDPOINT=$SCADAOTEL_JAEGER_OTLP_ENDPOINT, not to the Jaeger started here (JAEGER_OTLP_GRPC_ENDPOINT=$JAEGER_OTLP_GRPC_ENDPOINT)"

local_kafka=""
if [ -z "${SCADAOTEL_KAFKA_BROKERS:-}" ]; then
  local_kafka=1
  [ -x "$BIN/scadaotel-testbench" ] ||
    die "$BIN/scadaotel-testbench not found (the local Kafka broker): run make build, or set SCADAOTEL_KAFKA_BROKERS to your Kafka"
  export SCADAOTEL_KAFKA_BROKERS=127.0.0.1:$SCADAOTEL_LOCAL_KAFKA_PORT
fi

# --- every port free, each used once ---------------------------------------
# "variable|address|what"
ports=(
  "SCADAOTEL_OTLP_GRPC_ENDPOINT|$SCADAOTEL_OTLP_GRPC_ENDPOINT|appliance OTLP gRPC"
  "SCADAOTEL_OTLP_HTTP_ENDPOINT|$SCADAOTEL_OTLP_HTTP_ENDPOINT|appliance OTLP HTTP"
  "SCADAOTEL_HEALTH_ENDPOINT|$SCADAOTEL_HEALTH_ENDPOINT|appliance health"
  "SCADAOTEL_METRICS_PORT|127.0.0.1:$SCADAOTEL_METRICS_PORT|appliance self-metrics"
  "SCADAOTEL_REMOTE_WRITE_ENDPOINT|$SCADAOTEL_REMOTE_WRITE_ENDPOINT|remote write"
  "SCADAOTEL_QUERY_ENDPOINT|$SCADAOTEL_QUERY_ENDPOINT|Prometheus query API"
  "SCADAOTEL_TRACE_QUERY_ENDPOINT|$SCADAOTEL_TRACE_QUERY_ENDPOINT|tenant trace API"
  "SCADAOTEL_ALERTS_ENDPOINT|$SCADAOTEL_ALERTS_ENDPOINT|alert history API"
  "SCADAOTEL_ALARMS_ENDPOINT|$SCADAOTEL_ALARMS_ENDPOINT|alarm operator API"
  "SCADAOTEL_UI_ENDPOINT|$SCADAOTEL_UI_ENDPOINT|operator UI"
  "JAEGER_OTLP_GRPC_ENDPOINT|$JAEGER_OTLP_GRPC_ENDPOINT|Jaeger OTLP gRPC"
  "JAEGER_OTLP_HTTP_ENDPOINT|$JAEGER_OTLP_HTTP_ENDPOINT|Jaeger OTLP HTTP"
  "JAEGER_QUERY_HTTP_ENDPOINT|$JAEGER_QUERY_HTTP_ENDPOINT|Jaeger query HTTP"
  "JAEGER_QUERY_GRPC_ENDPOINT|$JAEGER_QUERY_GRPC_ENDPOINT|Jaeger query gRPC"
  "JAEGER_HEALTH_ENDPOINT|$JAEGER_HEALTH_ENDPOINT|Jaeger health"
)
[ -z "$local_kafka" ] ||
  ports+=("SCADAOTEL_LOCAL_KAFKA_PORT|127.0.0.1:$SCADAOTEL_LOCAL_KAFKA_PORT|local Kafka broker")

port_open() { # host:port -> 0 if something accepts connections there
  local h p
  h=$(conn_host "$1") p=$(port_of "$1")
  h=${h#[} h=${h%]}
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$h" "$p" 2>/dev/null
}
holder() { # port -> " (held by <process>)" when ss can tell
  local who
  who=$(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'users:(("[^"]*",pid=[0-9]*' | head -1 | sed 's/users:(("\([^"]*\)",pid=\([0-9]*\)/\1, pid \2/') || true
  [ -z "$who" ] || echo " (held by $who)"
}
problems=()
declare -A seen=()
for entry in "${ports[@]}"; do
  IFS='|' read -r var addr what <<<"$entry"
  p=$(port_of "$addr")
  if [ -n "${seen[$p]:-}" ]; then
    problems+=("port $p is configured twice: $var=$addr and ${seen[$p]}: move one of them")
    continue
  fi
  seen[$p]="$var=$addr"
  if port_open "$addr"; then
    hint="move the $what with $var"
    [ "$var" != SCADAOTEL_LOCAL_KAFKA_PORT ] || hint="$hint, or use your Kafka: SCADAOTEL_KAFKA_BROKERS=host:port"
    problems+=("port $p ($what, $addr) is already in use$(holder "$p"): stop that program or $hint")
  fi
done
if [ ${#problems[@]} -gt 0 ]; then
  echo "error: cannot start: nothing was started" >&2
  for m in "${problems[@]}"; do echo "  $m" >&2; done
  exit 1
fi

# --- tenants: a demo tenant when there is none ------------------------------
mkdir -p "$DATA_DIR"
export SCADAOTEL_DATA_DIR=$DATA_DIR
TENANTS_FILE=${SCADAOTEL_TENANTS_FILE:-$DATA_DIR/tenants.yaml}
export SCADAOTEL_TENANTS_FILE=$TENANTS_FILE
rel() { case $1 in "$PWD"/*) echo "${1#"$PWD"/}" ;; *) echo "$1" ;; esac; }
demo_id=west-pipeline-01
demo_token=""
tenant_ids=""
if [ -f "$TENANTS_FILE" ]; then
  listing=$("$BIN/scadaotel" tenants list --file "$TENANTS_FILE") ||
    die "the tenants file $TENANTS_FILE is not valid (see above); the appliance would refuse it too"
  tenant_ids=$(awk 'NR > 1 { print $1 }' <<<"$listing")
  [[ $listing == "no tenants"* ]] && tenant_ids=""
fi
if [ -z "$tenant_ids" ]; then
  demo_token=$("$BIN/scadaotel" tenants add "$demo_id" --file "$TENANTS_FILE" 2>/dev/null) ||
    die "cannot add the demo tenant: $BIN/scadaotel tenants add $demo_id --file $TENANTS_FILE failed"
  tenant_ids=$demo_id
fi
token_help() {
  local first
  first=$(head -1 <<<"$tenant_ids")
  echo "No token to show: $(rel "$TENANTS_FILE") already has tenants ($(tr '\n' ' ' <<<"$tenant_ids" | sed 's/ $//'))"
  echo "and stores only token hashes. A new token for one (its old tokens stop working):"
  echo "  $(rel "$BIN")/scadaotel tenants rotate-token $first --file $(rel "$TENANTS_FILE")"
}

# --- processes ---------------------------------------------------------------
names=() pids=() logs=()
started=""
alive() { # pid -> 0 while running (a zombie is not running)
  local state
  [ -r "/proc/$1/stat" ] || return 1
  read -r _ _ state _ <"/proc/$1/stat" || return 1
  [ "$state" != Z ]
}
stop_one() { # index: SIGTERM, then SIGKILL after 60 s
  # (no `return` here: it runs from the EXIT trap, where bash's return
  # after an `exit` inside a function ends the whole handler)
  local pid=${pids[$1]} name=${names[$1]} st=0 n
  if ! alive "$pid"; then
    wait "$pid" 2>/dev/null || true
    echo "$name (pid $pid) had already exited"
  else
    echo "stopping $name (pid $pid)..."
    kill -TERM "$pid" 2>/dev/null || true
    for ((n = 0; n < 600; n++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      echo "$name still runs 60 s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || st=$?
    echo "$name stopped (status $st)"
  fi
}
stop_all() { # reverse start order: appliance, Jaeger, broker
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_one "$i"; done
}
on_signal() {
  trap - INT TERM EXIT
  echo
  stop_all
  echo "stopped."
  exit 0
}
on_exit() {
  local st=$?
  trap - INT TERM EXIT
  if [ ${#pids[@]} -gt 0 ]; then stop_all; fi
  if [ -z "$started" ] && [ -n "$demo_token" ]; then
    echo
    echo "The demo tenant $demo_id was created in $(rel "$TENANTS_FILE"); its token (valid for the next start, shown once):"
    echo "  $demo_token"
  fi
  exit "$st"
}
trap on_signal INT TERM
trap on_exit EXIT

# start name log cmd...: in its own process group (setsid), so that the
# terminal's Ctrl-C reaches only this script, which stops them in order.
start() {
  local name=$1 log=$2
  shift 2
  if [ -n "$log" ]; then
    setsid "$@" </dev/null >"$log" 2>&1 &
  else
    setsid "$@" </dev/null &
  fi
  names+=("$name") pids+=($!) logs+=("$log")
}
fail_start() { # index message
  local log=${logs[$1]}
  echo "error: ${names[$1]} $2" >&2
  if [ -n "$log" ] && [ -s "$log" ]; then
    echo "last lines of $(rel "$log"):" >&2
    tail -n 15 "$log" | sed 's/^/  /' >&2
  fi
  exit 1
}
wait_ready() { # index check-command... : until the check passes, while the process runs
  local i=$1 n
  shift
  for n in $(seq 1 300); do
    alive "${pids[$i]}" || fail_start "$i" "exited during startup"
    if "$@"; then return 0; fi
    sleep 0.2
  done
  fail_start "$i" "did not become ready within 60 s ($*)"
}
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null; }
http_answers() { # any HTTP answer (a 401 or 404 is an answer)
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1" 2>/dev/null) || true
  [ -n "$code" ] && [ "$code" != 000 ]
}

if [ -n "$local_kafka" ]; then
  echo "no SCADAOTEL_KAFKA_BROKERS configured: starting the testbench's local Kafka-protocol broker on $SCADAOTEL_KAFKA_BROKERS (in memory only; log: $(rel "$DATA_DIR/kafka.log"))"
  start "the local Kafka broker" "$DATA_DIR/kafka.log" "$BIN/scadaotel-testbench" kafka --port "$SCADAOTEL_LOCAL_KAFKA_PORT"
  wait_ready $((${#pids[@]} - 1)) port_open "$SCADAOTEL_KAFKA_BROKERS"
fi

# Jaeger's OTLP port takes only the appliance's spans: a secret made once
# under the data directory (mode 0600), required by Jaeger
# (tools/jaeger/otlp-auth.yaml, HTTP Basic) and sent by the appliance's
# durable_otlp/jaeger exporter (SCADAOTEL_JAEGER_OTLP_AUTHORIZATION).
# Otherwise any local process could store spans with any scada.tenant.
secret_file=$DATA_DIR/jaeger-otlp.secret
if [ ! -s "$secret_file" ]; then
  (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$secret_file") ||
    die "cannot write $secret_file"
fi
jaeger_secret=$(cat "$secret_file")
[[ $jaeger_secret =~ ^[0-9a-f]{64}$ ]] || die "$secret_file is damaged: remove it (a new secret is made at the next start)"
export JAEGER_OTLP_HTPASSWD_FILE=$DATA_DIR/jaeger-otlp.htpasswd
(umask 077 && printf 'scadaotel:%s\n' "$jaeger_secret" >"$JAEGER_OTLP_HTPASSWD_FILE") ||
  die "cannot write $JAEGER_OTLP_HTPASSWD_FILE"
: "${SCADAOTEL_JAEGER_OTLP_AUTHORIZATION:=Basic $(printf 'scadaotel:%s' "$jaeger_secret" | base64 -w0)}"
export SCADAOTEL_JAEGER_OTLP_AUTHORIZATION

start jaeger "$DATA_DIR/jaeger.log" "$BIN/jaeger" --config "$REPO/tools/jaeger/config.yaml" \
  --config "$REPO/tools/jaeger/otlp-auth.yaml"
jaeger=$((${#pids[@]} - 1))
wait_ready "$jaeger" http_ok "$(url "$JAEGER_HEALTH_ENDPOINT")/status"

root_flag=()
if [ "$(id -u)" = 0 ]; then
  # A first run on a test machine; a site runs it as a dedicated user
  # (packaging/scadaotel.service), and the binary refuses root without this.
  echo "note: running as root, which is fine for a trial only (see packaging/ for a site install)"
  root_flag=(--allow-root)
fi
start scadaotel "" "$BIN/scadaotel" --data-dir "$DATA_DIR" "${root_flag[@]}"
app=$((${#pids[@]} - 1))
wait_ready "$app" http_ok "$(url "$SCADAOTEL_HEALTH_ENDPOINT")/status"

# Every URL printed below answers, from the process that should answer it.
otlp_http=$(url "$SCADAOTEL_OTLP_HTTP_ENDPOINT")
metrics_url=http://127.0.0.1:$SCADAOTEL_METRICS_PORT/metrics
query_url=$(url "$SCADAOTEL_QUERY_ENDPOINT")/api/v1/query
write_url=$(url "$SCADAOTEL_REMOTE_WRITE_ENDPOINT")/api/v1/write
traces_url=$(url "$SCADAOTEL_TRACE_QUERY_ENDPOINT")/api/traces
alerts_url=$(url "$SCADAOTEL_ALERTS_ENDPOINT")/api/v1/alerts
alarms_url=$(url "$SCADAOTEL_ALARMS_ENDPOINT")/api/v1/alarms
ui_url=$(url "$SCADAOTEL_UI_ENDPOINT")/
jaeger_url=$(url "$JAEGER_QUERY_HTTP_ENDPOINT")/api/services
for u in "$otlp_http/" "$metrics_url" "$query_url" "$write_url" "$traces_url" "$alerts_url" "$alarms_url" "$ui_url"; do
  wait_ready "$app" http_answers "$u"
done
for i in "${!pids[@]}"; do alive "${pids[$i]}" || fail_start "$i" "exited during startup"; done
http_answers "$jaeger_url" || fail_start "$jaeger" "does not answer at $jaeger_url"
port_open "$SCADAOTEL_OTLP_GRPC_ENDPOINT" || fail_start "$app" "does not accept OTLP gRPC at $SCADAOTEL_OTLP_GRPC_ENDPOINT"
# A process that fails just after its health check (a broker losing a port
# race, a component failing late) must not get a "running" banner.
sleep 1
for i in "${!pids[@]}"; do alive "${pids[$i]}" || fail_start "$i" "exited just after startup"; done
started=1

if [ -n "$local_kafka" ]; then
  kafka_line="$SCADAOTEL_KAFKA_BROKERS  topics scada.alerts.<tenant>  (local broker, in memory only: records are lost when it stops)"
else
  kafka_line="$SCADAOTEL_KAFKA_BROKERS  topics scada.alerts.<tenant> (scada.alerts for tenants without one)"
fi
cat <<MSG

scadaotel is running (data: $(rel "$DATA_DIR"))
  OTLP gRPC            $(conn_host "$SCADAOTEL_OTLP_GRPC_ENDPOINT"):$(port_of "$SCADAOTEL_OTLP_GRPC_ENDPOINT")
  OTLP HTTP            $otlp_http
  health               $(url "$SCADAOTEL_HEALTH_ENDPOINT")/status
  self-metrics         $metrics_url
  Prometheus query API $query_url   (Grafana: Prometheus data source + Authorization header)
  remote write in      $write_url
  traces (tenant API)  $traces_url
  alert history API    $alerts_url
  alarm operator API   $alarms_url   (alarm definitions: SCADAOTEL_ALARMS_FILE, default data/alarms.yaml)
  operator UI          $ui_url
  Jaeger (all tenants) $jaeger_url   (administrators; no tenant check)
  Kafka alerts         $kafka_line
  tenants file         $(rel "$TENANTS_FILE")
MSG
echo
if [ -n "$demo_token" ]; then
  cat <<MSG
Demo tenant $demo_id created. Its token (shown once, only its hash is stored):
  $demo_token
Send with:  Authorization: Bearer <token>
MSG
else
  token_help
fi
echo "Ctrl-C stops everything (appliance first, then Jaeger, then the broker)."

# Until Ctrl-C, or until one of them exits on its own.
st=0
wait -n "${pids[@]}" || st=$?
for i in "${!pids[@]}"; do
  if ! alive "${pids[$i]}"; then
    echo "error: ${names[$i]} (pid ${pids[$i]}) exited (status $st)${logs[$i]:+; log: $(rel "${logs[$i]}")}" >&2
  fi
done
exit 1
