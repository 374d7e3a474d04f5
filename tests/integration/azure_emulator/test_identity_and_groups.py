# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator's front door: start/stop, cloud metadata, Azure AD, ARM's bearer check, resource groups, LROs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from ansible_collections.dockerhost.azure.azure_emulator.cli import import_root

pytestmark = pytest.mark.emulator

MODULE = "ansible_collections.dockerhost.azure.azure_emulator"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", MODULE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": import_root()},
    )


def test_start_stop_leaves_nothing(tmp_path):
    state_dir = tmp_path / "emu"
    started = _cli("start", "--state-dir", str(state_dir))
    assert started.returncode == 0, started.stderr
    state = json.loads(started.stdout)
    for key in ("endpoint", "metadata_url", "ca_cert", "ca_bundle", "tenant_id", "client_id", "client_secret"):
        assert state[key]
    assert state["metadata_url"] == f"{state['endpoint']}/metadata/endpoints?api-version=2022-09-01"
    with open(state["ca_bundle"], encoding="utf-8") as handle:
        bundle = handle.read()
    with open(state["ca_cert"], encoding="utf-8") as handle:
        assert handle.read() in bundle
    assert requests.get(state["metadata_url"], verify=state["ca_bundle"], timeout=10).status_code == 200
    again = _cli("start", "--state-dir", str(state_dir))
    assert again.returncode == 1 and "already runs" in again.stderr
    stopped = _cli("stop", "--state-dir", str(state_dir))
    assert stopped.returncode == 0, stopped.stderr
    assert not state_dir.exists()
    assert not os.path.exists(f"/proc/{state['pid']}") or "Z" in open(f"/proc/{state['pid']}/stat").read()  # noqa: SIM115


def test_metadata_both_forms_name_the_emulator(azure_emulator):
    endpoint = azure_emulator.endpoint
    clouds = requests.get(azure_emulator.metadata_url, timeout=10).json()
    assert isinstance(clouds, list)
    cloud = clouds[0]
    assert cloud["resourceManager"].rstrip("/") == endpoint
    assert cloud["authentication"]["loginEndpoint"].rstrip("/") == endpoint
    assert cloud["authentication"]["audiences"] == [azure_emulator.audience]
    stack = requests.get(f"{endpoint}/metadata/endpoints?api-version=2015-01-01", timeout=10).json()
    assert set(stack) == {"galleryEndpoint", "graphEndpoint", "portalEndpoint", "authentication"}
    assert stack["authentication"]["loginEndpoint"].rstrip("/") == endpoint
    missing = requests.get(f"{endpoint}/metadata/endpoints", timeout=10)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"


def test_token_errors_are_azure_ads(azure_emulator):
    with pytest.raises(ClientAuthenticationError) as excinfo:
        azure_emulator.credential(secret="not-the-secret").get_token(azure_emulator.credential_scope)
    assert "AADSTS7000215" in str(excinfo.value)
    assert "not-the-secret" not in str(excinfo.value)
    url = f"{azure_emulator.endpoint}/{azure_emulator.tenant_id}/oauth2/v2.0/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": azure_emulator.client_id,
        "client_secret": "wrong",
        "scope": azure_emulator.credential_scope,
    }
    answer = requests.post(url, data=form, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_client"
    assert answer.json()["error_codes"] == [7000215]
    public_azure = requests.post(
        url,
        data={**form, "client_secret": azure_emulator.client_secret, "scope": "https://management.azure.com/.default"},
        timeout=10,
    )
    assert public_azure.status_code == 400
    assert public_azure.json()["error"] == "invalid_resource"
    good = requests.post(url, data={**form, "client_secret": azure_emulator.client_secret}, timeout=10)
    assert good.status_code == 200 and good.json()["token_type"] == "Bearer"


def test_arm_checks_the_bearer_token(azure_emulator):
    sub = azure_emulator.subscription_id
    url = f"{azure_emulator.endpoint}/subscriptions/{sub}/resourcegroups?api-version=2025-04-01"
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "AuthenticationFailed"
    assert "WWW-Authenticate" in missing.headers
    forged = requests.get(url, headers={"Authorization": "Bearer a.b.c"}, timeout=10)
    assert forged.json()["error"]["code"] == "InvalidAuthenticationToken"
    token = azure_emulator.credential().get_token(azure_emulator.credential_scope).token
    other_sub = url.replace(azure_emulator.subscription_id, "00000000-0000-0000-0000-000000000000")
    assert (
        requests.get(other_sub, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["error"]["code"]
        == "SubscriptionNotFound"
    )
    assert requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code == 200


def test_resource_group_lifecycle_with_the_sdk(azure_emulator):
    client = azure_emulator.resource_client()
    created = client.resource_groups.create_or_update("Emu-RG", {"location": "West Europe", "tags": {"k": "v"}})
    assert created.location == "westeurope" and created.tags == {"k": "v"}
    assert created.properties.provisioning_state == "Succeeded"
    assert client.resource_groups.check_existence("emu-rg")  # paths are case-insensitive
    assert client.resource_groups.get("EMU-RG").name == "Emu-RG"  # the first casing is kept
    assert [g.name for g in client.resource_groups.list()] == ["Emu-RG"]
    with pytest.raises(HttpResponseError) as excinfo:
        client.resource_groups.create_or_update("Emu-RG", {"location": "eastus"})
    assert excinfo.value.error.code == "InvalidResourceGroupLocation"
    with pytest.raises(HttpResponseError) as excinfo:
        client.resource_groups.create_or_update("bad.", {"location": "eastus"})
    assert excinfo.value.error.code == "InvalidResourceGroupName"
    with pytest.raises(HttpResponseError) as excinfo:
        client.resource_groups.create_or_update("rg2", {"location": "atlantis"})
    assert excinfo.value.error.code == "LocationNotAvailableForResourceGroup"
    client.resource_groups.begin_delete("emu-rg").result()
    assert not client.resource_groups.check_existence("Emu-RG")
    with pytest.raises(ResourceNotFoundError) as excinfo:
        client.resource_groups.get("Emu-RG")
    assert excinfo.value.error.code == "ResourceGroupNotFound"
    log = azure_emulator.requests()
    delete = next(e for e in log if e["method"] == "DELETE")
    put = next(e for e in log if e["method"] == "PUT")
    # The log keeps the api-version each request carried (the SDK's own, which varies by SDK release).
    assert delete["status"] == 202
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", delete["api_version"]) and delete["api_version"] == put["api_version"]


def test_failed_operation_surfaces_as_http_response_error(azure_emulator):
    client = azure_emulator.resource_client()
    client.resource_groups.create_or_update("doomed", {"location": "eastus"})
    azure_emulator.add_fault("operation", path="/resourcegroups/doomed$", method="DELETE", code="Boom", message="no")
    with pytest.raises(HttpResponseError) as excinfo:
        client.resource_groups.begin_delete("doomed").result()
    assert "Boom" in str(excinfo.value)
    assert client.resource_groups.check_existence("doomed")


def test_throttling_is_retried_by_azure_core(azure_emulator):
    client = azure_emulator.resource_client()
    azure_emulator.add_fault("throttle", path="/resourcegroups/busy$", method="PUT", nth=1, retry_after=1)
    assert client.resource_groups.create_or_update("busy", {"location": "eastus"}).name == "busy"
    puts = [e for e in azure_emulator.requests() if e["method"] == "PUT"]
    assert [e["status"] for e in puts] == [429, 201]
    assert puts[0]["fault"]
