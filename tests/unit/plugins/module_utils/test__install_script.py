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

import pytest

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


def test_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed (make setup installs it)")
    proc = subprocess.run(
        [shellcheck, "--shell=sh", "-"], input=INSTALL_SCRIPT, capture_output=True, text=True, check=False
    )
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


def test_existing_foreign_daemon_json_is_kept(tmp_path, pki):
    root = tmp_path / "root"
    docker = root / "etc" / "docker"
    docker.mkdir(parents=True)
    (docker / "daemon.json").write_text('{"log-driver": "journald"}\n')
    proc = run_script(render_install_script(2376, pki["ca"], pki["cert"], pki["key"]), root)
    assert proc.returncode == 0, proc.stderr
    assert (docker / "daemon.json.dockerhost-orig").read_text() == '{"log-driver": "journald"}\n'
    assert "tlsverify" in (docker / "daemon.json").read_text()


# -- the full path on a "VM": stub system commands record what the script asks of them ----------------------
STUB = """#!/bin/sh
printf '%s %s\\n' "$(basename "$0")" "$*" >>"$STUB_LOG"
case "$(basename "$0") $*" in
  "systemctl is-active"*) exit "${STUB_INACTIVE:-0}" ;;
  # Installing the package puts dockerd on PATH, as on a VM.
  "apt-get "*" install "*) cp "$0" "$(dirname "$0")/dockerd" ;;
esac
exit 0
"""


@pytest.fixture
def vm_path(tmp_path):
    """PATH with stubs for what a VM has (systemctl, cloud-init, apt-get, dockerd, docker, ss) plus basics."""
    stub_dir = tmp_path / "bin"
    stub_dir.mkdir()
    for name in ("systemctl", "cloud-init", "apt-get", "docker", "journalctl", "timeout"):
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
    for tool in ("dirname", "rm", "sed", "sleep", "tail"):
        (basics / tool).symlink_to(shutil.which(tool))
    return f"{stub_dir}:{basics}", tmp_path / "stub.log"


def test_vm_mode_restarts_docker_only_when_configuration_changed(tmp_path, pki, vm_path):
    path, log = vm_path
    root = tmp_path / "root"
    unit_dir = root / "lib" / "systemd" / "system"
    unit_dir.mkdir(parents=True)
    (unit_dir / "docker.service").write_text(
        "[Service]\nExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS\n"
    )
    env = {"STUB_LOG": str(log)}
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
