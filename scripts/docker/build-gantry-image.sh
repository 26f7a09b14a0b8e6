#!/usr/bin/env bash
# Builds Gantry's image from the Dockerfile on the Docker daemon at DOCKER_HOST.
#
#   scripts/docker/build-gantry-image.sh                 # FROM the usual node images (a registry)
#   scripts/docker/build-gantry-image.sh --local-base    # FROM base images made here (no registry;
#                                                        # scripts/docker/ensure-node-images.sh)
#   options: --tag <name:tag> (default gantry:<package version>)
#
# RUN steps use the host's network (`npm ci` reaches the npm registry; the daemons the tests
# start have no bridge). The daemon's layer cache makes a rebuild after a source change redo
# only the TypeScript stage (~1 min); a lockfile change redoes node_modules too (~3 min).
# Prints the image's tag.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
version="$(node -p "require('$repo/package.json').version")"
tag="gantry:$version"
local_base=0
while [ $# -gt 0 ]; do
  case "$1" in
    --local-base) local_base=1 ;;
    --tag) tag="${2:?--tag needs a value}"; shift ;;
    *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
  shift
done
args=(--network host -t "$tag")
if [ "$local_base" = 1 ]; then
  read -r runtime build < <(bash "$here/ensure-node-images.sh")
  args+=(--build-arg "RUNTIME_IMAGE=$runtime" --build-arg "BUILD_IMAGE=$build")
fi
# Debian's daemon without the buildx plugin: the classic builder (it reads the same Dockerfile).
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0
start=$(date +%s)
docker build -q "${args[@]}" "$repo" >/dev/null
# The image this tag named before is now dangling: drop it (its shared layers stay cached).
docker image prune -f --filter label=org.opencontainers.image.title=gantry >/dev/null
echo "built $tag in $(( $(date +%s) - start ))s" >&2
echo "$tag"
