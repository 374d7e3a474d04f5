# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service principal's certificate file: checked before use, errors name the option, never the key."""

from __future__ import annotations

import datetime
import os

import pytest
from azure.identity import CertificateCredential
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ansible_collections.dockerhost.azure.azure_emulator.pki import service_principal_cert
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_auth import (
    Cloud,
    CredentialPlan,
    build_credential,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_client_certificate import (
    MAX_CERTIFICATE_FILE,
    check_client_certificate,
    read_certificate_file,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import InvalidOption

PASSWORD = "Cn4ry-pfx-password"


@pytest.fixture(scope="module")
def sp(tmp_path_factory):
    return service_principal_cert(str(tmp_path_factory.mktemp("sp") / "sp.pem"))


def key_canaries(data: bytes) -> list[str]:
    """The password and every base64 line of a PEM private key in ``data``."""
    text = data.decode(errors="replace")
    if "PRIVATE KEY-----" not in text:
        return [PASSWORD]
    block = text.split("PRIVATE KEY-----")[1]
    return [PASSWORD, *(line for line in block.splitlines() if len(line) > 20)]


def check(data: bytes, password: str | None = None, **kwargs):
    return check_client_certificate(data, password, "sp.pem (from the task)", **kwargs)


def refused(data: bytes, password: str | None = None, **kwargs) -> InvalidOption:
    with pytest.raises(InvalidOption) as info:
        check(data, password, **kwargs)
    for canary in key_canaries(data):
        assert canary not in str(info.value)
    assert str(info.value).startswith(f"{info.value.option}: ")
    return info.value


def read(path) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def test_pem_key_and_certificate(sp):
    facts = check(read(sp.bundle))
    assert facts.subject == "CN=dockerhost-sp"
    assert len(facts.thumbprint) == 40


def test_encrypted_pem_needs_the_right_password(tmp_path):
    data = read(service_principal_cert(str(tmp_path / "enc.pem"), password=PASSWORD.encode()).bundle)
    assert check(data, PASSWORD)
    assert refused(data).option == "client_certificate_password"
    wrong = refused(data, "wrong")
    assert wrong.option == "client_certificate_password" and "wrong password" in str(wrong)


def test_password_for_a_plain_key_is_refused(sp):
    error = refused(read(sp.bundle), PASSWORD)
    assert error.option == "client_certificate_password" and "not encrypted" in str(error)


def test_pkcs12(sp):
    blob = pkcs12.serialize_key_and_certificates(
        b"sp", sp.key, _cert(sp), None, serialization.BestAvailableEncryption(PASSWORD.encode())
    )
    assert check(blob, PASSWORD).subject == "CN=dockerhost-sp"
    assert refused(blob).option == "client_certificate_path"  # "set client_certificate_password?"
    assert refused(blob, "wrong").option == "client_certificate_password"


def _cert(sp):
    return x509.load_pem_x509_certificate(sp.cert_pem.encode())


def test_file_without_key_or_certificate(sp):
    assert "exactly one private key" in str(refused(sp.cert_pem.encode()))
    key_only = read(sp.bundle).split(b"-----BEGIN CERTIFICATE-----")[0]
    assert "no readable certificate" in str(refused(key_only))
    assert "exactly one private key" in str(refused(read(sp.bundle) + read(sp.bundle)))


def test_certificate_of_another_key_is_refused(sp, tmp_path):
    other = service_principal_cert(str(tmp_path / "other.pem"))
    mixed = read(sp.bundle).split(b"-----BEGIN CERTIFICATE-----")[0] + other.cert_pem.encode()
    assert "does not belong to its private key" in str(refused(mixed))


def test_ec_key_is_refused(test_ca):
    pair = test_ca.client("ec")
    error = refused(read(pair.key) + read(pair.cert))
    assert "not RSA" in str(error)


def test_expired_and_not_yet_valid(sp):
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=400)
    assert "expired on" in str(refused(read(sp.bundle), now=later))
    earlier = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=400)
    assert "not valid before" in str(refused(read(sp.bundle), now=earlier))


def test_file_checks_name_the_option_and_source(tmp_path):
    for path, expected in (
        (tmp_path / "missing.pem", "cannot be read"),
        (tmp_path, "is not a regular file"),
    ):
        with pytest.raises(InvalidOption) as info:
            read_certificate_file(str(path), "AZURE_CLIENT_CERTIFICATE_PATH")
        assert info.value.option == "client_certificate_path"
        assert expected in str(info.value) and "from AZURE_CLIENT_CERTIFICATE_PATH" in str(info.value)
    big = tmp_path / "big.pem"
    big.write_bytes(b"x" * (MAX_CERTIFICATE_FILE + 1))
    with pytest.raises(InvalidOption, match="larger than"):
        read_certificate_file(str(big), "the task")
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    with pytest.raises(InvalidOption, match="is empty"):
        read_certificate_file(str(empty), "the task")
    link = tmp_path / "link.pem"
    os.symlink(tmp_path / "missing.pem", link)
    with pytest.raises(InvalidOption, match="cannot be read"):
        read_certificate_file(str(link), "the task")


def test_builds_certificate_credential_from_the_checked_bytes(sp):
    plan = CredentialPlan(
        kind="client_certificate",
        subscription_id="11111111-2222-3333-4444-555555555555",
        tenant="66666666-7777-8888-9999-000000000000",
        client_id="app",
        certificate=read(sp.bundle),
        certificate_path=sp.bundle,
    )
    cloud = Cloud("Stack", "https://arm.example", "https://login.example", "https://arm.example/", custom=True)
    credential = build_credential(plan, cloud)
    assert isinstance(credential, CertificateCredential)
    assert vars(credential)["_authority"] == "https://login.example"
    assert vars(credential)["_instance_discovery"] is False
