#!/usr/bin/env bash
# Generates Gantry's Python client from an OpenAPI document with openapi-python-client (from
# PyPI, in the cached venv of ensure-venv.sh), into a cache keyed by the document's hash.
# Prints the folder to put on PYTHONPATH (it holds the package gantry_client).
#
#   scripts/python/generate-client.sh openapi.json
#
# Cache: ${GANTRY_PYTHON_CACHE:-$HOME/.cache/gantry/python}/client-<sha256 of the document>/.
set -euo pipefail
doc="${1:?usage: generate-client.sh OPENAPI.json}"
here="$(cd "$(dirname "$0")" && pwd)"
venv_bin="$(bash "$here/ensure-venv.sh" openapi-python-client)"
cache_root="${GANTRY_PYTHON_CACHE:-$HOME/.cache/gantry/python}"
sum="$(sha256sum "$doc" | cut -c1-16)"
dir="$cache_root/client-$sum"
if [ -f "$dir/.complete" ]; then echo "$dir"; exit 0; fi
rm -rf "$dir"
mkdir -p "$dir"
# Its own ruff (in the venv) formats the generated code.
PATH="$venv_bin:$PATH" "$venv_bin/openapi-python-client" generate --path "$doc" --meta none --output-path "$dir/gantry_client" >"$dir/generate.log" 2>&1 || { cat "$dir/generate.log" >&2; exit 1; }
date -u +%FT%TZ > "$dir/.complete"
echo "$dir"
