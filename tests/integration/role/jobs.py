# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the role's job tests read back, in one place: Azure writes from the emulator's request log, a job's
play recap, what AWX injects from the collection's credential type, the daemons the emulator's VM agent runs,
and a real mutual-TLS request to a daemon with any CA and client pair."""

from __future__ import annotations

import hashlib
import http.client
import json
import pathlib
import ssl
import tempfile

import jinja2
import yaml

__all__ = [
    "CREDENTIAL_TYPE",
    "FIELDS",
    "FQDN",
    "HOST",
    "PLAY",
    "PROBE",
    "ROOT",
    "WRITES",
    "assert_nothing_left",
    "daemons",
    "docker_api_version",
    "extension_puts",
    "inject",
    "key_lines",
    "pem_sha256",
    "stats",
    "writes",
    "writes_by_vm",
]

ROOT = pathlib.Path(__file__).resolve().parents[3]
CREDENTIAL_TYPE = ROOT / "docs" / "awx" / "credential_type.yml"
# The credential type's input fields and the files of the pair they hold.
FIELDS = {"ca_cert": "ca.pem", "ca_key": "ca-key.pem", "client_cert": "cert.pem", "client_key": "key.pem"}
WRITES = ("PUT", "PATCH", "POST", "DELETE")


def inject(inputs: dict[str, str]) -> dict[str, str]:
    """What AWX passes as extra vars: the credential type's extra_vars injectors rendered with the inputs."""
    injectors = yaml.safe_load(CREDENTIAL_TYPE.read_text())["injectors"]["extra_vars"]
    return {name: jinja2.Template(template).render(**inputs) for name, template in injectors.items()}


def writes(requests: list[dict]) -> list[tuple[str, str]]:
    """(method, path) of every Azure write in a request-log slice; token requests are no writes."""
    return [
        (r["method"], r["path"])
        for r in requests
        if r["method"] in WRITES and not r["path"].lower().endswith("/oauth2/v2.0/token")
    ]


def extension_puts(requests: list[dict]) -> list[str]:
    """Paths of the extension PUTs (each one an apply of the Docker-installing extension)."""
    return [path for method, path in writes(requests) if method == "PUT" and "/extensions/" in path.lower()]


def _vm_of(path: str, names: list[str]) -> str | None:
    """The VM a resource path belongs to: the role names every resource of a VM <name> or <name>-<suffix>."""
    segments = path.lower().split("?")[0].split("/")
    for name in names:
        if any(seg == name.lower() or seg.startswith(name.lower() + "-") for seg in segments):
            return name
    return None


def writes_by_vm(requests: list[dict], names: list[str]) -> dict[str | None, list[tuple[str, str]]]:
    """Writes grouped by the VM whose resources they touch (None: shared, e.g. the resource group)."""
    grouped: dict[str | None, list[tuple[str, str]]] = {}
    for method, path in writes(requests):
        grouped.setdefault(_vm_of(path, names), []).append((method, path))
    return grouped


def stats(result) -> dict:
    """The play recap of an ansible-runner job (its playbook_on_stats event)."""
    (recap,) = [e["event_data"] for e in result.events if e.get("event") == "playbook_on_stats"]
    return recap


def _start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat: tells a restarted daemon from one with a reused PID."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rfind(")") + 2 :].split()[19])


def daemons(emulator) -> dict[str, tuple[int, int | None]]:
    """VM name -> (PID, start time) of the dockerd the emulator's VM agent runs for it."""
    running = {}
    for vm in emulator.vms():
        if vm["daemon"] is not None:
            name = vm["vm"].rstrip("/").rsplit("/", 1)[-1]
            running[name] = (vm["daemon"]["pid"], _start_time(vm["daemon"]["pid"]))
    return running


def pem_sha256(pem: str) -> str:
    """SHA-256 of a PEM certificate's DER, lower-case hex (how the modules name a CA)."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


def docker_api_version(address: str, tls_name: str, *, ca_pem: str, cert_pem: str, key_pem: str, port: int = 2376):
    """``GET /version`` over mutual TLS, verifying the daemon against ``ca_pem`` and ``tls_name``.

    Returns the API version the daemon answered, or the error that stopped it (a rejected client shows as an
    SSL or connection error).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=ca_pem)
    with tempfile.TemporaryDirectory() as directory:
        cert, key = pathlib.Path(directory, "cert.pem"), pathlib.Path(directory, "key.pem")
        cert.write_text(cert_pem)
        key.write_text(key_pem)
        key.chmod(0o600)
        context.load_cert_chain(cert, key)

    class _Connection(http.client.HTTPSConnection):
        def connect(self) -> None:
            http.client.HTTPConnection.connect(self)
            self.sock = context.wrap_socket(self.sock, server_hostname=tls_name)

    connection = _Connection(address, port, timeout=30, context=context)
    try:
        connection.request("GET", "/version")
        response = connection.getresponse()
        body = response.read()
    except (ssl.SSLError, OSError, http.client.HTTPException) as exc:
        return exc
    finally:
        connection.close()
    if response.status != 200:
        return RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
    return json.loads(body)["ApiVersion"]


# -- a fresh control node run with ansible-playbook (the `node` fixture of conftest.py) ---------------------
HOST = "supplied-1"
FQDN = f"{HOST}.westeurope.cloudapp.azure.com"
PLAY = """\
- name: The docker_host role, as the collection's playbooks run it
  hosts: docker_hosts
  gather_facts: false
  roles:
    - role: dockerhost.azure.docker_host
"""
PROBE = ROOT / "playbooks" / "probe.yml"


def key_lines(path: pathlib.Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("-----")]


def assert_nothing_left(node, proc) -> None:
    assert not (node.home / ".docker").exists()
    assert list(node.scratch.glob("dockerhost-azure-*")) == [], "the private directory was not removed"
    output = proc.stdout + proc.stderr
    # Ansible's own temp and async directories too: module arguments must not stay behind.
    left = [p.read_text(errors="replace") for p in node.ansible_home.rglob("*") if p.is_file()]
    for name in ("ca-key.pem", "key.pem"):
        lines = key_lines(node.vault / name)
        assert lines  # the canary is real
        assert [line for line in lines if line in output] == [], f"{name} appears in the output"
        assert [line for line in lines if any(line in text for text in left)] == [], f"{name} left in ANSIBLE_HOME"
