#!/usr/bin/env bash
# Builds the sandbox image without a container registry.
#
# Without BASE_IMAGE, the base is a Debian bookworm root made with debootstrap
# from docker/packages.txt and imported with `docker import`; it is tagged with
# a hash of its inputs, so it is built once and reused until the list changes.
# Then docker/Dockerfile.sandbox is built on top with no network.
#
# Environment: IMAGE (result tag), BASE_IMAGE (skip debootstrap, e.g.
# python:3.12-slim where a registry is reachable), DEBIAN_MIRROR, SUITE.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
IMAGE=${IMAGE:-agentteam-sandbox:latest}
SUITE=${SUITE:-bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

die() { echo "build-image: $*" >&2; exit 1; }

command -v docker >/dev/null || die "docker is not installed (Debian: apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "the Docker engine is not running or not reachable (try: sudo systemctl start docker)"
[ -x "$here/build/agentteam-runner" ] || die "docker/build/agentteam-runner is missing: run 'make image', which builds it first"

if [ -z "${BASE_IMAGE:-}" ]; then
  packages=$(grep -v '^\s*#' "$here/packages.txt" | tr -s ' \n' '\n' | sed '/^$/d' | sort -u | paste -sd, -)
  [ -n "$packages" ] || die "docker/packages.txt lists no package"
  # Bump RECIPE when the debootstrap steps below change what the base holds.
  RECIPE=1
  key=$(printf '%s\n%s\n%s\n' "$SUITE" "$packages" "$RECIPE" | sha256sum | cut -c1-12)
  BASE_IMAGE="agentteam-base:$key"
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "build-image: base $BASE_IMAGE is up to date"
  else
    [ "$(id -u)" = 0 ] || die "debootstrap needs root: run 'sudo make image', or set BASE_IMAGE to an image you can pull"
    if ! command -v debootstrap >/dev/null; then
      command -v apt-get >/dev/null || die "debootstrap is missing; install it, or set BASE_IMAGE to an image you can pull"
      echo "build-image: installing debootstrap"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
        || die "could not install debootstrap with apt-get"
    fi
    root=$(mktemp -d /tmp/agentteam-rootfs.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    echo "build-image: debootstrap $SUITE with: $packages (a few minutes, once)"
    debootstrap --variant=minbase --include="$packages" "$SUITE" "$root" "$DEBIAN_MIRROR" >"$root.log" 2>&1 \
      || { tail -20 "$root.log" >&2; rm -f "$root.log"; die "debootstrap failed (is $DEBIAN_MIRROR reachable?)"; }
    rm -f "$root.log"
    # Trim what a sandbox never needs: package caches, docs, locales.
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
           "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
    tar -C "$root" -c . | docker import --change 'CMD ["/bin/sh"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$root"; trap - EXIT
    echo "build-image: imported $BASE_IMAGE"
  fi
fi

# The classic builder's deprecation notice is noise here: show the build's
# output only when it fails.
log=$(mktemp)
docker build --network none -q \
  --build-arg BASE_IMAGE="$BASE_IMAGE" \
  -f "$here/Dockerfile.sandbox" -t "$IMAGE" "$here" >"$log" 2>&1 \
  || { cat "$log" >&2; rm -f "$log"; die "docker build of $IMAGE failed"; }
rm -f "$log"
echo "build-image: $IMAGE is ready (base $BASE_IMAGE)"
