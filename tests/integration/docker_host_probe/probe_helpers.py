# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pieces of the docker_host_probe tests: their daemons' world, and sockets that misbehave on purpose."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from dataclasses import dataclass

from ansible_collections.dockerhost.azure.azure_emulator.dockerd import DockerDaemon
from ansible_collections.dockerhost.azure.azure_emulator.pki import CertPair, TestCA

FQDN = "dockerhost1.westeurope.cloudapp.azure.com"


@dataclass
class ProbeWorld:
    ca: TestCA
    other_ca: TestCA
    client: CertPair  # issued by ``ca``: the daemons accept it
    foreign_client: CertPair  # issued by ``other_ca``: the daemons refuse it
    tls: DockerDaemon
    plain: DockerDaemon
    expired: DockerDaemon
    open: DockerDaemon  # tls without tlsverify: answers anyone
    cert_dir: str  # ca.pem, cert.pem, key.pem, as ~/.docker
    ca_only_dir: str  # ca.pem only: no client certificate to send

    def tls_params(self, daemon: DockerDaemon | None = None, **overrides) -> dict:
        """Module parameters that reach ``daemon`` (default: ``tls``) with the right CA and client pair."""
        daemon = daemon or self.tls
        params = {
            "docker_host": daemon.url,
            "ca_cert": self.ca.cert_path,
            "client_cert": self.client.cert,
            "client_key": self.client.key,
            "tls_hostname": FQDN,
            "timeout": 10,
        }
        params.update(overrides)
        return params


def copy_into(directory: str, files: dict[str, str]) -> str:
    os.makedirs(directory)
    for name, source in files.items():
        shutil.copyfile(source, os.path.join(directory, name))
    return directory


class SilentListener:
    """Accepts TCP connections (the kernel completes them) and never says a word."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.url = f"tcp://{host}:{self.sock.getsockname()[1]}"

    def close(self) -> None:
        self.sock.close()


class DripListener:
    """Answers a TLS ClientHello with a record header, then one byte every ``interval`` seconds.

    Every single read gets data well within any per-read timeout, so only an overall deadline ends it.
    """

    def __init__(self, interval: float = 0.2, host: str = "127.0.0.1") -> None:
        self.interval = interval
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind((host, 0))
        self.sock.listen(4)
        self.url = f"tcp://{host}:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _address = self.sock.accept()
        except OSError:
            return
        with conn:
            try:
                conn.recv(4096)  # the ClientHello
                conn.sendall(b"\x16\x03\x03\x40\x00")  # a 16 KiB handshake record is coming...
                while not self.stop.wait(self.interval):
                    conn.sendall(b"\x00")  # ...one byte at a time
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
