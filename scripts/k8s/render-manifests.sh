#!/usr/bin/env bash
# Writes the plain manifests in deploy/ (for `kubectl apply -f`) from the Helm chart in
# deploy/helm/gantry, so that the two never disagree: namespace gantry-system, the webhook's
# serving certificate a Secret you make (webhook.tls.mode=secret), no Helm labels.
#
#   scripts/k8s/render-manifests.sh           # rewrite deploy/*.yaml and deploy/crds/*.yaml
#   scripts/k8s/render-manifests.sh --check   # exit 1, changing nothing, if they are out of date
#
# helm comes from scripts/k8s/ensure-helm.sh (built from Go modules, cached).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
helm="$(bash "$here/ensure-helm.sh")"
out="$(mktemp -d "${TMPDIR:-/tmp}/gantry-render.XXXXXX")"
trap 'rm -rf "$out"' EXIT

"$helm" template gantry "$repo/deploy/helm/gantry" --namespace gantry-system --include-crds \
  --set plainManifests=true --set webhook.tls.mode=secret >"$out/all.yaml"

# One file per template (and per CRD), documents in Helm's order, without its "# Source" lines.
awk -v dir="$out" '
  function flush() {
    if (doc != "" && file != "") {
      path = dir "/" file
      if (!(path in seen)) { seen[path] = 1; printf "# Generated from deploy/helm/gantry by scripts/k8s/render-manifests.sh: edit the chart, then run it.\n" > path }
      else printf "---\n" >> path
      printf "%s", doc >> path
    }
    doc = ""; file = ""
  }
  /^---$/ { flush(); next }
  /^# Source: gantry\/templates\// { file = substr($0, length("# Source: gantry/templates/") + 1); next }
  /^# Source: gantry\/crds\// { file = "crds/" substr($0, length("# Source: gantry/crds/") + 1); next }
  { doc = doc $0 "\n" }
  END { flush() }
' < <(mkdir -p "$out/crds"; cat "$out/all.yaml")
rm -f "$out/all.yaml"

if [ "${1:-}" = "--check" ]; then
  stale=0
  for f in $(cd "$out" && find . -name '*.yaml' | sort); do
    if ! cmp -s "$out/$f" "$repo/deploy/$f"; then echo "deploy/${f#./} is out of date with deploy/helm/gantry" >&2; stale=1; fi
  done
  for f in $(cd "$repo/deploy" && find . -path ./helm -prune -o -name '*.yaml' -print | sort); do
    [ -f "$out/$f" ] || { echo "deploy/${f#./} is not rendered from deploy/helm/gantry" >&2; stale=1; }
  done
  [ "$stale" = 0 ] || { echo "run scripts/k8s/render-manifests.sh" >&2; exit 1; }
  echo "deploy/ is in sync with deploy/helm/gantry"
  exit 0
fi
mkdir -p "$repo/deploy/crds"
(cd "$out" && find . -name '*.yaml') | while read -r f; do cp "$out/$f" "$repo/deploy/$f"; done
echo "rendered deploy/ from deploy/helm/gantry"
