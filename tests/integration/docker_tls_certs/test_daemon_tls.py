# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The issued set against real tools: a real dockerd, the docker CLI, openssl and Python's ssl."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.dockerd import TLSFiles, free_loopback_endpoint
from ansible_collections.dockerhost.azure.tests.integration.docker_tls_certs.tls_helpers import certs_task

pytestmark = pytest.mark.docker

NAME = "docker.example.test"
OTHER_IP = "192.0.2.99"


@pytest.fixture(scope="module")
def tls_set(ansible_runner, tmp_path_factory):
    """One set made by the module: host h1 (a DNS name + its loopback IP) and host h2 (other names)."""
    certs = tmp_path_factory.mktemp("daemon-tls") / "docker"
    host, port = free_loopback_endpoint()
    run = ansible_runner.play(
        [
            certs_task(path=str(certs), server_name="h1", hostnames=[NAME], ip_addresses=[host]),
            certs_task(path=str(certs), server_name="h2", hostnames=["other.example.test"], ip_addresses=[OTHER_IP]),
        ]
    )
    h1, h2 = run.results
    assert not h1.get("failed") and not h2.get("failed"), run.output[-3000:]
    return SimpleNamespace(certs=certs, host=host, port=port, h1=h1, h2=h2)


def docker(url: str, *args: str, config: Path, cert_path: Path | None = None, tls: tuple = ()):
    """The docker CLI with a private DOCKER_CONFIG; TLS from ``cert_path`` (as users do) or explicit files."""
    env = {**os.environ, "DOCKER_CONFIG": str(config)}
    env.pop("DOCKER_HOST", None)
    if cert_path is not None:
        env.update(DOCKER_CERT_PATH=str(cert_path), DOCKER_TLS_VERIFY="1")
    flags = []
    if tls:
        ca, cert, key = tls
        flags = ["--tlsverify", f"--tlscacert={ca}", f"--tlscert={cert}", f"--tlskey={key}"]
    return subprocess.run(
        ["docker", *flags, "-H", url, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def ping(certs: Path, daemon, server_hostname: str) -> bytes:
    """GET /_ping over mutual TLS with Python's ssl and X.509 strict verification, the CLI's files."""
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))  # only our CA: no system roots
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.load_cert_chain(str(certs / "cert.pem"), str(certs / "key.pem"))
    with (
        socket.create_connection((daemon.host, daemon.port), timeout=20) as raw,
        context.wrap_socket(raw, server_hostname=server_hostname) as tls,
    ):
        request = f"GET /_ping HTTP/1.1\r\nHost: {server_hostname}\r\nConnection: close\r\n\r\n"
        tls.sendall(request.encode())
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_daemon_accepts_the_issued_client_and_nothing_else(tls_set, docker_daemon, test_ca, tmp_path):
    certs, h1 = tls_set.certs, tls_set.h1
    daemon = docker_daemon(
        TLSFiles(h1["ca_cert"], h1["server_cert"], h1["server_key"]), host=tls_set.host, port=tls_set.port
    )
    config = tmp_path / "docker-config"

    # The 2014 user story: DOCKER_CERT_PATH=<cert_path>, --tlsverify, and the CLI finds ca/cert/key.pem.
    accepted = docker(daemon.url, "version", "--format", "{{json .Server}}", config=config, cert_path=certs)
    assert accepted.returncode == 0, accepted.stderr
    assert json.loads(accepted.stdout)["Os"] == "linux"

    # A client pair from another CA: the daemon refuses the handshake.
    foreign = test_ca.client()
    refused = docker(daemon.url, "version", config=config, tls=(h1["ca_cert"], foreign.cert, foreign.key))
    assert refused.returncode != 0
    assert re.search(r"tls: (bad certificate|unknown certificate authority)", refused.stderr), refused.stderr

    # Python's ssl with VERIFY_X509_STRICT accepts the chain, by DNS name and by IP address.
    for server_hostname in (NAME, tls_set.host):
        reply = ping(certs, daemon, server_hostname)
        assert reply.startswith(b"HTTP/1.1 200 OK") and reply.endswith(b"OK"), reply[:200]

    # ...and rejects a name the server certificate does not carry.
    with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
        ping(certs, daemon, "other.example.test")


def test_cert_for_another_hostname_fails_verification(tls_set, docker_daemon, tmp_path):
    h2 = tls_set.h2  # issued for other.example.test and 192.0.2.99, not for the daemon's address
    daemon = docker_daemon(TLSFiles(h2["ca_cert"], h2["server_cert"], h2["server_key"]))
    failed = docker(daemon.url, "version", config=tmp_path / "docker-config", cert_path=tls_set.certs)
    assert failed.returncode != 0
    assert f"x509: certificate is valid for {OTHER_IP}, not {daemon.host}" in failed.stderr, failed.stderr


def openssl_extensions(path: str) -> dict[str, tuple[bool, str]]:
    """``openssl x509 -ext`` read back: {extension name: (critical, value text)}."""
    names = "basicConstraints,keyUsage,extendedKeyUsage,subjectAltName,subjectKeyIdentifier,authorityKeyIdentifier"
    out = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", names, "-in", path], capture_output=True, text=True, check=True
    ).stdout
    extensions: dict[str, tuple[bool, str]] = {}
    current = None
    for line in out.splitlines():
        if line.startswith("X509v3 "):
            header = line.removeprefix("X509v3 ").strip()
            current, _colon, flag = header.partition(":")
            extensions[current] = (flag.strip() == "critical", "")
        elif current is not None:
            critical, value = extensions[current]
            extensions[current] = (critical, (value + " " + line.strip()).strip())
    return extensions


def test_openssl_reads_back_the_extensions_and_verifies_both_leaves(tls_set):
    h1 = tls_set.h1
    for purpose, leaf in (("sslserver", h1["server_cert"]), ("sslclient", h1["client_cert"])):
        verified = subprocess.run(
            ["openssl", "verify", "-x509_strict", "-purpose", purpose, "-CAfile", h1["ca_cert"], leaf],
            capture_output=True,
            text=True,
            check=False,
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr

    ca = openssl_extensions(h1["ca_cert"])
    client = openssl_extensions(h1["client_cert"])
    server = openssl_extensions(h1["server_cert"])
    assert ca["Basic Constraints"] == (True, "CA:TRUE, pathlen:0")
    assert ca["Key Usage"] == (True, "Certificate Sign, CRL Sign")
    ca_ski = ca["Subject Key Identifier"][1]
    assert re.fullmatch(r"([0-9A-F]{2}:){19}[0-9A-F]{2}", ca_ski)
    for leaf in (client, server):
        assert leaf["Basic Constraints"] == (True, "CA:FALSE")
        assert leaf["Authority Key Identifier"][1].removeprefix("keyid:") == ca_ski
        assert leaf["Subject Key Identifier"][1] not in ("", ca_ski)
    assert client["Extended Key Usage"][1] == "TLS Web Client Authentication"
    assert server["Extended Key Usage"][1] == "TLS Web Server Authentication"
    assert server["Subject Alternative Name"][1] == f"DNS:{NAME}, IP Address:{tls_set.host}"
    assert "Subject Alternative Name" not in client
    # A signature from SHA-256, as the module promises.
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-text", "-in", h1["server_cert"]], capture_output=True, text=True, check=True
    ).stdout
    assert "Signature Algorithm: ecdsa-with-SHA256" in text
