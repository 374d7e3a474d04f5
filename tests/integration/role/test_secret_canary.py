# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secret canary, end to end: the role creates and destroys a Docker host at -vvvv, with ``log_path``, the
JSON job events of ansible-runner's callback (what AWX stores) and the builtin JSON ``tree`` callback.
A unique admin password, the service principal secret (given as role variables, the path that goes
through argument validation and module arguments), every private key and every protected setting sent
to Azure must appear in none of the output, logs, event data or files Ansible left behind.
"""

from __future__ import annotations

import base64
import re
import secrets
import time

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.dockerd import leftover_processes

pytestmark = [pytest.mark.emulator, pytest.mark.docker, pytest.mark.slow]

AZURE_ENV = ("AZURE_SUBSCRIPTION_ID", "AZURE_CLIENT_ID", "AZURE_SECRET", "AZURE_TENANT", "AZURE_CLOUD_ENVIRONMENT")


def _key_canaries(path) -> list[str]:
    """Every base64 line of a PEM key body, and the base64 of the whole file (how extensions carry PEM)."""
    text = path.read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("-----")]
    return [*lines, base64.b64encode(text.encode()).decode()[:64]]


def _protected_values(requests: list[dict]) -> list[str]:
    """The string values of every protectedSettings object sent to Azure."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and len(node) >= 16:
            found.append(node)

    for request in requests:
        body = request.get("body")
        props = body.get("properties", {}) if isinstance(body, dict) else {}
        if "protectedSettings" in props:
            walk(props["protectedSettings"])
    return found


def _scan(root, canaries: dict[str, list[str]]) -> list[str]:
    leaks = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes().decode("utf-8", errors="replace")
        for label, values in canaries.items():
            for value in values:
                # JSON output escapes newlines and slashes; compare on the raw value and on its JSON form.
                if value in data or value.replace("/", "\\/") in data:
                    leaks.append(f"{label} in {path.relative_to(root)}")
                    break
    return leaks


@pytest.mark.parametrize("docker_install", ["custom_script", "docker_extension"])
def test_no_secret_anywhere_at_vvvv(runner_project, azure_emulator, ssh_public_key, docker_install):
    host = f"canary-{docker_install.replace('_', '-')}"
    cert_dir = runner_project.work / "docker"
    password = f"Canary-{secrets.token_hex(12)}!"
    for name in AZURE_ENV:  # the credentials go through role variables this time
        runner_project.envvars.pop(name)
    outputs = runner_project.base / "outputs"
    outputs.mkdir()
    log_path = outputs / "ansible.log"
    runner_project.envvars.update(
        ANSIBLE_LOG_PATH=str(log_path),
        ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree",
        ANSIBLE_CALLBACK_TREE_DIR=str(outputs / "tree"),
    )
    runner_project.inventory(
        [host],
        docker_host_install=docker_install,
        docker_host_resource_group="canary",
        docker_host_location="westeurope",
        docker_host_allowed_cidrs=["127.0.0.1/32"],
        docker_host_ssh_public_keys=[ssh_public_key],
        docker_host_admin_password=password,
        docker_host_azure_subscription_id=azure_emulator.subscription_id,
        docker_host_azure_client_id=azure_emulator.client_id,
        docker_host_azure_secret=azure_emulator.client_secret,
        docker_host_azure_tenant=azure_emulator.tenant_id,
        docker_host_azure_cloud_environment=azure_emulator.metadata_url,
        docker_host_cert_path=str(cert_dir),
        docker_host_poll_interval=1,
        docker_host_wait_timeout=300,
    )

    created = runner_project.run("create.yml", verbosity=4)
    assert (created.status, created.rc) == ("successful", 0), created.stdout[-4000:]
    keys = [cert_dir / "ca-key.pem", cert_dir / "key.pem", cert_dir / "servers" / host / "server-key.pem"]
    canaries = {
        "admin password": [password],
        "client secret": [azure_emulator.client_secret],
        **{f"key {p.name}": _key_canaries(p) for p in keys},
    }
    requests = azure_emulator.requests()
    sent = _protected_values(requests)
    assert sent, "no protected settings were sent: the canary would prove nothing"
    canaries["protected settings"] = sent
    # The canaries did reach Azure (where they belong), so finding none below means something.
    assert any(password in str(r.get("body")) for r in requests if r["method"] == "PUT")
    assert any(azure_emulator.client_secret in str(r.get("body")) for r in requests if r["method"] == "POST")
    assert created.events and log_path.stat().st_size > 0 and any((outputs / "tree").iterdir())
    assert "<localhost> EXEC /bin/sh" in log_path.read_text()  # -vvvv really was on

    destroyed = runner_project.run("destroy.yml", verbosity=4)
    assert (destroyed.status, destroyed.rc) == ("successful", 0), destroyed.stdout[-4000:]
    assert azure_emulator.vms() == []

    # Public settings carry no secret either.
    public = [
        str(r["body"]["properties"].get("settings"))
        for r in requests
        if "extensions/" in r["path"].lower() and r["method"] == "PUT"
    ]
    assert public and not [s for s in public if any(v in s for vals in canaries.values() for v in vals)]

    # Positive control: the scanner finds the keys where they belong.
    assert any(hit.startswith("key ") for hit in _scan(cert_dir, canaries))
    # async_wrapper removes its temp dir (the module file with its arguments) just after writing the job
    # result, which the poll may read first: let Ansible's own clean-up finish before judging what is left.
    deadline = time.monotonic() + 30
    while leftover_processes(str(runner_project.work / "ansible")) and time.monotonic() < deadline:
        time.sleep(0.1)
    leaks = []
    leaks += _scan(runner_project.private / "artifacts", canaries)
    leaks += _scan(outputs, canaries)
    leaks += _scan(runner_project.work / "ansible", canaries)  # temp dirs, async job files
    for path in cert_dir.rglob("*"):  # what the role wrote beside the keys: env files, records
        if path.is_file() and path.suffix in (".env", ".json"):
            leaks += [
                f"{label} in {path.name}" for label, values in canaries.items() for v in values if v in path.read_text()
            ]
    assert leaks == []
    assert not re.search(r"ansible-tmp-", " ".join(str(p) for p in (runner_project.work / "ansible").rglob("*")))
