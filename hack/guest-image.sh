#!/usr/bin/env bash
# Build (once) and print the path of a Debian root file system that tests/guests boots with
# systemd-nspawn: real systemd as PID 1 and the suite's own docker.io, from Debian packages only.
#
#   hack/guest-image.sh SUITE      # bookworm (docker.io 20.10), trixie (26.1) or sid (28.5)
#
# The tree is cached as hack/guest-cache.sh keeps images (guests/SUITE-HASH, HASH over this script, which
# holds the package list, guest-cache.sh, the suite and the mirror), with .dockerhost-build.json saying how
# long its build took (the benchmarks' fresh-machine cost).
#
# docker.io (and docker-cli, where it is a separate package: trixie on) is PRE-INSTALLED, so a booted
# guest needs no network: the install script sees dockerd and skips its apt path. That apt path
# (apt-get update / install docker.io on a bare image) is for the QEMU VM test, which reaches the archive
# through QEMU's user networking; nspawn guests run with a private network namespace and no uplink.
# Like `apt-get install --no-install-recommends` in the install script, no Recommends are installed.
set -euo pipefail

suite=${1:?usage: $0 bookworm|trixie|sid}
mirror=${DOCKERHOST_GUEST_MIRROR:-http://deb.debian.org/debian}

# python3: every Azure Linux image has it (the VM agent, waagent, is Python), and the install script uses it.
packages=(systemd-sysv dbus iproute2 ca-certificates python3 docker.io busybox-static)
case $suite in
  bookworm) ;;
  trixie | sid) packages+=(docker-cli) ;; # from trixie on the docker command is only recommended
  *)
    echo "guest-image: unknown suite '$suite' (bookworm, trixie or sid)" >&2
    exit 2
    ;;
esac

log() { printf 'guest-image: %s\n' "$*" >&2; }
# shellcheck source=hack/guest-cache.sh
. "$(dirname "$(readlink -f "$0")")/guest-cache.sh"
guest_cache_begin "$suite" .dockerhost-guest "$(readlink -f "$0")" "$suite" "$mirror"

log "building $suite ($guest_target) from $mirror: ${packages[*]}"
# The archive's Release files may be older than their Valid-Until here (as on the host): same option.
# Hooks: no policy-rc.d surprises (nothing runs in the chroot), a guest-wide apt option for the later
# VM path, and a marker that says what this tree is.
# shellcheck disable=SC2016 # the hooks expand $1 (the rootfs) when mmdebstrap runs them
mmdebstrap --variant=minbase --quiet \
  --include="$(
    IFS=,
    echo "${packages[*]}"
  )" \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --aptopt='Acquire::Retries "3"' \
  --customize-hook='echo "Acquire::Check-Valid-Until \"false\";" > "$1/etc/apt/apt.conf.d/99dockerhost-archive"' \
  --customize-hook='echo dockerhost-guest > "$1/etc/hostname"' \
  --customize-hook='rm -f "$1/etc/machine-id" && touch "$1/etc/machine-id"' \
  --customize-hook='chroot "$1" dpkg-query -W -f="\${Package} \${Version}\n" docker.io > "$1/.dockerhost-guest"' \
  "$suite" "$guest_tmp/rootfs" "$mirror" >&2
guest_build_record "$guest_tmp/rootfs/.dockerhost-build.json" suite "$suite" \
  docker "$(cut -d' ' -f2 "$guest_tmp/rootfs/.dockerhost-guest")" size "$(du -sh "$guest_tmp/rootfs" | cut -f1)"
log "built $suite: $(cat "$guest_tmp/rootfs/.dockerhost-build.json")"
guest_cache_finish "$guest_tmp/rootfs"
