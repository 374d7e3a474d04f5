# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to the dockerhost.azure collection: no compatibility promise, it may change
# in any release. Do not use it from other collections or from your own plugins.

"""TLS for the Docker client: the SSL context from the certificate files, and the daemon's certificate described.

stdlib ``ssl`` gives the TLS policy we want (TLS 1.2 minimum, hostname checks against another name than
the one connected to, no environment variable that silently swaps the trust store). Failures are
classified in ``_docker_errors``.
"""

from __future__ import annotations

import ssl

from ansible_collections.dockerhost.azure.plugins.module_utils._atomic_io import FileReadError, read_regular_file
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_errors import error_reason
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import (
    ConnectionSettings,
    invalid_option,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_x509 import (
    HAS_CRYPTOGRAPHY,
    PEMError,
    cert_not_after,
    cert_not_before,
    check_one_pem_block,
    der_fingerprint,
    iso,
    load_one_certificate,
)

if HAS_CRYPTOGRAPHY:  # optional on a managed node: without it the daemon's certificate is shown by its fingerprint
    from cryptography import x509

__all__ = [
    "HAS_CRYPTOGRAPHY",
    "build_ssl_context",
    "describe_certificate",
]


def build_ssl_context(settings: ConnectionSettings) -> ssl.SSLContext:
    """TLS 1.2 or later, the daemon verified against ``ca_cert`` unless ``tls_verify`` is false."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.tls_verify:
        if settings.ca_cert:
            pem = _read_pem("ca_cert", settings.ca_cert)
            # One CA, the one the user named: a CA appended to the file would be trusted too (issue 13).
            _check_one_certificate("ca_cert", settings.ca_cert, pem, "a PEM CA certificate")
            try:
                ctx.load_verify_locations(cadata=pem.decode("ascii", errors="replace"))
            except (ssl.SSLError, ValueError) as exc:
                raise invalid_option(
                    f"ca_cert {settings.ca_cert} is not a PEM CA certificate ({error_reason(exc)})"
                ) from None
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if settings.client_cert and settings.client_key:
        _load_client_pair(ctx, settings.client_cert, settings.client_key)
    return ctx


def _read_pem(option: str, path: str) -> bytes:
    """A certificate or key file: a regular file (no symlink, FIFO or device) of at most 1 MiB."""
    try:
        return read_regular_file(path, what=option)
    except FileNotFoundError:
        raise invalid_option(f"{option} {path} does not exist") from None
    except FileReadError as exc:
        raise invalid_option(str(exc)) from None


def _check_one_certificate(option: str, path: str, pem: bytes, expected: str) -> None:
    """Exactly one PEM CERTIFICATE block and nothing else, as docker_tls_certs reads its own files.

    With ``cryptography`` the block is parsed too; without it (a managed node) the same block rules and
    messages come from the stdlib check, and ssl parses the certificate.
    """
    what = f"{option} {path}"
    try:
        if HAS_CRYPTOGRAPHY:
            load_one_certificate(pem, what=what)
        else:
            check_one_pem_block(pem, kind="certificate", what=what)
    except PEMError as exc:
        raise invalid_option(f"{what} is not {expected}: it {exc.reason}") from None


def _load_client_pair(ctx: ssl.SSLContext, cert: str, key: str) -> None:
    # Both files pass the bounded reader first: ssl would block on a FIFO and read /dev/zero forever.
    _check_one_certificate("client_cert", cert, _read_pem("client_cert", cert), "a PEM certificate")
    try:
        # The block only: ssl parses the key below and says whether it is encrypted or not the pair's.
        check_one_pem_block(_read_pem("client_key", key), kind="private key", what=f"client_key {key}")
    except PEMError as exc:
        raise invalid_option(f"client_key {key} is not a PEM private key: it {exc.reason}") from None
    asked_for_password = []

    def no_password() -> bytes:
        # Never prompt on a terminal: an encrypted key is reported, not unlocked.
        asked_for_password.append(True)
        return b""

    try:
        ctx.load_cert_chain(cert, key, password=no_password)
    except (ssl.SSLError, OSError) as exc:
        if asked_for_password:
            raise invalid_option(
                f"client_key {key} is encrypted; give an unencrypted key (as the Docker CLI needs)"
            ) from None
        if getattr(exc, "reason", None) == "KEY_VALUES_MISMATCH":
            raise invalid_option(f"client_key {key} is not the private key of client_cert {cert}") from None
        raise invalid_option(
            f"client_key {key} is not a PEM private key for client_cert {cert} ({error_reason(exc)})"
        ) from None


# -- the daemon's certificate --------------------------------------------------------------------------


def describe_certificate(der: bytes) -> dict:
    """Subject, issuer, SANs, validity and SHA-256 fingerprint of a DER certificate.

    The formats are docker_tls_certs' (``_tls_x509.describe_cert``, whose helpers this uses), so results of
    the two compare as they are: names as RFC 4514 strings, times in ISO 8601 with ``+00:00``, the
    fingerprint in lower-case hex without separators. Unlike a certificate we issue, a daemon's may carry
    any SAN: all are listed (URI and email too) in the certificate's own order. Where ``cryptography`` is
    missing (a managed node), or cannot read the certificate, the fingerprint is still given and
    ``details_missing`` says why.
    """
    described: dict = {
        "subject": None,
        "issuer": None,
        "sans": [],
        "not_before": None,
        "not_after": None,
        "sha256_fingerprint": der_fingerprint(der),
        # The certificate itself (public): what docker_tls_certs' server_cert_in_use takes. No library needed.
        "pem": ssl.DER_cert_to_PEM_cert(der),
    }
    if not HAS_CRYPTOGRAPHY:
        described["details_missing"] = (
            "only the fingerprint is shown: the Python library cryptography is not installed for the Python "
            "that ran this probe"
        )
        return described
    try:
        cert = x509.load_der_x509_certificate(der)
        described.update(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_before=iso(cert_not_before(cert)),
            not_after=iso(cert_not_after(cert)),
            sans=_san_strings(cert),
        )
    except ValueError as exc:
        described.update(subject=None, issuer=None, sans=[], not_before=None, not_after=None)
        described["details_missing"] = f"only the fingerprint is shown: the certificate cannot be read ({exc})"
    return described


def _san_strings(cert) -> list:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    prefixes = {
        x509.DNSName: "DNS",
        x509.IPAddress: "IP",
        x509.UniformResourceIdentifier: "URI",
        x509.RFC822Name: "email",
    }
    return [f"{prefixes[type(name)]}:{name.value}" for name in names if type(name) in prefixes]
