# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for the module_utils unit tests (the Docker client's own are in docker_fixtures.py)."""

from __future__ import annotations

import pytest

from ansible_collections.dockerhost.azure.tests.unit.plugins.module_utils.azure_fixtures import FQDN


@pytest.fixture
def tls(test_ca):
    """A CA and a server pair for an Azure host's FQDN, as paths."""
    pair = test_ca.server(dns_names=(FQDN,))
    return {"ca": test_ca.cert_path, "cert": pair.cert, "key": pair.key, "pki": test_ca}
