# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker install script that the CustomScript extension runs on the VM, and how it is packed.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

Modules cannot ship ``.sh`` files, so the script is a Python string. :data:`INSTALL_SCRIPT` is the
program: it never changes with the host, and its SHA-256 (:func:`script_sha256`) is what the extension's
forceUpdateTag carries. :func:`render_install_script` puts the settings (port and certificates, the key
among them) in front of it; that rendered text only ever travels in the extension's protectedSettings.
"""

from __future__ import annotations

import base64
import gzip
import hashlib

__all__ = [
    "INSTALL_SCRIPT",
    "SETTINGS_MARKER",
    "packed_script",
    "render_install_script",
    "script_sha256",
]

SETTINGS_MARKER = "# @DOCKERHOST_SETTINGS@"

INSTALL_SCRIPT = r"""#!/bin/sh
# dockerhost.azure: install Docker and make its daemon demand mutual TLS on a TCP port.
#
# Run as root by the Azure CustomScript extension. Safe to re-run: a file is replaced only when its
# content changes, and dockerd restarts only when its configuration changed. It never prints a
# certificate or key and never runs with xtrace.
#
# Settings, set in front of this program by the module:
#   DOCKERHOST_PORT       TCP port of the TLS listener (never 2375, Docker's plain-HTTP port)
#   DOCKERHOST_CA_B64     base64 PEM of the CA that client certificates must chain to
#   DOCKERHOST_CERT_B64   base64 PEM of the server certificate
#   DOCKERHOST_KEY_B64    base64 PEM of the server key
# Environment:
#   DOCKERHOST_ROOT           prefix of every path written (default: none, i.e. /)
#   DOCKERHOST_SKIP_PACKAGES  1: no package installation and no systemctl (a harness plays systemd)
#   DOCKERHOST_WAIT_SECONDS   bound of each wait for cloud-init, apt locks and dockerd (default 900)
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
changed=0
staged=

log() { printf 'dockerhost: %s\n' "$*"; }
fail() {
  printf 'dockerhost: error: %s\n' "$*" >&2
  exit 1
}
cleanup() {
  if [ -n "$staged" ]; then rm -f "$staged"; fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

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

# -- waiting for the VM to be ready --------------------------------------------------------------
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

install_docker() {
  if command -v dockerd >/dev/null 2>&1; then
    log "Docker is already installed"
    return 0
  fi
  if command -v apt-get >/dev/null 2>&1; then
    log "installing the distribution's docker.io package"
    attempt=1
    until apt_get update >/dev/null; do
      [ "$attempt" -lt 5 ] || fail "apt-get update failed $attempt times"
      attempt=$((attempt + 1))
      sleep 10
    done
    apt_get install --no-install-recommends docker.io >/dev/null || fail "apt-get install docker.io failed"
  elif command -v tdnf >/dev/null 2>&1; then
    log "installing moby-engine"
    tdnf -y -q install moby-engine moby-cli >/dev/null || fail "tdnf install moby-engine failed"
  else
    fail "no supported package manager (apt-get or tdnf): use an image with one, or with Docker installed"
  fi
  command -v dockerd >/dev/null 2>&1 || fail "dockerd is not on PATH after installing Docker"
}

# -- writing files: staged next to the target, moved over it only when the content differs ----------
stage() {
  staged=$(mktemp "$1/.dockerhost.XXXXXX")
}

# commit DEST MODE: put the staged file in place (or drop it when DEST already has that content).
commit() {
  if [ -f "$1" ] && cmp -s "$staged" "$1"; then
    rm -f "$staged"
    chmod "$2" "$1"
  else
    chmod "$2" "$staged"
    if [ "$(id -u)" -eq 0 ]; then chown 0:0 "$staged"; fi
    mv -f "$staged" "$1"
    changed=1
    log "wrote $1"
  fi
  staged=
}

# write_pem VALUE_B64 DEST MODE MARKER WHAT: decode, check it is the PEM expected, commit.
write_pem() {
  stage "$docker_dir"
  printf '%s' "$1" | base64 -d >"$staged" 2>/dev/null || fail "$5 is not valid base64"
  grep -q -- "$4" "$staged" || fail "$5 is not a PEM $4 block"
  commit "$2" "$3"
}

unit_exec_start() {
  for unit in "$root/etc/systemd/system/docker.service" "$root/lib/systemd/system/docker.service" \
    "$root/usr/lib/systemd/system/docker.service"; do
    if [ -f "$unit" ]; then
      line=$(sed -n 's/^ExecStart=//p' "$unit" | tail -n 1)
      if [ -n "$line" ]; then
        printf '%s\n' "$line"
        return 0
      fi
    fi
  done
  command -v dockerd || printf '%s\n' /usr/bin/dockerd
}

write_configuration() {
  (
    umask 022
    mkdir -p "$docker_dir" "$dropin_dir"
  )
  chmod 0755 "$docker_dir"
  write_pem "$DOCKERHOST_CA_B64" "$docker_dir/ca.pem" 0444 "BEGIN CERTIFICATE" "the CA certificate"
  write_pem "$DOCKERHOST_CERT_B64" "$docker_dir/server-cert.pem" 0444 "BEGIN CERTIFICATE" "the server certificate"
  write_pem "$DOCKERHOST_KEY_B64" "$docker_dir/server-key.pem" 0400 "PRIVATE KEY-----" "the server key"

  # Keep a daemon.json that someone else wrote: it is replaced, so save it once.
  if [ -f "$docker_dir/daemon.json" ] && [ ! -f "$docker_dir/daemon.json.dockerhost-orig" ] &&
    ! grep -q "$docker_dir/server-cert.pem" "$docker_dir/daemon.json"; then
    cp -p "$docker_dir/daemon.json" "$docker_dir/daemon.json.dockerhost-orig"
    log "saved the previous daemon.json as daemon.json.dockerhost-orig"
  fi
  stage "$docker_dir"
  cat >"$staged" <<EOF
{
  "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:$port"],
  "tls": true,
  "tlsverify": true,
  "tlscacert": "$docker_dir/ca.pem",
  "tlscert": "$docker_dir/server-cert.pem",
  "tlskey": "$docker_dir/server-key.pem"
}
EOF
  commit "$docker_dir/daemon.json" 0644

  # daemon.json names the listeners, so the unit must not pass any -H/--host (dockerd refuses a
  # setting given both as a flag and in the file); keep the rest of the distribution's command line.
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
  commit "$dropin_dir/dockerhost.conf" 0644
}

# -- the daemon --------------------------------------------------------------------------------------
daemon_failed() {
  if command -v journalctl >/dev/null 2>&1; then
    journalctl -u docker.service -n 20 --no-pager -o cat >&2 || true
  fi
  fail "$1"
}

wait_for_daemon() {
  waited=0
  until docker -H unix:///var/run/docker.sock version >/dev/null 2>&1; do
    [ "$waited" -lt "$wait_seconds" ] || daemon_failed "dockerd did not answer on its socket within ${wait_seconds}s"
    sleep 2
    waited=$((waited + 2))
  done
  if command -v ss >/dev/null 2>&1 && [ -z "$(ss -H -ltn "sport = :$port")" ]; then
    daemon_failed "dockerd runs but does not listen on TCP port $port"
  fi
}

apply_configuration() {
  if [ "$changed" -eq 1 ]; then
    log "restarting Docker with the new configuration"
    systemctl daemon-reload
    systemctl enable docker.service >/dev/null 2>&1 || true
    systemctl restart docker.service || daemon_failed "docker.service did not restart with the new configuration"
  elif ! systemctl is-active --quiet docker.service; then
    log "starting Docker (configuration unchanged)"
    systemctl start docker.service || daemon_failed "docker.service did not start"
  fi
  wait_for_daemon
}

if [ "$skip_packages" = 1 ]; then
  write_configuration
  log "configuration written under ${root:-/} (changed: $changed); packages and services left to the caller"
  exit 0
fi
wait_for_cloud_init
install_docker
write_configuration
apply_configuration
log "Docker demands mutual TLS on tcp://0.0.0.0:$port (configuration changed: $changed)"
"""


def script_sha256() -> str:
    """SHA-256 of the program (no settings, no key): what forceUpdateTag carries."""
    return hashlib.sha256(INSTALL_SCRIPT.encode()).hexdigest()


def render_install_script(port: int, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> str:
    """The program with its settings in front; secret (it holds the key): protectedSettings only."""

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode("ascii")

    settings = "\n".join(
        (
            f"DOCKERHOST_PORT='{int(port)}'",
            f"DOCKERHOST_CA_B64='{b64(ca_pem)}'",
            f"DOCKERHOST_CERT_B64='{b64(cert_pem)}'",
            f"DOCKERHOST_KEY_B64='{b64(key_pem)}'",
        )
    )
    return INSTALL_SCRIPT.replace(SETTINGS_MARKER, settings, 1)


def packed_script(rendered: str) -> str:
    """CustomScript's ``script`` setting: base64 of the gzipped script (deterministic bytes)."""
    return base64.b64encode(gzip.compress(rendered.encode(), mtime=0)).decode("ascii")
