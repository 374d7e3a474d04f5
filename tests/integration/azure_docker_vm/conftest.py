# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures for azure_docker_vm against the Azure emulator: the real SDKs, real daemons, real ansible-playbook.

``host``: an emulator reset for the test, its service principal in the environment (as AWX injects it),
a test PKI with the client pair, and helpers to build tasks and read the emulator's request log.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.pki import CertPair, TestCA
from ansible_collections.dockerhost.azure.tests.support.ansible import AnsibleRunner, PlaybookRun

MODULE = "dockerhost.azure.azure_docker_vm"
LOCATION = "westeurope"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnmB1Mm0jwKPv6xS8NHcyUA7uSlqBMGZnGG7NAPSXF5 tests@dockerhost"


def fqdn(label: str) -> str:
    return f"{label}.{LOCATION}.cloudapp.azure.com"


def is_write(entry: dict) -> bool:
    """An ARM request that can change something (token requests and reads are not)."""
    return entry["path"].lower().startswith("/subscriptions/") and entry["method"] not in ("GET", "HEAD")


@dataclass
class Host:
    """One test's world: the emulator, a PKI, and task builders."""

    emulator: object
    runner: AnsibleRunner
    pki: TestCA
    client: CertPair
    work: Path
    servers: list = field(default_factory=list)

    def server_cert(self, label: str, *ips: str) -> CertPair:
        """A server pair for the host's FQDN (and IP addresses), a new one on every call."""
        pair = self.pki.server(f"{label}-{len(self.servers)}", dns_names=(fqdn(label),), ip_addresses=ips)
        self.servers.append(pair)
        return pair

    def args(self, name: str, pair: CertPair, **over) -> dict:
        args = {
            "resource_group": f"rg-{name}",
            "location": LOCATION,
            "name": name,
            "allowed_cidrs": ["10.20.0.0/16", "203.0.113.7"],
            "ssh_public_keys": [SSH_KEY],
            "ca_cert": self.pki.cert_path,
            "server_cert": pair.cert,
            "server_key": pair.key,
            "wait_timeout": 300,
        }
        args.update(over)
        return args

    def task(self, args: dict, *, check_mode: bool = False, diff: bool = False) -> dict:
        return {MODULE: args, "check_mode": check_mode, "diff": diff}

    def probe_task(self, *, ip: str, port: int, tls_hostname: str, **over) -> dict:
        args = {
            "docker_host": f"tcp://{ip}:{port}",
            "tls_hostname": tls_hostname,
            "ca_cert": self.pki.cert_path,
            "client_cert": self.client.cert,
            "client_key": self.client.key,
            "wait_timeout": 30,
        }
        args.update(over)
        return {"dockerhost.azure.docker_host_probe": args}

    def run(self, *tasks: dict, verbosity: int = 0, log_path: Path | None = None) -> PlaybookRun:
        """One ansible-playbook run; every task's result."""
        return self.runner.play(list(tasks), verbosity=verbosity, log_path=log_path)

    def start_play(self, task: dict) -> subprocess.Popen:
        """ansible-playbook with one task, in the background and its own process group (to be killed)."""
        return self.runner.start([task])

    def requests(self) -> list[dict]:
        return self.emulator.requests()

    def writes(self) -> list[dict]:
        return [r for r in self.requests() if is_write(r)]

    def docker(self, ip: str, port: int, *args: str, client: CertPair | None = None) -> subprocess.CompletedProcess:
        """The docker CLI over mutual TLS, verifying the daemon's certificate (its IP SAN)."""
        client = client or self.client
        env = {**os.environ, "DOCKER_CONFIG": str(self.work / "docker-config")}
        env.pop("DOCKER_HOST", None)
        command = ["docker", "--tlsverify", f"--tlscacert={self.pki.cert_path}"]
        command += [f"--tlscert={client.cert}", f"--tlskey={client.key}", "-H", f"tcp://{ip}:{port}", *args]
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


@pytest.fixture(scope="session")
def azure_runner(tmp_path_factory) -> AnsibleRunner:
    """Runs plays with this checkout's collection, a private ANSIBLE_HOME (temp dirs included) and the venv's Python."""
    return AnsibleRunner(tmp_path_factory.mktemp("ansible-home-azure"))


@pytest.fixture
def host(azure_emulator, azure_runner, monkeypatch, tmp_path) -> Host:
    # What an AWX Azure credential injects; the CA bundle trusts the emulator (as a private CA).
    for name, value in azure_emulator.env().items():
        monkeypatch.setenv(name, value)
    pki = TestCA(str(tmp_path / "pki"))
    return Host(azure_emulator, azure_runner, pki, pki.client(), tmp_path)
