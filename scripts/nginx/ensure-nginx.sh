#!/usr/bin/env bash
# Makes sure Debian's nginx (nginx-light, or any nginx package) is installed, for the router
# benchmark (bench/router-overhead.ts), which runs it as a plain process with a generated
# config, never as a system service. Prints the binary's path.
#
#   scripts/nginx/ensure-nginx.sh            # install with apt-get if missing, print the path
#   scripts/nginx/ensure-nginx.sh --check    # exit 1 (and install nothing) if missing
#
# apt-get needs root; the package's own service is not started (policy-rc.d says no).
set -euo pipefail
found() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; }; }
if bin=$(found); then echo "$bin"; exit 0; fi
if [ "${1:-}" = "--check" ]; then echo "nginx is not installed (scripts/nginx/ensure-nginx.sh installs it)" >&2; exit 1; fi
command -v apt-get >/dev/null || { echo "no apt-get: install nginx with your package manager" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "installing nginx needs root (apt-get install nginx-light)" >&2; exit 1; }
echo "installing nginx-light from Debian (apt-get)" >&2
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made_policy=1; fi
trap '[ "$made_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >&2 || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >&2
bin=$(found) || { echo "apt-get ran but no nginx binary was found" >&2; exit 1; }
echo "$bin"
