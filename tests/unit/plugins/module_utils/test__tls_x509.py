# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one certificate library: exactly-one-PEM loading, issuer and key checks, host names, descriptions."""

from __future__ import annotations

import datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ansible_collections.dockerhost.azure.plugins.module_utils._tls_x509 import (
    PEMError,
    build_ca,
    build_leaf,
    cert_covers_host,
    cert_pem,
    der_fingerprint,
    describe_cert,
    describe_der,
    fingerprint,
    generate_key,
    issued_by,
    key_matches,
    key_pem,
    load_one_certificate,
    load_one_private_key,
    names_host,
    parse_cert,
    parse_key,
)

NOW = datetime.datetime(2030, 1, 1, 12, 0, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def pki():
    ca_key = generate_key("ecdsa", 0)
    ca = build_ca(ca_key, NOW, 3650)
    other_key = generate_key("ecdsa", 0)
    other = build_ca(other_key, NOW, 3650)
    leaf_key = generate_key("ecdsa", 0)
    leaf = build_leaf(
        leaf_key, ca, ca_key, common_name="h1", server=True,
        sans=(("*.example.test", "h1.example.test"), ("192.0.2.10", "2001:db8::1")), now=NOW, days=30,
    )  # fmt: skip
    return {"ca": ca, "ca_key": ca_key, "other": other, "leaf": leaf, "leaf_key": leaf_key}


# --------------------------------------------------------------------------------------------------
# exactly one PEM block
# --------------------------------------------------------------------------------------------------
def test_one_certificate_with_surrounding_whitespace_loads(pki):
    data = b"\n  " + cert_pem(pki["ca"]) + b"\n\n"
    assert fingerprint(load_one_certificate(data, what="ca.pem")) == fingerprint(pki["ca"])


def test_an_appended_ca_is_refused_naming_the_file(pki):
    # The attack of issue 13 item 1: a second CA appended to ca.pem would be trusted by daemons.
    data = cert_pem(pki["ca"]) + cert_pem(pki["other"])
    with pytest.raises(PEMError, match=r"^/d/ca\.pem holds 2 PEM blocks \(CERTIFICATE, CERTIFICATE\); exactly one"):
        load_one_certificate(data, what="/d/ca.pem")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (b"garbage\n", "holds text outside its PEM block"),
        (b"subject=CN = x\n", "holds text outside its PEM block"),
        (b"-----BEGIN CERTIFICATE-----\n", "holds text outside its PEM block"),
    ],
)
def test_text_around_the_certificate_is_refused(pki, extra, message):
    with pytest.raises(PEMError, match=message):
        load_one_certificate(extra + cert_pem(pki["ca"]), what="ca.pem")
    with pytest.raises(PEMError, match=message):
        load_one_certificate(cert_pem(pki["ca"]) + extra, what="ca.pem")


def test_a_key_in_a_certificate_file_is_refused_without_quoting_it(pki):
    key = key_pem(pki["ca_key"])
    with pytest.raises(PEMError) as caught:
        load_one_certificate(key, what="cert.pem")
    assert str(caught.value) == "cert.pem holds a PEM PRIVATE KEY block, not a certificate"
    with pytest.raises(PEMError, match="holds 2 PEM blocks \\(PRIVATE KEY, CERTIFICATE\\)") as caught:
        load_one_private_key(key + cert_pem(pki["leaf"]), what="key.pem")
    assert b"MI" not in str(caught.value).encode()  # no base64 of the key in the message


def test_missing_and_unparsable_certificates_keep_their_messages():
    assert parse_cert(b"hello") == (None, "holds no PEM certificate (no BEGIN CERTIFICATE line)")
    bad = b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    assert parse_cert(bad) == (None, "holds unparsable PEM: the certificate cannot be decoded")
    assert parse_key(b"garbage") == (None, "holds unparsable PEM: the private key cannot be decoded")


def test_private_keys_one_block_unencrypted_rsa_or_ecdsa(pki):
    assert key_matches(load_one_private_key(key_pem(pki["leaf_key"]), what="k"), pki["leaf"])
    traditional = pki["ca_key"].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    assert key_matches(load_one_private_key(traditional, what="k"), pki["ca"])
    encrypted = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(PEMError, match=r"^server_key holds an encrypted private key"):
        load_one_private_key(encrypted, what="server_key")
    with pytest.raises(PEMError, match="unsupported Ed25519PrivateKey key"):
        load_one_private_key(key_pem(ed25519.Ed25519PrivateKey.generate()), what="k")
    with pytest.raises(PEMError, match="holds a PEM CERTIFICATE block, not a private key"):
        load_one_private_key(cert_pem(pki["ca"]), what="k")


# --------------------------------------------------------------------------------------------------
# issuer, key, names, descriptions
# --------------------------------------------------------------------------------------------------
def test_issued_by_and_key_matches(pki):
    assert issued_by(pki["leaf"], pki["ca"])
    assert not issued_by(pki["leaf"], pki["other"])
    assert key_matches(pki["leaf_key"], pki["leaf"])
    assert not key_matches(pki["ca_key"], pki["leaf"])


@pytest.mark.parametrize(
    ("host", "covered"),
    [
        ("h1.example.test", True),
        ("H1.Example.Test.", True),
        ("web.example.test", True),  # the wildcard, one label
        ("a.b.example.test", False),
        ("example.test", False),
        ("192.0.2.10", True),
        ("192.0.2.11", False),
        ("[2001:db8::1]", True),
        ("2001:db8:0::1", True),
        ("", False),
    ],
)
def test_cert_covers_host(pki, host, covered):
    assert cert_covers_host(pki["leaf"], host) is covered


def test_names_host_is_dns_only():
    assert names_host(("h1.example.test",), "h1.example.test")
    assert not names_host(("192.0.2.10",), "h1.example.test")
    assert not names_host(("*.example.test",), "x.y.example.test")


def test_describe_der_matches_describe_cert(pki):
    der = pki["leaf"].public_bytes(serialization.Encoding.DER)
    described = describe_der(der)
    assert described == describe_cert(pki["leaf"])
    assert described["sans"] == ["DNS:*.example.test", "DNS:h1.example.test", "IP:192.0.2.10", "IP:2001:db8::1"]
    assert described["fingerprint"] == der_fingerprint(der) == fingerprint(pki["leaf"])
    assert set(described) >= {"subject", "issuer", "not_before", "not_after", "fingerprint"}
    broken = describe_der(b"\x30\x03abc")
    assert broken == {"fingerprint": der_fingerprint(b"\x30\x03abc"), "error": "the certificate cannot be decoded"}
