# Sourced by the scripts in scripts/docker: a private dockerd on its own socket in a temporary
# folder (no bridge, no NAT, no IP forwarding: the host's network stays untouched), stopped and
# removed when the sourcing script exits. After `start_private_dockerd`, DOCKER_HOST names it.
private_dockerd_dir=""
private_dockerd_pid=""
stop_private_dockerd() {
  if [ -n "$private_dockerd_pid" ]; then
    kill -TERM "$private_dockerd_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$private_dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$private_dockerd_pid" 2>/dev/null || true
  fi
  if [ -n "$private_dockerd_dir" ]; then
    umount "$private_dockerd_dir/exec/netns/default" 2>/dev/null || true
    rm -rf "$private_dockerd_dir"
  fi
}
start_private_dockerd() {
  private_dockerd_dir="$(mktemp -d "${TMPDIR:-/tmp}/gantry-private-dockerd.XXXXXX")"
  trap stop_private_dockerd EXIT
  local d="$private_dockerd_dir"
  /usr/sbin/dockerd --host "unix://$d/docker.sock" --data-root "$d/root" --exec-root "$d/exec" \
    --pidfile "$d/docker.pid" --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
    >"$d/dockerd.log" 2>&1 &
  private_dockerd_pid=$!
  export DOCKER_HOST="unix://$d/docker.sock"
  for _ in $(seq 120); do
    if docker version >/dev/null 2>&1; then return 0; fi
    kill -0 "$private_dockerd_pid" 2>/dev/null || break
    sleep 0.25
  done
  echo "the private dockerd did not start; its log:" >&2
  tail -20 "$d/dockerd.log" >&2
  exit 1
}
