# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS for the Docker client: the context, the daemon's certificate described, error classification."""

from __future__ import annotations

import datetime
import errno
import hashlib
import http.client
import os
import pathlib
import socket
import ssl
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import (
    ConnectionSettings,
    DockerAPIError,
    Endpoint,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_tls import (
    build_ssl_context,
    classify_connection_error,
    classify_tls_error,
    describe_certificate,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_x509 import describe_cert
from ansible_collections.dockerhost.azure.tests.unit.plugins.module_utils import docker_fixtures
from ansible_collections.dockerhost.azure.tests.unit.plugins.module_utils.docker_fixtures import tcp_settings

# The shared fixtures (clean_env is autouse).
clean_env = docker_fixtures.clean_env
certs = docker_fixtures.certs

# -- the TLS context --------------------------------------------------------------------------------


def test_context_verifies_with_tls12_minimum(certs):
    ca, client, _cert_dir = certs
    ctx = build_ssl_context(tcp_settings(ca_cert=ca.cert_path, client_cert=client.cert, client_key=client.key))
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert ctx.verify_mode == ssl.CERT_REQUIRED
    assert ctx.check_hostname
    assert ctx.cert_store_stats()["x509_ca"] == 1


def test_context_without_verification_only_when_asked(certs):
    ca, _client, _cert_dir = certs
    ctx = build_ssl_context(tcp_settings(ca_cert=ca.cert_path, tls_verify=False))
    assert ctx.verify_mode == ssl.CERT_NONE
    assert not ctx.check_hostname
    assert ctx.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_key_of_another_certificate(certs, tmp_path):
    ca, client, _cert_dir = certs
    other = ca.client("other")
    with pytest.raises(DockerAPIError, match=r"is not the private key of client_cert") as caught:
        build_ssl_context(tcp_settings(ca_cert=ca.cert_path, client_cert=client.cert, client_key=other.key))
    assert caught.value.kind == "invalid_option"


def test_encrypted_key_is_reported_not_prompted_for(certs, tmp_path):
    ca, client, _cert_dir = certs
    key = serialization.load_pem_private_key(pathlib.Path(client.key).read_bytes(), None)
    encrypted = tmp_path / "encrypted-key.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(DockerAPIError, match="is encrypted"):
        build_ssl_context(tcp_settings(ca_cert=ca.cert_path, client_cert=client.cert, client_key=str(encrypted)))


def test_key_contents_never_reach_the_message(certs, tmp_path):
    ca, client, _cert_dir = certs
    canary = "CANARY-7f3e9a-never-print-me"
    bogus_key = tmp_path / "key.pem"
    bogus_key.write_text(f"-----BEGIN PRIVATE KEY-----\n{canary}\n-----END PRIVATE KEY-----\n")
    os.chmod(bogus_key, stat.S_IRUSR | stat.S_IWUSR)
    with pytest.raises(DockerAPIError) as caught:
        build_ssl_context(tcp_settings(ca_cert=ca.cert_path, client_cert=client.cert, client_key=str(bogus_key)))
    assert canary not in caught.value.message
    assert str(bogus_key) in caught.value.message


def test_not_a_certificate(tmp_path, certs):
    ca, _client, _cert_dir = certs
    bogus = tmp_path / "ca.pem"
    bogus.write_text("hello\n")
    with pytest.raises(DockerAPIError, match=r"ca_cert .* is not a PEM CA certificate"):
        build_ssl_context(tcp_settings(ca_cert=str(bogus)))
    with pytest.raises(DockerAPIError, match=r"client_cert .* is not a PEM certificate"):
        build_ssl_context(tcp_settings(ca_cert=ca.cert_path, client_cert=str(bogus), client_key=str(bogus)))


# -- reading certificates ---------------------------------------------------------------------------


def _self_signed(name: x509.Name, key, not_before, not_after, sans=None) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(key, hashes.SHA256())


def _odd_names_cert() -> x509.Certificate:
    """Names RFC 4514 has to escape, a multi-valued RDN, attributes without a short name, GeneralizedTime."""
    oid = x509.NameOID
    name = x509.Name(
        [
            x509.RelativeDistinguishedName([x509.NameAttribute(oid.COUNTRY_NAME, "NL")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(oid.ORGANIZATION_NAME, 'Example, "Docker" + <Hosts>;')]),
            x509.RelativeDistinguishedName(
                [x509.NameAttribute(oid.ORGANIZATIONAL_UNIT_NAME, "ops"), x509.NameAttribute(oid.USER_ID, "42")]
            ),
            x509.RelativeDistinguishedName([x509.NameAttribute(oid.EMAIL_ADDRESS, "ops@example.com")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(oid.DOMAIN_COMPONENT, "example")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(oid.STREET_ADDRESS, " Dam 1 ")]),
            x509.RelativeDistinguishedName([x509.NameAttribute(oid.COMMON_NAME, "#dockerhost-é-\\\\")]),
        ]
    )
    return _self_signed(
        name,
        ec.generate_private_key(ec.SECP256R1()),
        datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        datetime.datetime(2051, 6, 7, 8, 9, 10, tzinfo=datetime.UTC),  # GeneralizedTime from 2050 on
        [x509.DNSName("docker.example"), x509.UniformResourceIdentifier("https://docker.example/")],
    )


def _certificates(directory: pathlib.Path) -> dict[str, x509.Certificate]:
    ca = TestCA(str(directory), name="Docker CA")
    served = ca.server(
        "dockerhost1",
        dns_names=("dockerhost1.westeurope.cloudapp.azure.com",),
        ip_addresses=("203.0.113.10", "2001:db8::1"),
    )
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    no_sans = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "no-sans")])
    return {
        "docker server pair": x509.load_pem_x509_certificate(pathlib.Path(served.cert).read_bytes()),
        "CA": x509.load_pem_x509_certificate(pathlib.Path(ca.cert_path).read_bytes()),
        "RSA without SANs, UTCTime": _self_signed(
            no_sans,
            rsa_key,
            datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
            datetime.datetime(2049, 12, 31, 23, 59, 59, tzinfo=datetime.UTC),
        ),
        "odd names": _odd_names_cert(),
    }


def test_describe_certificate_reads_as_docker_tls_certs_does(tmp_path):
    """The probe's own DER reader and docker_tls_certs' (cryptography) give the same strings, so a
    fingerprint or date from one compares to the other's as it is."""
    for label, cert in _certificates(tmp_path).items():
        described = describe_certificate(cert.public_bytes(serialization.Encoding.DER))
        expected = describe_cert(cert)
        for key in ("subject", "issuer", "not_before", "not_after"):
            assert described[key] == expected[key], (label, key)
        assert described["sha256_fingerprint"] == expected["fingerprint"], label
        # docker_tls_certs sorts the names it wants; the probe shows the certificate's own order.
        assert sorted(san for san in described["sans"] if not san.startswith("URI:")) == sorted(
            expected.get("sans", [])
        ), label


def test_describe_certificate_formats():
    described = describe_certificate(_odd_names_cert().public_bytes(serialization.Encoding.DER))
    assert described["subject"] == (
        "CN=\\#dockerhost-é-\\\\\\\\,STREET=\\ Dam 1\\ ,DC=example,1.2.840.113549.1.9.1=ops@example.com,"
        'OU=ops+UID=42,O=Example\\, \\"Docker\\" \\+ \\<Hosts\\>\\;,C=NL'
    )
    assert described["not_before"] == "2024-01-02T03:04:05+00:00"
    assert described["not_after"] == "2051-06-07T08:09:10+00:00"
    assert described["sans"] == ["DNS:docker.example", "URI:https://docker.example/"]
    assert len(described["sha256_fingerprint"]) == 64
    assert described["sha256_fingerprint"] == described["sha256_fingerprint"].lower()


@pytest.mark.parametrize("der", [b"", b"\x30", b"\x30\x84\xff\xff\xff\xff", b"\x30\x03\x02\x01\x01", os.urandom(64)])
def test_describe_certificate_survives_garbage(der):
    described = describe_certificate(der)
    assert described["sha256_fingerprint"] == hashlib.sha256(der).hexdigest()
    assert described["sans"] == []


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
