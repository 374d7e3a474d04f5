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

__all__ = ["CRYPTOGRAPHY_IMPORT_ERROR", "CertificateSet", "is_pem_text", "load_certificates", "names_host"]


@dataclass(frozen=True)
class CertificateSet:
    """The daemon's TLS material, read and checked; ``key_pem`` is secret and never shown."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes | None = field(repr=False)  # None: server_key omitted, the extension must not be put
    ca_sha256: str
    server_sha256: str
    server_dns_names: tuple[str, ...]

    @property
    def has_key(self) -> bool:
        return self.key_pem is not None


def _read(option: str, path: str) -> bytes:
    try:
        return read_regular_file(path)
    except FileNotFoundError as exc:
        raise InvalidOption(option, f"file not found: {path}") from exc
    except FileReadError as exc:
        raise InvalidOption(option, str(exc)) from exc


def _load_ca(path: str):
    """The one CA certificate of ``path``: anything else in the file (an appended CA) fails, naming it."""
    try:
        ca = load_one_certificate(_read("ca_cert", path), what=path)
    except PEMError as exc:
        raise InvalidOption("ca_cert", str(exc)) from exc
    if not is_ca(ca):
        raise InvalidOption("ca_cert", f"{path} holds a certificate that is not a CA (no basicConstraints CA:TRUE)")
    return ca


def is_pem_text(value: str) -> bool:
    """``server_cert`` given as PEM text (as docker_tls_certs returns a certificate in use), not a path."""
    return value.lstrip().startswith("-----BEGIN ")


def _load_server_cert(cert_path: str):
    if is_pem_text(cert_path):
        data, what = cert_path.encode(), "the PEM text given"
    else:
        data, what = _read("server_cert", cert_path), cert_path
    try:
        return load_one_certificate(data, what=what)
    except PEMError as exc:
        raise InvalidOption("server_cert", str(exc)) from exc


def _load_pair(cert_path: str, key_path: str | None):
    cert = _load_server_cert(cert_path)
    if key_path is None:
        return cert, None
    try:
        key = load_one_private_key(_read("server_key", key_path), what=key_path)
    except PEMError as exc:
        raise InvalidOption("server_key", str(exc)) from exc
    if not key_matches(key, cert):
        raise InvalidOption("server_key", f"{key_path} is not the key of the certificate in {cert_path}")
    return cert, key


def load_certificates(
    ca_path: str, cert_path: str, key_path: str | None, now: datetime.datetime | None = None
) -> CertificateSet:
    """Read and check the daemon's CA, certificate and key (as docker_tls_certs writes them).

    ``cert_path`` may be the certificate's PEM text instead of a path. ``key_path`` None: no key (the
    certificate in use on the host, whose key stays there); the set then cannot be shipped.

    Each file must hold exactly one PEM block: a CA appended to ``ca_cert`` would otherwise be trusted by
    the daemon. Fails naming the option: missing or unreadable file, not one PEM block, encrypted key, a key that does
    not belong to the certificate, a certificate the CA did not issue, an expired certificate, a
    client-only certificate.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    ca = _load_ca(ca_path)
    cert, key = _load_pair(cert_path, key_path)
    shown = "the certificate given as PEM text" if is_pem_text(cert_path) else cert_path
    if not issued_by(cert, ca):
        raise InvalidOption(
            "server_cert",
            f"{shown} was not issued by the CA in {ca_path}; clients trusting that CA would reject it",
        )
    expires = cert_not_after(cert)
    if expires <= now:
        raise InvalidOption("server_cert", f"{shown} expired on {expires:%Y-%m-%d %H:%M} UTC")
    usages = cert_eku(cert)
    if usages and "serverAuth" not in usages:
        raise InvalidOption("server_cert", f"{shown} is not a server certificate (extendedKeyUsage lacks serverAuth)")
    dns_names, _ips = cert_sans(cert)
    return CertificateSet(
        # Exactly the CA that signed the server certificate, re-encoded: nothing else from the file.
        ca_pem=cert_pem(ca),
        cert_pem=cert_pem(cert),
        key_pem=key_pem(key) if key is not None else None,
        ca_sha256=fingerprint(ca),
        server_sha256=fingerprint(cert),
        server_dns_names=dns_names,
    )
