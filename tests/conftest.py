# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by unit and integration tests: a test PKI and real Docker daemons."""

from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.dockerd import (
    DockerDaemon,
    TLSFiles,
    free_loopback_endpoint,
)
from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA

pytest_plugins = ["ansible_collections.dockerhost.azure.tests.support.emulator_fixture"]


@pytest.fixture
def test_ca(tmp_path):
    """A fresh CA in a temp dir; ``test_ca.server(...)``/``client(...)`` issue leaves."""
    return TestCA(str(tmp_path / "pki"))


@pytest.fixture
def docker_daemon():
    """Factory: ``docker_daemon(tls=TLSFiles(...))`` starts a real dockerd on a free 127.x address.

    Every daemon it started is stopped and its state removed at teardown, also when the test fails.
    """
    if shutil.which(os.environ.get("DOCKERHOST_TEST_DOCKERD", "dockerd")) is None:
        pytest.fail("dockerd is not installed: run `make setup` (installs Debian's docker.io)")
    started: list[DockerDaemon] = []

    def start(tls: TLSFiles | None, host: str | None = None, port: int = 2376, **kwargs) -> DockerDaemon:
        if host is None:
            host, port = free_loopback_endpoint(port)
        daemon = DockerDaemon(host, port, tls=tls, **kwargs)
        started.append(daemon)
        return daemon.start()

    yield start
    for daemon in started:
        daemon.stop()
