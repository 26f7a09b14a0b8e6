#!/usr/bin/env bash
# Builds Prometheus's promtool from Go modules (through the Go module proxy) into a cache
# outside the repo, unless it is already there. Prints the binary's path.
#
#   scripts/promtool/ensure-promtool.sh            # build if missing, print the path
#   scripts/promtool/ensure-promtool.sh --check    # exit 1 (and build nothing) if missing
#
# Cache: ${GANTRY_PROMTOOL_CACHE:-$HOME/.cache/gantry/promtool}/<version>/promtool.
# The metrics test (test/server/promtool.e2e.test.ts) runs `promtool check metrics` with it.
set -euo pipefail
version="${PROMETHEUS_VERSION:-v0.316.0}"
cache_root="${GANTRY_PROMTOOL_CACHE:-$HOME/.cache/gantry/promtool}"
dir="$cache_root/$version"
bin="$dir/promtool"
if [ -x "$bin" ] && [ -f "$dir/.complete" ]; then echo "$bin"; exit 0; fi
if [ "${1:-}" = "--check" ]; then echo "promtool missing in $dir" >&2; exit 1; fi
command -v go >/dev/null || { echo "go is not installed: cannot build promtool" >&2; exit 1; }
tmp="$cache_root/.build-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "building promtool (prometheus $version) into $dir (a cold build downloads its modules; a few minutes on 2 cores)" >&2
GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" "github.com/prometheus/prometheus/cmd/promtool@$version"
[ -x "$tmp/promtool" ] || { echo "build produced no promtool" >&2; exit 1; }
mkdir -p "$dir"
mv -f "$tmp/promtool" "$bin"
date -u +%FT%TZ > "$dir/.complete"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
