# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every error_kind from a real situation, against real daemons and real sockets (nothing mocked)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ansible_collections.dockerhost.azure.azure_emulator.dockerd import free_loopback_endpoint
from ansible_collections.dockerhost.azure.azure_emulator.forward import Forward, tcp_target
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import DockerAPIError, resolve_connection
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_retry import parse_api_version, probe_daemon
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_x509 import cert_not_after
from ansible_collections.dockerhost.azure.tests.integration.docker_host_probe.probe_helpers import (
    FQDN,
    DripListener,
    SilentListener,
)

pytestmark = pytest.mark.docker

# "Every failure arrives within wait_timeout + timeout plus a small margin": the margin on a shared,
# noisy 2-core machine.
MARGIN = 1.5


def probe(params: dict, **kwargs):
    return probe_daemon(resolve_connection(params), **kwargs)


def bare(docker_host: str, **params) -> dict:
    """Parameters without certificate files, for failures that come before any certificate matters."""
    return {"docker_host": docker_host, "use_system_ca_store": True, **params}


def failure(params: dict, **kwargs) -> tuple[DockerAPIError, float]:
    started = time.monotonic()
    with pytest.raises(DockerAPIError) as caught:
        probe(params, **kwargs)
    return caught.value, time.monotonic() - started


def docker_cli_server_version(world, tmp_path) -> dict:
    """What the Docker CLI reports; it cannot verify a name other than the one it connects to, so it
    uses TLS without verification here (it is the oracle, not the subject)."""
    out = subprocess.run(
        [
            "docker",
            "--tls",
            f"--tlscacert={world.ca.cert_path}",
            f"--tlscert={world.client.cert}",
            f"--tlskey={world.client.key}",
            "-H",
            world.tls.url,
            "version",
            "--format",
            "{{json .Server}}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "DOCKER_CONFIG": str(tmp_path / "docker-config")},
    )
    return json.loads(out.stdout)


def test_success_matches_docker_version(probe_world, tmp_path):
    result = probe(probe_world.tls_params())
    expected = docker_cli_server_version(probe_world, tmp_path)
    for key in ("Version", "ApiVersion", "MinAPIVersion", "GitCommit", "GoVersion", "Os", "Arch", "KernelVersion"):
        assert result.version[key] == expected[key], key
    assert result.ping == "OK"
    assert result.info["ServerVersion"] == expected["Version"]
    assert result.info["OSType"] == "linux"
    assert isinstance(result.info["NCPU"], int)
    assert "SecurityOptions" in result.info
    assert result.attempts == 1
    assert result.docker_host == probe_world.tls.url
    served = x509.load_pem_x509_certificate(pathlib.Path(probe_world.tls.tls.cert).read_bytes())
    assert result.server_cert["sha256_fingerprint"] == served.fingerprint(hashes.SHA256()).hex()
    assert result.server_cert["sans"] == [f"DNS:{FQDN}"]
    assert result.server_cert["issuer"] == "CN=Probe Test CA"
    assert result.server_cert["verified"] is True


def test_min_api_version(probe_world):
    daemon_api = probe(probe_world.tls_params()).version["ApiVersion"]
    assert probe(probe_world.tls_params(), min_api_version=parse_api_version(daemon_api)).ping == "OK"
    error, _took = failure(probe_world.tls_params(), min_api_version=(9, 99))
    assert error.kind == "api_version_too_old"
    assert f"speaks API {daemon_api}" in error.message
    assert "9.99" in error.message


def test_connect_by_ip_without_tls_hostname_is_a_hostname_mismatch(probe_world):
    error, _took = failure(probe_world.tls_params(tls_hostname=None))
    assert error.kind == "tls_hostname_mismatch"
    assert f"not valid for '{probe_world.tls.host}'" in error.message
    assert f"DNS:{FQDN}" in error.message
    assert "set tls_hostname" in error.message
    assert error.server_cert["sans"] == [f"DNS:{FQDN}"]
    assert error.attempts == 1


def test_wrong_tls_hostname_is_a_hostname_mismatch(probe_world):
    error, _took = failure(probe_world.tls_params(tls_hostname="dockerhost2.westeurope.cloudapp.azure.com"))
    assert error.kind == "tls_hostname_mismatch"
    assert "'dockerhost2.westeurope.cloudapp.azure.com'" in error.message


def test_wrong_ca(probe_world):
    error, _took = failure(probe_world.tls_params(ca_cert=probe_world.other_ca.cert_path))
    assert error.kind == "tls_unknown_ca"
    assert f"ca_cert {probe_world.other_ca.cert_path}" in error.message
    assert "issued by CN=Probe Test CA" in error.message
    assert error.server_cert["issuer"] == "CN=Probe Test CA"


def test_no_ca_at_all_means_the_system_store_which_does_not_know_our_ca(probe_world, tmp_path):
    params = probe_world.tls_params(ca_cert=None, cert_path=str(tmp_path), use_system_ca_store=True)
    error, _took = failure(params)
    assert error.kind == "tls_unknown_ca"
    assert "system CA store" in error.message


def test_expired_server_certificate(probe_world):
    error, _took = failure(probe_world.tls_params(probe_world.expired))
    assert error.kind == "tls_expired"
    served = x509.load_pem_x509_certificate(pathlib.Path(probe_world.expired.tls.cert).read_bytes())
    assert f"expired on {cert_not_after(served).isoformat()}" in error.message
    assert "docker_tls_certs" in error.message


def test_client_certificate_from_another_ca(probe_world):
    params = probe_world.tls_params(
        client_cert=probe_world.foreign_client.cert, client_key=probe_world.foreign_client.key
    )
    error, _took = failure(params, wait_timeout=20)
    assert error.kind == "tls_client_rejected"
    assert probe_world.foreign_client.cert in error.message
    # A refusal is final: waiting does not retry it (at most once more if the daemon's alert got lost).
    assert error.attempts <= 2


def test_no_client_certificate(probe_world):
    params = probe_world.tls_params(client_cert=None, client_key=None, ca_cert=None, cert_path=probe_world.ca_only_dir)
    error, _took = failure(params)
    assert error.kind == "tls_client_rejected"
    assert "no client certificate was sent" in error.message
    assert os.path.join(probe_world.ca_only_dir, "cert.pem") in error.message


def test_plain_http_daemon(probe_world):
    error, _took = failure(probe_world.tls_params(probe_world.plain), wait_timeout=20)
    assert error.kind == "not_tls"
    assert "plain HTTP" in error.message
    assert error.attempts == 1


def test_closed_port():
    host, port = free_loopback_endpoint()
    error, _took = failure(bare(f"tcp://{host}:{port}", timeout=5))
    assert error.kind == "connection_refused"
    assert f"port {port}" in error.message


def test_closed_port_is_retried_until_wait_timeout():
    host, port = free_loopback_endpoint()
    error, took = failure(bare(f"tcp://{host}:{port}", timeout=2), wait_timeout=1)
    assert error.kind == "connection_refused"
    assert error.attempts >= 4  # short pauses: 0.05, 0.1, 0.2, 0.25, ...
    assert took < 1 + 2 + MARGIN


def test_silent_listener_times_out_within_timeout():
    listener = SilentListener()
    try:
        error, took = failure(bare(listener.url, timeout=1))
    finally:
        listener.close()
    assert error.kind == "timeout"
    assert "nothing answered the TLS handshake within 1s" in error.message
    assert 0.9 <= took < 1 + MARGIN


def test_silent_listener_with_wait_fails_within_wait_plus_timeout():
    listener = SilentListener()
    try:
        error, took = failure(bare(listener.url, timeout=1), wait_timeout=1.5)
    finally:
        listener.close()
    assert error.kind == "timeout"
    assert error.attempts >= 2
    assert took < 1.5 + 1 + MARGIN


def test_answers_that_trickle_in_still_end_at_the_deadline():
    listener = DripListener(interval=0.2)
    try:
        error, took = failure(bare(listener.url, timeout=1))
    finally:
        listener.close()
    assert error.kind == "timeout"
    assert took < 1 + MARGIN


def test_unresolvable_name():
    error, _took = failure(bare("tcp://dockerhost-probe-test.invalid:2376", timeout=5))
    assert error.kind == "dns"
    assert "'dockerhost-probe-test.invalid' does not resolve" in error.message


def test_tls_verify_false_accepts_the_certificate_and_says_so(probe_world):
    result = probe(probe_world.tls_params(tls_hostname=None, tls_verify=False))
    assert result.ping == "OK"
    assert result.server_cert["verified"] is False
    assert result.server_cert["sans"] == [f"DNS:{FQDN}"]


def test_tls_verify_false_never_means_plain_http(probe_world):
    error, _took = failure(probe_world.tls_params(probe_world.plain, tls_verify=False))
    assert error.kind == "not_tls"


def test_unix_socket(probe_world, tmp_path):
    # dockerd from the fixture listens on TCP only: a Unix socket in front of it, relaying byte for byte.
    target = tcp_target((probe_world.plain.host, probe_world.plain.port))
    with Forward.unix(target, str(tmp_path / "docker.sock")) as relay:
        result = probe(bare(relay.url, timeout=10))
    assert result.ping == "OK"
    assert result.server_cert is None
    assert result.info["OSType"] == "linux"
    assert result.docker_host == relay.url


# -- issue 13 item 4: a daemon that does not require client certificates is open to anyone ---------------


def test_daemon_without_tlsverify_fails_as_open_to_anyone(probe_world):
    error, took = failure(probe_world.tls_params(probe_world.open), wait_timeout=20)
    assert error.kind == "client_auth_not_required"
    assert "anyone who can reach port" in error.message
    assert "tlsverify" in error.message
    assert error.attempts == 1  # final: waiting does not fix it
    assert error.server_cert["sans"] == [f"DNS:{FQDN}"]
    assert took < 10


def test_daemon_without_tlsverify_seen_by_a_client_without_certificate(probe_world):
    params = probe_world.tls_params(
        probe_world.open, client_cert=None, client_key=None, cert_path=probe_world.ca_only_dir
    )
    error, _took = failure(params)
    assert error.kind == "client_auth_not_required"


def test_daemon_with_tlsverify_passes_the_anonymous_check(probe_world):
    """The extra handshake without a client certificate is refused by a daemon with tlsverify."""
    assert probe(probe_world.tls_params()).ping == "OK"


def test_no_ca_file_fails_before_connecting_unless_the_system_store_is_asked_for(probe_world, tmp_path):
    error, _took = failure(probe_world.tls_params(ca_cert=None, cert_path=str(tmp_path)))
    assert error.kind == "invalid_option"
    assert "use_system_ca_store" in error.message
    assert error.attempts == 0
