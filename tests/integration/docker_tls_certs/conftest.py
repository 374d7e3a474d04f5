# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the docker_tls_certs integration tests."""

from __future__ import annotations

import pytest

from ansible_collections.dockerhost.azure.tests.support.ansible import AnsibleRunner


@pytest.fixture(scope="session")
def ansible_runner(tmp_path_factory) -> AnsibleRunner:
    """Runs plays with this checkout's collection, a private ANSIBLE_HOME (temp dirs included) and the venv's Python."""
    return AnsibleRunner(tmp_path_factory.mktemp("ansible-home"))
