#!/usr/bin/env bash
# Build (once) and print the directory of a bootable Debian disk that azure_emulator/guest_vm.py boots with
# QEMU (software emulation): its own kernel, cloud-init (NoCloud), openssh-server, from Debian packages only.
#
#   hack/guest-vm-image.sh [SUITE]     # bookworm (default)
#
# The directory holds disk.qcow2 (ext4 on the whole disk, /dev/vda), vmlinuz and initrd.img (QEMU boots
# them with -kernel/-initrd: no boot loader), packages.txt and build.json (build seconds, sizes: the bench
# reads the fresh-machine cost from it). Cached as hack/guest-cache.sh keeps images (guests/vm-SUITE-HASH,
# HASH over this script, guest-cache.sh, the suite, mirrors and disk size). A separate script, not a mode of
# guest-image.sh, so that an edit of one does not rebuild the other's images (each hash covers its own script).
#
# docker.io is NOT installed: the collection's install script must apt-get it (and apparmor), through
# QEMU's user networking, exactly as on a fresh Azure VM. The guest's apt sources are the host's
# (bookworm, -updates, -security) with the host's Acquire::Check-Valid-Until false.
set -euo pipefail

suite=${1:-bookworm}
mirror=${DOCKERHOST_GUEST_MIRROR:-http://deb.debian.org/debian}
security=${DOCKERHOST_GUEST_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
size=${DOCKERHOST_GUEST_VM_DISK:-4G} # sparse; docker.io and its images go here

# sudo: cloud-init gives the admin user passwordless sudo, as Azure's provisioning does.
# busybox-static: a tiny container image made in the guest (no registry is reachable).
packages=(linux-image-amd64 systemd-sysv udev dbus iproute2 openssh-server ca-certificates cloud-init
  python3 sudo busybox-static)
case $suite in
  bookworm) ;;
  *)
    echo "guest-vm-image: unknown suite '$suite' (bookworm)" >&2
    exit 2
    ;;
esac

log() { printf 'guest-vm-image: %s\n' "$*" >&2; }
# shellcheck source=hack/guest-cache.sh
. "$(dirname "$(readlink -f "$0")")/guest-cache.sh"
guest_cache_begin "vm-$suite" build.json "$(readlink -f "$0")" "$suite" "$mirror" "$security" "$size"
tmp=$guest_tmp start=$guest_start target=$guest_target

log "building vm-$suite ($target) from $mirror: ${packages[*]}"
mkdir "$tmp/out"
# Hooks (run on the finished tree, $1):
# - apt: the host's sources and Valid-Until/Date options (the archive's Release files are older than their
#   Valid-Until here);
# - network: systemd-networkd, DHCP on the virtio NIC, QEMU's resolver (cloud-init's network rendering is
#   off: one less thing that differs between suites, and nothing to render for NoCloud);
# - cloud-init: NoCloud only (no probing for other clouds under emulation), seed from the `cidata` disk;
#   each VM gets new SSH host keys (as on Azure), ed25519 only: RSA key generation takes minutes under TCG;
#   locale C.UTF-8 (Debian's cloud.cfg asks for en_US.UTF-8, which minbase cannot set: cloud-init errors);
# - /etc/fstab for the whole-disk ext4, an empty machine-id (a new one each boot);
# - kernel and initrd copied out for -kernel/-initrd.
# shellcheck disable=SC2016 # the hooks expand $1 (the rootfs) when mmdebstrap runs them
mmdebstrap --variant=minbase --quiet \
  --include="$(
    IFS=,
    echo "${packages[*]}"
  )" \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --aptopt='Acquire::Retries "3"' \
  --customize-hook='printf "%s\n" "Acquire::Check-Valid-Until \"false\";" "Acquire::Check-Date \"false\";" "Acquire::Retries \"3\";" > "$1/etc/apt/apt.conf.d/99dockerhost-archive"' \
  --customize-hook="printf '%s\n' 'deb $mirror $suite main' 'deb $mirror $suite-updates main' 'deb $security $suite-security main' > \"\$1/etc/apt/sources.list\"" \
  --customize-hook='printf "%s\n" "[Match]" "Name=en* eth*" "[Network]" "DHCP=ipv4" > "$1/etc/systemd/network/50-dhcp.network"' \
  --customize-hook='chroot "$1" systemctl enable systemd-networkd.service' \
  --customize-hook='rm -f "$1/etc/resolv.conf" && echo "nameserver 10.0.2.3" > "$1/etc/resolv.conf"' \
  --customize-hook='printf "%s\n" "datasource_list: [ NoCloud, None ]" "network: {config: disabled}" "ssh_genkeytypes: [ed25519]" "locale: C.UTF-8" > "$1/etc/cloud/cloud.cfg.d/90-dockerhost.cfg"' \
  --customize-hook='echo "/dev/vda / ext4 errors=remount-ro 0 1" > "$1/etc/fstab"' \
  --customize-hook='echo dockerhost-vm > "$1/etc/hostname"' \
  --customize-hook='rm -f "$1/etc/machine-id" "$1/var/lib/dbus/machine-id" && touch "$1/etc/machine-id"' \
  --customize-hook="cp -L \"\$1/vmlinuz\" \"$tmp/out/vmlinuz\" && cp -L \"\$1/initrd.img\" \"$tmp/out/initrd.img\"" \
  --customize-hook="chroot \"\$1\" dpkg-query -W -f='\${Package} \${Version}\n' > \"$tmp/out/packages.txt\"" \
  "$suite" "$tmp/rootfs" "$mirror" >&2
rootfs_seconds=$((SECONDS - start))
truncate -s "$size" "$tmp/disk.raw"
mkfs.ext4 -q -F -L dockerhost -d "$tmp/rootfs" "$tmp/disk.raw"
qemu-img convert -f raw -O qcow2 "$tmp/disk.raw" "$tmp/out/disk.qcow2"
rm -rf "$tmp/rootfs" "$tmp/disk.raw"
kernel=$(grep -m1 '^linux-image-[0-9]' "$tmp/out/packages.txt" | cut -d' ' -f1)
guest_build_record "$tmp/out/build.json" suite "$suite" kernel "$kernel" rootfs_seconds "$rootfs_seconds" \
  disk_bytes "$(stat -c %s "$tmp/out/disk.qcow2")"
log "built vm-$suite: $(cat "$tmp/out/build.json")"
guest_cache_finish "$tmp/out"
