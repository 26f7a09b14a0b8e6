#!/usr/bin/env bash
# Creates a Python virtualenv with one pinned tool from PyPI in a cache outside the repo,
# unless it is already there. Prints the venv's bin folder.
#
#   scripts/python/ensure-venv.sh schemathesis            # install if missing, print <venv>/bin
#   scripts/python/ensure-venv.sh openapi-python-client   # the Python client generator
#   scripts/python/ensure-venv.sh NAME --check            # exit 1 (install nothing) if missing
#
# Cache: ${GANTRY_PYTHON_CACHE:-$HOME/.cache/gantry/python}/<name>-<version>/.
# Used by test/server/schemathesis.e2e.test.ts and test/server/python-client.e2e.test.ts.
set -euo pipefail
name="${1:?usage: ensure-venv.sh schemathesis|openapi-python-client [--check]}"
case "$name" in
  schemathesis) pkgs=("schemathesis==4.32.5") ;;
  # The generated client needs httpx and attrs at run time; the generator brings both.
  openapi-python-client) pkgs=("openapi-python-client==0.29.1") ;;
  *) echo "unknown tool $name" >&2; exit 2 ;;
esac
cache_root="${GANTRY_PYTHON_CACHE:-$HOME/.cache/gantry/python}"
dir="$cache_root/$name-${pkgs[0]##*==}"
if [ -x "$dir/bin/python" ] && [ -f "$dir/.complete" ]; then echo "$dir/bin"; exit 0; fi
if [ "${2:-}" = "--check" ]; then echo "$name missing in $dir" >&2; exit 1; fi
py="${PYTHON:-python3}"
command -v "$py" >/dev/null || { echo "python3 is not installed: cannot install $name" >&2; exit 1; }
start=$(date +%s)
echo "installing ${pkgs[*]} into $dir" >&2
rm -rf "$dir"
mkdir -p "$cache_root"
"$py" -m venv "$dir"
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check "${pkgs[@]}" >&2
date -u +%FT%TZ > "$dir/.complete"
echo "installed in $(( $(date +%s) - start ))s" >&2
echo "$dir/bin"
