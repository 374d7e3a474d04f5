# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Canaries: the admin password, the client secret and the server key go where they must and nowhere else."""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import json
import re
import secrets

import pytest
from cryptography.hazmat.primitives import serialization

pytestmark = [pytest.mark.emulator, pytest.mark.docker, pytest.mark.slow]


def key_forms(key_path: str) -> list[bytes]:
    """The server key as written, and as PKCS#8 (what the module sends)."""
    with open(key_path, "rb") as handle:
        pem = handle.read()
    key = serialization.load_pem_private_key(pem, None)
    return [
        pem,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    ]


def key_canaries(key_path: str) -> list[str]:
    """Ways the server key could leak: its PEM, each base64 line of it, its base64, its SHA-256."""
    canaries = []
    for pem in key_forms(key_path):
        lines = [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]
        canaries += [pem.decode(), *lines, base64.b64encode(pem).decode(), hashlib.sha256(pem).hexdigest()]
    return canaries


def without_protected_settings(body: dict) -> dict:
    clean = copy.deepcopy(body)
    clean.get("properties", {}).pop("protectedSettings", None)
    return clean


def test_secrets_never_leak_at_vvvv_in_errors_or_public_settings(host):
    name = "dh-canary"
    password = f"Cn4ry-{secrets.token_hex(8)}"
    client_secret = host.emulator.client_secret
    pair = host.server_cert(name)
    log_path = host.work / "ansible.log"
    args = host.args(name, pair, admin_password=password, secret=client_secret)

    # First run: the extension fails (the error path); second run converges; third: check mode with a diff.
    host.emulator.add_fault("extension", r"/extensions/docker-install$", message="injected failure")
    run = host.run(
        host.task(args, diff=True),
        host.task(args, diff=True),
        host.task(dict(args, tags={"env": "canary"}), check_mode=True, diff=True),
        verbosity=4,
        log_path=log_path,
    )
    failed, created, checked = run.results
    assert failed["failed"] and "injected failure" in failed["msg"]
    assert created["changed"] and not created.get("failed"), created
    assert checked["changed"] and "diff" in checked

    canaries = [password, client_secret, *key_canaries(pair.key)]
    seen = {
        "ansible output at -vvvv": run.output,
        "ansible log": log_path.read_text(),
        "task results": json.dumps(run.results),
    }
    assert "Cn4ry" not in seen["ansible output at -vvvv"]  # the check below can only pass for the right reason
    assert "ESTABLISH LOCAL CONNECTION" in seen["ansible output at -vvvv"]  # -vvvv really was on
    for where, text in seen.items():
        for canary in canaries:
            assert canary not in text, f"a secret reached the {where}"

    # What was sent to Azure: each secret only where Azure needs it.
    for entry in host.requests():
        body = json.dumps(entry["body"]) if entry["body"] is not None else ""
        if password in body:
            assert entry["method"] == "PUT" and entry["path"].endswith(f"/virtualMachines/{name}")
            assert entry["body"]["properties"]["osProfile"]["adminPassword"] == password
        if client_secret in body:
            assert entry["path"].endswith("/oauth2/v2.0/token")
        if entry["method"] == "PUT" and "/extensions/" in entry["path"]:
            public = json.dumps(without_protected_settings(entry["body"]))
            for canary in canaries:
                assert canary not in public, "a secret in the extension's public settings"
            # ... and the key is where it belongs (so the checks above looked at the right thing).
            script = entry["body"]["properties"]["protectedSettings"]["script"]
            rendered = gzip.decompress(base64.b64decode(script)).decode()
            sent = re.search(r"^DOCKERHOST_KEY_B64='([^']+)'$", rendered, re.MULTILINE).group(1)
            assert base64.b64decode(sent) == key_forms(pair.key)[1]
        else:
            for canary in key_canaries(pair.key):
                assert canary not in body, f"the server key in {entry['method']} {entry['path']}"
