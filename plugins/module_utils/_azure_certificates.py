# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The daemon's TLS material as azure_docker_vm takes it: read, checked, ready to ship.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

Every certificate question (parse, issuer, key match, usages, expiry, names, fingerprints) is answered by
``_tls_x509``, the collection's one certificate library; files are read with ``_atomic_io.read_regular_file``
(no symlink followed, no FIFO waited on, size-capped). This file only says which option each file is and
turns the answers into :class:`InvalidOption` errors that name it. Messages name paths, never contents.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass, field

from ansible_collections.dockerhost.azure.plugins.module_utils._atomic_io import FileReadError, read_regular_file
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import InvalidOption
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_x509 import (
    CRYPTOGRAPHY_IMPORT_ERROR,
    PEMError,
    cert_eku,
    cert_not_after,
    cert_pem,
    cert_sans,
    fingerprint,
    is_ca,
    issued_by,
    key_matches,
    key_pem,
    load_one_certificate,
    load_one_private_key,
    names_host,
)

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
except ImportError:  # reported through CRYPTOGRAPHY_IMPORT_ERROR
    x509 = serialization = None

__all__ = ["CRYPTOGRAPHY_IMPORT_ERROR", "CertificateSet", "load_certificates", "names_host"]


@dataclass(frozen=True)
class CertificateSet:
    """The daemon's TLS material, read and checked; ``key_pem`` is secret and never shown."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes = field(repr=False)
    ca_sha256: str
    server_sha256: str
    server_dns_names: tuple[str, ...]


def _read(option: str, path: str) -> bytes:
    try:
        return read_regular_file(path)
    except FileNotFoundError as exc:
        raise InvalidOption(option, f"file not found: {path}") from exc
    except FileReadError as exc:
        raise InvalidOption(option, str(exc)) from exc


def _load_cas(path: str) -> list:
    try:
        cas = x509.load_pem_x509_certificates(_read("ca_cert", path))
    except ValueError as exc:
        raise InvalidOption("ca_cert", f"{path} holds no PEM certificate") from exc
    for ca in cas:
        if not is_ca(ca):
            raise InvalidOption("ca_cert", f"{path} holds a certificate that is not a CA (no basicConstraints CA:TRUE)")
    return cas


def _load_pair(cert_path: str, key_path: str):
    try:
        cert = load_one_certificate(_read("server_cert", cert_path), what=cert_path)
    except PEMError as exc:
        raise InvalidOption("server_cert", str(exc)) from exc
    try:
        key = load_one_private_key(_read("server_key", key_path), what=key_path)
    except PEMError as exc:
        raise InvalidOption("server_key", str(exc)) from exc
    if not key_matches(key, cert):
        raise InvalidOption("server_key", f"{key_path} is not the key of the certificate in {cert_path}")
    return cert, key


def load_certificates(
    ca_path: str, cert_path: str, key_path: str, now: datetime.datetime | None = None
) -> CertificateSet:
    """Read and check the daemon's CA, certificate and key (as docker_tls_certs writes them).

    Fails naming the option: missing or unreadable file, not one PEM block, encrypted key, a key that does
    not belong to the certificate, a certificate the CA did not issue, an expired certificate, a
    client-only certificate.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    cas = _load_cas(ca_path)
    cert, key = _load_pair(cert_path, key_path)
    if not any(issued_by(cert, ca) for ca in cas):
        raise InvalidOption(
            "server_cert",
            f"{cert_path} was not issued by the CA in {ca_path}; clients trusting that CA would reject it",
        )
    expires = cert_not_after(cert)
    if expires <= now:
        raise InvalidOption("server_cert", f"{cert_path} expired on {expires:%Y-%m-%d %H:%M} UTC")
    usages = cert_eku(cert)
    if usages and "serverAuth" not in usages:
        raise InvalidOption(
            "server_cert", f"{cert_path} is not a server certificate (extendedKeyUsage lacks serverAuth)"
        )
    dns_names, _ips = cert_sans(cert)
    return CertificateSet(
        ca_pem=b"".join(cert_pem(ca) for ca in cas),
        cert_pem=cert_pem(cert),
        key_pem=key_pem(key),
        ca_sha256=_bundle_sha256(cas),
        server_sha256=fingerprint(cert),
        server_dns_names=dns_names,
    )


def _bundle_sha256(cas: list) -> str:
    return hashlib.sha256(b"".join(ca.public_bytes(serialization.Encoding.DER) for ca in cas)).hexdigest()
