#!/usr/bin/env bash
# install-test-deps.sh: install the third-party programs the tests use, from
# Debian's packages, when they are missing. Idempotent; needs root (CI runs as
# root) or sudo.
#   kcat        - a Kafka client this project did not write (alert records)
#   prometheus  - for promtool, a Prometheus client that queries our API
#   chromium    - a real browser for the UI tests (driven by playwright-core)
#   nodejs, npm - run the UI build and browser tests; npm packages come from
#                 ui/web/package-lock.json (npm ci), never by hand
#   fonts-wqy-microhei - CJK glyphs, so 中文 screenshots are legible
#   curl, file  - used by scripts (health waits, static-binary check)
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v node >/dev/null     || need+=(nodejs)
command -v npm >/dev/null      || need+=(npm)
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || need+=(fonts-wqy-microhei)
command -v kcat >/dev/null     || need+=(kcat)
command -v promtool >/dev/null || need+=(prometheus)
command -v curl >/dev/null     || need+=(curl)
command -v file >/dev/null     || need+=(file)
if [ ${#need[@]} -eq 0 ]; then
  echo "Debian test dependencies present"
else
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
# playwright-core and the UI build tools, exactly as locked.
if [ ! -d ui/web/node_modules ] || [ ui/web/package-lock.json -nt ui/web/node_modules/.package-lock.json ]; then
  (cd ui/web && npm ci --no-audit --no-fund)
fi
