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
# shellcheck source=/dev/null
. "$here/../lib/go-install-cached.sh"
dir="${GANTRY_HELM_CACHE:-$HOME/.cache/gantry/helm}/$HELM_VERSION"
pkg=helm.sh/helm/v3/internal/version
go_install_cached helm "$dir" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
  "-s -w -X $pkg.version=$HELM_VERSION -X $pkg.gitTreeState=clean" "${1:-}"
