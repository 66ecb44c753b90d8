#!/usr/bin/env bash
# bench.sh: run every component's Go benchmarks (each against its own
# baseline in the same run) and write the output to bench/results/<date>.txt.
# The side-by-side comparison with a vanilla collector, VictoriaMetrics and
# Telegraf (issue 10) is not built yet.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x bin/scadaotel-testbench ] || { echo "error: run make build first" >&2; exit 1; }
load=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$load" 'BEGIN{exit !(l > 0.5)}'; then
  echo "error: machine busy (load average $load > 0.5): refusing to publish figures" >&2
  exit 1
fi
mkdir -p bench/results
out=bench/results/$(date -u +%Y-%m-%dT%H%M%SZ).txt
{
  echo "# scadaotel component benchmarks, $(date -u)"
  echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores, load before: $load"
  go test -run '^$' -bench . -benchmem -count 3 \
    ./receivers/... ./processors/... ./connectors/... ./exporters/... ./tenants/... ./internal/vmstore/...
  echo "# testbench: BATADAL profile at 60x through the real appliance"
  bin/scadaotel-testbench run --scenario testbench/scenarios/batadal-60x.yaml --out bench/results/batadal-60x
  echo "# load after: $(cut -d' ' -f1 /proc/loadavg)"
} | tee "$out"
echo "wrote $out"
