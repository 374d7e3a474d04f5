# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A service principal's certificate file, checked before azure-identity signs anything with it.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

The file is what ``az ad sp create-for-rbac --create-cert`` writes and azure-identity's CertificateCredential
reads: PEM with one private key and its certificate first (chain after it), or PKCS#12, optionally encrypted.
:func:`read_certificate_file` reads it once (regular file, size cap); :func:`check_client_certificate` (pure,
on those bytes) proves it holds an RSA key, the certificate of that key, still valid, and that the password
fits. The same bytes then go to azure-identity, so what was checked is what is used. Messages name the option
and where its value came from, the file and the certificate's public facts, never the key or the password.
"""

from __future__ import annotations

import datetime
import os
import stat
from dataclasses import dataclass

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import InvalidOption
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_x509 import (
    cert_not_after,
    cert_not_before,
    key_matches,
)

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import pkcs12
except ImportError:  # reported by the module with the other requirements
    x509 = None

__all__ = ["MAX_CERTIFICATE_FILE", "CertificateFacts", "check_client_certificate", "read_certificate_file"]

MAX_CERTIFICATE_FILE = 256 * 1024  # a key and a chain of a few certificates are a few KB
PATH_OPTION, PASSWORD_OPTION = "client_certificate_path", "client_certificate_password"


@dataclass(frozen=True)
class CertificateFacts:
    """Public facts of the certificate azure-identity will present (safe to show)."""

    subject: str
    thumbprint: str  # SHA-1, hex, as the Azure portal shows it
    not_after: datetime.datetime


def read_certificate_file(path: str, where: str) -> bytes:
    """The file's bytes; ``where`` says where the path came from (the task, an env var, a profile)."""
    path = os.path.expanduser(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise InvalidOption(PATH_OPTION, f"{path} (from {where}) cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise InvalidOption(PATH_OPTION, f"{path} (from {where}) is not a regular file")
    if info.st_size > MAX_CERTIFICATE_FILE:
        raise InvalidOption(
            PATH_OPTION, f"{path} (from {where}) is larger than {MAX_CERTIFICATE_FILE} bytes: not a certificate file"
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CERTIFICATE_FILE + 1)
    except OSError as exc:
        raise InvalidOption(PATH_OPTION, f"{path} (from {where}) cannot be read: {exc.strerror}") from None
    if not data.strip():
        raise InvalidOption(PATH_OPTION, f"{path} (from {where}) is empty")
    return data


def _load_pem(data: bytes, password: bytes | None, label: str):
    keys = data.count(b"PRIVATE KEY-----") // 2  # BEGIN and END lines of every key kind
    if keys != 1:
        raise InvalidOption(
            PATH_OPTION, f"{label} must hold exactly one private key and its certificate; it holds {keys} keys"
        )
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise InvalidOption(PATH_OPTION, f"{label} holds a private key but no readable certificate") from None
    try:
        key = serialization.load_pem_private_key(data, password)
    except TypeError:  # cryptography: encrypted without a password, or a password for a plain key
        if password is None:
            raise InvalidOption(
                PASSWORD_OPTION, f"the private key in {label} is encrypted: set {PASSWORD_OPTION}"
            ) from None
        raise InvalidOption(
            PASSWORD_OPTION, f"the private key in {label} is not encrypted: leave {PASSWORD_OPTION} unset"
        ) from None
    except ValueError:
        if password is not None:
            raise InvalidOption(
                PASSWORD_OPTION, f"cannot decrypt the private key in {label}: wrong password?"
            ) from None
        raise InvalidOption(PATH_OPTION, f"the private key in {label} cannot be read") from None
    return key, certificates[0]


def _load_pkcs12(data: bytes, password: bytes | None, label: str):
    try:
        key, certificate, _chain = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        option = PASSWORD_OPTION if password is not None else PATH_OPTION
        raise InvalidOption(
            option,
            f"{label} is neither PEM (private key and certificate) nor PKCS#12 that opens with "
            + ("the password given" if password is not None else f"no password (set {PASSWORD_OPTION}?)"),
        ) from None
    if key is None or certificate is None:
        raise InvalidOption(PATH_OPTION, f"{label} must hold a private key and its certificate")
    return key, certificate


def check_client_certificate(
    data: bytes, password: str | None, label: str, now: datetime.datetime | None = None
) -> CertificateFacts:
    """Prove the bytes are a usable service principal certificate; ``label`` names the file and its source."""
    secret = password.encode() if password else None
    if b"-----BEGIN" in data:
        key, certificate = _load_pem(data, secret, label)
    else:
        key, certificate = _load_pkcs12(data, secret, label)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidOption(
            PATH_OPTION,
            f"the key in {label} is not RSA: Entra ID takes RSA certificates only (client assertions are signed "
            "RS256 / PS256)",
        )
    if not key_matches(key, certificate):
        raise InvalidOption(
            PATH_OPTION,
            f"the first certificate in {label} does not belong to its private key (azure-identity presents the "
            "first certificate: put the key's own certificate first)",
        )
    facts = CertificateFacts(
        subject=certificate.subject.rfc4514_string(),
        thumbprint=certificate.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - Azure's thumbprint
        not_after=cert_not_after(certificate),
    )
    moment = now or datetime.datetime.now(datetime.timezone.utc)
    if moment > facts.not_after:
        raise InvalidOption(
            PATH_OPTION,
            f"the certificate in {label} ({facts.subject}, thumbprint {facts.thumbprint}) expired on "
            f"{facts.not_after:%Y-%m-%d %H:%M} UTC: Entra ID refuses it (AADSTS700027)",
        )
    if moment < cert_not_before(certificate):
        raise InvalidOption(
            PATH_OPTION,
            f"the certificate in {label} ({facts.subject}) is not valid before "
            f"{cert_not_before(certificate):%Y-%m-%d %H:%M} UTC",
        )
    return facts
