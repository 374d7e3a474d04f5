# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Classifying the Docker client's failures: error kinds and the messages that say what to do."""

from __future__ import annotations

import errno
import http.client
import socket
import ssl

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._docker_errors import (
    classify_connection_error,
    classify_tls_error,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import (
    ConnectionSettings,
    DockerAPIError,
    Endpoint,
)
from ansible_collections.dockerhost.azure.tests.unit.plugins.module_utils.docker_fixtures import tcp_settings

# -- classifying errors -------------------------------------------------------------------------------


def verify_error(code: int, message: str) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}")
    exc.verify_code = code
    exc.verify_message = message
    exc.reason = "CERTIFICATE_VERIFY_FAILED"
    return exc


def alert(reason: str, cls=ssl.SSLError) -> ssl.SSLError:
    exc = cls(1, f"[SSL: {reason}] ({reason.lower()})")
    exc.reason = reason
    return exc


SERVER_CERT = {
    "subject": "CN=dockerhost1",
    "issuer": "CN=Docker CA",
    "sans": ["DNS:dockerhost1.westeurope.cloudapp.azure.com"],
    "not_before": "2024-01-01T00:00:00+00:00",
    "not_after": "2024-02-01T00:00:00+00:00",
    "sha256_fingerprint": "aa",
}


def test_hostname_mismatch_by_ip_suggests_tls_hostname():
    error = classify_tls_error(verify_error(64, "IP address mismatch"), tcp_settings(), server_cert=SERVER_CERT)
    assert error.kind == "tls_hostname_mismatch"
    assert "DNS:dockerhost1.westeurope.cloudapp.azure.com" in error.message
    assert "set tls_hostname" in error.message
    assert not error.retryable
    assert error.server_cert == SERVER_CERT


def test_hostname_mismatch_with_tls_hostname_names_it():
    error = classify_tls_error(
        verify_error(62, "Hostname mismatch"), tcp_settings(tls_hostname="old.example"), server_cert=SERVER_CERT
    )
    assert error.kind == "tls_hostname_mismatch"
    assert "'old.example'" in error.message


@pytest.mark.parametrize(("code", "words"), [(10, "expired on 2024-02-01T00:00:00+00:00"), (9, "not valid before")])
def test_expired_or_not_yet_valid(code, words):
    error = classify_tls_error(verify_error(code, "certificate has expired"), tcp_settings(), server_cert=SERVER_CERT)
    assert error.kind == "tls_expired"
    assert words in error.message
    assert "docker_tls_certs" in error.message


@pytest.mark.parametrize("code", [2, 18, 19, 20, 21])
def test_unknown_ca_names_the_trust_source(code):
    settings = tcp_settings(ca_cert="/etc/docker-client/ca.pem", ca_source="ca_cert /etc/docker-client/ca.pem")
    error = classify_tls_error(verify_error(code, "unable to get local issuer certificate"), settings)
    assert error.kind == "tls_unknown_ca"
    assert "ca_cert /etc/docker-client/ca.pem" in error.message
    assert not error.retryable


@pytest.mark.parametrize(
    "reason", ["SSLV3_ALERT_BAD_CERTIFICATE", "TLSV13_ALERT_CERTIFICATE_REQUIRED", "TLSV1_ALERT_UNKNOWN_CA"]
)
def test_daemon_alerts_mean_client_rejected(reason):
    without = classify_tls_error(alert(reason), tcp_settings(client_source="no client certificate was sent: x"))
    assert without.kind == "tls_client_rejected"
    assert "no client certificate was sent" in without.message
    with_cert = classify_tls_error(alert(reason), tcp_settings(client_cert="/c/cert.pem", client_key="/c/key.pem"))
    assert with_cert.kind == "tls_client_rejected"
    assert "/c/cert.pem" in with_cert.message
    assert not with_cert.retryable


def test_expired_client_certificate():
    error = classify_tls_error(
        alert("SSLV3_ALERT_CERTIFICATE_EXPIRED"), tcp_settings(client_cert="/c/cert.pem", client_key="/c/key.pem")
    )
    assert error.kind == "tls_client_rejected"
    assert "has expired" in error.message


@pytest.mark.parametrize("reason", ["WRONG_VERSION_NUMBER", "RECORD_LAYER_FAILURE", "PACKET_LENGTH_TOO_LONG"])
def test_plain_http_answers(reason):
    error = classify_tls_error(alert(reason), tcp_settings())
    assert error.kind == "not_tls"
    assert "plain HTTP" in error.message
    assert not error.retryable


def test_closed_after_handshake_is_a_probable_rejection_worth_retrying():
    error = classify_tls_error(alert("", ssl.SSLEOFError), tcp_settings(), handshake_done=True)
    assert error.kind == "tls_client_rejected"
    assert error.retryable
    assert "no TLS alert arrived" in error.message


def test_closed_during_handshake_is_retried():
    error = classify_tls_error(alert("", ssl.SSLEOFError), tcp_settings())
    assert error.kind == "connection_refused"
    assert error.retryable


def test_other_handshake_failures():
    error = classify_tls_error(alert("TLSV1_ALERT_PROTOCOL_VERSION"), tcp_settings())
    assert error.kind == "tls_protocol"
    assert "TLS 1.2" in error.message


@pytest.mark.parametrize(
    ("exc", "step", "kind", "retryable", "words"),
    [
        (TimeoutError(), "connect", "timeout", True, "firewall"),
        (TimeoutError(), "handshake", "timeout", True, "nothing answered the TLS handshake"),
        (TimeoutError(), "GET /info", "timeout", True, "GET /info got no answer"),
        (TimeoutError(), "lookup", "dns", True, "DNS server"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "lookup", "dns", True, "does not resolve"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connect", "connection_refused", True, "port 2376"),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "connect", "connection_refused", True, "No route"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "handshake", "connection_refused", True, "handshake"),
        (ConnectionResetError(errno.ECONNRESET, "reset"), "GET /info", "http_error", True, "dropped"),
        (http.client.BadStatusLine("SSH-2.0"), "GET /_ping", "http_error", False, "not HTTP"),
    ],
)
def test_classify_connection_errors(exc, step, kind, retryable, words):
    error = classify_connection_error(exc, tcp_settings(), step, handshake_done=step.startswith("GET"))
    assert (error.kind, error.retryable) == (kind, retryable)
    assert words in error.message


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (FileNotFoundError(errno.ENOENT, "No such file"), "there is no socket at /run/docker.sock"),
        (PermissionError(errno.EACCES, "Permission denied"), "docker group"),
        (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "stale"),
    ],
)
def test_unix_socket_errors(exc, words):
    settings = ConnectionSettings(Endpoint("unix", path="/run/docker.sock"))
    error = classify_connection_error(exc, settings, "connect")
    assert error.kind == "connection_refused"
    assert words in error.message


def test_error_kinds_are_closed():
    with pytest.raises(ValueError, match="unknown error kind"):
        raise DockerAPIError("something_else", "no")
