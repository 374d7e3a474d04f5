# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator's own CA and its HTTPS server certificate (127.0.0.1, localhost), issued with the test PKI."""

from __future__ import annotations

import os
import ssl

from .pki import TestCA, write_pem

__all__ = ["ServerTLS", "make_server_tls", "system_ca_file"]


class ServerTLS:
    """Paths of the files written by :func:`make_server_tls`."""

    def __init__(self, ca_cert: str, server_cert: str, server_key: str, ca_bundle: str) -> None:
        self.ca_cert = ca_cert
        self.server_cert = server_cert
        self.server_key = server_key
        self.ca_bundle = ca_bundle

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(self.server_cert, self.server_key)
        return ctx


def system_ca_file() -> str:
    """The machine's CA bundle (the one OpenSSL uses by default)."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, paths.openssl_cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and os.path.isfile(candidate):
            return candidate
    return ""


def make_server_tls(directory: str, hosts: tuple[str, ...] = ("127.0.0.1",)) -> ServerTLS:
    """A fresh CA, a server certificate for ``hosts`` + localhost, and a bundle of system CAs + this CA."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    ca = TestCA(directory, name="dockerhost.azure emulator CA")
    server = ca.server("server", dns_names=("localhost",), ip_addresses=hosts)
    with open(ca.cert_path, "rb") as handle:
        ca_pem = handle.read()
    system = b""
    if system_ca_file():
        with open(system_ca_file(), "rb") as handle:
            system = handle.read()
        if system and not system.endswith(b"\n"):
            system += b"\n"
    bundle = write_pem(os.path.join(directory, "ca-bundle.pem"), system + ca_pem)
    return ServerTLS(ca.cert_path, server.cert, server.key, bundle)
