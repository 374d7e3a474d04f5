# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The daemon's certificate set: read and checked through the one certificate library, errors name the option."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_certificates import (
    load_certificates,
    names_host,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import InvalidOption
from ansible_collections.dockerhost.azure.tests.unit.plugins.module_utils.azure_fixtures import der_sha256


# -- certificates --------------------------------------------------------------------------------------------
def test_load_certificates(tls):
    certs = load_certificates(tls["ca"], tls["cert"], tls["key"])
    assert certs.server_sha256 == der_sha256(tls["cert"])
    assert certs.ca_sha256 == der_sha256(tls["ca"])
    assert certs.server_dns_names == ("dh1.westeurope.cloudapp.azure.com",)
    assert b"PRIVATE KEY" in certs.key_pem
    assert b"PRIVATE KEY" not in repr(certs).encode()


def test_missing_and_unreadable_files_name_the_option(tls, tmp_path):
    cases = [
        ((str(tmp_path / "nope.pem"), tls["cert"], tls["key"]), "ca_cert", "file not found"),
        ((tls["ca"], str(tmp_path / "nope.pem"), tls["key"]), "server_cert", "file not found"),
        ((tls["ca"], tls["cert"], str(tmp_path)), "server_key", "is a directory"),
        ((tls["key"], tls["cert"], tls["key"]), "ca_cert", "PRIVATE KEY block, not a certificate"),
        # The certificate library's own words: it says what the file holds instead.
        ((tls["ca"], tls["key"], tls["key"]), "server_cert", "PRIVATE KEY block, not a certificate"),
        ((tls["ca"], tls["cert"], tls["cert"]), "server_key", "holds a PEM CERTIFICATE block, not a private key"),
    ]
    for args, option, message in cases:
        with pytest.raises(InvalidOption, match=message) as info:
            load_certificates(*args)
        assert info.value.option == option


def test_key_of_another_certificate(tls):
    other = tls["pki"].server("other")
    with pytest.raises(InvalidOption, match="is not the key of the certificate") as info:
        load_certificates(tls["ca"], tls["cert"], other.key)
    assert info.value.option == "server_key"


def test_encrypted_key(tls, tmp_path):
    with open(tls["key"], "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    encrypted = tmp_path / "enc.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw"),
        )
    )
    with pytest.raises(InvalidOption, match="encrypted") as info:
        load_certificates(tls["ca"], tls["cert"], str(encrypted))
    assert info.value.option == "server_key"


def test_certificate_from_another_ca(tls, tmp_path):
    stranger = TestCA(str(tmp_path / "other"), name="Other CA").server()
    with pytest.raises(InvalidOption, match="was not issued by the CA") as info:
        load_certificates(tls["ca"], stranger.cert, stranger.key)
    assert info.value.option == "server_cert"


def test_a_leaf_is_not_a_ca(tls):
    with pytest.raises(InvalidOption, match="not a CA") as info:
        load_certificates(tls["cert"], tls["cert"], tls["key"])
    assert info.value.option == "ca_cert"


def test_expired_and_client_certificates(tls):
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    old = tls["pki"].server("old", not_before=past, not_after=past + datetime.timedelta(days=1))
    with pytest.raises(InvalidOption, match="expired on 2020-01-02"):
        load_certificates(tls["ca"], old.cert, old.key)
    client = tls["pki"].client()
    with pytest.raises(InvalidOption, match="lacks serverAuth"):
        load_certificates(tls["ca"], client.cert, client.key)


def test_a_ca_file_with_more_than_the_ca_fails_naming_it(tls, tmp_path):
    """Issue 13 item 1: a CA appended to ca.pem must not be shipped to (and trusted by) the daemon."""
    other = TestCA(str(tmp_path / "other"), name="Appended CA")
    bundle = tmp_path / "bundle.pem"
    with open(tls["ca"], "rb") as first, open(other.cert_path, "rb") as second:
        bundle.write_bytes(first.read() + second.read())
    with pytest.raises(InvalidOption, match=r"bundle\.pem holds 2 PEM blocks") as info:
        load_certificates(str(bundle), tls["cert"], tls["key"])
    assert info.value.option == "ca_cert"
    trailing = tmp_path / "trailing.pem"
    with open(tls["ca"], "rb") as first:
        trailing.write_bytes(first.read() + b"junk after the certificate\n")
    with pytest.raises(InvalidOption, match="outside its PEM block") as info:
        load_certificates(str(trailing), tls["cert"], tls["key"])
    assert info.value.option == "ca_cert"


def test_exactly_the_signing_ca_is_shipped(tls):
    with open(tls["ca"], "rb") as handle:
        ca = x509.load_pem_x509_certificate(handle.read())
    certs = load_certificates(tls["ca"], tls["cert"], tls["key"])
    assert certs.ca_pem == ca.public_bytes(serialization.Encoding.PEM)
    assert certs.ca_pem.count(b"BEGIN CERTIFICATE") == 1


def test_names_host():
    assert names_host(("dh1.westeurope.cloudapp.azure.com",), "DH1.westeurope.cloudapp.azure.com")
    assert names_host(("*.westeurope.cloudapp.azure.com",), "dh1.westeurope.cloudapp.azure.com")
    assert not names_host(("*.cloudapp.azure.com",), "dh1.westeurope.cloudapp.azure.com")
    assert not names_host((), "dh1.westeurope.cloudapp.azure.com")
