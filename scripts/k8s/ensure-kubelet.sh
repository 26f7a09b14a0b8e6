#!/usr/bin/env bash
# Everything the real-node tests (test/k8s/real-node*.ts) need, unless already there:
#  - Debian's containerd, runc, CNI plugins and busybox-static (apt-get; needs root);
#  - the kubelet, built from Go modules with the other binaries (ensure-binaries.sh);
#  - two images as OCI archives, made locally since no registry is reachable: gantry.local/busybox:1
#    (busybox-static with its applets, /bin/sh by default) and gantry.local/pause:1 (the same layer
#    running `sleep infinity`, the pod sandbox). The tests import them into their own containerd.
# Prints the cache directory (the binaries, and images/ under it).
#
#   scripts/k8s/ensure-kubelet.sh            # install / build / make what is missing
#   scripts/k8s/ensure-kubelet.sh --check    # exit 1 (changing nothing) if anything is missing
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
. "$here/versions.env"
cache_root="${GANTRY_K8S_CACHE:-$HOME/.cache/gantry/k8s}"
dir="$cache_root/$K8S_VERSION"
images="$dir/images"
packages=(containerd runc containernetworking-plugins busybox-static)
programs=(/usr/bin/containerd /usr/bin/ctr /usr/sbin/runc /usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback /usr/bin/busybox)
# The image layout version: bump it when the images change, so that caches are remade.
image_rev=1

have_programs() {
  for p in "${programs[@]}"; do [ -x "$p" ] || return 1; done
}
have_images() {
  [ -f "$images/.complete-$image_rev" ]
}

if [ "${1:-}" = "--check" ]; then
  have_programs || { echo "containerd/runc/CNI/busybox-static not installed (run scripts/k8s/ensure-kubelet.sh)" >&2; exit 1; }
  bash "$here/ensure-binaries.sh" --check >/dev/null
  have_images || { echo "test images missing in $images (run scripts/k8s/ensure-kubelet.sh)" >&2; exit 1; }
  echo "$dir"
  exit 0
fi

if ! have_programs; then
  [ "$(id -u)" = 0 ] || { echo "installing ${packages[*]} needs root" >&2; exit 1; }
  echo "installing ${packages[*]} (apt-get)" >&2
  apt-get -o DPkg::Lock::Timeout=300 update >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "${packages[@]}" >&2
  have_programs || { echo "packages installed but a program is still missing: ${programs[*]}" >&2; exit 1; }
fi

bash "$here/ensure-binaries.sh" >/dev/null

# An OCI image archive with one layer (the folder $1), config Cmd $3, named $2, written to $4.
oci_archive() {
  local root="$1" name="$2" cmd="$3" out="$4" work
  work="$(mktemp -d)"
  mkdir -p "$work/blobs/sha256"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$work/layer.tar" .
  local layer_digest layer_size
  layer_digest="$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
  layer_size="$(stat -c %s "$work/layer.tar")"
  mv "$work/layer.tar" "$work/blobs/sha256/$layer_digest"
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$cmd" "$layer_digest" > "$work/config.json"
  local config_digest config_size
  config_digest="$(sha256sum "$work/config.json" | cut -d' ' -f1)"
  config_size="$(stat -c %s "$work/config.json")"
  mv "$work/config.json" "$work/blobs/sha256/$config_digest"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config_digest" "$config_size" "$layer_digest" "$layer_size" > "$work/manifest.json"
  local manifest_digest manifest_size
  manifest_digest="$(sha256sum "$work/manifest.json" | cut -d' ' -f1)"
  manifest_size="$(stat -c %s "$work/manifest.json")"
  mv "$work/manifest.json" "$work/blobs/sha256/$manifest_digest"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"platform":{"architecture":"amd64","os":"linux"},"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "$manifest_digest" "$manifest_size" "$name" "${name##*:}" > "$work/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$work/oci-layout"
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$work" -cf "$out.tmp" oci-layout index.json blobs
  mv -f "$out.tmp" "$out"
  rm -rf "$work"
}

if ! have_images; then
  mkdir -p "$images"
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/proc" "$root/sys" "$root/dev" "$root/data"
  chmod 1777 "$root/tmp"
  cp /usr/bin/busybox "$root/bin/busybox"
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
  oci_archive "$root" gantry.local/busybox:1 '["/bin/sh"]' "$images/busybox.tar"
  oci_archive "$root" gantry.local/pause:1 '["/bin/sleep","infinity"]' "$images/pause.tar"
  date -u +%FT%TZ > "$images/.complete-$image_rev"
  echo "made test images in $images" >&2
fi
echo "$dir"
