#!/usr/bin/env bash
# check-test-deps.sh: make test's first step. Checks that the third-party
# programs the tests use are installed; installs nothing (that is
# `make test-deps`, scripts/install-test-deps.sh). Exits 1 naming what is
# missing and how to get it.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=() pkgs=()
need() { # command debian-package what
  command -v "$1" >/dev/null && return 0
  missing+=("$1 ($3)")
  pkgs+=("$2")
}
need kcat kcat "a Kafka client the alert tests read records with"
need promtool prometheus "Prometheus' query client, for the query API tests"
need prometheus prometheus "the Prometheus server, for the remote-write test"
need chromium chromium "the browser of the UI tests"
need certutil libnss3-tools "NSS's certutil: the TLS browser test trusts the CA in a throwaway NSS database"
need node nodejs "runs the UI build and browser tests"
need npm npm "installs the UI's locked npm packages"
need curl curl "health waits of make run and the scripts"
need file file "the static-binary check of make cross"
need gcc gcc "a C compiler: go test -race needs cgo"
if command -v dpkg >/dev/null && ! dpkg -s libc6-dev >/dev/null 2>&1; then
  missing+=("libc6-dev (C library headers for cgo, go test -race)")
  pkgs+=(libc6-dev)
fi
if command -v dpkg >/dev/null && ! dpkg -s fonts-wqy-microhei >/dev/null 2>&1; then
  missing+=("fonts-wqy-microhei (CJK glyphs for the UI screenshots)")
  pkgs+=(fonts-wqy-microhei)
fi
# Go-built test tools (scripts/test-tools.sh), at their pinned versions.
. scripts/test-tools.sh
tg="${BIN:-$PWD/bin}/telemetrygen"
if [ ! -x "$tg" ]; then
  missing+=("$tg (telemetrygen $TELEMETRYGEN_VERSION, the OpenTelemetry project's OTLP client, for the TLS test: make test-deps runs go install $TELEMETRYGEN_PKG@$TELEMETRYGEN_VERSION into ${BIN:-bin})")
elif command -v go >/dev/null && ! tg_pinned "$tg"; then
  missing+=("$tg is not telemetrygen $TELEMETRYGEN_VERSION (the pin in scripts/test-tools.sh moved: make test-deps rebuilds it)")
fi
if [ ! -f ui/web/node_modules/playwright-core/package.json ] ||
  [ ui/web/package-lock.json -nt ui/web/node_modules/.package-lock.json ]; then
  missing+=("ui/web/node_modules (playwright-core and the UI build tools, exactly as locked: npm ci in ui/web)")
fi
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "make test: missing test dependencies:" >&2
for m in "${missing[@]}"; do echo "  - $m" >&2; done
echo "Install them with:  make test-deps   (root or sudo; Debian/Ubuntu apt packages, npm ci in ui/web, go install of telemetrygen into bin/)" >&2
if [ ${#pkgs[@]} -gt 0 ]; then
  declare -A uniq=()
  list=""
  for p in "${pkgs[@]}"; do
    [ -n "${uniq[$p]:-}" ] || list+=" $p"
    uniq[$p]=1
  done
  echo "or by hand:         sudo apt-get install --no-install-recommends$list   (and npm ci in ui/web)" >&2
fi
exit 1
