# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS for the Docker client: the context, the daemon's certificate described, error classification."""

from __future__ import annotations

import datetime
import hashlib
import os
import pathlib
import random
import ssl
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA
from ansible_collections.dockerhost.azure.plugins.module_utils import _docker_tls
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import (
    DockerAPIError,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_tls import (
    build_ssl_context,
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


# -- exactly one PEM block per file (issue 13 item 1) ----------------------------------------------------


@pytest.fixture(params=[True, False], ids=["with-cryptography", "stdlib-only"])
def x509_available(request, monkeypatch):
    """The probe's check with cryptography, and as on a managed node without it (the same messages)."""
    monkeypatch.setattr(_docker_tls, "HAS_CRYPTOGRAPHY", request.param)
    return request.param


def test_a_ca_appended_to_ca_pem_is_refused_naming_the_file(certs, tmp_path, x509_available):
    ca, client, _cert_dir = certs
    bundle = tmp_path / "ca.pem"
    foreign = TestCA(str(tmp_path / "foreign"))
    bundle.write_bytes(pathlib.Path(ca.cert_path).read_bytes() + pathlib.Path(foreign.cert_path).read_bytes())
    with pytest.raises(DockerAPIError) as caught:
        build_ssl_context(tcp_settings(ca_cert=str(bundle), client_cert=client.cert, client_key=client.key))
    assert caught.value.kind == "invalid_option"
    assert f"ca_cert {bundle} is not a PEM CA certificate: it holds 2 PEM blocks (CERTIFICATE, CERTIFICATE)" in (
        caught.value.message
    )


@pytest.mark.parametrize(
    "case",
    [
        ("client_cert", "two certificates", "holds 2 PEM blocks (CERTIFICATE, CERTIFICATE)"),
        ("client_cert", "the key", "PRIVATE KEY block, not a certificate"),
        ("client_key", "two keys", "holds 2 PEM blocks"),
        ("client_key", "the certificate", "holds a PEM CERTIFICATE block, not a private key"),
        ("client_key", "key and certificate", "holds 2 PEM blocks"),
    ],
)
def test_client_files_hold_exactly_their_one_block(certs, tmp_path, x509_available, case):
    option, content, reason = case
    ca, client, _cert_dir = certs
    cert, key = pathlib.Path(client.cert).read_bytes(), pathlib.Path(client.key).read_bytes()
    data = {
        "two certificates": cert + cert,
        "the key": key,
        "two keys": key + key,
        "the certificate": cert,
        "key and certificate": key + cert,
    }[content]
    bad = tmp_path / f"{option}.pem"
    bad.write_bytes(data)
    os.chmod(bad, stat.S_IRUSR | stat.S_IWUSR)
    files = {"client_cert": client.cert, "client_key": client.key, option: str(bad)}
    with pytest.raises(DockerAPIError) as caught:
        build_ssl_context(tcp_settings(ca_cert=ca.cert_path, **files))
    assert f"{option} {bad} is not a PEM" in caught.value.message
    assert reason in caught.value.message
    assert "BEGIN" not in caught.value.message


def test_one_ca_surrounded_by_whitespace_is_accepted(certs, tmp_path, x509_available):
    ca, client, _cert_dir = certs
    padded = tmp_path / "ca.pem"
    padded.write_bytes(b"\n" + pathlib.Path(ca.cert_path).read_bytes() + b"\n\n")
    ctx = build_ssl_context(tcp_settings(ca_cert=str(padded), client_cert=client.cert, client_key=client.key))
    assert ctx.cert_store_stats()["x509_ca"] == 1


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
    der = _odd_names_cert().public_bytes(serialization.Encoding.DER)
    described = describe_certificate(der)
    assert described["subject"] == (
        "CN=\\#dockerhost-é-\\\\\\\\,STREET=\\ Dam 1\\ ,DC=example,1.2.840.113549.1.9.1=ops@example.com,"
        'OU=ops+UID=42,O=Example\\, \\"Docker\\" \\+ \\<Hosts\\>\\;,C=NL'
    )
    assert described["not_before"] == "2024-01-02T03:04:05+00:00"
    assert described["not_after"] == "2051-06-07T08:09:10+00:00"
    assert described["sans"] == ["DNS:docker.example", "URI:https://docker.example/"]
    assert len(described["sha256_fingerprint"]) == 64
    assert described["sha256_fingerprint"] == described["sha256_fingerprint"].lower()
    assert described["pem"].startswith("-----BEGIN CERTIFICATE-----\n")
    assert ssl.PEM_cert_to_DER_cert(described["pem"]) == der


@pytest.mark.parametrize(
    "der", [b"", b"\x30", b"\x30\x84\xff\xff\xff\xff", b"\x30\x03\x02\x01\x01", random.Random(64).randbytes(64)]
)
def test_describe_certificate_survives_garbage(der):
    described = describe_certificate(der)
    assert described["sha256_fingerprint"] == hashlib.sha256(der).hexdigest()
    assert described["sans"] == []


# -- reading the certificate files: regular files of bounded size only (issue 13 item 6) ------------------


@pytest.mark.parametrize("option", ["ca_cert", "client_cert", "client_key"])
@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "too_large", "symlink"])
def test_files_that_would_block_or_exhaust_memory_are_refused(certs, tmp_path, option, kind):
    ca, client, _cert_dir = certs
    files = {"ca_cert": ca.cert_path, "client_cert": client.cert, "client_key": client.key}
    bad = tmp_path / f"bad-{kind}.pem"
    if kind == "fifo":
        os.mkfifo(bad)
    elif kind == "dev_zero":
        bad = pathlib.Path("/dev/zero")
    elif kind == "too_large":
        bad.write_bytes(b"-----BEGIN CERTIFICATE-----\n" + b"A" * (2 * 1024 * 1024))
    else:
        bad.symlink_to(files[option])
    files[option] = str(bad)
    with pytest.raises(DockerAPIError) as caught:
        build_ssl_context(tcp_settings(**files))
    assert caught.value.kind == "invalid_option"
    assert caught.value.message.startswith(f"{option} {bad} ")


def test_without_cryptography_only_the_fingerprint_and_why(tmp_path, monkeypatch):
    """cryptography is optional on a managed node: the probe still works and says what it cannot show."""
    from ansible_collections.dockerhost.azure.plugins.module_utils import _docker_tls  # noqa: PLC0415

    monkeypatch.setattr(_docker_tls, "HAS_CRYPTOGRAPHY", False)
    der = _certificates(tmp_path)["CA"].public_bytes(serialization.Encoding.DER)
    described = describe_certificate(der)
    assert described["sha256_fingerprint"] == hashlib.sha256(der).hexdigest()
    assert described["subject"] is None
    assert "cryptography is not installed" in described["details_missing"]
    # The PEM text needs no library: a fresh control node hands it to docker_tls_certs (issue 12 item 2).
    assert ssl.PEM_cert_to_DER_cert(described["pem"]) == der
