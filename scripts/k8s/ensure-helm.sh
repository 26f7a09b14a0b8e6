#!/usr/bin/env bash
# Builds helm from Go modules (through the Go module proxy) into a cache outside the repo, unless
# it is already there. Prints the path of the helm binary.
#
#   scripts/k8s/ensure-helm.sh            # build if missing, print the binary's path
#   scripts/k8s/ensure-helm.sh --check    # exit 1 (and build nothing) if missing
#
# Cache: ${GANTRY_HELM_CACHE:-$HOME/.cache/gantry/helm}/<HELM_VERSION>/helm. The chart tests
# (test/k8s/helm-chart.test.ts) and scripts/k8s/render-manifests.sh read the same location.
# A cold build downloads ~300 MB of modules and takes ~3-6 min on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
. "$here/versions.env"
cache_root="${GANTRY_HELM_CACHE:-$HOME/.cache/gantry/helm}"
dir="$cache_root/$HELM_VERSION"

if [ -x "$dir/helm" ] && [ -f "$dir/.complete" ]; then echo "$dir/helm"; exit 0; fi
if [ "${1:-}" = "--check" ]; then echo "helm $HELM_VERSION missing in $dir (run scripts/k8s/ensure-helm.sh)" >&2; exit 1; fi
command -v go >/dev/null || { echo "go is not installed: cannot build helm" >&2; exit 1; }

tmp="$cache_root/.build-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
echo "building helm $HELM_VERSION into $dir" >&2
pkg=helm.sh/helm/v3/internal/version
GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath \
  -ldflags "-s -w -X $pkg.version=$HELM_VERSION -X $pkg.gitTreeState=clean" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
[ -x "$tmp/helm" ] || { echo "the build produced no helm binary" >&2; exit 1; }
mkdir -p "$dir"
mv -f "$tmp/helm" "$dir/helm"
date -u +%FT%TZ > "$dir/.complete"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$dir/helm"
