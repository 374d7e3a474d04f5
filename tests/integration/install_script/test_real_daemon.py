# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The install script's daemon-side checks against a real dockerd (Debian's, on loopback).

The hardened defaults must be a configuration a real dockerd starts with, and the script's container
self-test (issue 14 defect 2) must pass on a daemon that runs containers and fail, with dockerd's words, on one
that does not. The sandbox has no iptables, so icc=false (which needs them) is left out here, as in the emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.dockerd import DockerDaemon, free_loopback_endpoint
from ansible_collections.dockerhost.azure.plugins.module_utils._daemon_config import DEFAULT_DAEMON_OPTIONS
from ansible_collections.dockerhost.azure.plugins.module_utils._install_script_service_sh import SERVICE_FUNCTIONS

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HARDENED = {key: value for key, value in DEFAULT_DAEMON_OPTIONS.items() if key != "icc"}


def check_containers_run(daemon: DockerDaemon) -> subprocess.CompletedProcess:
    """Run the script's own check_containers_run function with the docker CLI pointed at ``daemon``."""
    function = SERVICE_FUNCTIONS[SERVICE_FUNCTIONS.index("check_containers_run() {") :]
    program = "\n".join(
        (
            "set -eu",
            "log() { printf 'dockerhost: %s\\n' \"$*\"; }",
            "fail() { printf 'dockerhost: error: %s\\n' \"$*\" >&2; exit 1; }",
            'bounded() { timeout 60 "$@"; }',
            "apparmor_enabled() { false; }",
            "root=",
            function,
            "check_containers_run",
        )
    )
    env = dict(os.environ, DOCKER_HOST=daemon.url)
    return subprocess.run(["/bin/sh", "-c", program], env=env, capture_output=True, text=True, timeout=240, check=False)


def docker(daemon: DockerDaemon, *args: str) -> str:
    return subprocess.run(
        ["docker", "-H", daemon.url, *args], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()


@pytest.fixture
def endpoint():
    if not (shutil.which("docker-init") or shutil.which("tini-static")):
        pytest.fail("docker-init (tini-static) is missing: Debian's docker.io ships it (make setup installs it)")
    return free_loopback_endpoint(23760)


def test_the_hardened_defaults_start_a_real_daemon_that_runs_a_container(endpoint):
    with DockerDaemon(*endpoint, tls=None, config=HARDENED).start() as daemon:
        info = json.loads(docker(daemon, "info", "--format", "{{json .}}"))
        assert info["LiveRestoreEnabled"] is True
        assert info["LoggingDriver"] == "json-file"
        proc = check_containers_run(daemon)
        assert proc.returncode == 0, proc.stderr
        assert "a container ran" in proc.stdout
        assert "dockerhost-selftest" not in docker(daemon, "images", "--format", "{{.Repository}}")  # cleaned up


def test_a_daemon_that_cannot_run_containers_fails_the_check_with_its_words(endpoint):
    broken = dict(HARDENED, runtimes={"broken": {"path": "/bin/false"}}, **{"default-runtime": "broken"})
    with DockerDaemon(*endpoint, tls=None, config=broken).start() as daemon:
        proc = check_containers_run(daemon)
        assert proc.returncode != 0
        assert "dockerhost: error: Docker runs but cannot run a container:" in proc.stderr
        assert "runtime" in proc.stderr.lower() or "oci" in proc.stderr.lower(), proc.stderr
        assert "dockerhost-selftest" not in docker(daemon, "images", "--format", "{{.Repository}}")
