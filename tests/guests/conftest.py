# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for tests on real Linux guests (systemd-nspawn, see azure_emulator/guest.py).

Every test here is marked ``guest`` and skipped, with the reason, only where guests cannot run at all
(not root, systemd-nspawn or mmdebstrap missing: ``make setup`` installs them). The image of each suite is
built once per machine (hack/guest-image.sh, cached), a guest is booted per test (about 1-2 s) and always
stopped at teardown.
"""

from __future__ import annotations

import ssl

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.guest import Guest, guest_image, missing_requirements
from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA
from ansible_collections.dockerhost.azure.plugins.module_utils._install_script import render_install_script

SUITES = ("bookworm", "trixie", "sid")


# The QEMU VM's file takes most of `make guests` (boot, apt and a reboot under software emulation): first in
# the order, so that with pytest-xdist's loadfile it starts at once on one worker while the other takes the
# nspawn files, instead of starting last.
SLOWEST_FIRST = ("tests/guests/test_vm.py",)


def pytest_collection_modifyitems(items):
    reason = missing_requirements()
    for item in items:
        if "tests/guests/" in str(item.path):
            item.add_marker(pytest.mark.guest)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
    items.sort(key=lambda item: not str(item.path).endswith(SLOWEST_FIRST))  # stable: the rest keep their order


@pytest.fixture(scope="session")
def guest_images():
    """suite -> root file system path; each built on first use (minutes), then cached."""
    built: dict[str, str] = {}

    def image(suite: str) -> str:
        if suite not in built:
            built[suite] = guest_image(suite)
        return built[suite]

    return image


@pytest.fixture(params=SUITES)
def guest(request, guest_images, tmp_path):
    """A freshly booted guest of each suite, powered off at teardown also when the test fails."""
    booted = Guest(guest_images(request.param), str(tmp_path / "logs"))
    booted.boot()
    try:
        yield booted
    finally:
        # Nothing of this guest is kept, so no clean shutdown is owed: a guest whose live-restored containers
        # hold systemd's shutdown for its 90 s stop timeout is killed after 10 s (30 s each cost 2.5 min).
        booted.stop(timeout=10)


class DockerTLS:
    """A CA, a server pair for 127.0.0.1/localhost and a client pair; the install script they render."""

    port = 2376

    def __init__(self, directory: str) -> None:
        self.ca = TestCA(directory)
        self.server = self.ca.server(dns_names=("localhost",), ip_addresses=("127.0.0.1",))
        self.client = self.ca.client()

    def rotate_server(self, name: str) -> None:
        """A new server pair from the same CA, for the same names: what a certificate renewal hands the script."""
        self.server = self.ca.server(name=name, dns_names=("localhost",), ip_addresses=("127.0.0.1",))

    def script(self, daemon_options: dict | None = None) -> str:
        def read(path: str) -> bytes:
            with open(path, "rb") as handle:
                return handle.read()

        return render_install_script(
            self.port, read(self.ca.cert_path), read(self.server.cert), read(self.server.key), daemon_options
        )

    def context(self, client_cert: bool = True) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.load_verify_locations(self.ca.cert_path)
        if client_cert:
            context.load_cert_chain(self.client.cert, self.client.key)
        return context


@pytest.fixture
def docker_tls(tmp_path):
    return DockerTLS(str(tmp_path / "pki"))
