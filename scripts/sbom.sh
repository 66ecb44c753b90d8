#!/usr/bin/env bash
# sbom.sh: CycloneDX SBOMs of scadaotel (from the source, for GOOS/GOARCH)
# and of the Jaeger binary (from its build information), validated against
# the CycloneDX JSON schema, and checked to name the collector,
# VictoriaMetrics, sarama and Jaeger modules at the versions the go.mod
# files pin. Tools: tools/supplychain (cyclonedx-gomod v1.10.0, a schema check).
# Env: GO, DIST, BIN.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
DIST=${DIST:-$PWD/dist}
BIN=${BIN:-$PWD/bin}
mkdir -p "$DIST"
tool() { "$GO" tool -modfile=tools/supplychain/go.mod cyclonedx-gomod "$@"; }

export CGO_ENABLED=0 GOOS=${GOOS:-linux} GOARCH=${GOARCH:-$("$GO" env GOARCH)}
tool app -json -licenses=false -main collector -output "$DIST/scadaotel.cdx.json" .
tool bin -json -output "$DIST/jaeger.cdx.json" "$BIN/jaeger"

schemas="$("$GO" list -C tools/supplychain -m -f '{{.Dir}}' github.com/CycloneDX/cyclonedx-go)/schema"
"$GO" run -C tools/supplychain ./validate "$schemas" "$DIST/scadaotel.cdx.json" "$DIST/jaeger.cdx.json"

# name@version of a component in an SBOM, or nothing.
component() { grep -o "\"purl\": *\"pkg:golang/$2@[^\"?]*" "$1" | head -1 | sed 's/.*@//'; }
check() { # sbom module gomod-dir
  local want got
  want=$("$GO" list -C "$3" -m -f '{{.Version}}' "$2")
  got=$(component "$1" "$2")
  if [ "$got" != "$want" ]; then
    echo "error: $(basename "$1") lists $2 at '${got}', go.mod in $3 pins $want" >&2
    exit 1
  fi
  echo "$(basename "$1"): $2 $got"
}
check "$DIST/scadaotel.cdx.json" go.opentelemetry.io/collector/otelcol .
check "$DIST/scadaotel.cdx.json" github.com/VictoriaMetrics/VictoriaMetrics .
check "$DIST/scadaotel.cdx.json" github.com/IBM/sarama .
check "$DIST/jaeger.cdx.json" github.com/jaegertracing/jaeger tools/jaeger
