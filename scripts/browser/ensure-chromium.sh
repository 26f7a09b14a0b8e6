#!/usr/bin/env bash
# Installs Debian's chromium (for the dashboard's browser tests and benchmark) unless it is
# already there. Prints the binary's path. Idempotent: a second run only checks.
#
#   scripts/browser/ensure-chromium.sh            # install if missing (apt, needs root), print the path
#   scripts/browser/ensure-chromium.sh --check    # exit 1 (and install nothing) if missing
#
# GANTRY_CHROMIUM=/path/to/chromium overrides the lookup. apt keeps the packages in its own
# cache (/var/cache/apt/archives), so a reinstall does not download them again.
set -euo pipefail
find_chromium() {
  if [ -n "${GANTRY_CHROMIUM:-}" ] && [ -x "$GANTRY_CHROMIUM" ]; then echo "$GANTRY_CHROMIUM"; return 0; fi
  for c in chromium chromium-browser; do
    if p=$(command -v "$c" 2>/dev/null); then echo "$p"; return 0; fi
  done
  return 1
}
if p=$(find_chromium); then echo "$p"; exit 0; fi
if [ "${1:-}" = "--check" ]; then echo "chromium is not installed (run scripts/browser/ensure-chromium.sh)" >&2; exit 1; fi
command -v apt-get >/dev/null || { echo "no apt-get: install chromium by hand, or set GANTRY_CHROMIUM" >&2; exit 1; }
sudo=""
if [ "$(id -u)" != "0" ]; then
  command -v sudo >/dev/null || { echo "installing chromium needs root (or sudo)" >&2; exit 1; }
  sudo="sudo"
fi
start=$(date +%s)
echo "installing chromium with apt-get (once; a few minutes)" >&2
# Refresh the package lists only when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then $sudo apt-get update -qq >&2; fi
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
p=$(find_chromium) || { echo "apt-get finished but no chromium binary was found" >&2; exit 1; }
echo "installed in $(( $(date +%s) - start ))s" >&2
echo "$p"
