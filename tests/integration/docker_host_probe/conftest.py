# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real daemons for the docker_host_probe tests, started once and concurrently.

- ``tls``: mutual TLS with a certificate that names only an FQDN, as on an Azure VM: connecting by IP
  fails the name check, and ``tls_hostname`` set to the FQDN succeeds.
- ``plain``: plain HTTP on loopback (the ``not_tls`` case; never anything else).
- ``expired``: mutual TLS with a server certificate that expired yesterday. dockerd 20.10 starts with it
  (Go does not check the validity period of its own certificate), so no stand-in server is needed.
- ``open``: TLS without ``tlsverify``: it answers clients that send no certificate (``client_auth_not_required``).
"""

from __future__ import annotations

import datetime
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.dockerd import DockerDaemon, TLSFiles, free_loopback_endpoint
from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA
from ansible_collections.dockerhost.azure.tests.integration.docker_host_probe.probe_helpers import (
    FQDN,
    ProbeWorld,
    copy_into,
)


@pytest.fixture(scope="session")
def probe_world(tmp_path_factory):
    if shutil.which(os.environ.get("DOCKERHOST_TEST_DOCKERD", "dockerd")) is None:
        pytest.fail("dockerd is not installed: run `make setup` (installs Debian's docker.io)")
    base = tmp_path_factory.mktemp("probe")
    ca = TestCA(str(base / "ca"), name="Probe Test CA")
    other_ca = TestCA(str(base / "other-ca"), name="Some Other CA")
    client = ca.client()
    foreign_client = other_ca.client("foreign-client")

    tls_host, tls_port = free_loopback_endpoint()
    tls_pair = ca.server("vm-fqdn-only", dns_names=(FQDN,))
    expired_host, expired_port = free_loopback_endpoint()
    now = datetime.datetime.now(datetime.UTC)
    expired_pair = ca.server(
        "expired",
        dns_names=(FQDN,),
        ip_addresses=(expired_host,),
        not_before=now - datetime.timedelta(days=30),
        not_after=now - datetime.timedelta(days=1),
    )
    plain_host, plain_port = free_loopback_endpoint(2375)
    open_host, open_port = free_loopback_endpoint()
    open_pair = ca.server("open", dns_names=(FQDN,))
    daemons = [
        DockerDaemon(tls_host, tls_port, tls=TLSFiles(ca.cert_path, tls_pair.cert, tls_pair.key)),
        DockerDaemon(plain_host, plain_port, tls=None),
        DockerDaemon(expired_host, expired_port, tls=TLSFiles(ca.cert_path, expired_pair.cert, expired_pair.key)),
        DockerDaemon(
            open_host, open_port, tls=TLSFiles(ca.cert_path, open_pair.cert, open_pair.key, verify_clients=False)
        ),
    ]
    try:
        with ThreadPoolExecutor(len(daemons)) as pool:
            for future in [pool.submit(daemon.start) for daemon in daemons]:
                future.result()
        yield ProbeWorld(
            ca=ca,
            other_ca=other_ca,
            client=client,
            foreign_client=foreign_client,
            tls=daemons[0],
            plain=daemons[1],
            expired=daemons[2],
            open=daemons[3],
            cert_dir=copy_into(
                str(base / "docker"), {"ca.pem": ca.cert_path, "cert.pem": client.cert, "key.pem": client.key}
            ),
            ca_only_dir=copy_into(str(base / "ca-only"), {"ca.pem": ca.cert_path}),
        )
    finally:
        with ThreadPoolExecutor(len(daemons)) as pool:
            list(pool.map(DockerDaemon.stop, daemons))


@pytest.fixture(autouse=True)
def no_docker_environment(monkeypatch, tmp_path):
    """No DOCKER_* variables and an empty home: the developer's ~/.docker stays out of the tests."""
    for name in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS_HOSTNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
