#!/usr/bin/env bash
# Puts Prometheus's promtool into a cache outside the repo, unless it is already there, and
# prints the binary's path. It is taken from Debian's `prometheus` package (downloaded with
# apt-get, only promtool extracted: nothing is installed or started; a few seconds); where apt
# has no such package it is built from Go modules instead (tens of minutes cold on 2 cores).
#
#   scripts/promtool/ensure-promtool.sh            # fetch or build if missing, print the path
#   scripts/promtool/ensure-promtool.sh --check    # exit 1 (and fetch nothing) if missing
#
# Cache: ${GANTRY_PROMTOOL_CACHE:-$HOME/.cache/gantry/promtool}/<source>/promtool.
# The metrics tests (test/server/promtool.e2e.test.ts and others) run `promtool check metrics` with it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${GANTRY_PROMTOOL_CACHE:-$HOME/.cache/gantry/promtool}"
mode="${1:-}"

# Whatever an earlier run left complete, Debian's or Go's.
for d in "$cache"/*/; do
  if [ -x "$d/promtool" ] && [ -f "$d/.complete" ]; then echo "${d%/}/promtool"; exit 0; fi
done
if [ "$mode" = "--check" ]; then echo "promtool missing in $cache" >&2; exit 1; fi

# Debian's package: download, extract promtool alone.
if command -v apt-get >/dev/null; then
  tmp="$cache/.deb-$$"
  mkdir -p "$tmp"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  if ( cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && apt-get download prometheus >/dev/null 2>&1; }; } ); then
    deb="$(ls "$tmp"/prometheus_*.deb)"
    version="$(dpkg-deb -f "$deb" Version)"
    dpkg-deb -x "$deb" "$tmp/x"
    if [ -x "$tmp/x/usr/bin/promtool" ] && "$tmp/x/usr/bin/promtool" --version >/dev/null 2>&1; then
      dir="$cache/debian-$version"
      mkdir -p "$dir"
      mv -f "$tmp/x/usr/bin/promtool" "$dir/promtool"
      date -u +%FT%TZ > "$dir/.complete"
      echo "promtool from Debian's prometheus $version" >&2
      echo "$dir/promtool"
      exit 0
    fi
  fi
  echo "no promtool from apt; building it from Go modules" >&2
fi

version="${PROMETHEUS_VERSION:-v0.316.0}"
# shellcheck source=/dev/null
. "$here/../lib/go-install-cached.sh"
go_install_cached promtool "$cache/$version" "github.com/prometheus/prometheus/cmd/promtool@$version" "-s -w"
