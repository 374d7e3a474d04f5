# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A service principal with a certificate: registration, and the token endpoint's client assertion check."""

from __future__ import annotations

import base64
import datetime
import time
import urllib.error
import uuid

import jwt
import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CertificateCredential
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ansible_collections.dockerhost.azure.azure_emulator.client_assertion import ASSERTION_TYPE
from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA, service_principal_cert

pytestmark = pytest.mark.emulator


@pytest.fixture
def sp_cert(azure_emulator, tmp_path):
    cert = service_principal_cert(str(tmp_path / "sp.pem"))
    azure_emulator.register_certificate(cert.cert_pem)
    return cert


def credential(emulator, path: str, **kwargs) -> CertificateCredential:
    return CertificateCredential(
        emulator.tenant_id,
        emulator.client_id,
        certificate_path=path,
        authority=emulator.endpoint,
        disable_instance_discovery=True,
        **kwargs,
    )


def token_url(emulator) -> str:
    return f"{emulator.endpoint}/{emulator.tenant_id}/oauth2/v2.0/token"


def thumb(cert_pem: str, algorithm) -> str:
    digest = x509.load_pem_x509_certificate(cert_pem.encode()).fingerprint(algorithm)
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def assertion(emulator, cert, *, key=None, alg="PS256", **claims) -> str:
    """A client assertion as MSAL makes one, with any claim overridden (None removes it)."""
    now = int(time.time())
    body = {
        "aud": token_url(emulator),
        "iss": emulator.client_id,
        "sub": emulator.client_id,
        "exp": now + 600,
        "nbf": now,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"x5t#S256": thumb(cert.cert_pem, hashes.SHA256())} if alg == "PS256" else {}
    headers["x5t"] = thumb(cert.cert_pem, hashes.SHA1())
    return jwt.encode(body, key or cert.key, algorithm=alg, headers=headers)


def post(emulator, signed: str, **extra) -> requests.Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": emulator.client_id,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed,
        "scope": emulator.credential_scope,
        **extra,
    }
    return requests.post(token_url(emulator), data=form, timeout=10)


def aadsts(answer: requests.Response) -> tuple[int, str, int]:
    body = answer.json()
    return answer.status_code, body["error"], body["error_codes"][0]


def test_certificate_credential_gets_a_token_arm_accepts(azure_emulator, sp_cert):
    token = credential(azure_emulator, sp_cert.bundle).get_token(azure_emulator.credential_scope).token
    url = f"{azure_emulator.endpoint}/subscriptions/{azure_emulator.subscription_id}/resourcegroups"
    answer = requests.get(
        url, params={"api-version": "2025-04-01"}, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    registered = x509.load_pem_x509_certificate(sp_cert.cert_pem.encode())
    [listed] = azure_emulator.certificates()
    assert listed["thumbprint"] == registered.fingerprint(hashes.SHA1()).hex().upper()


def test_encrypted_key_with_its_password(azure_emulator, tmp_path):
    cert = service_principal_cert(str(tmp_path / "enc.pem"), password=b"pfx-pass")
    azure_emulator.register_certificate(cert.cert_pem)
    cred = credential(azure_emulator, cert.bundle, password="pfx-pass")
    assert cred.get_token(azure_emulator.credential_scope).token


def test_rs256_with_sha1_thumbprint_is_accepted(azure_emulator, sp_cert):
    """What older MSAL versions (and ADFS-style clients) send."""
    answer = post(azure_emulator, assertion(azure_emulator, sp_cert, alg="RS256"))
    assert answer.status_code == 200, answer.text


def test_unregistered_certificate_is_key_not_found(azure_emulator, tmp_path):
    cert = service_principal_cert(str(tmp_path / "other.pem"))
    with pytest.raises(ClientAuthenticationError) as info:
        credential(azure_emulator, cert.bundle).get_token(azure_emulator.credential_scope)
    assert "AADSTS700027" in str(info.value) and "The key was not found" in str(info.value)
    assert "PRIVATE KEY" not in str(info.value)


def test_registration_is_forgotten_on_reset(azure_emulator, sp_cert):
    azure_emulator.reset()
    assert azure_emulator.certificates() == []
    assert aadsts(post(azure_emulator, assertion(azure_emulator, sp_cert)))[2] == 700027


def test_wrong_key_fails_signature_check(azure_emulator, sp_cert, tmp_path):
    impostor = service_principal_cert(str(tmp_path / "impostor.pem"))
    answer = post(azure_emulator, assertion(azure_emulator, sp_cert, key=impostor.key))
    assert aadsts(answer) == (401, "invalid_client", 700027)
    assert "did not match the expected signature" in answer.json()["error_description"]


@pytest.mark.parametrize(
    ("claims", "code"),
    [
        ({"exp": int(time.time()) - 3600, "nbf": int(time.time()) - 7200}, 700024),  # expired
        ({"nbf": int(time.time()) + 3600, "exp": int(time.time()) + 4000}, 700024),  # not yet valid
        ({"aud": "https://login.microsoftonline.com/common/oauth2/v2.0/token"}, 700023),  # wrong audience
        ({"iss": "11111111-1111-1111-1111-111111111111"}, 700021),  # another client
        ({"jti": None}, 50027),  # a required claim missing
    ],
)
def test_bad_claims_are_refused_as_entra_does(azure_emulator, sp_cert, claims, code):
    answer = post(azure_emulator, assertion(azure_emulator, sp_cert, **claims))
    assert aadsts(answer) == (401, "invalid_client", code)
    assert answer.json()["error_description"].startswith(f"AADSTS{code}:")


def test_expired_registered_certificate_is_refused(azure_emulator, tmp_path):
    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=10)
    cert = service_principal_cert(
        str(tmp_path / "old.pem"), not_before=past, not_after=past + datetime.timedelta(days=1)
    )
    azure_emulator.register_certificate(cert.cert_pem)
    answer = post(azure_emulator, assertion(azure_emulator, cert))
    assert aadsts(answer) == (401, "invalid_client", 700027)
    assert "The key used is expired" in answer.json()["error_description"]


def test_malformed_requests(azure_emulator, sp_cert):
    good = assertion(azure_emulator, sp_cert)
    assert aadsts(post(azure_emulator, "not-a-jwt"))[2] == 50027
    assert aadsts(post(azure_emulator, good, client_assertion_type="urn:other"))[:2] == (400, "invalid_request")
    both = post(azure_emulator, good, client_secret=azure_emulator.client_secret)
    assert aadsts(both)[:2] == (400, "invalid_request")
    hs256 = jwt.encode({"iss": azure_emulator.client_id}, "k" * 32, algorithm="HS256", headers={"x5t": "AA"})
    assert aadsts(post(azure_emulator, hs256))[2] == 50027


def test_registration_takes_only_a_public_rsa_certificate(azure_emulator, sp_cert, tmp_path):
    with open(sp_cert.bundle, encoding="utf-8") as handle:
        bundle = handle.read()  # holds the private key: Entra ID takes the public part only
    ec_cert = TestCA(str(tmp_path / "ec")).cert.public_bytes(serialization.Encoding.PEM).decode()
    for bad in (bundle, "junk", "", ec_cert):
        with pytest.raises(urllib.error.HTTPError) as info:
            azure_emulator.register_certificate(bad)
        assert info.value.code == 400
