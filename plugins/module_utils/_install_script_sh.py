# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The install script's program text (POSIX sh, run by dash); see _install_script.py for how it is rendered.

This file is private to the dockerhost.azure collection; it has no compatibility promise.
"""

from __future__ import annotations

from ansible_collections.dockerhost.azure.plugins.module_utils._daemon_config import MERGE_HELPER
from ansible_collections.dockerhost.azure.plugins.module_utils._install_script_service_sh import SERVICE_FUNCTIONS

__all__ = ["INSTALL_SCRIPT", "SETTINGS_MARKER"]

SETTINGS_MARKER = "# @DOCKERHOST_SETTINGS@"

_PROGRAM = r"""#!/bin/sh
# dockerhost.azure: install Docker and make its daemon demand mutual TLS on a TCP port.
#
# Run as root by the Azure CustomScript extension. Safe to re-run: a file is replaced only when its
# content changes, and dockerd restarts only when its configuration changed. It never prints a
# certificate or key and never runs with xtrace.
#
# daemon.json is merged, never replaced: every key we do not own is kept (data-root included), a key we
# own set to another value is refused by name, and each version replaced is kept as
# daemon.json.dockerhost-backup-<UTC time>[.N]. When dockerd does not come back with the new
# configuration, the previous one is restored and started again, and the script fails with dockerd's error.
#
# docker.socket: when docker.service uses it, daemon.json's local listener is fd:// (socket activation keeps
# working after `systemctl stop docker`); otherwise dockerd makes /var/run/docker.sock itself. When
# docker.service requires docker.socket but the socket is masked or missing, systemd cannot start Docker at
# all: the script fails before changing anything, naming docker.socket and the two ways out (unmask it, or a
# full /etc/systemd/system/docker.service without the Requires=, since a drop-in cannot drop a dependency).
# It never unmasks a unit.
#
# Settings, set in front of this program by the module:
#   DOCKERHOST_PORT          TCP port of the TLS listener (never 2375, Docker's plain-HTTP port)
#   DOCKERHOST_CA_B64        base64 PEM of the CA that client certificates must chain to
#   DOCKERHOST_CERT_B64      base64 PEM of the server certificate
#   DOCKERHOST_KEY_B64       base64 PEM of the server key
#   DOCKERHOST_OPTIONS_B64   base64 JSON object: daemon.json keys the user set (default {})
#   DOCKERHOST_DEFAULTS_B64  base64 JSON object: hardened defaults, kept only where daemon.json is silent
# Environment:
#   DOCKERHOST_ROOT           prefix of every path read or written (default: none, i.e. /)
#   DOCKERHOST_SKIP_PACKAGES  1: no package installation and no systemctl (a harness plays systemd)
#   DOCKERHOST_WAIT_SECONDS   bound of each wait for cloud-init, apt locks and dockerd (default 900)
# Needs: python3 (merges daemon.json; installed when missing), dockerd and docker (checked by name).
# @DOCKERHOST_SETTINGS@
set -eu
umask 077

root=${DOCKERHOST_ROOT:-}
root=${root%/}
skip_packages=${DOCKERHOST_SKIP_PACKAGES:-0}
wait_seconds=${DOCKERHOST_WAIT_SECONDS:-900}
port=${DOCKERHOST_PORT:-}
docker_dir=$root/etc/docker
dropin_dir=$root/etc/systemd/system/docker.service.d
dropin=dockerhost.conf
changed=0
staged=
undo=
undo_on_exit=0
apt_updated=0

log() { printf 'dockerhost: %s\n' "$*"; }
fail() {
  printf 'dockerhost: error: %s\n' "$*" >&2
  exit 1
}
cleanup() {
  if [ -n "$staged" ]; then rm -f "$staged"; fi
  if [ "$undo_on_exit" = 1 ]; then restore; fi
  if [ -n "$undo" ]; then rm -rf "$undo"; fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# bounded COMMAND...: run it for at most wait_seconds (docker.service may have TimeoutStartSec=0; a hung
# dockerd can keep a client waiting forever).
bounded() {
  if command -v timeout >/dev/null 2>&1; then timeout "$wait_seconds" "$@"; else "$@"; fi
}

# need COMMAND WHAT: fail at once, naming it, when a command the script relies on is missing.
need() {
  command -v "$1" >/dev/null 2>&1 || fail "$1 is not installed ($2)"
}

# -- checks, before anything is written ----------------------------------------------------------
case $port in
  '' | *[!0-9]*) fail "DOCKERHOST_PORT must be a TCP port number" ;;
esac
if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then fail "DOCKERHOST_PORT $port is not in 1-65535"; fi
if [ "$port" -eq 2375 ]; then fail "port 2375 is Docker's plain-HTTP port; refusing to use it"; fi
case $root in
  *\"* | *\\*) fail "DOCKERHOST_ROOT must not contain quotes or backslashes" ;;
esac
case $wait_seconds in
  '' | *[!0-9]*) fail "DOCKERHOST_WAIT_SECONDS must be a number of seconds" ;;
esac
[ -n "${DOCKERHOST_CA_B64:-}" ] || fail "DOCKERHOST_CA_B64 is empty"
[ -n "${DOCKERHOST_CERT_B64:-}" ] || fail "DOCKERHOST_CERT_B64 is empty"
[ -n "${DOCKERHOST_KEY_B64:-}" ] || fail "DOCKERHOST_KEY_B64 is empty"
if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then fail "must run as root"; fi
for f in "$docker_dir/daemon.json" "$dropin_dir/$dropin"; do
  if [ -L "$f" ]; then fail "$f is a symbolic link; replace it with a regular file (nothing was changed)"; fi
  if [ -d "$f" ]; then fail "$f is a directory, not a file; move it away (nothing was changed)"; fi
  if [ -e "$f" ] && [ ! -f "$f" ]; then fail "$f is not a regular file; move it away (nothing was changed)"; fi
done

# -- waiting for the VM to be ready, packages --------------------------------------------------------
wait_for_cloud_init() {
  command -v cloud-init >/dev/null 2>&1 || return 0
  log "waiting for cloud-init to finish (at most ${wait_seconds}s)"
  if command -v timeout >/dev/null 2>&1; then
    timeout "$wait_seconds" cloud-init status --wait >/dev/null 2>&1 ||
      log "cloud-init reported errors or did not finish in time; continuing"
  else
    cloud-init status --wait >/dev/null 2>&1 || log "cloud-init reported errors; continuing"
  fi
}

apt_locked() {
  command -v fuser >/dev/null 2>&1 || return 1
  fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock >/dev/null 2>&1
}

apt_get() {
  waited=0
  while apt_locked; do
    [ "$waited" -lt "$wait_seconds" ] || fail "apt/dpkg still locked by another process after ${wait_seconds}s"
    sleep 5
    waited=$((waited + 5))
  done
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout="$wait_seconds" -q -y "$@"
}

apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    attempt=1
    until apt_get update >/dev/null; do
      [ "$attempt" -lt 5 ] || fail "apt-get update failed $attempt times"
      attempt=$((attempt + 1))
      sleep 10
    done
    apt_updated=1
  fi
  log "installing $*"
  apt_get install --no-install-recommends "$@" >/dev/null || fail "apt-get install $* failed"
}

apparmor_enabled() {
  [ "$(cat "$root/sys/module/apparmor/parameters/enabled" 2>/dev/null || true)" = Y ]
}

# Docker, the docker CLI (its own package from Debian 13 on, only recommended by docker.io), python3 for
# the daemon.json merge, and AppArmor's parser where the kernel enforces AppArmor (without it dockerd
# cannot load its docker-default profile and no container starts). Every binary is checked by name.
install_packages() {
  missing=
  command -v dockerd >/dev/null 2>&1 || missing=" docker.io"
  command -v python3 >/dev/null 2>&1 || missing="$missing python3"
  if apparmor_enabled && ! command -v apparmor_parser >/dev/null 2>&1; then missing="$missing apparmor"; fi
  if command -v apt-get >/dev/null 2>&1; then
    # shellcheck disable=SC2086 # word splitting of the package list is intended
    if [ -n "$missing" ]; then apt_install $missing; fi
    if ! command -v docker >/dev/null 2>&1 && apt-cache show docker-cli >/dev/null 2>&1; then
      apt_install docker-cli
    fi
  elif command -v tdnf >/dev/null 2>&1; then
    if [ -n "$missing" ] || ! command -v docker >/dev/null 2>&1; then
      log "installing moby-engine"
      tdnf -y -q install moby-engine moby-cli python3 >/dev/null || fail "tdnf install moby-engine failed"
    fi
  elif [ -n "$missing" ]; then
    fail "no supported package manager (apt-get or tdnf) to install:$missing"
  fi
  need dockerd "the Docker daemon: package docker.io"
  need docker "the docker CLI: package docker-cli or docker.io"
  need python3 "needed to merge daemon.json: package python3"
  need systemctl "Docker is run as the systemd service docker.service"
  if apparmor_enabled; then need apparmor_parser "the kernel enforces AppArmor: package apparmor"; fi
}

# -- writing files: staged next to the target, moved over it only when the content differs ----------
stage() {
  staged=$(mktemp "$1/.dockerhost.XXXXXX")
}

# remember DEST: keep what DEST holds now, so that a failed restart can put it back.
remember() {
  [ -n "$undo" ] || undo=$(mktemp -d "$docker_dir/.dockerhost-undo.XXXXXX")
  name=$(printf '%s' "$1" | sed 's|/|%|g')
  if [ -f "$1" ]; then cp -p "$1" "$undo/$name"; else : >"$undo/$name.absent"; fi
}

# commit DEST MODE: put the staged file in place (or drop it when DEST already has that content).
commit() {
  if [ -f "$1" ] && cmp -s "$staged" "$1"; then
    rm -f "$staged"
    chmod "$2" "$1"
  else
    remember "$1"
    chmod "$2" "$staged"
    if [ "$(id -u)" -eq 0 ]; then chown 0:0 "$staged"; fi
    mv -f "$staged" "$1"
    changed=1
    log "wrote $1"
  fi
  staged=
}

# restore: put back every file this run replaced (removing those it created).
restore() {
  [ -n "$undo" ] || return 0
  for saved in "$undo"/*; do
    [ -e "$saved" ] || continue
    name=${saved##*/}
    case $name in
      *.absent) rm -f "$(printf '%s' "${name%.absent}" | sed 's|%|/|g')" ;;
      *) mv -f "$saved" "$(printf '%s' "$name" | sed 's|%|/|g')" ;;
    esac
  done
  rm -rf "$undo"
  undo=
}

# backup FILE: keep the version about to be replaced, every time, under a name that never collides.
backup() {
  [ -f "$1" ] || return 0
  base=$1.dockerhost-backup-$(date -u +%Y%m%dT%H%M%SZ)
  target=$base
  n=1
  while [ -e "$target" ]; do
    target=$base.$n
    n=$((n + 1))
  done
  cp -p "$1" "$target"
  log "saved the previous $(basename "$1") as $(basename "$target")"
}

# write_pem VALUE_B64 DEST MODE MARKER WHAT: decode, check it is the PEM expected, commit.
write_pem() {
  stage "$docker_dir"
  printf '%s' "$1" | base64 -d >"$staged" 2>/dev/null || fail "$5 is not valid base64"
  grep -q -- "$4" "$staged" || fail "$5 is not a PEM $4 block"
  commit "$2" "$3"
}

unit_dirs="$root/etc/systemd/system $root/run/systemd/system $root/usr/local/lib/systemd/system \
$root/usr/lib/systemd/system $root/lib/systemd/system"

# dropins: docker.service's drop-in names in the order systemd applies them, each with its path (the
# first directory in unit_dirs wins for a name), one "NAME PATH" per line.
dropins() {
  for dir in $unit_dirs; do
    for f in "$dir"/docker.service.d/*.conf; do
      if [ -f "$f" ]; then printf '%s %s\n' "${f##*/}" "$f"; fi
    done
  done | LC_ALL=C sort -s -k1,1 -u
}

# The ExecStart our drop-in starts from: the unit's, as changed by drop-ins applied before ours.
unit_exec_start() {
  line=
  for dir in $unit_dirs; do
    if [ -f "$dir/docker.service" ]; then
      line=$(sed -n 's/^ExecStart=//p' "$dir/docker.service" | tail -n 1)
      break
    fi
  done
  for f in $(dropins | LC_ALL=C awk -v ours="$dropin" '$1 < ours { print $2 }'); do
    if grep -q '^ExecStart=' "$f"; then line=$(sed -n 's/^ExecStart=//p' "$f" | tail -n 1); fi
  done
  if [ -n "$line" ]; then printf '%s\n' "$line"; else command -v dockerd || printf '%s\n' /usr/bin/dockerd; fi
}

# A drop-in applied after ours that sets ExecStart decides the command line instead of us.
check_later_dropins() {
  for f in $(dropins | LC_ALL=C awk -v ours="$dropin" '$1 > ours { print $2 }'); do
    if grep -q '^ExecStart=' "$f"; then
      fail "$f overrides docker.service's ExecStart after $dropin_dir/$dropin (drop-ins apply in name order), so \
the TLS listener would not be used; rename it to sort before $dropin (its command line is then kept) or remove \
its ExecStart lines (nothing was changed)"
    fi
  done
}

# The local listener: docker.socket's when docker.service uses socket activation (so the CLI still works
# after `systemctl stop docker`), else a socket of dockerd's own.
local_listener() {
  if [ "$skip_packages" = 1 ]; then
    for dir in $unit_dirs; do
      if [ -L "$dir/docker.socket" ] && [ "$(readlink "$dir/docker.socket")" = /dev/null ]; then break; fi
      if [ -f "$dir/docker.socket" ]; then
        echo fd://
        return 0
      fi
    done
  elif [ "$(systemctl show -p LoadState --value docker.socket 2>/dev/null || true)" = loaded ] &&
    systemctl show -p Requires -p Wants docker.service 2>/dev/null | grep -q 'docker\.socket'; then
    echo fd://
    return 0
  fi
  echo unix:///var/run/docker.sock
}

b64json() {
  if [ -z "$1" ]; then echo '{}'; else printf '%s' "$1" | base64 -d 2>/dev/null || fail "$2 is not valid base64"; fi
}

merge_failed() {
  rm -f "$staged_record"
  fail "$docker_dir/daemon.json was left as it is (see above)"
}

merge_daemon_json() {
  listener=$(local_listener)
  options=$(b64json "${DOCKERHOST_OPTIONS_B64:-}" DOCKERHOST_OPTIONS_B64)
  defaults=$(b64json "${DOCKERHOST_DEFAULTS_B64:-}" DOCKERHOST_DEFAULTS_B64)
  stage "$docker_dir"
  staged_record=$staged
  stage "$docker_dir"
  owned="{\"hosts\": [\"$listener\", \"tcp://0.0.0.0:$port\"], \"tls\": true, \"tlsverify\": true, \
\"tlscacert\": \"$docker_dir/ca.pem\", \"tlscert\": \"$docker_dir/server-cert.pem\", \
\"tlskey\": \"$docker_dir/server-key.pem\"}"
  DH_CONFIG=$docker_dir/daemon.json DH_RECORD=$docker_dir/dockerhost.json DH_OWNED=$owned \
    DH_OPTIONS=$options DH_DEFAULTS=$defaults DH_OUT=$staged DH_RECORD_OUT=$staged_record \
    python3 - <<'PY' || merge_failed
@DOCKERHOST_MERGE_HELPER@
PY
  if [ -f "$docker_dir/daemon.json" ] && ! cmp -s "$staged" "$docker_dir/daemon.json"; then
    backup "$docker_dir/daemon.json"
  fi
  commit "$docker_dir/daemon.json" 0644
  staged=$staged_record
  commit "$docker_dir/dockerhost.json" 0644
}

write_configuration() {
  (
    umask 022
    mkdir -p "$docker_dir" "$dropin_dir"
  )
  chmod 0755 "$docker_dir"
  check_later_dropins
  undo_on_exit=1 # all or nothing: a failure below puts back what was replaced
  write_pem "$DOCKERHOST_CA_B64" "$docker_dir/ca.pem" 0444 "BEGIN CERTIFICATE" "the CA certificate"
  write_pem "$DOCKERHOST_CERT_B64" "$docker_dir/server-cert.pem" 0444 "BEGIN CERTIFICATE" "the server certificate"
  write_pem "$DOCKERHOST_KEY_B64" "$docker_dir/server-key.pem" 0400 "PRIVATE KEY-----" "the server key"
  merge_daemon_json

  # daemon.json names the listeners, so the unit must not pass any -H/--host (dockerd refuses a
  # setting given both as a flag and in the file); keep the rest of the command line.
  exec_start=$(unit_exec_start |
    sed -e 's/[[:space:]]-H[[:space:]=][[:space:]=]*[^[:space:]][^[:space:]]*//g' \
      -e 's/[[:space:]]--host[[:space:]=][[:space:]=]*[^[:space:]][^[:space:]]*//g')
  stage "$dropin_dir"
  cat >"$staged" <<EOF
# Written by dockerhost.azure: listeners and TLS come from $docker_dir/daemon.json.
[Service]
ExecStart=
ExecStart=$exec_start
EOF
  commit "$dropin_dir/$dropin" 0644
  undo_on_exit=0
}

@DOCKERHOST_SERVICE_FUNCTIONS@

if [ "$skip_packages" = 1 ]; then
  need python3 "needed to merge daemon.json: package python3"
  write_configuration
  rm -rf "$undo"
  undo=
  log "configuration written under ${root:-/} (changed: $changed); packages and services left to the caller"
  exit 0
fi
wait_for_cloud_init
installed_before=$(command -v dockerd || true)
install_packages
check_docker_socket
write_configuration
apply_configuration
if [ "$changed" -eq 1 ] || [ -z "$installed_before" ]; then check_containers_run; fi
log "Docker demands mutual TLS on tcp://0.0.0.0:$port (configuration changed: $changed)"
"""

INSTALL_SCRIPT = _PROGRAM.replace("@DOCKERHOST_MERGE_HELPER@", MERGE_HELPER.strip("\n"), 1).replace(
    "@DOCKERHOST_SERVICE_FUNCTIONS@", SERVICE_FUNCTIONS.strip("\n"), 1
)
