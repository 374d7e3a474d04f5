#!/usr/bin/env bash
# Build (once) and print the path of a Debian root file system that tests/guests boots with
# systemd-nspawn: real systemd as PID 1 and the suite's own docker.io, from Debian packages only.
#
#   hack/guest-image.sh SUITE      # bookworm (docker.io 20.10), trixie (26.1) or sid (28.5)
#
# The tree is cached in ${XDG_CACHE_HOME:-~/.cache}/dockerhost-azure/guests/SUITE-HASH, HASH being the
# SHA-256 of this script (which holds the package list) and the suite, so only the first run builds it
# and any edit here makes a new one. It is built in a temporary directory next to its final place and
# renamed into it, so an interrupted build leaves nothing that looks finished; a lock serialises
# concurrent builds of the same suite. Each use touches the tree; trees of the suite unused for 7 days are
# removed after a build (not at once: another checkout with another version of this script may be using one).
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

self=$(readlink -f "$0")
hash=$({
  cat "$self"
  printf '%s\n' "$suite" "$mirror"
} | sha256sum | cut -c1-16)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/dockerhost-azure/guests
target=$cache/$suite-$hash

log() { printf 'guest-image: %s\n' "$*" >&2; }

if [ -f "$target/.dockerhost-guest" ]; then
  touch "$target"
  printf '%s\n' "$target"
  exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.$suite.lock"
flock -w 1800 9 || {
  log "another build of $suite holds $cache/.$suite.lock"
  exit 1
}
if [ -f "$target/.dockerhost-guest" ]; then # built by whoever held the lock
  printf '%s\n' "$target"
  exit 0
fi

tmp=$(mktemp -d "$cache/.$suite-build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS
log "building $suite ($target) from $mirror: ${packages[*]}"
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
  "$suite" "$tmp/rootfs" "$mirror" >&2
mv "$tmp/rootfs" "$target"
find "$cache" -mindepth 1 -maxdepth 1 -type d -name "$suite-*" ! -path "$target" -mtime +7 -exec rm -rf {} +
log "built $suite in $((SECONDS - start))s: $(cat "$target/.dockerhost-guest"), $(du -sh "$target" | cut -f1)"
printf '%s\n' "$target"
