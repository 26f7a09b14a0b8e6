#!/usr/bin/env bash
# Builds kube-apiserver, kube-scheduler, kube-controller-manager, kubelet and etcd from Go modules (through the Go module proxy)
# into a cache outside the repo, unless they are already there. Prints the cache directory.
#
#   scripts/k8s/ensure-binaries.sh            # build if missing, print the directory
#   scripts/k8s/ensure-binaries.sh --check    # exit 1 (and build nothing) if missing
#
# Cache: ${GANTRY_K8S_CACHE:-$HOME/.cache/gantry/k8s}/<K8S_VERSION>/. The test harness reads
# the same location (test/k8s/binaries.ts). Nothing built here is ever committed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
. "$here/versions.env"
cache_root="${GANTRY_K8S_CACHE:-$HOME/.cache/gantry/k8s}"
dir="$cache_root/$K8S_VERSION"
bins=(kube-apiserver kube-scheduler kube-controller-manager kubelet etcd)

have_all() {
  for b in "${bins[@]}"; do [ -x "$dir/$b" ] || return 1; done
  [ -f "$dir/.complete" ]
}

if have_all; then echo "$dir"; exit 0; fi
if [ "${1:-}" = "--check" ]; then echo "k8s test binaries missing in $dir" >&2; exit 1; fi
command -v go >/dev/null || { echo "go is not installed: cannot build the k8s test binaries" >&2; exit 1; }

minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
pkg=k8s.io/component-base/version
ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
ldflags="$ldflags -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION"
tmp="$cache_root/.build-$$"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
start=$(date +%s)
# Only what is missing (a cache made before the kubelet was added needs only the kubelet).
missing=()
for b in "${bins[@]}"; do [ -x "$dir/$b" ] || missing+=("$b"); done
echo "building ${missing[*]} for Kubernetes $K8S_VERSION (etcd $ETCD_VERSION) into $dir" >&2
echo "(a cold build downloads ~1 GB of modules and takes ~20 min on 2 cores)" >&2
[ "${#missing[@]}" -gt 0 ] && (cd "$here/wrapper" && CGO_ENABLED=0 go build -mod=readonly -buildvcs=false -trimpath -ldflags "$ldflags" -o "$tmp/" "${missing[@]/#/./cmd/}")
for b in "${missing[@]}"; do [ -x "$tmp/$b" ] || { echo "build produced no $b" >&2; exit 1; }; done
mkdir -p "$dir"
for b in "${missing[@]}"; do mv -f "$tmp/$b" "$dir/$b"; done
date -u +%FT%TZ > "$dir/.complete"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$dir"
