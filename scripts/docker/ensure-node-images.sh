#!/usr/bin/env bash
# Makes, without any image registry, the two base images the Dockerfile is built from in tests:
#   gantry.local/node:<v>        runtime: busybox, the host's node binary and the libraries it links
#   gantry.local/node-build:<v>  build: Debian bookworm (debootstrap) with g++, make, python3 and
#                                the host's node and npm (better-sqlite3 compiles its addon here)
# where <v> is the host's node version. Each is made once into a tar in the cache and loaded into
# the daemon on DOCKER_HOST when it lacks it (with no daemon there, a private one is started only
# to make the tars). Prints the two image names.
#
#   scripts/docker/ensure-node-images.sh            # make / load if missing, print the names
#   scripts/docker/ensure-node-images.sh --check    # exit 1 (and change nothing) if a tar is missing
#
# Cache: ${GANTRY_DOCKER_CACHE:-$HOME/.cache/gantry/docker}/node-<v>.tar and node-build-<v>.tar.
# Cold: ~2-4 min (debootstrap from Debian's mirror); warm: a `docker load` of each missing image.
set -euo pipefail
cache="${GANTRY_DOCKER_CACHE:-$HOME/.cache/gantry/docker}"
v="$(node -p 'process.versions.node')"
runtime="gantry.local/node:$v"
build="gantry.local/node-build:$v"
runtime_tar="$cache/node-$v.tar"
build_tar="$cache/node-build-$v.tar"
node_bin="$(readlink -f "$(command -v node)")"
npm_dir="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"
node_headers="$(dirname "$node_bin")/../include/node"
host_ca="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"

if [ "${1:-}" = "--check" ]; then
  for t in "$runtime_tar" "$build_tar"; do
    [ -s "$t" ] || { echo "base image tar $t is missing (run scripts/docker/ensure-node-images.sh)" >&2; exit 1; }
  done
  echo "$runtime $build"
  exit 0
fi

# A daemon only to make the tars, when none answers (CI prepares them before the tests).
# shellcheck source=/dev/null
. "$(dirname "$0")/private-dockerd.sh"
if ! docker version >/dev/null 2>&1; then
  [ -s "$runtime_tar" ] && [ -s "$build_tar" ] && { echo "$runtime $build"; exit 0; }
  start_private_dockerd
fi
dk() { docker "$@"; }
work="$(mktemp -d "${TMPDIR:-/tmp}/gantry-node-images.XXXXXX")"
# debootstrap mounts /proc and /sys in its target: never delete through a mount left behind.
cleanup() {
  { grep -o " $work/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf "$work"
  stop_private_dockerd
}
trap cleanup EXIT
mkdir -p "$cache"

# The host's node, with the shared libraries it needs, under /usr/local/bin in folder $1.
add_node() {
  local root="$1"
  mkdir -p "$root/usr/local/bin"
  cp "$node_bin" "$root/usr/local/bin/node"
  for lib in $(ldd "$node_bin" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

make_runtime() {
  local root="$work/runtime"
  mkdir -p "$root/bin" "$root/usr/bin" "$root/etc" "$root/tmp" "$root/root" "$root/home/node"
  chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"; done
  ln -s /bin/env "$root/usr/bin/env"
  add_node "$root"
  printf 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar -C "$root" -c . | dk import -c 'ENV PATH=/usr/local/bin:/bin' -c 'CMD ["node"]' - "$runtime" >/dev/null
  dk save -o "$runtime_tar.tmp" "$runtime" && mv -f "$runtime_tar.tmp" "$runtime_tar"
  echo "made $runtime into $runtime_tar" >&2
}

make_build() {
  command -v debootstrap >/dev/null || {
    [ "$(id -u)" = 0 ] || { echo "debootstrap is missing and installing it needs root" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends debootstrap >/dev/null
  }
  local root="$work/build"
  echo "debootstrapping Debian bookworm with g++, make, python3 for $build (~2-4 min)" >&2
  debootstrap --variant=minbase --include=g++,make,python3,ca-certificates bookworm "$root" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2; exit 1;
  }
  rm -rf "$root/var/cache/apt/archives"/*.deb "$root/var/lib/apt/lists"/*
  cp "$node_bin" "$root/usr/local/bin/node"
  mkdir -p "$root/usr/local/lib/node_modules" "$root/usr/local/include"
  cp -a "$npm_dir" "$root/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  # Headers for node-gyp, which would otherwise download them from nodejs.org.
  cp -a "$node_headers" "$root/usr/local/include/node"
  # The host's trusted CAs (a machine behind a TLS-inspecting proxy reaches the npm registry
  # only with its own CA), read by node through NODE_EXTRA_CA_CERTS below.
  [ -s "$host_ca" ] && cp "$host_ca" "$root/etc/ssl/certs/ca-certificates.crt"
  tar -C "$root" -c . | dk import -c 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV npm_config_nodedir=/usr/local' -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' -c 'CMD ["bash"]' - "$build" >/dev/null
  dk save -o "$build_tar.tmp" "$build" && mv -f "$build_tar.tmp" "$build_tar"
  echo "made $build into $build_tar" >&2
}

ensure() {
  local image="$1" tar="$2" maker="$3"
  [ -n "$private_dockerd_dir" ] && [ -s "$tar" ] && return 0
  dk image inspect "$image" >/dev/null 2>&1 && return 0
  if [ -s "$tar" ]; then dk load -q -i "$tar" >/dev/null; else "$maker"; fi
}
ensure "$runtime" "$runtime_tar" make_runtime
ensure "$build" "$build_tar" make_build
echo "$runtime $build"
