#!/usr/bin/env bash
# Builds SeaweedFS (`weed`: master + volume + filer + S3 gateway in one binary) from Go modules
# into a cache outside the repo, unless it is already there. Prints the binary's path.
#
#   scripts/s3/ensure-seaweedfs.sh            # build if missing, print the path
#   scripts/s3/ensure-seaweedfs.sh --check    # exit 1 (and build nothing) if missing
#
# Cache: ${GANTRY_SEAWEEDFS_CACHE:-$HOME/.cache/gantry/bin}/weed (+ weed.version).
# `go install` refuses this module (its go.mod has replace directives), so the module is
# downloaded and built inside its own folder. A cold build takes ~6 min on 2 cores.
# The dataset S3 tests (test/adapters/datacache-s3*.test.ts) start it on 127.0.0.1.
set -euo pipefail
version="${SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"   # SeaweedFS 4.53
dir="${GANTRY_SEAWEEDFS_CACHE:-$HOME/.cache/gantry/bin}"
bin="$dir/weed"
if [ -x "$bin" ] && [ "$(cat "$dir/weed.version" 2>/dev/null)" = "$version" ]; then echo "$bin"; exit 0; fi
if [ "${1:-}" = "--check" ]; then echo "SeaweedFS missing in $dir" >&2; exit 1; fi
command -v go >/dev/null || { echo "go is not installed: cannot build SeaweedFS" >&2; exit 1; }
mkdir -p "$dir"
start=$(date +%s)
echo "building SeaweedFS $version into $dir (cold: downloads ~500 MB of modules, ~6 min on 2 cores)" >&2
src=$(go mod download -json "github.com/seaweedfs/seaweedfs@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "go mod download gave no folder for seaweedfs@$version" >&2; exit 1; }
tmp="$dir/.weed-build-$$"
trap 'rm -f "$tmp"' EXIT
(cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$tmp" ./weed)
mv -f "$tmp" "$bin"
echo "$version" > "$dir/weed.version"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
