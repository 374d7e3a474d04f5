# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate credentials of the emulator's service principal, and the client assertion check.

Entra ID lets an application authenticate with a JWT it signs with a certificate's key instead of a secret
(``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``). The certificate (public
part only) is registered on the application beforehand; the JWT names it by thumbprint (``x5t``: SHA-1, or
``x5t#S256``: SHA-256), is signed RS256 or PS256, has ``aud`` = the token endpoint, ``iss`` = ``sub`` = the
client id, a ``jti``, and ``nbf``/``exp`` around now (Entra allows five minutes of clock skew). Every check
fails as Entra ID does, with its AADSTS codes (:class:`AssertionRejected` carries them to aad.py).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import time
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = [
    "ASSERTION_TYPE",
    "AssertionRejected",
    "KeyCredential",
    "parse_key_credential",
    "verify_client_assertion",
]

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW = 300  # seconds Entra ID tolerates on nbf / exp
MAX_ASSERTION = 16 * 1024  # a client assertion is a few KB even with an x5c chain
REQUIRED_CLAIMS = ("aud", "iss", "sub", "exp", "jti")


class AssertionRejected(Exception):
    """Why Entra ID refuses the assertion: HTTP status, OAuth error, AADSTS code, description."""

    def __init__(self, status: int, error: str, code: int, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.code, self.description = status, error, code, description


@dataclass(frozen=True)
class KeyCredential:
    """A certificate registered on the application (what Entra ID calls a key credential)."""

    certificate: x509.Certificate

    @property
    def x5t(self) -> str:
        return _b64(self.certificate.fingerprint(hashes.SHA1()))  # x5t is defined as SHA-1

    @property
    def x5t_s256(self) -> str:
        return _b64(self.certificate.fingerprint(hashes.SHA256()))

    @property
    def thumbprint(self) -> str:
        """The SHA-1 thumbprint in hex, as the portal and Graph show it."""
        return self.certificate.fingerprint(hashes.SHA1()).hex().upper()

    @property
    def not_before(self) -> datetime.datetime:  # *_utc exist from cryptography 42; naive UTC before
        cert = self.certificate
        return getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before.replace(tzinfo=datetime.UTC)

    @property
    def not_after(self) -> datetime.datetime:
        cert = self.certificate
        return getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=datetime.UTC)

    def expired(self, now: float) -> bool:
        moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
        return not (self.not_before <= moment <= self.not_after)

    def describe(self) -> dict:
        cert = self.certificate
        return {
            "thumbprint": self.thumbprint,
            "x5t": self.x5t,
            "x5t#S256": self.x5t_s256,
            "subject": cert.subject.rfc4514_string(),
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
        }


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_key_credential(pem: str) -> KeyCredential:
    """A certificate to register, as Entra ID takes it: one PEM certificate, RSA, no private key."""
    if "PRIVATE KEY" in pem:
        raise ValueError("upload the certificate only: a key credential never holds the private key")
    if pem.count("-----BEGIN CERTIFICATE-----") != 1:
        raise ValueError("certificate must be exactly one PEM certificate")
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise ValueError(f"certificate is not a PEM certificate: {exc}") from exc
    if not isinstance(cert.public_key(), rsa.RSAPublicKey):
        raise ValueError("Entra ID application certificates must hold an RSA key")
    return KeyCredential(cert)


def _malformed(detail: str) -> AssertionRejected:
    return AssertionRejected(401, "invalid_client", 50027, f"JWT token is invalid or malformed. {detail}")


def _decode(assertion: str) -> tuple[dict, dict, bytes, bytes]:
    if len(assertion) > MAX_ASSERTION or assertion.count(".") != 2:
        raise _malformed("The client assertion is not a compact JWS.")
    head, body, signature = assertion.split(".")
    try:
        header, claims = json.loads(_unb64(head)), json.loads(_unb64(body))
        raw_signature = _unb64(signature)
    except (ValueError, binascii.Error) as exc:
        raise _malformed("The client assertion cannot be decoded.") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _malformed("The client assertion's header and payload must be JSON objects.")
    return header, claims, f"{head}.{body}".encode(), raw_signature


def _key_for(header: dict, keys: list[KeyCredential], client_id: str) -> KeyCredential:
    sha256, sha1 = header.get("x5t#S256"), header.get("x5t")
    used = sha256 or sha1
    if not isinstance(used, str):
        raise AssertionRejected(
            401,
            "invalid_client",
            700027,
            "Client assertion contains an invalid signature. [Reason - The key identifier (x5t or x5t#S256) is "
            "missing from the assertion's header.]",
        )
    for key in keys:  # MSAL pads its base64url thumbprints, RFC 7515 does not: compare without padding
        if (sha256 and sha256.rstrip("=") == key.x5t_s256) or (not sha256 and str(sha1).rstrip("=") == key.x5t):
            return key
    raise AssertionRejected(
        401,
        "invalid_client",
        700027,
        f"Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used "
        f"by client: '{_thumbprint_hex(used)}', Please visit the Azure Portal, Graph Explorer or directly use MS "
        f"Graph to see configured keys for app Id '{client_id}'.]",
    )


def _thumbprint_hex(value: str) -> str:
    try:
        return _unb64(value).hex().upper()
    except (ValueError, binascii.Error):
        return "(undecodable)"


def _verify_signature(header: dict, key: KeyCredential, signed: bytes, signature: bytes) -> None:
    public = key.certificate.public_key()
    alg = header.get("alg")
    if alg == "RS256":
        scheme = padding.PKCS1v15()
    elif alg == "PS256":  # RFC 7518 3.5: MGF1 with SHA-256, salt as long as the hash
        scheme = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=hashes.SHA256.digest_size)
    else:
        raise _malformed(f"The signing algorithm '{alg}' is not supported; use RS256 or PS256.")
    try:
        public.verify(signature, signed, scheme, hashes.SHA256())
    except InvalidSignature as exc:
        raise AssertionRejected(
            401,
            "invalid_client",
            700027,
            "Client assertion contains an invalid signature. [Reason - The provided signature value did not match "
            f"the expected signature value., Thumbprint of key used by client: '{key.thumbprint}', Found key "
            f"'Start={key.not_before:%m/%d/%Y %H:%M:%S}, End={key.not_after:%m/%d/%Y %H:%M:%S}']",
        ) from exc


def _check_times(claims: dict, now: float) -> None:
    exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat", 0))
    if not isinstance(exp, (int, float)) or not isinstance(nbf, (int, float)):
        raise _malformed("The 'exp' and 'nbf' claims must be numeric dates.")
    if not (nbf - CLOCK_SKEW <= now <= exp + CLOCK_SKEW):

        def stamp(value: float) -> str:
            return f"{datetime.datetime.fromtimestamp(value, datetime.UTC):%m/%d/%Y %H:%M:%S}"

        raise AssertionRejected(
            401,
            "invalid_client",
            700024,
            f"Client assertion is not within its valid time range. Current time: {stamp(now)}, assertion valid "
            f"from {stamp(nbf)}, expiry time of assertion {stamp(exp)}. Review the documentation at "
            "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
        )


def verify_client_assertion(
    form: dict[str, str], *, client_id: str, keys: list[KeyCredential], token_endpoints: tuple[str, ...]
) -> None:
    """Accept the form's client assertion for ``client_id`` or raise :class:`AssertionRejected`.

    ``token_endpoints``: the audiences Entra ID accepts (the v2.0 and v1 token endpoints of the tenant).
    """
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise AssertionRejected(
            400,
            "invalid_request",
            9002313,
            f"Invalid request. Request is malformed or invalid. client_assertion_type must be '{ASSERTION_TYPE}'.",
        )
    header, claims, signed, signature = _decode(form.get("client_assertion", ""))
    missing = [name for name in REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise _malformed(f"The client assertion lacks the claim(s) {', '.join(missing)}.")
    if claims["iss"] != claims["sub"] or str(claims["iss"]).lower() != client_id.lower():
        raise AssertionRejected(
            401,
            "invalid_client",
            700021,
            "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation "
            "at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
        )
    key = _key_for(header, keys, client_id)
    _verify_signature(header, key, signed, signature)
    now = time.time()
    if key.expired(now):
        raise AssertionRejected(
            401,
            "invalid_client",
            700027,
            f"Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key "
            f"used by client: '{key.thumbprint}']",
        )
    audience = claims["aud"]
    if not isinstance(audience, str) or audience.rstrip("/").lower() not in {e.lower() for e in token_endpoints}:
        raise AssertionRejected(
            401,
            "invalid_client",
            700023,
            f"Client assertion audience claim does not match Realm issuer. Audience '{audience}' must be the "
            "tenant's token endpoint. Review the documentation at "
            "https://learn.microsoft.com/entra/identity-platform/certificate-credentials .",
        )
    _check_times(claims, now)
