#!/usr/bin/env bash
# check-static.sh BINARY: fails unless `file` reports a statically linked ELF.
set -euo pipefail
desc=$(file -b "$1")
echo "$1: $desc"
case "$desc" in
  *"statically linked"*) ;;
  *) echo "error: $1 is not statically linked" >&2; exit 1 ;;
esac
