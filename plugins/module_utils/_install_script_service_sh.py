# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The install script's second half (POSIX sh): restarting docker.service, rolling back, checking containers run.

This file is private to the dockerhost.azure collection; it has no compatibility promise. The text is put into
the program of _install_script_sh.py; it uses that program's variables and functions (fail, log, restore, ...).
"""

from __future__ import annotations

__all__ = ["SERVICE_FUNCTIONS"]

SERVICE_FUNCTIONS = r"""
# -- the daemon --------------------------------------------------------------------------------------
# check_docker_socket: before anything is written. Debian's and Docker's docker.service have
# Requires=docker.socket; with that socket masked or removed systemd refuses to start docker.service at all
# ("Unit docker.socket is masked"). A masked socket is someone's decision, so it is not unmasked here, and a
# drop-in cannot remove a dependency (systemd only adds them), so there is nothing safe to do but say so.
check_docker_socket() {
  state=$(systemctl show -p LoadState --value docker.socket 2>/dev/null || true)
  [ "$state" != loaded ] || return 0
  needs=$(systemctl show -p Requires -p BindsTo -p Requisite --value docker.service 2>/dev/null || true)
  case " $(printf '%s' "$needs" | tr '\n' ' ') " in
    *" docker.socket "*) ;;
    *) return 0 ;;
  esac
  case $state in
    masked) fix="run 'systemctl unmask docker.socket' to keep socket activation" ;;
    *) fix="reinstall the package that ships it (apt-get install --reinstall docker.io) to keep socket activation" ;;
  esac
  fail "docker.service requires docker.socket, which is $state here, so systemd refuses to start Docker; \
nothing was changed. Either $fix, or, to run Docker without docker.socket, install a copy of docker.service \
without Requires=docker.socket as /etc/systemd/system/docker.service (a drop-in cannot remove a dependency) and \
run 'systemctl daemon-reload'; then run this again"
}

# wait_for_daemon: 0 when dockerd answers on its socket and listens on the port; else 1 with $why set.
# Bounded by wait_seconds, and over at once when docker.service has failed.
wait_for_daemon() {
  waited=0
  until bounded docker -H unix:///var/run/docker.sock version >/dev/null 2>&1; do
    if systemctl is-failed --quiet docker.service; then
      why="docker.service failed"
      return 1
    fi
    if [ "$waited" -ge "$wait_seconds" ]; then
      why="dockerd did not answer on its socket within ${wait_seconds}s"
      return 1
    fi
    sleep 2
    waited=$((waited + 2))
  done
  if command -v ss >/dev/null 2>&1 && [ -z "$(ss -H -ltn "sport = :$port")" ]; then
    why="dockerd runs but does not listen on TCP port $port"
    return 1
  fi
}

dockerd_said() {
  if dockerd --help 2>&1 | grep -q -- '--validate'; then
    dockerd --validate --config-file "$docker_dir/daemon.json" 2>&1 | tail -n 5 >&2 || true
  fi
  if command -v journalctl >/dev/null 2>&1; then
    journalctl -u docker.service -n 20 --no-pager -o cat >&2 || true
  fi
}

# Put the previous configuration back, start Docker with it, and fail with dockerd's own words.
roll_back() {
  dockerd_said
  restore
  systemctl daemon-reload || true
  # Restart=always may have hit the unit's start limit, which refuses any further start until reset.
  systemctl reset-failed docker.service docker.socket >/dev/null 2>&1 || true
  if bounded systemctl restart docker.service && wait_for_daemon; then
    fail "$1; dockerd's messages are above. The previous configuration is restored and Docker runs with it"
  fi
  fail "$1; dockerd's messages are above. The previous configuration is restored, but Docker did not start \
with it either ($why)"
}

apply_configuration() {
  if [ "$changed" -eq 1 ]; then
    if dockerd --help 2>&1 | grep -q -- '--validate' &&
      ! out=$(dockerd --validate --config-file "$docker_dir/daemon.json" 2>&1); then
      restore
      fail "dockerd refuses the new configuration, which was not applied (the running Docker was not touched): $out"
    fi
    log "restarting Docker with the new configuration"
    systemctl daemon-reload
    systemctl enable docker.service >/dev/null 2>&1 || true
    if [ "$listener" = fd:// ]; then systemctl enable docker.socket >/dev/null 2>&1 || true; fi
    why="docker.service did not restart"
    if ! bounded systemctl restart docker.service || ! wait_for_daemon; then
      roll_back "dockerd did not come back with the new configuration ($why)"
    fi
  else
    why="docker.service did not start"
    if ! systemctl is-active --quiet docker.service; then
      log "starting Docker (configuration unchanged)"
      bounded systemctl start docker.service || { dockerd_said; fail "$why"; }
    fi
    wait_for_daemon || { dockerd_said; fail "$why"; }
  fi
  rm -rf "$undo"
  undo=
}

# Can the daemon run a container? A one-layer image of a static binary from the host (Debian's docker.io
# ships tini-static as docker-init) run with no network: namespaces, seccomp, AppArmor's docker-default
# profile and no-new-privileges all apply, and no registry is needed. Without such a binary, check what
# AppArmor needs instead.
check_containers_run() {
  init=$(command -v docker-init || command -v tini-static || true)
  if [ -n "$init" ] && LC_ALL=C ldd "$init" 2>&1 | grep -q -e 'not a dynamic' -e 'statically linked'; then
    dir=$(mktemp -d)
    cp "$init" "$dir/init"
    image=dockerhost-selftest:latest
    if ! out=$(tar -C "$dir" -cf - init | timeout 120 docker import - "$image" 2>&1) ||
      ! out=$(timeout 120 docker run --rm --network none --log-driver none "$image" /init --version 2>&1); then
      bounded docker rmi "$image" >/dev/null 2>&1 || true
      rm -rf "$dir"
      fail "Docker runs but cannot run a container: $out"
    fi
    bounded docker rmi "$image" >/dev/null 2>&1 || true
    rm -rf "$dir"
    log "a container ran"
  elif apparmor_enabled; then
    profiles=$root/sys/kernel/security/apparmor/profiles
    if [ -r "$profiles" ] && ! grep -q '^docker-default ' "$profiles"; then
      fail "AppArmor is enabled but Docker's docker-default profile is not loaded; containers cannot start"
    fi
    log "no static binary for a test container; AppArmor checked"
  fi
}
"""
