# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the dockerhost.azure collection: no compatibility promise,
# it can change at any time. Do not use it from other collections or standalone plugins.

"""X.509 primitives on ``cryptography`` for the Docker TLS set: parse, inspect, build, render.

Everything here works in memory on cryptography objects: no file I/O, no ``openssl`` process.
Errors are reported as ``X509Error`` with text that never quotes key material.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import re
import traceback

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None

__all__ = [
    "CLOCK_SKEW",
    "CRYPTOGRAPHY_IMPORT_ERROR",
    "HAS_CRYPTOGRAPHY",
    "ORGANIZATION",
    "PEMError",
    "X509Error",
    "build_ca",
    "build_leaf",
    "cert_covers_host",
    "cert_eku",
    "cert_not_after",
    "cert_not_before",
    "cert_pem",
    "cert_sans",
    "check_one_pem_block",
    "der_fingerprint",
    "describe_cert",
    "describe_der",
    "fingerprint",
    "generate_key",
    "is_ca",
    "iso",
    "issued_by",
    "key_kind",
    "key_matches",
    "key_pem",
    "load_one_certificate",
    "load_one_private_key",
    "name",
    "names_host",
    "parse_cert",
    "parse_key",
    "san_strings",
]

# Clocks of the machines that will check a new certificate may lag a little behind ours.
CLOCK_SKEW = datetime.timedelta(minutes=5)
ORGANIZATION = "dockerhost.azure"
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


class X509Error(Exception):
    """Issuing went wrong in a way the user must look at (for example a damaged CA key)."""


class PEMError(X509Error):
    """A PEM file's content is not the one block it must be. ``what`` names the file, ``reason`` the problem.

    The message never quotes the content (it may be a private key).
    """

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"{what} {reason}")
        self.what = what
        self.reason = reason


# One PEM block: BEGIN and END with the same label. Anything outside the blocks must be whitespace.
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,64})-----((?:(?!-----).)*)-----END \1-----", re.DOTALL)
_KEY_LABELS = (b"PRIVATE KEY", b"RSA PRIVATE KEY", b"EC PRIVATE KEY", b"ENCRYPTED PRIVATE KEY")


def _one_pem_block(data: bytes, labels: tuple[bytes, ...], kind: str, missing: str, unparsable: str) -> bytes:
    """The single PEM block of ``data`` whose label is in ``labels``, or PEMError's reason as ValueError.

    Refused: no block, several blocks (a second certificate appended to ``ca.pem`` would be trusted by
    whoever reads the whole file), a block of another type, and any text between or around the blocks.
    """
    blocks = list(_PEM_BLOCK.finditer(data))
    outside, pos = [], 0
    for block in blocks:
        outside.append(data[pos : block.start()])
        pos = block.end()
    outside.append(data[pos:])
    if not blocks:
        raise ValueError(unparsable if b"-----BEGIN " in data else missing)
    if len(blocks) > 1:
        found = ", ".join(block.group(1).decode("ascii") for block in blocks)
        raise ValueError(f"holds {len(blocks)} PEM blocks ({found}); exactly one {kind} and nothing else is expected")
    if any(part.strip() for part in outside):
        raise ValueError(f"holds text outside its PEM block; exactly one {kind} and nothing else is expected")
    label = blocks[0].group(1)
    if label not in labels:
        raise ValueError(f"holds a PEM {label.decode('ascii')} block, not a {kind}")
    return blocks[0].group(0)


def _class_name(obj) -> str:
    """The class name without cryptography's leading underscore (``_RSAPrivateKey`` -> ``RSAPrivateKey``)."""
    name = type(obj).__name__
    return name[1:] if name.startswith("_") else name  # str.removeprefix is Python 3.9


def check_one_pem_block(data: bytes, *, kind: str, what: str) -> bytes:
    """The one PEM block of ``data``, ``kind`` "certificate" or "private key", checked without ``cryptography``.

    The same rules and messages as ``load_one_certificate`` / ``load_one_private_key`` before they parse the
    block: for a Python where ``cryptography`` is missing (the probe on a managed node). Raises ``PEMError``.
    """
    if kind == "certificate":
        labels = (b"CERTIFICATE",)
        missing = "holds no PEM certificate (no BEGIN CERTIFICATE line)"
        unparsable = "holds unparsable PEM: the certificate cannot be decoded"
    else:
        labels, kind = _KEY_LABELS, "private key"  # the one other kind
        missing = unparsable = "holds unparsable PEM: the private key cannot be decoded"
    try:
        return _one_pem_block(data, labels, kind, missing, unparsable)
    except ValueError as exc:
        raise PEMError(what, str(exc)) from None


def load_one_certificate(data: bytes, *, what: str) -> x509.Certificate:
    """The certificate of ``data``, which must hold exactly one PEM CERTIFICATE block and only whitespace else.

    Raises ``PEMError`` naming ``what`` (for example the file's path) otherwise.
    """
    block = check_one_pem_block(data, kind="certificate", what=what)
    try:
        return x509.load_pem_x509_certificate(block)
    except ValueError:
        raise PEMError(what, "holds unparsable PEM: the certificate cannot be decoded") from None


def load_one_private_key(data: bytes, *, what: str):
    """The unencrypted RSA or ECDSA private key of ``data``: exactly one PEM private key block, nothing else.

    Raises ``PEMError`` naming ``what``; the message never quotes the file.
    """
    unparsable = "holds unparsable PEM: the private key cannot be decoded"
    block = check_one_pem_block(data, kind="private key", what=what)
    try:
        # The full RSA consistency check costs ~0.25 s per 4096-bit key; the key is only compared with
        # its certificate here, and every signature made with it is verified right after signing.
        key = serialization.load_pem_private_key(block, password=None, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        raise PEMError(
            what, "holds an encrypted private key; it must be unencrypted (dockerd cannot read encrypted keys)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise PEMError(what, unparsable) from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise PEMError(what, f"holds an unsupported {_class_name(key)} key (RSA or ECDSA only)")
    return key


def parse_cert(data: bytes) -> tuple[x509.Certificate | None, str | None]:
    """(certificate, None) or (None, what is wrong), as ``load_one_certificate`` judges ``data``."""
    try:
        return load_one_certificate(data, what=""), None
    except PEMError as exc:
        return None, exc.reason


def parse_key(data: bytes) -> tuple[object | None, str | None]:
    """(private key, None) or (None, what is wrong), as ``load_one_private_key`` judges ``data``."""
    try:
        return load_one_private_key(data, what=""), None
    except PEMError as exc:
        return None, exc.reason


def cert_not_after(cert: x509.Certificate) -> datetime.datetime:
    value = getattr(cert, "not_valid_after_utc", None)  # cryptography >= 42
    return value if value is not None else cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


def cert_not_before(cert: x509.Certificate) -> datetime.datetime:
    value = getattr(cert, "not_valid_before_utc", None)
    return value if value is not None else cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)


def der_fingerprint(der: bytes) -> str:
    """SHA-256 of DER bytes, lower-case hex without separators. Works without ``cryptography``."""
    return hashlib.sha256(der).hexdigest()


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, lower-case hex without separators."""
    return der_fingerprint(cert.public_bytes(serialization.Encoding.DER))


def _public_der(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def key_matches(key, cert: x509.Certificate) -> bool:
    return _public_der(key.public_key()) == _public_der(cert.public_key())


def key_kind(public_key) -> str:
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"ecdsa {_CURVE_NAMES.get(public_key.curve.name, public_key.curve.name)}"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"rsa {public_key.key_size}"
    return _class_name(public_key)


def issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    """Whether ``ca_cert`` signed ``cert`` (issuer name and signature)."""
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _extension(cert: x509.Certificate, ext_type):
    try:
        return cert.extensions.get_extension_for_class(ext_type).value
    except x509.ExtensionNotFound:
        return None


def is_ca(cert: x509.Certificate) -> bool:
    constraints = _extension(cert, x509.BasicConstraints)
    usage = _extension(cert, x509.KeyUsage)
    return bool(constraints and constraints.ca) and (usage is None or usage.key_cert_sign)


def cert_eku(cert: x509.Certificate) -> tuple[str, ...]:
    """Extended key usages by name (``serverAuth``, ``clientAuth``) or dotted OID."""
    usage = _extension(cert, x509.ExtendedKeyUsage)
    names = {ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth"}
    return tuple(sorted(names.get(oid, oid.dotted_string) for oid in usage or ()))


def cert_sans(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(DNS names lower-cased and sorted, IP addresses in canonical text sorted)."""
    sans = _extension(cert, x509.SubjectAlternativeName)
    if sans is None:
        return (), ()
    dns = tuple(sorted({name.lower() for name in sans.get_values_for_type(x509.DNSName)}))
    ips = sorted(set(sans.get_values_for_type(x509.IPAddress)), key=lambda ip: (ip.version, ip))
    return dns, tuple(str(ip) for ip in ips)


def san_strings(dns: tuple[str, ...], ips: tuple[str, ...]) -> list[str]:
    return [f"DNS:{name}" for name in dns] + [f"IP:{ip}" for ip in ips]


def names_host(dns_names, host: str) -> bool:
    """Whether DNS names (of a certificate) cover the DNS name ``host``, as TLS clients match them.

    Case-insensitive, a trailing dot ignored; a wildcard ``*.example.com`` covers exactly one leftmost
    label (``a.example.com``, not ``example.com`` nor ``a.b.example.com``).
    """
    host = host.lower().rstrip(".")
    if not host:
        return False
    for name in (str(n).lower().rstrip(".") for n in dns_names):
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False


def cert_covers_host(cert: x509.Certificate, host: str) -> bool:
    """Whether ``cert``'s subject alternative names cover ``host``: an IP address (``[...]`` allowed) is
    matched against the IP SANs only, a name against the DNS SANs (``names_host``)."""
    dns, ips = cert_sans(cert)
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return names_host(dns, host)
    return str(address) in ips


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat()


def describe_cert(cert: x509.Certificate) -> dict:
    """Metadata for diffs and results: never key bytes."""
    info = {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": iso(cert_not_before(cert)),
        "not_after": iso(cert_not_after(cert)),
        "key": key_kind(cert.public_key()),
        "fingerprint": fingerprint(cert),
    }
    eku = cert_eku(cert)
    if eku:
        info["extended_key_usage"] = list(eku)
    sans = cert_sans(cert)
    if any(sans):
        info["sans"] = san_strings(*sans)
    return info


def describe_der(der: bytes) -> dict:
    """``describe_cert`` of a DER certificate (as a TLS peer sends it).

    Without ``cryptography``, or for bytes it cannot parse, only the ``fingerprint`` is known and
    ``error`` says why the rest is missing.
    """
    if not HAS_CRYPTOGRAPHY:
        return {"fingerprint": der_fingerprint(der), "error": "the Python library cryptography is not installed"}
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return {"fingerprint": der_fingerprint(der), "error": "the certificate cannot be decoded"}
    return describe_cert(cert)


def generate_key(key_type: str, key_size: int):
    """A new private key: ``rsa`` of ``key_size`` bits, or ``ecdsa`` on P-256 (``key_size`` unused)."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    return ec.generate_private_key(ec.SECP256R1())


def _key_usage(*, cert_sign: bool = False, key_encipherment: bool = False):
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def name(common_name: str):
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def build_ca(key, now: datetime.datetime, days: int) -> x509.Certificate:
    """A self-signed CA: basicConstraints CA:TRUE pathlen 0 (critical), keyCertSign + cRLSign, SKI."""
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    # A short tag from the key keeps CAs of different sets apart in trust stores that index by name.
    subject = name(f"Docker TLS CA {ski.digest.hex()[:8]}")
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )


def build_leaf(
    key,
    ca_cert: x509.Certificate,
    ca_key,
    *,
    common_name: str,
    server: bool,
    sans: tuple[tuple[str, ...], tuple[str, ...]] = ((), ()),
    now: datetime.datetime,
    days: int,
) -> x509.Certificate:
    """A server (serverAuth, SANs) or client (clientAuth) certificate signed by the CA, with SKI and AKI.

    It never outlives the CA: notAfter is cut to the CA's.
    """
    ca_ski = _extension(ca_cert, x509.SubjectKeyIdentifier)
    aki = (
        x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski)
        if ca_ski is not None
        else x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key())
    )
    end = min(now + datetime.timedelta(days=days), cert_not_after(ca_cert))
    eku = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            _key_usage(key_encipherment=isinstance(key, rsa.RSAPrivateKey)),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(aki, critical=False)
    )
    names = [x509.DNSName(name) for name in sans[0]]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in sans[1]]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    # The CA key was loaded without the slow RSA consistency check: prove the signature is good.
    if not issued_by(cert, ca_cert):
        raise X509Error("the CA key produced a signature its certificate does not verify: ca-key.pem is damaged")
    return cert


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key) -> bytes:
    """Unencrypted PKCS#8 PEM: dockerd and the docker CLI refuse encrypted keys."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
