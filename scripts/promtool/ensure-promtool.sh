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
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
. "$here/../lib/go-install-cached.sh"
dir="${GANTRY_PROMTOOL_CACHE:-$HOME/.cache/gantry/promtool}/$version"
go_install_cached promtool "$dir" "github.com/prometheus/prometheus/cmd/promtool@$version" "-s -w" "${1:-}"
