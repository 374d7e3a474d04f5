# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small test PKI, independent of the collection's own certificate code.

Tests need certificate sets the collection would never issue (expired, another CA, wrong names),
and a test double that shared the module's code would share its bugs, so this is written apart.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertPair", "ServicePrincipalCert", "TestCA", "service_principal_cert", "write_pem"]

_ONE_DAY = datetime.timedelta(days=1)


def write_pem(path: str, data: bytes, mode: int = 0o644) -> str:
    """Write PEM bytes with an explicit mode and return the path."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)
    return path


@dataclass(frozen=True)
class CertPair:
    """Paths of a written certificate and its key."""

    cert: str
    key: str


class TestCA:
    """A CA that issues server and client certificates into a directory."""

    __test__ = False  # not a pytest test class

    def __init__(self, directory: str, name: str = "Test CA") -> None:
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _ONE_DAY)
            .not_valid_after(now + 30 * _ONE_DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = write_pem(
            os.path.join(directory, "ca.pem"), self.cert.public_bytes(serialization.Encoding.PEM)
        )

    def issue(
        self,
        name: str,
        *,
        server: bool,
        dns_names: tuple[str, ...] = (),
        ip_addresses: tuple[str, ...] = (),
        not_before: datetime.datetime | None = None,
        not_after: datetime.datetime | None = None,
    ) -> CertPair:
        """Issue a leaf (serverAuth or clientAuth) named ``name`` and write ``<name>-cert.pem``/``-key.pem``."""
        now = datetime.datetime.now(datetime.UTC)
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - _ONE_DAY)
            .not_valid_after(not_after or now + 7 * _ONE_DAY)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ip_addresses]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        cert_path = write_pem(
            os.path.join(self.directory, f"{name}-cert.pem"), cert.public_bytes(serialization.Encoding.PEM)
        )
        key_path = write_pem(
            os.path.join(self.directory, f"{name}-key.pem"),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
            mode=0o600,
        )
        return CertPair(cert_path, key_path)

    def server(self, name: str = "server", **kwargs) -> CertPair:
        """A serverAuth leaf; pass ``dns_names`` / ``ip_addresses``."""
        return self.issue(name, server=True, **kwargs)

    def client(self, name: str = "client", **kwargs) -> CertPair:
        """A clientAuth leaf."""
        return self.issue(name, server=False, **kwargs)


@dataclass(frozen=True)
class ServicePrincipalCert:
    """A service principal's certificate: ``bundle`` (key + certificate, what the client uses) and ``cert_pem``
    (the public part, what is registered on the application)."""

    bundle: str
    cert_pem: str
    key: rsa.RSAPrivateKey


def service_principal_cert(
    path: str,
    name: str = "dockerhost-sp",
    *,
    password: bytes | None = None,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
    key_size: int = 2048,
) -> ServicePrincipalCert:
    """A self-signed RSA certificate as ``az ad sp create-for-rbac --create-cert`` makes one, written to ``path``
    as one PEM file: the private key (PKCS#8, encrypted with ``password`` if given), then the certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - _ONE_DAY)
        .not_valid_after(not_after or now + 30 * _ONE_DAY)
        .sign(key, hashes.SHA256())
    )
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    write_pem(path, key_pem + cert_pem, mode=0o600)
    return ServicePrincipalCert(path, cert_pem.decode(), key)
