#!/usr/bin/env bash
# dist.sh: release tarballs, one per architecture in CROSS_ARCHES:
#   scadaotel-<version>-linux-<arch>/{bin/scadaotel,bin/jaeger,config/,packaging/,README.md,SHA256SUMS}
# packed reproducibly (sorted names, the commit's time, no owners).
# Env: GO, DIST, LDFLAGS, JAEGER_LDFLAGS, VERSION, CROSS_ARCHES.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
DIST=${DIST:-$PWD/dist}
mtime=$(git log -1 --format=%ct 2>/dev/null || echo 0)
mkdir -p "$DIST"
for arch in $CROSS_ARCHES; do
  name="scadaotel-$VERSION-linux-$arch"
  root="$DIST/$name"
  rm -rf "$root" && mkdir -p "$root/bin" "$root/config" "$root/packaging"
  echo "building $name"
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -trimpath -buildvcs=false -ldflags "-s -w -buildid= $LDFLAGS" \
    -o "$root/bin/scadaotel" ./collector
  CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -C tools/jaeger -trimpath -buildvcs=false \
    -ldflags "-s -w -buildid= $JAEGER_LDFLAGS" -o "$root/bin/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger
  ./scripts/check-static.sh "$root/bin/scadaotel"
  ./scripts/check-static.sh "$root/bin/jaeger"
  cp collector/config/default.yaml "$root/config/scadaotel.yaml"
  cp tools/jaeger/config.yaml "$root/config/jaeger.yaml"
  cp packaging/*.service packaging/*.example packaging/README.md "$root/packaging/"
  cp README.md "$root/README.md"
  (cd "$root" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | xargs sha256sum >SHA256SUMS)
  tar -C "$DIST" --sort=name --mtime="@$mtime" --owner=0 --group=0 --numeric-owner -cf - "$name" | gzip -n >"$DIST/$name.tar.gz"
  echo "$DIST/$name.tar.gz"
done
