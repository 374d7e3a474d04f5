# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The auth sources users have, through ansible-playbook against the emulator: a service principal with a
certificate, ``~/.azure/credentials`` profiles, azure-identity's environment names; and their secrets stay out
of the output at -vvvv.

Each run is ``state: absent`` of a VM that does not exist: a token, ARM reads, no write, no daemon needed.
"""

from __future__ import annotations

import base64
import os
import secrets

import pytest
from cryptography.hazmat.primitives import serialization

from ansible_collections.dockerhost.azure.azure_emulator.pki import service_principal_cert

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

AWX_NAMES = ("AZURE_SECRET", "AZURE_TENANT", "AZURE_CLIENT_ID", "AZURE_SUBSCRIPTION_ID", "AZURE_CLOUD_ENVIRONMENT")


def absent(**auth) -> dict:
    return {"resource_group": "rg-auth", "name": "dh-auth", "state": "absent", "wait_timeout": 120, **auth}


def token_requests(host) -> list[dict]:
    return [r for r in host.requests() if r["path"].endswith("/oauth2/v2.0/token")]


def key_canaries(sp) -> list[str]:
    """The private key as PEM lines and as base64 of its DER: any way it could leak."""
    pem = sp.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    der = sp.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    lines = [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]
    return [*lines, base64.b64encode(der).decode()[:64]]


def assert_nowhere(run, canaries: list[str]) -> None:
    assert "ESTABLISH LOCAL CONNECTION" in run.output  # -vvvv really was on
    for canary in canaries:
        assert canary not in run.output, "a secret reached the ansible output"
        assert canary not in str(run.results), "a secret reached a task result"


@pytest.fixture
def no_awx_env(host, monkeypatch):
    """The emulator's service principal no longer in AWX's variables (the CA bundle stays)."""
    for name in AWX_NAMES:
        monkeypatch.delenv(name, raising=False)
    return host


@pytest.fixture
def home(monkeypatch, tmp_path):
    path = tmp_path / "home"
    (path / ".azure").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(path))
    return path


def test_certificate_from_azure_identity_environment_names(no_awx_env, monkeypatch, tmp_path):
    host = no_awx_env
    password = f"Cn4ry-{secrets.token_hex(8)}"
    sp = service_principal_cert(str(tmp_path / "sp.pem"), password=password.encode())
    host.emulator.register_certificate(sp.cert_pem)
    for name, value in {
        "AZURE_CLIENT_ID": host.emulator.client_id,
        "AZURE_TENANT_ID": host.emulator.tenant_id,
        "AZURE_SUBSCRIPTION_ID": host.emulator.subscription_id,
        "AZURE_CLIENT_CERTIFICATE_PATH": sp.bundle,
        "AZURE_CLIENT_CERTIFICATE_PASSWORD": password,
    }.items():
        monkeypatch.setenv(name, value)
    run = host.run(host.task(absent(cloud_environment=host.emulator.metadata_url)), verbosity=4)
    (result,) = run.results
    assert not result.get("failed"), result
    [token] = token_requests(host)
    assert token["status"] == 200
    assert token["body"]["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    assert "client_secret" not in token["body"]
    assert_nowhere(run, [password, *key_canaries(sp)])


def test_task_certificate_and_environment_secret_are_refused(host, tmp_path):
    """AWX's secret in the environment and a certificate in the task: which one was meant? Refused."""
    sp = service_principal_cert(str(tmp_path / "sp.pem"))
    host.emulator.register_certificate(sp.cert_pem)
    run = host.run(host.task(absent(client_certificate_path=sp.bundle)), verbosity=0)
    (result,) = run.results
    # A secret (AZURE_SECRET) and a certificate (the task) together are refused, naming both, before a request.
    assert result["failed"] and result["option"] == "client_certificate_path"
    assert "AZURE_SECRET" in result["msg"] and "the task" in result["msg"]
    assert host.emulator.client_secret not in run.output
    assert host.requests() == []


def test_unregistered_certificate_fails_with_entra_error_and_no_key(no_awx_env, monkeypatch, tmp_path):
    host = no_awx_env
    sp = service_principal_cert(str(tmp_path / "sp.pem"))  # never registered on the application
    auth = {
        "client_id": host.emulator.client_id,
        "tenant": host.emulator.tenant_id,
        "subscription_id": host.emulator.subscription_id,
        "cloud_environment": host.emulator.metadata_url,
        "client_certificate_path": sp.bundle,
    }
    run = host.run(host.task(absent(**auth)), verbosity=4)
    (result,) = run.results
    assert result["failed"]
    assert "AADSTS700027" in result["msg"]
    assert_nowhere(run, key_canaries(sp))
    assert not [r for r in host.requests() if r["path"].lower().startswith("/subscriptions/")]


def test_profile_by_option_and_by_azure_profile(no_awx_env, home, monkeypatch):
    host = no_awx_env
    emu = host.emulator
    credentials = home / ".azure" / "credentials"
    credentials.write_text(
        f"[default]\nsubscription_id = 00000000-0000-0000-0000-000000000000\n\n"
        f"[emulator]\nsubscription_id = {emu.subscription_id}\nclient_id = {emu.client_id}\n"
        f"secret = {emu.client_secret}\ntenant = {emu.tenant_id}\ncloud_environment = {emu.metadata_url}\n"
    )
    os.chmod(credentials, 0o600)
    run = host.run(host.task(absent(profile="emulator")), verbosity=4)
    assert not run.results[0].get("failed"), run.results
    assert_nowhere(run, [emu.client_secret])
    monkeypatch.setenv("AZURE_PROFILE", "emulator")
    run = host.run(host.task(absent()), host.task(absent(profile="prod")))
    by_env, missing = run.results
    assert not by_env.get("failed"), by_env
    assert missing["failed"] and missing["option"] == "profile"
    assert f"no profile 'prod' in {credentials} (profiles there: 'default', 'emulator')" in missing["msg"]
    assert emu.client_secret not in run.output


def test_profile_errors_name_the_profile_and_file(no_awx_env, home):
    host = no_awx_env
    run = host.run(host.task(absent(profile="emulator")))
    (result,) = run.results
    assert result["failed"] and result["option"] == "profile"
    assert f"profile 'emulator' was asked for, but {home}/.azure/credentials does not exist" in result["msg"]
    assert host.requests() == []


def test_azure_identity_secret_names_and_conflicts(no_awx_env, monkeypatch):
    host = no_awx_env
    emu = host.emulator
    env = {
        "AZURE_CLIENT_ID": emu.client_id,
        "AZURE_TENANT_ID": emu.tenant_id,
        "AZURE_CLIENT_SECRET": emu.client_secret,
        "AZURE_SUBSCRIPTION_ID": emu.subscription_id,
        "AZURE_CLOUD_ENVIRONMENT": emu.metadata_url,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    run = host.run(host.task(absent()), verbosity=4)
    assert not run.results[0].get("failed"), run.results
    assert_nowhere(run, [emu.client_secret])

    host.emulator.clear_requests()
    other = f"Cn4ry-{secrets.token_hex(8)}"
    monkeypatch.setenv("AZURE_SECRET", other)  # AWX's name, another value
    run = host.run(host.task(absent()), verbosity=4)
    (result,) = run.results
    assert result["failed"] and result["option"] == "secret"
    assert "AZURE_SECRET and AZURE_CLIENT_SECRET are both set, to different values" in result["msg"]
    assert_nowhere(run, [emu.client_secret, other])
    assert host.requests() == []
