#!/usr/bin/env bash
# install-test-deps.sh (make test-deps): install the third-party programs the
# tests use, from Debian's packages, when they are missing, and the UI's
# locked npm packages. Idempotent; needs root (CI runs as root) or sudo.
# `make test` never runs this: it only checks (scripts/check-test-deps.sh).
#   kcat        - a Kafka client this project did not write (alert records)
#   prometheus  - for promtool, a Prometheus client that queries our API, and
#                 the Prometheus server the remote-write test runs itself.
#                 The package also ships a system service (a server on
#                 :9090): it is neither started nor left enabled here.
#   chromium    - a real browser for the UI tests (driven by playwright-core)
#   libnss3-tools - certutil: the TLS browser test trusts the appliance's
#                 CA in a throwaway NSS database, as a user's browser would
#   nodejs, npm - run the UI build and browser tests; npm packages come from
#                 ui/web/package-lock.json (npm ci), never by hand
#   fonts-wqy-microhei - CJK glyphs, so 中文 screenshots are legible
#   curl, file  - used by scripts (health waits, static-binary check)
#   gcc, libc6-dev - a C toolchain: `go test -race` (make test's race run)
#                 needs cgo
# and, with `go install` into $BIN (bin/), the Go-built test tools pinned in
# scripts/test-tools.sh (telemetrygen).
set -euo pipefail
cd "$(dirname "$0")/.."
# Paths a test of this script points elsewhere (scripts/deps_test.go).
policy=${SCADAOTEL_POLICY_RC_D:-/usr/sbin/policy-rc.d}
systemd_run=${SCADAOTEL_SYSTEMD_RUN_DIR:-/run/systemd/system}
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v certutil >/dev/null || need+=(libnss3-tools)
command -v node >/dev/null     || need+=(nodejs)
command -v npm >/dev/null      || need+=(npm)
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || need+=(fonts-wqy-microhei)
command -v kcat >/dev/null     || need+=(kcat)
command -v promtool >/dev/null || need+=(prometheus)
command -v curl >/dev/null     || need+=(curl)
command -v file >/dev/null     || need+=(file)
command -v gcc >/dev/null      || need+=(gcc)
dpkg -s libc6-dev >/dev/null 2>&1 || need+=(libc6-dev)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
if [ ${#need[@]} -eq 0 ]; then
  echo "Debian test dependencies present"
else
  echo "installing: ${need[*]}"
  # No service of these packages may start during the install (Debian's
  # policy-rc.d protocol, honoured by invoke-rc.d and deb-systemd-invoke);
  # an existing policy is left as it is.
  own_policy=""
  if [ ! -e "$policy" ]; then
    $SUDO sh -c "printf '#!/bin/sh\n# scadaotel install-test-deps.sh: no service starts during the install\nexit 101\n' >$policy && chmod 755 $policy"
    own_policy=1
    trap '[ -z "$own_policy" ] || $SUDO rm -f "$policy"' EXIT
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
  if [ -n "$own_policy" ]; then
    $SUDO rm -f "$policy"
    own_policy=""
  fi
  if [[ " ${need[*]} " == *" prometheus "* ]]; then
    # The tests run their own Prometheus; the package's server service
    # must not stay enabled (or running) on a workstation.
    if [ -d "$systemd_run" ]; then
      $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
    else
      # No systemd running (a container): the unit may still be enabled
      # for a later boot; systemctl edits that offline.
      if command -v systemctl >/dev/null; then
        $SUDO systemctl disable prometheus.service >/dev/null 2>&1 || true
      fi
      if command -v update-rc.d >/dev/null && [ -e /etc/init.d/prometheus ]; then
        $SUDO update-rc.d prometheus disable >/dev/null 2>&1 || true
      fi
      if [ -e /etc/init.d/prometheus ]; then
        $SUDO /etc/init.d/prometheus stop >/dev/null 2>&1 || true
      fi
    fi
    echo "prometheus installed for promtool and the tests; its system service is disabled and stopped"
  fi
fi
# Go-built test tools, at the pinned versions (the module proxy and the
# checksum database vouch for the source): rebuilt when missing or when the
# pin moved.
. scripts/test-tools.sh
bin=${BIN:-$PWD/bin}
tg="$bin/telemetrygen"
if [ -x "$tg" ] && tg_pinned "$tg"; then
  echo "telemetrygen $TELEMETRYGEN_VERSION present"
else
  if ! command -v go >/dev/null; then
    echo "go is not on PATH: it builds telemetrygen (install Go as the README says, then run make test-deps again)" >&2
    exit 1
  fi
  echo "go install $TELEMETRYGEN_PKG@$TELEMETRYGEN_VERSION into $bin"
  mkdir -p "$bin"
  GOBIN="$bin" CGO_ENABLED=0 go install -trimpath "$TELEMETRYGEN_PKG@$TELEMETRYGEN_VERSION"
fi
# playwright-core and the UI build tools, exactly as locked.
if [ ! -d ui/web/node_modules ] || [ ui/web/package-lock.json -nt ui/web/node_modules/.package-lock.json ]; then
  (cd ui/web && npm ci --no-audit --no-fund)
fi
