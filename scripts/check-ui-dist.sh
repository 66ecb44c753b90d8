#!/usr/bin/env bash
# check-ui-dist.sh: checks that the committed UI assets (ui/dist) are what
# ui/web/src builds to with the locked npm packages. It builds a copy of
# ui/web in a temporary folder (the work tree is not touched) and compares
# the result with ui/dist, file by file.
#
# Needs node and npm (scripts/install-test-deps.sh installs them) and the
# locked packages in ui/web/node_modules (`npm ci` in ui/web; install-test-deps
# runs it). Exit 0 when they match, 1 with the differing files when not.
set -euo pipefail
cd "$(dirname "$0")/.."
web=ui/web
if [ ! -d "$web/node_modules" ]; then
  echo "check-ui-dist: $web/node_modules is missing; run 'npm ci' in $web (or scripts/install-test-deps.sh)" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# build.mjs writes to ../dist next to itself: a copy in $tmp/web builds into
# $tmp/dist. node_modules is linked, not copied (the locked packages).
mkdir "$tmp/web"
cp -R "$web/build.mjs" "$web/package.json" "$web/src" "$tmp/web/"
ln -s "$PWD/$web/node_modules" "$tmp/web/node_modules"
if ! (cd "$tmp/web" && node build.mjs >"$tmp/build.log" 2>&1); then
  cat "$tmp/build.log" >&2
  echo "check-ui-dist: building $web/src failed" >&2
  exit 1
fi
# Compare against the committed files (git's index), so that an uncommitted
# edit of ui/dist does not hide a stale commit.
mkdir "$tmp/committed"
git archive HEAD ui/dist | tar -x -C "$tmp/committed"
if ! diff -r "$tmp/committed/ui/dist" "$tmp/dist" >"$tmp/diff.txt"; then
  echo "check-ui-dist: the committed ui/dist does not match a build of $web/src:" >&2
  diff -rq "$tmp/committed/ui/dist" "$tmp/dist" | sed "s|$tmp/committed/||; s|$tmp/dist|build|" >&2 || true
  echo "Run 'make ui-assets' (ui/web/build.sh) and commit ui/dist." >&2
  exit 1
fi
echo "check-ui-dist: ui/dist matches a build of $web/src"
