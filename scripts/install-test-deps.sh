#!/usr/bin/env bash
# install-test-deps.sh: install the third-party programs the tests use, from
# Debian's packages, when they are missing. Idempotent; needs root (CI runs as
# root) or sudo.
#   kcat        - a Kafka client this project did not write (alert records)
#   prometheus  - for promtool, a Prometheus client that queries our API
#   curl, file  - used by scripts (health waits, static-binary check)
set -euo pipefail
need=()
command -v kcat >/dev/null     || need+=(kcat)
command -v promtool >/dev/null || need+=(prometheus)
command -v curl >/dev/null     || need+=(curl)
command -v file >/dev/null     || need+=(file)
if [ ${#need[@]} -eq 0 ]; then
  echo "test dependencies present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
