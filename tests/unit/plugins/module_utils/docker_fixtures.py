# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the Docker client's unit tests (imported by each test file)."""

from __future__ import annotations

import pathlib

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import ConnectionSettings, Endpoint

ENV_NAMES = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS_HOSTNAME")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No DOCKER_* variables and an empty home: the developer's ~/.docker stays out of the tests."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


@pytest.fixture
def certs(tmp_path):
    """A cert_path as docker_tls_certs writes it: ca.pem, cert.pem, key.pem."""
    ca = TestCA(str(tmp_path / "ca"))
    client = ca.client()
    cert_dir = tmp_path / "docker"
    cert_dir.mkdir()
    for name, source in (("ca.pem", ca.cert_path), ("cert.pem", client.cert), ("key.pem", client.key)):
        (cert_dir / name).write_bytes(pathlib.Path(source).read_bytes())
    return ca, client, str(cert_dir)


def tcp_settings(**kwargs) -> ConnectionSettings:
    kwargs.setdefault("endpoint", Endpoint("tcp", host="203.0.113.10", port=2376))
    return ConnectionSettings(**kwargs)
