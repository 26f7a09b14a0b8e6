#!/usr/bin/env bash
# Makes a real Docker daemon and a local test image available for the container tests:
# installs Debian's docker.io and busybox-static when missing, and builds the image
# local/busybox:1 (busybox and one symlink per applet; no registry) once into a cache tar that
# each test's private daemon loads (test/helpers/dockerd.ts). Prints the tar's path.
#
#   scripts/docker/ensure-docker.sh            # install / build if missing, print the tar
#   scripts/docker/ensure-docker.sh --check    # exit 1 (and change nothing) if anything is missing
#
# Cache: ${GANTRY_DOCKER_CACHE:-$HOME/.cache/gantry/docker}/busybox-1.tar. Nothing here starts
# a daemon that outlives the script, or touches the host's network (see the dockerd flags).
# When a daemon answers on DOCKER_HOST (or /var/run/docker.sock), the image is loaded into it too.
set -euo pipefail
image=local/busybox:1
cache="${GANTRY_DOCKER_CACHE:-$HOME/.cache/gantry/docker}"
tar_file="$cache/busybox-1.tar"
dockerd=/usr/sbin/dockerd
busybox=/bin/busybox

have_tools() { [ -x "$dockerd" ] && [ -x /usr/bin/docker ] && [ -x /usr/bin/docker-init ] && [ -x "$busybox" ] && "$busybox" --list >/dev/null 2>&1; }

if [ "${1:-}" = "--check" ]; then
  have_tools || { echo "docker.io or busybox-static is not installed (run scripts/docker/ensure-docker.sh)" >&2; exit 1; }
  [ -s "$tar_file" ] || { echo "test image $image is not built in $tar_file (run scripts/docker/ensure-docker.sh)" >&2; exit 1; }
  echo "$tar_file"
  exit 0
fi

if ! have_tools; then
  [ "$(id -u)" = 0 ] || { echo "docker.io and busybox-static are missing and installing them needs root" >&2; exit 1; }
  echo "installing docker.io and busybox-static with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt=(apt-get -qq -o DPkg::Lock::Timeout=300)
  # An install fails on an empty or stale package list; refresh it only then (it is slow).
  "${apt[@]}" install -y --no-install-recommends docker.io busybox-static >/dev/null 2>&1 || {
    "${apt[@]}" update >/dev/null
    "${apt[@]}" install -y --no-install-recommends docker.io busybox-static >/dev/null
  }
  have_tools || { echo "docker.io / busybox-static installed but $dockerd or $busybox is not usable" >&2; exit 1; }
fi

# A private daemon on its own socket, started only when there is something to do with it.
# (It sets DOCKER_HOST: the user's daemon, loaded at the end, is remembered first.)
user_host="${DOCKER_HOST:-unix:///var/run/docker.sock}"
# shellcheck source=/dev/null
. "$(dirname "$0")/private-dockerd.sh"

if [ ! -s "$tar_file" ]; then
  start_private_dockerd
  root="$private_dockerd_dir/rootfs"
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/home"
  chmod 1777 "$root/tmp"
  cp "$busybox" "$root/bin/busybox"
  for applet in $("$busybox" --list); do [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$image" >/dev/null
  mkdir -p "$cache"
  docker save -o "$tar_file.tmp" "$image"
  mv -f "$tar_file.tmp" "$tar_file"
  echo "built $image into $tar_file" >&2
fi

# Load it into the daemon a user has, if any (so `image: local/busybox:1` works there too).
host="$user_host"
if [[ "$host" == unix://* ]] && [ -S "${host#unix://}" ] && docker -H "$host" version >/dev/null 2>&1; then
  docker -H "$host" image inspect "$image" >/dev/null 2>&1 || docker -H "$host" load -q -i "$tar_file" >/dev/null
fi
echo "$tar_file"
