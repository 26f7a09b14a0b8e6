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
# shellcheck source=/dev/null
. "$here/../lib/go-install-cached.sh"
dir="${GANTRY_KWOK_CACHE:-$HOME/.cache/gantry/kwok}/$KWOK_VERSION"
go_install_cached kwok "$dir" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" \
  "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" "${1:-}"
