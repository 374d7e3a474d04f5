# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The install script, run for real with /bin/sh: in the emulator's mode and with stub system commands."""

from __future__ import annotations

import base64
import gzip
import json
import os
import shutil
import stat
import subprocess
import time

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._daemon_config import (
    DEFAULT_DAEMON_OPTIONS,
    DaemonOptionsError,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._install_script import (
    INSTALL_SCRIPT,
    SETTINGS_MARKER,
    packed_script,
    render_install_script,
    script_sha256,
)


@pytest.fixture
def pki(test_ca):
    pair = test_ca.server(dns_names=("host.westeurope.cloudapp.azure.com",))
    with open(test_ca.cert_path, "rb") as ca, open(pair.cert, "rb") as cert, open(pair.key, "rb") as key:
        return {"ca": ca.read(), "cert": cert.read(), "key": key.read(), "ca_obj": test_ca}


def run_script(script: str, root, *, skip: bool = True, path: str | None = None, extra_env: dict | None = None):
    script_path = root.parent / "script.sh"
    script_path.write_text(script)
    env = {"PATH": path or os.environ["PATH"], "DOCKERHOST_ROOT": str(root), "DOCKERHOST_WAIT_SECONDS": "4"}
    if skip:
        env["DOCKERHOST_SKIP_PACKAGES"] = "1"
    env.update(extra_env or {})
    return subprocess.run(
        ["/bin/sh", str(script_path)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("rendered", [False, True], ids=["program", "rendered"])
def test_shellcheck_clean(pki, rendered):
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed (make setup installs it)")
    text = INSTALL_SCRIPT
    if rendered:
        text = render_install_script(2376, pki["ca"], pki["cert"], pki["key"], {"debug": True, "icc": None})
    proc = subprocess.run([shellcheck, "--shell=sh", "-"], input=text, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_fingerprint_is_of_the_program_not_the_settings(pki):
    rendered = render_install_script(2376, pki["ca"], pki["cert"], pki["key"])
    assert SETTINGS_MARKER in INSTALL_SCRIPT
    assert SETTINGS_MARKER not in rendered
    assert base64.b64encode(pki["key"]).decode() in rendered
    assert len(script_sha256()) == 64
    # Same program whatever the settings: the hash never depends on (or reveals anything of) the key.
    assert script_sha256() == script_sha256()
    assert gzip.decompress(base64.b64decode(packed_script(rendered))).decode() == rendered
    assert packed_script(rendered) == packed_script(rendered)  # deterministic bytes, no gzip timestamp


def test_emulator_mode_writes_config_with_modes_and_is_idempotent(tmp_path, pki):
    root = tmp_path / "root"
    rendered = render_install_script(2376, pki["ca"], pki["cert"], pki["key"])
    first = run_script(rendered, root)
    assert first.returncode == 0, first.stderr
    assert "changed: 1" in first.stdout
    docker = root / "etc" / "docker"
    assert (docker / "ca.pem").read_bytes() == pki["ca"]
    assert (docker / "server-cert.pem").read_bytes() == pki["cert"]
    assert (docker / "server-key.pem").read_bytes() == pki["key"]
    assert stat.S_IMODE((docker / "server-key.pem").stat().st_mode) == 0o400
    assert stat.S_IMODE((docker / "server-cert.pem").stat().st_mode) == 0o444
    assert stat.S_IMODE((docker / "ca.pem").stat().st_mode) == 0o444
    config = json.loads((docker / "daemon.json").read_text())
    assert config == {
        "hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:2376"],
        "tls": True,
        "tlsverify": True,
        "tlscacert": f"{docker}/ca.pem",
        "tlscert": f"{docker}/server-cert.pem",
        "tlskey": f"{docker}/server-key.pem",
        **DEFAULT_DAEMON_OPTIONS,
    }
    dropin = (root / "etc/systemd/system/docker.service.d/dockerhost.conf").read_text()
    exec_lines = [line for line in dropin.splitlines() if line.startswith("ExecStart=")]
    assert exec_lines[0] == "ExecStart="
    assert " -H" not in exec_lines[1]
    assert "--host" not in exec_lines[1]
    # Never a secret on stdout or stderr.
    for secret in (pki["key"].decode(), base64.b64encode(pki["key"]).decode()):
        assert secret not in first.stdout + first.stderr

    second = run_script(rendered, root)
    assert second.returncode == 0, second.stderr
    assert "changed: 0" in second.stdout
    assert "wrote" not in second.stdout


def test_cert_rotation_rewrites_only_what_changed(tmp_path, pki):
    root = tmp_path / "root"
    assert run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"]), root).returncode == 0
    new_pair = pki["ca_obj"].server("rotated", dns_names=("host.example",))
    with open(new_pair.cert, "rb") as cert, open(new_pair.key, "rb") as key:
        rotated = render_install_script(2376, pki["ca"], cert.read(), key.read())
    proc = run_script(rotated, root)
    assert proc.returncode == 0, proc.stderr
    assert "server-cert.pem" in proc.stdout
    assert "server-key.pem" in proc.stdout
    assert "ca.pem" not in proc.stdout
    assert "daemon.json" not in proc.stdout


@pytest.mark.parametrize(
    ("port", "message"),
    [("2375", "plain-HTTP"), ("0", "not in 1-65535"), ("70000", "not in 1-65535"), ("x1", "TCP port number")],
)
def test_bad_port_fails_before_writing(tmp_path, pki, port, message):
    root = tmp_path / "root"
    rendered = render_install_script(2376, pki["ca"], pki["cert"], pki["key"]).replace(
        "DOCKERHOST_PORT='2376'", f"DOCKERHOST_PORT='{port}'"
    )
    proc = run_script(rendered, root)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert not root.exists()


def test_bad_certificate_fails_without_echoing_it(tmp_path, pki):
    root = tmp_path / "root"
    # A key where the certificate belongs: refused, and the key text never printed.
    rendered = render_install_script(2376, pki["ca"], pki["key"], pki["key"])
    proc = run_script(rendered, root)
    assert proc.returncode != 0
    assert "the server certificate is not a PEM BEGIN CERTIFICATE block" in proc.stderr
    assert pki["key"].decode().splitlines()[1] not in proc.stdout + proc.stderr


# -- the full path on a "VM": stub system commands record what the script asks of them ----------------------
STUB = """#!/bin/sh
name=$(basename "$0")
printf '%s %s\\n' "$name" "$*" >>"$STUB_LOG"
here=$(dirname "$0")
# STUB_BAD: a daemon.json holding this text is one dockerd refuses.
bad() { [ -n "${STUB_BAD:-}" ] && grep -q -- "$STUB_BAD" "$STUB_ROOT/etc/docker/daemon.json" 2>/dev/null; }
case "$name $*" in
  "timeout "*) shift; exec "$@" ;;
  "systemctl is-active"*) exit "${STUB_INACTIVE:-0}" ;;
  "systemctl is-failed"*) bad && exit 0; exit 1 ;;
  "systemctl restart"* | "systemctl start"*) bad && exit 1 ;;
  "systemctl show -p LoadState --value docker.socket") echo "${STUB_SOCKET:-loaded}" ;;
  "systemctl show -p Requires -p Wants docker.service") printf 'Requires=docker.socket\\nWants=containerd.service\\n' ;;
  # STUB_NEEDS: docker.service's Requires/BindsTo/Requisite (Debian's unit requires docker.socket).
  "systemctl show -p Requires -p BindsTo -p Requisite --value docker.service")
    printf '%s\\n\\n\\n' "${STUB_NEEDS-docker.socket sysinit.target system.slice}" ;;
  "journalctl "*) bad && echo "unable to configure the Docker daemon: stub says no" ;;
  "dockerd --help") [ -n "${STUB_VALIDATE:-}" ] && echo "      --validate   Validate daemon configuration and exit" ;;
  "dockerd --validate"*) bad && { echo "unable to configure the Docker daemon: stub validation" >&2; exit 1; } ;;
  "docker -H "*) [ -n "${STUB_NO_DAEMON:-}" ] && exit 1 ;;
  "docker run "*) [ -n "${STUB_RUN_ERROR:-}" ] && { echo "$STUB_RUN_ERROR" >&2; exit 125; } ;;
  "apt-cache show docker-cli") [ -n "${STUB_DOCKER_CLI_PACKAGE:-}" ] || exit 100 ;;
  # Installing a package puts its binaries on PATH, as on a VM.
  "apt-get "*" install "*)
    for p in "$@"; do
      case $p in
        docker.io) cp "$0" "$here/dockerd"; [ -n "${STUB_NO_CLI:-}" ] || cp "$0" "$here/docker" ;;
        docker-cli) cp "$0" "$here/docker" ;;
        apparmor) cp "$0" "$here/apparmor_parser" ;;
      esac
    done ;;
esac
exit 0
"""


@pytest.fixture
def vm_path(tmp_path):
    """PATH with stubs for what a VM has (systemctl, cloud-init, apt-get, apt-cache, dockerd, docker, ss) plus
    basics; no docker-init, so the container check is the AppArmor one unless a test adds it."""
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    for name in ("systemctl", "cloud-init", "apt-get", "apt-cache", "docker", "journalctl", "timeout"):
        path = stub_dir / name
        path.write_text(STUB)
        path.chmod(0o755)
    ss = stub_dir / "ss"
    ss.write_text('#!/bin/sh\nprintf "LISTEN 0 4096 0.0.0.0:2376 0.0.0.0:*\\n"\n')
    ss.chmod(0o755)
    basics = tmp_path / "basics"
    basics.mkdir()
    for tool in ("base64", "basename", "cat", "chmod", "chown", "cmp", "cp", "grep", "id", "mkdir", "mktemp", "mv"):
        (basics / tool).symlink_to(shutil.which(tool))
    for tool in ("dirname", "rm", "sed", "sleep", "tail", "awk", "sort", "date", "readlink", "python3", "ldd", "tr"):
        (basics / tool).symlink_to(shutil.which(tool))
    (basics / "tar").symlink_to(shutil.which("tar"))
    return f"{stub_dir}:{basics}", tmp_path / "stub.log"


def test_vm_mode_restarts_docker_only_when_configuration_changed(tmp_path, pki, vm_path):
    path, log = vm_path
    root = tmp_path / "root"
    unit_dir = root / "lib" / "systemd" / "system"
    unit_dir.mkdir(parents=True)
    (unit_dir / "docker.service").write_text(
        "[Service]\nExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS\n"
    )
    env = {"STUB_LOG": str(log), "STUB_ROOT": str(root)}
    rendered = render_install_script(2376, pki["ca"], pki["cert"], pki["key"])

    first = run_script(rendered, root, skip=False, path=path, extra_env=env)
    assert first.returncode == 0, first.stderr
    calls = log.read_text().splitlines()
    assert "cloud-init status --wait" in " ".join(calls) or any(c.startswith("timeout ") for c in calls)
    assert "systemctl restart docker.service" in calls
    assert "systemctl daemon-reload " in calls or "systemctl daemon-reload" in [c.strip() for c in calls]
    dropin = (root / "etc/systemd/system/docker.service.d/dockerhost.conf").read_text()
    assert "ExecStart=/usr/bin/dockerd --containerd=/run/containerd/containerd.sock $DOCKER_OPTS" in dropin
    # No Docker on the "VM": the distribution's package, after the package lists.
    installs = [c for c in calls if c.startswith("apt-get")]
    assert "update" in installs[0]
    assert "install --no-install-recommends docker.io" in installs[1]
    # docker.socket is loaded and docker.service requires it: dockerd takes its socket (socket activation).
    assert json.loads((root / "etc/docker/daemon.json").read_text())["hosts"][0] == "fd://"
    assert "systemctl enable docker.socket" in calls

    log.write_text("")
    second = run_script(rendered, root, skip=False, path=path, extra_env=env)
    assert second.returncode == 0, second.stderr
    calls = log.read_text().splitlines()
    assert "systemctl restart docker.service" not in calls
    assert "systemctl is-active --quiet docker.service" in calls
    assert not any(c.startswith("apt-get") for c in calls)  # installed once

    log.write_text("")
    third = run_script(rendered, root, skip=False, path=path, extra_env=dict(env, STUB_INACTIVE="3"))
    assert third.returncode == 0, third.stderr
    assert "systemctl start docker.service" in log.read_text().splitlines()


# -- issue 13 item 11: daemon.json is merged, backed up every time, and never a directory -------------------
def test_existing_daemon_json_is_merged_and_every_replaced_version_backed_up(tmp_path, pki):
    root = tmp_path / "root"
    docker = root / "etc" / "docker"
    docker.mkdir(parents=True)
    first_text = '{"data-root": "/mnt/docker", "log-driver": "journald", "debug": true}\n'
    (docker / "daemon.json").write_text(first_text)
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"]), root)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((docker / "daemon.json").read_text())
    assert config["data-root"] == "/mnt/docker" and config["debug"] is True
    assert config["log-driver"] == "journald" and "log-opts" not in config  # the administrator's choice
    assert config["tlsverify"] is True and config["live-restore"] is True
    backups = sorted(docker.glob("daemon.json.dockerhost-backup-*"))
    assert [b.read_text() for b in backups] == [first_text]

    # An edit after the first run, then new options: the edited version is saved too, under a new name.
    config["max-concurrent-downloads"] = 5
    edited_text = json.dumps(config)
    (docker / "daemon.json").write_text(edited_text)
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"], {"debug": False}), root)
    assert proc.returncode != 0  # debug: the administrator set true, the options false
    assert "already sets debug" in proc.stderr
    assert (docker / "daemon.json").read_text() == edited_text
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"], {"icc": None}), root)
    assert proc.returncode == 0, proc.stderr
    config = json.loads((docker / "daemon.json").read_text())
    assert config["max-concurrent-downloads"] == 5 and "icc" not in config
    backups = sorted(docker.glob("daemon.json.dockerhost-backup-*"))
    assert sorted(b.read_text() for b in backups) == sorted([first_text, edited_text])
    again = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"], {"icc": None}), root)
    assert "changed: 0" in again.stdout


def test_conflicting_daemon_json_is_refused_by_name_and_nothing_is_written(tmp_path, pki):
    root = tmp_path / "root"
    docker = root / "etc" / "docker"
    docker.mkdir(parents=True)
    text = '{"hosts": ["unix:///var/run/docker.sock"], "tlscert": "/srv/other.pem"}'
    (docker / "daemon.json").write_text(text)
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"]), root)
    assert proc.returncode != 0
    assert "daemon.json already sets hosts, tlscert to other values" in proc.stderr
    assert (docker / "daemon.json").read_text() == text
    assert sorted(p.name for p in docker.iterdir()) == ["daemon.json"]  # no certificate, backup or temp file


def test_a_daemon_json_written_by_an_earlier_release_is_ours(tmp_path, pki):
    root = tmp_path / "root"
    docker = root / "etc" / "docker"
    docker.mkdir(parents=True)
    old = {"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:4243"], "tls": True, "tlsverify": True,
           "tlscacert": f"{docker}/ca.pem", "tlscert": f"{docker}/server-cert.pem",
           "tlskey": f"{docker}/server-key.pem"}  # fmt: skip
    (docker / "daemon.json").write_text(json.dumps(old))
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"]), root)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((docker / "daemon.json").read_text())["hosts"][1] == "tcp://0.0.0.0:2376"


@pytest.mark.parametrize("kind", ["directory", "symlink"])
def test_daemon_json_that_is_not_a_file_fails_clearly(tmp_path, pki, kind):
    root = tmp_path / "root"
    docker = root / "etc" / "docker"
    docker.mkdir(parents=True)
    if kind == "directory":
        (docker / "daemon.json").mkdir()
    else:
        (docker / "daemon.json").symlink_to(tmp_path / "elsewhere.json")
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"]), root)
    assert proc.returncode != 0
    assert f"{docker}/daemon.json is a {'directory' if kind == 'directory' else 'symbolic link'}" in proc.stderr
    assert sorted(p.name for p in docker.iterdir()) == ["daemon.json"]


def test_invalid_daemon_json_is_refused_and_kept(tmp_path, pki):
    root = tmp_path / "root"
    docker = root / "etc" / "docker"
    docker.mkdir(parents=True)
    (docker / "daemon.json").write_text('{"debug": true,}')
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"]), root)
    assert proc.returncode != 0
    assert "daemon.json" in proc.stderr and "is not valid JSON" in proc.stderr
    assert (docker / "daemon.json").read_text() == '{"debug": true,}'


def test_drop_ins_before_ours_are_kept_and_one_after_ours_is_reported(tmp_path, pki):
    root = tmp_path / "root"
    dropins = root / "etc/systemd/system/docker.service.d"
    dropins.mkdir(parents=True)
    (root / "lib/systemd/system").mkdir(parents=True)
    (root / "lib/systemd/system/docker.service").write_text("[Service]\nExecStart=/usr/bin/dockerd -H fd://\n")
    (dropins / "10-mine.conf").write_text("[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H fd:// --mtu=1400\n")
    rendered = render_install_script(2376, pki["ca"], pki["cert"], pki["key"])
    proc = run_script(rendered, root)
    assert proc.returncode == 0, proc.stderr
    assert "ExecStart=/usr/bin/dockerd --mtu=1400\n" in (dropins / "dockerhost.conf").read_text()

    before = {p.name: p.read_bytes() for p in (root / "etc/docker").iterdir()}
    (dropins / "zz-late.conf").write_text("[Service]\nExecStart=\nExecStart=/usr/bin/dockerd -H tcp://0.0.0.0:2375\n")
    proc = run_script(render_install_script(2377, pki["ca"], pki["cert"], pki["key"]), root)
    assert proc.returncode != 0
    assert f"{dropins}/zz-late.conf overrides docker.service's ExecStart after" in proc.stderr
    assert {p.name: p.read_bytes() for p in (root / "etc/docker").iterdir()} == before


# -- issue 14 defect 1: socket activation ------------------------------------------------------------------
@pytest.mark.parametrize(("socket_unit", "listener"), [("file", "fd://"), ("masked", "unix://"), (None, "unix://")])
def test_emulator_mode_uses_docker_socket_when_it_exists(tmp_path, pki, socket_unit, listener):
    root = tmp_path / "root"
    units = root / "lib/systemd/system"
    units.mkdir(parents=True)
    if socket_unit:
        (units / "docker.socket").write_text("[Socket]\nListenStream=/run/docker.sock\n")
    if socket_unit == "masked":
        (root / "etc/systemd/system").mkdir(parents=True)
        (root / "etc/systemd/system/docker.socket").symlink_to("/dev/null")
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"]), root)
    assert proc.returncode == 0, proc.stderr
    hosts = json.loads((root / "etc/docker/daemon.json").read_text())["hosts"]
    assert hosts[0].startswith(listener) and hosts[1] == "tcp://0.0.0.0:2376"


@pytest.mark.parametrize(("state", "listener"), [("loaded", "fd://"), ("masked", "unix:///var/run/docker.sock"),
                                                 ("not-found", "unix:///var/run/docker.sock")])  # fmt: skip
def test_vm_mode_asks_systemd_about_docker_socket(tmp_path, pki, vm_path, state, listener):
    """A docker.service that does not require docker.socket (say, the user's own unit) runs without it."""
    path, log = vm_path
    root = tmp_path / "root"
    env = {"STUB_LOG": str(log), "STUB_ROOT": str(root), "STUB_SOCKET": state, "STUB_NEEDS": "sysinit.target"}
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"]), root, skip=False, path=path,
                      extra_env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads((root / "etc/docker/daemon.json").read_text())["hosts"][0] == listener
    assert ("systemctl enable docker.socket" in log.read_text()) == (state == "loaded")
    exec_start = (root / "etc/systemd/system/docker.service.d/dockerhost.conf").read_text()
    assert " -H" not in exec_start.split("ExecStart=")[-1]


@pytest.mark.parametrize(("state", "remedy"), [("masked", "systemctl unmask docker.socket"),
                                               ("not-found", "apt-get install --reinstall docker.io")])  # fmt: skip
def test_a_required_docker_socket_masked_or_missing_fails_before_any_change(tmp_path, pki, vm_path, state, remedy):
    """Issue 14 defect 1: systemd would refuse to start docker.service; say so, change nothing, unmask nothing."""
    path, log = vm_path
    root = tmp_path / "root"
    env = {"STUB_LOG": str(log), "STUB_ROOT": str(root), "STUB_SOCKET": state}
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"]), root, skip=False, path=path,
                      extra_env=env)  # fmt: skip
    assert proc.returncode == 1
    assert f"docker.service requires docker.socket, which is {state} here" in proc.stderr
    assert remedy in proc.stderr
    assert "/etc/systemd/system/docker.service" in proc.stderr  # the other way out: a unit without the Requires=
    assert "nothing was changed" in proc.stderr
    assert not (root / "etc/docker/daemon.json").exists()
    assert not (root / "etc/systemd/system/docker.service.d/dockerhost.conf").exists()
    calls = log.read_text().splitlines()
    assert not [c for c in calls if c.split()[:2] in (["systemctl", "restart"], ["systemctl", "unmask"],
                                                      ["systemctl", "daemon-reload"])]  # fmt: skip


# -- issue 13 item 12: rollback with dockerd's own error ------------------------------------------------------
def _vm_env(root, log, **extra):
    return {"STUB_LOG": str(log), "STUB_ROOT": str(root), **extra}


def test_a_configuration_dockerd_refuses_is_rolled_back_with_its_error(tmp_path, pki, vm_path):
    path, log = vm_path
    root = tmp_path / "root"
    good = render_install_script(2376, pki["ca"], pki["cert"], pki["key"])
    assert run_script(good, root, skip=False, path=path, extra_env=_vm_env(root, log)).returncode == 0
    docker = root / "etc/docker"
    before = {p.name: p.read_bytes() for p in docker.iterdir()}
    dropin_before = (root / "etc/systemd/system/docker.service.d/dockerhost.conf").read_text()
    log.write_text("")
    bad = render_install_script(4243, pki["ca"], pki["cert"], pki["key"], {"log-level": "loud"})
    started = time.monotonic()
    proc = run_script(bad, root, skip=False, path=path, extra_env=_vm_env(root, log, STUB_BAD='"log-level": "loud"'))
    assert time.monotonic() - started < 20  # the failed unit ends the wait, not DOCKERHOST_WAIT_SECONDS x n
    assert proc.returncode != 0
    assert "dockerd did not come back with the new configuration" in proc.stderr
    assert "unable to configure the Docker daemon: stub says no" in proc.stderr  # dockerd's own words
    assert "previous configuration is restored and Docker runs with it" in proc.stderr
    after = {p.name: p.read_bytes() for p in docker.iterdir() if "dockerhost-backup" not in p.name}
    assert after == before
    assert (root / "etc/systemd/system/docker.service.d/dockerhost.conf").read_text() == dropin_before
    assert "systemctl reset-failed docker.service docker.socket" in log.read_text()
    assert [c for c in log.read_text().splitlines() if c.startswith("systemctl restart")] == [
        "systemctl restart docker.service", "systemctl restart docker.service"]  # fmt: skip


def test_first_run_rollback_removes_what_it_created(tmp_path, pki, vm_path):
    path, log = vm_path
    root = tmp_path / "root"
    bad = render_install_script(2376, pki["ca"], pki["cert"], pki["key"], {"log-level": "loud"})
    proc = run_script(bad, root, skip=False, path=path, extra_env=_vm_env(root, log, STUB_BAD="loud"))
    assert proc.returncode != 0
    assert "previous configuration is restored" in proc.stderr
    assert list((root / "etc/docker").iterdir()) == []
    assert list((root / "etc/systemd/system/docker.service.d").iterdir()) == []


def test_dockerd_validate_refuses_before_any_restart(tmp_path, pki, vm_path):
    path, log = vm_path
    root = tmp_path / "root"
    bad = render_install_script(2376, pki["ca"], pki["cert"], pki["key"], {"log-level": "loud"})
    env = _vm_env(root, log, STUB_BAD="loud", STUB_VALIDATE="1")
    proc = run_script(bad, root, skip=False, path=path, extra_env=env)
    assert proc.returncode != 0
    assert "dockerd refuses the new configuration, which was not applied" in proc.stderr
    assert "stub validation" in proc.stderr
    assert "systemctl restart" not in log.read_text()
    assert list((root / "etc/docker").iterdir()) == []


# -- issue 14 defects 2 and 3: AppArmor, the docker CLI's own package, no wait on a missing binary ---------
def test_docker_cli_is_installed_from_its_own_package_when_docker_io_lacks_it(tmp_path, pki, vm_path):
    path, log = vm_path
    root = tmp_path / "root"
    (tmp_path / "bin" / "docker").unlink()
    env = _vm_env(root, log, STUB_NO_CLI="1", STUB_DOCKER_CLI_PACKAGE="1")
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"]), root, skip=False, path=path,
                      extra_env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "apt-get -o DPkg::Lock::Timeout=4 -q -y install --no-install-recommends docker-cli" in log.read_text()


def test_a_missing_docker_cli_fails_in_seconds_naming_it(tmp_path, pki, vm_path):
    path, log = vm_path
    root = tmp_path / "root"
    (tmp_path / "bin" / "docker").unlink()
    env = _vm_env(root, log, STUB_NO_CLI="1", DOCKERHOST_WAIT_SECONDS="900")
    started = time.monotonic()
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"]), root, skip=False, path=path,
                      extra_env=env)  # fmt: skip
    assert time.monotonic() - started < 10
    assert proc.returncode != 0
    assert "docker is not installed (the docker CLI: package docker-cli or docker.io)" in proc.stderr
    assert not (root / "etc/docker").exists()  # failed before writing anything


def test_apparmor_is_installed_when_the_kernel_enforces_it_and_a_container_must_run(tmp_path, pki, vm_path):
    path, log = vm_path
    root = tmp_path / "root"
    params = root / "sys/module/apparmor/parameters"
    params.mkdir(parents=True)
    (params / "enabled").write_text("Y\n")
    tini = shutil.which("tini-static") or shutil.which("docker-init")
    if tini:
        (tmp_path / "bin" / "docker-init").symlink_to(tini)
    message = "AppArmor enabled on system but the docker-default profile could not be loaded"
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"]), root, skip=False, path=path,
                      extra_env=_vm_env(root, log, STUB_RUN_ERROR=message))  # fmt: skip
    assert "install --no-install-recommends docker.io apparmor" in log.read_text()
    if tini:  # the test container is what catches it
        assert proc.returncode != 0
        assert f"Docker runs but cannot run a container: {message}" in proc.stderr
        assert "docker run --rm --network none --log-driver none dockerhost-selftest:latest /init --version" in (
            log.read_text()
        )
        assert "docker rmi dockerhost-selftest:latest" in log.read_text()
    # Without a static binary the profile list is what is checked.
    (tmp_path / "bin" / "docker-init").unlink(missing_ok=True)
    security = root / "sys/kernel/security/apparmor"
    security.mkdir(parents=True)
    (security / "profiles").write_text("lsb_release (enforce)\n")
    proc = run_script(render_install_script(2377, pki["ca"], pki["cert"], pki["key"]), root, skip=False, path=path,
                      extra_env=_vm_env(root, log))  # fmt: skip
    assert proc.returncode != 0
    assert "docker-default profile is not loaded" in proc.stderr
    (security / "profiles").write_text("docker-default (enforce)\n")
    proc = run_script(render_install_script(2378, pki["ca"], pki["cert"], pki["key"]), root, skip=False, path=path,
                      extra_env=_vm_env(root, log))  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_reserved_daemon_options_are_refused_when_rendering(pki):
    with pytest.raises(DaemonOptionsError, match=r"daemon_options\.hosts cannot be set"):
        render_install_script(2376, pki["ca"], pki["cert"], pki["key"], {"hosts": ["tcp://0.0.0.0:2375"]})
