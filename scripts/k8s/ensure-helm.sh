#!/usr/bin/env bash
# Builds helm from Go modules (through the Go module proxy) into a cache outside the repo, unless
# it is already there. Prints the path of the helm binary.
#
#   scripts/k8s/ensure-helm.sh            # build if missing, print the binary's path
#   scripts/k8s/ensure-helm.sh --check    # exit 1 (and build nothing) if missing
#
# Cache: ${GANTRY_HELM_CACHE:-$HOME/.cache/gantry/helm}/<HELM_VERSION>-k8s1.<minor>/helm. The chart tests
# (test/k8s/helm-chart.test.ts) and scripts/k8s/render-manifests.sh read the same location.
# A cold build downloads ~300 MB of modules and takes ~3-6 min on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
. "$here/versions.env"
# shellcheck source=/dev/null
. "$here/../lib/go-install-cached.sh"
# helm's default Kubernetes version (what `helm template` checks the chart's kubeVersion against)
# is set at link time, as helm's own Makefile does; without it a `go install` build says v1.20.0
# and refuses the chart. It follows the test control plane's version, and is part of the cache key.
k8s_minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
dir="${GANTRY_HELM_CACHE:-$HOME/.cache/gantry/helm}/$HELM_VERSION-k8s1.$k8s_minor"
pkg=helm.sh/helm/v3/internal/version
caps=""
for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
  caps="$caps -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$k8s_minor"
done
go_install_cached helm "$dir" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
  "-s -w -X $pkg.version=$HELM_VERSION -X $pkg.gitTreeState=clean$caps" "${1:-}"
