#!/bin/sh
# Builds the operator UI assets into ../dist (embedded by the scada_ui
# extension). Needs node >= 20 and npm; everything else comes from
# package-lock.json. Run from anywhere.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run build
