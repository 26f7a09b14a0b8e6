#!/usr/bin/env bash
# Builds kwok (sigs.k8s.io/kwok, the fake-kubelet controller) from Go modules (through the Go
# module proxy) into a cache outside the repo, unless it is already there. Prints the binary's path.
#
#   scripts/k8s/ensure-kwok.sh            # build if missing, print the binary's path
#   scripts/k8s/ensure-kwok.sh --check    # exit 1 (and build nothing) if missing
#
# Cache: ${GANTRY_KWOK_CACHE:-$HOME/.cache/gantry/kwok}/<KWOK_VERSION>/kwok. The scale benchmark
# (bench/k8s/bench.ts --kwok) reads the same location. A cold build downloads ~400 MB of modules
# and takes ~5-10 min on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
. "$here/versions.env"
cache_root="${GANTRY_KWOK_CACHE:-$HOME/.cache/gantry/kwok}"
dir="$cache_root/$KWOK_VERSION"

if [ -x "$dir/kwok" ] && [ -f "$dir/.complete" ]; then echo "$dir/kwok"; exit 0; fi
if [ "${1:-}" = "--check" ]; then echo "kwok $KWOK_VERSION missing in $dir (run scripts/k8s/ensure-kwok.sh)" >&2; exit 1; fi
command -v go >/dev/null || { echo "go is not installed: cannot build kwok" >&2; exit 1; }

tmp="$cache_root/.build-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "building kwok $KWOK_VERSION into $dir" >&2
GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath \
  -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
[ -x "$tmp/kwok" ] || { echo "the build produced no kwok binary" >&2; exit 1; }
mkdir -p "$dir"
mv -f "$tmp/kwok" "$dir/kwok"
date -u +%FT%TZ > "$dir/.complete"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$dir/kwok"
