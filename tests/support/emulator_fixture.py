# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pytest fixtures (registered in tests/conftest.py through ``pytest_plugins``).

``azure_emulator_session``: one emulator per test session (per xdist worker), started with the real
command line, stopped at the end with every daemon it started.
``azure_emulator``: that emulator reset to a fresh state before and after the test, with
REQUESTS_CA_BUNDLE / SSL_CERT_FILE / CURL_CA_BUNDLE pointing at system CAs + the emulator CA.
``azure_guest_emulator``: an emulator with the guest backend (every VM a booted nspawn guest), one per module
and suite; parametrize it indirectly with the suite (``@pytest.mark.parametrize("azure_guest_emulator",
["bookworm"], indirect=True)``). Needs root and systemd-nspawn: tests/guests/ skips where they are missing.
"""

from __future__ import annotations

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.client import EmulatorClient

__all__ = ["azure_emulator", "azure_emulator_session", "azure_guest_emulator"]


@pytest.fixture(scope="session")
def azure_emulator_session(tmp_path_factory):
    client = EmulatorClient.start(str(tmp_path_factory.mktemp("azure-emulator") / "state"))
    try:
        yield client
    finally:
        client.stop()


@pytest.fixture
def azure_emulator(azure_emulator_session, monkeypatch):
    azure_emulator_session.reset()
    azure_emulator_session.use_ca_bundle(monkeypatch)
    yield azure_emulator_session
    azure_emulator_session.reset()


@pytest.fixture(scope="module")
def azure_guest_emulator(request, tmp_path_factory):
    suite = getattr(request, "param", "bookworm")
    state_dir = tmp_path_factory.mktemp(f"azure-emulator-{suite}") / "state"
    client = EmulatorClient.start(str(state_dir), vm_backend="guest", guest_kind="nspawn", guest_suite=suite)
    try:
        yield client
    finally:
        client.stop()
