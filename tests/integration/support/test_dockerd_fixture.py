# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker daemon fixture: real daemons, mutual TLS, and nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.dockerd import (
    DockerDaemon,
    TLSFiles,
    free_loopback_endpoint,
    leftover_processes,
)

pytestmark = pytest.mark.docker


def docker_cli(daemon: DockerDaemon, ca: str, cert: str, key: str, *args: str, config_dir: str):
    return subprocess.run(
        ["docker", "--tlsverify", f"--tlscacert={ca}", f"--tlscert={cert}", f"--tlskey={key}", "-H", daemon.url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DOCKER_CONFIG": config_dir},
        check=False,
    )


def test_two_tls_daemons_at_once_and_nothing_left(test_ca, tmp_path):
    client = test_ca.client()
    daemons = []
    for name in ("a", "b"):
        host, port = free_loopback_endpoint()
        pair = test_ca.server(name, ip_addresses=(host,))
        daemons.append(DockerDaemon(host, port, tls=TLSFiles(test_ca.cert_path, pair.cert, pair.key)))
    try:
        for daemon in daemons:
            daemon.start()
        assert daemons[0].host != daemons[1].host
        for daemon in daemons:
            result = docker_cli(
                daemon,
                test_ca.cert_path,
                client.cert,
                client.key,
                "version",
                "--format",
                "{{json .Server}}",
                config_dir=str(tmp_path / "cfg"),
            )
            assert result.returncode == 0, result.stderr
            assert json.loads(result.stdout)["Os"] == "linux"
        # Without a client certificate the daemon refuses the connection.
        bare = subprocess.run(
            ["docker", "--tlsverify", f"--tlscacert={test_ca.cert_path}", "-H", daemons[0].url, "version"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "DOCKER_CONFIG": str(tmp_path / "cfg"), "DOCKER_CERT_PATH": str(tmp_path / "none")},
        )
        assert bare.returncode != 0
        roots = [(d.exec_root, d.data_root, d.state_dir) for d in daemons]
        pids = [d.pid for d in daemons]
    finally:
        for daemon in daemons:
            daemon.stop()
    for exec_root, data_root, state_dir in roots:
        assert leftover_processes(exec_root) == []
        assert leftover_processes(data_root) == []
        assert not os.path.exists(exec_root)
        assert not os.path.exists(state_dir)
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}")


def test_plain_http_daemon_for_negative_tests(docker_daemon):
    daemon = docker_daemon(tls=None)
    out = subprocess.run(
        ["docker", "-H", daemon.url, "version", "--format", "{{.Server.APIVersion}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()


def test_bad_config_fails_with_log_tail(test_ca):
    pair = test_ca.server(ip_addresses=("127.0.0.1",))
    host, port = free_loopback_endpoint()
    missing = str(test_ca.directory) + "/missing-key.pem"
    daemon = DockerDaemon(host, port, tls=TLSFiles(test_ca.cert_path, pair.cert, missing))
    with pytest.raises(Exception, match="dockerd exited"):
        daemon.start(timeout=30)
    assert not os.path.exists(daemon.exec_root)
    assert leftover_processes(daemon.exec_root) == []


def test_command_line_start_and_stop(test_ca, tmp_path):
    host, port = free_loopback_endpoint()
    pair = test_ca.server(ip_addresses=(host,))
    state = tmp_path / "state"
    script = os.path.join(os.path.dirname(__file__), "..", "..", "..", "azure_emulator", "dockerd.py")
    started = subprocess.run(
        [
            sys.executable,
            script,
            "start",
            "--state-dir",
            str(state),
            "--host",
            host,
            "--port",
            str(port),
            "--tlscacert",
            test_ca.cert_path,
            "--tlscert",
            pair.cert,
            "--tlskey",
            pair.key,
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    info = json.loads(started.stdout)
    try:
        assert info["docker_host"] == f"tcp://{host}:{port}"
        assert os.path.exists(f"/proc/{info['pid']}")
    finally:
        stopped = subprocess.run(
            [sys.executable, script, "stop", "--state-dir", str(state)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert stopped.returncode == 0, stopped.stderr
    assert not os.path.exists(f"/proc/{info['pid']}")


def test_entering_a_started_daemon_does_not_start_a_second_one(tmp_path):
    """``with DockerDaemon(...).start() as d`` once started a second dockerd over the first (same pidfile),
    kept the dead one's pid and leaked the live one (ppid 1) on exit."""
    host, port = free_loopback_endpoint()
    state = str(tmp_path / "state")
    with DockerDaemon(host, port, tls=None, state_dir=state).start() as daemon:
        first = daemon.pid
        assert daemon.running()
    assert daemon.pid is None
    assert leftover_processes(os.path.join(state, "daemon.json")) == [], f"dockerd {first} outlived the with block"
    with pytest.raises(RuntimeError, match="already running"):
        started = DockerDaemon(host, port, tls=None, state_dir=str(tmp_path / "again")).start()
        try:
            started.start()
        finally:
            started.stop()
