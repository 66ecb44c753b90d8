#!/usr/bin/env bash
# bench.sh (make bench): the appliance side by side with the tools users
# would pick instead, in one run, on one machine:
#   traces   bin/scadaotel default pipeline vs the same binary with otlp -> batch
#   metrics  bin/scadaotel (OTLP in, embedded storage) vs bin/victoria-metrics
#   polling  the scada receiver vs Telegraf's inputs.modbus (500 RTUs x 20 points)
#   alarms   the same polling with the alarm connector (10,000 definitions) vs without it
# Writes testbench/bench/results/<date>.md and .json and the README's Performance
# section. About 12 minutes; refuses (exit 1) when the 1-minute load average
# stays above 0.5 for 3 minutes.
#
# Arguments and $BENCH_FLAGS go to scadaotel-bench, e.g.
#   make bench BENCH_FLAGS=--allow-busy      development run on a busy machine (NOT publishable, testbench/bench/results/dev/)
#   scripts/bench.sh --pairs traces --runs 1 --allow-busy
# BENCH_COMPONENTS=1 also runs every component's Go benchmarks and the
# BATADAL 60x scenario afterwards (about 20 minutes more).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
for b in bin/scadaotel bin/victoria-metrics; do
  [ -x "$b" ] || { echo "error: $b missing: run make build victoria-metrics first" >&2; exit 1; }
done

CGO_ENABLED=0 $GO build -o bin/scadaotel-bench ./testbench/cmd/scadaotel-bench

# Telegraf, the polling peer: built once with only the plugins used, cached in bin/.
telegraf_note=""
if [ ! -x bin/telegraf ]; then
  echo "building Telegraf v1.37.2 (inputs.modbus, outputs.discard) into bin/ (about a minute, once)" >&2
  if ! GOBIN="$PWD/bin" CGO_ENABLED=0 $GO install -tags "custom,inputs.modbus,outputs.discard" \
      github.com/influxdata/telegraf/cmd/telegraf@v1.37.2 >bin/telegraf-build.log 2>&1; then
    telegraf_note="go install github.com/influxdata/telegraf/cmd/telegraf@v1.37.2 failed: $(tail -n 3 bin/telegraf-build.log | tr '\n' ' ')"
    echo "warning: $telegraf_note" >&2
  fi
fi

# shellcheck disable=SC2086 # BENCH_FLAGS is a list of flags
bin/scadaotel-bench --settle "${BENCH_SETTLE:-3m}" --telegraf-note "$telegraf_note" ${BENCH_FLAGS:-} "$@"

if [ "${BENCH_COMPONENTS:-0}" = 1 ]; then
  out=testbench/bench/results/$(date -u +%Y-%m-%dT%H%M%SZ)-components.txt
  {
    echo "# scadaotel component benchmarks, $(date -u)"
    echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores, load before: $(cut -d' ' -f1 /proc/loadavg)"
    $GO test -run '^$' -bench . -benchmem -count 3 \
      ./receivers/... ./processors/... ./connectors/... ./exporters/... ./tenants/... ./internal/vmstore/...
    echo "# testbench: BATADAL profile at 60x through the real appliance"
    bin/scadaotel-testbench run --scenario testbench/scenarios/batadal-60x.yaml --out testbench/bench/results/batadal-60x
    echo "# load after: $(cut -d' ' -f1 /proc/loadavg)"
  } | tee "$out"
  echo "wrote $out"
fi
