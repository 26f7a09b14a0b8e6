#!/usr/bin/env bash
# Shared by the scripts that build one tool from Go modules into a cache outside the repo
# (ensure-helm.sh, ensure-kwok.sh, ensure-promtool.sh). Source it, then call:
#
#   go_install_cached NAME DIR PACKAGE@VERSION LDFLAGS [--check]
#
# If DIR/NAME exists and DIR/.complete marks a finished build, it prints DIR/NAME and returns.
# With --check it fails (and builds nothing) when the tool is missing. Otherwise it runs
# `go install` into a temporary folder beside DIR, moves the binary into DIR, writes
# DIR/.complete and prints DIR/NAME. A half-finished build never leaves a binary in DIR.

go_install_cached() {
  local name="$1" dir="$2" pkg="$3" ldflags="$4" mode="${5:-}"
  if [ -x "$dir/$name" ] && [ -f "$dir/.complete" ]; then echo "$dir/$name"; return 0; fi
  if [ "$mode" = "--check" ]; then echo "$name missing in $dir" >&2; return 1; fi
  command -v go >/dev/null || { echo "go is not installed: cannot build $name" >&2; return 1; }
  local tmp start
  tmp="$(dirname "$dir")/.build-$name-$$"
  mkdir -p "$tmp"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  start=$(date +%s)
  echo "building $name ($pkg) into $dir (a cold build downloads its modules; minutes on 2 cores)" >&2
  GOBIN="$tmp" CGO_ENABLED=0 go install -trimpath -ldflags "$ldflags" "$pkg"
  [ -x "$tmp/$name" ] || { echo "the build produced no $name binary" >&2; return 1; }
  mkdir -p "$dir"
  mv -f "$tmp/$name" "$dir/$name"
  date -u +%FT%TZ > "$dir/.complete"
  echo "built in $(( $(date +%s) - start ))s" >&2
  echo "$dir/$name"
}
