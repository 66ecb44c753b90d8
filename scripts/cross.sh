#!/usr/bin/env bash
# cross.sh: build scadaotel for every architecture in CROSS_ARCHES, check each
# binary is static, and (REPRO=1, the default) check that the build is
# reproducible: the same commit built again from a clone at another path
# with an empty Go build cache gives a byte-identical binary.
# Env: GO, DIST, LDFLAGS, CROSS_ARCHES, REPRO.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
DIST=${DIST:-$PWD/dist}
REPRO=${REPRO:-1}
mkdir -p "$DIST"
if [ "$REPRO" = 1 ] && [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "reproducibility check needs a clean tree (commit first): a clone would build other sources" >&2
  exit 1
fi

build() { # arch out dir
  (cd "$3" && CGO_ENABLED=0 GOOS=linux GOARCH=$1 "$GO" build -trimpath -buildvcs=false \
    -ldflags "-s -w -buildid= $LDFLAGS" -o "$2" ./collector)
}

head=$(git rev-parse HEAD)
for arch in $CROSS_ARCHES; do
  echo "building linux/$arch"
  build "$arch" "$DIST/scadaotel-linux-$arch" "$PWD"
  ./scripts/check-static.sh "$DIST/scadaotel-linux-$arch"
done
[ "$REPRO" = 1 ] || { echo "reproducibility check skipped (REPRO=$REPRO)"; exit 0; }

tmp=$(mktemp -d)
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
# The commit the first builds were made from, whatever happened since.
git clone -q . "$tmp/elsewhere/scadaotel"
git -C "$tmp/elsewhere/scadaotel" checkout -q "$head"
export GOCACHE="$tmp/gocache" # nothing reused from the first builds
for arch in $CROSS_ARCHES; do
  echo "rebuilding linux/$arch from $tmp/elsewhere with an empty build cache"
  build "$arch" "$tmp/scadaotel-linux-$arch" "$tmp/elsewhere/scadaotel"
  a=$(sha256sum <"$DIST/scadaotel-linux-$arch" | cut -d' ' -f1)
  b=$(sha256sum <"$tmp/scadaotel-linux-$arch" | cut -d' ' -f1)
  if [ "$a" != "$b" ]; then
    echo "error: linux/$arch is not reproducible: $a vs $b" >&2
    exit 1
  fi
  echo "linux/$arch reproducible: sha256 $a"
done
