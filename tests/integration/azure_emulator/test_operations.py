# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ARM's asynchronous operations: InProgress, Retry-After only with latency, Canceled, 5xx faults, preemption."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError

from ansible_collections.dockerhost.azure.azure_emulator.lro import Operation

pytestmark = pytest.mark.emulator

VNET = "resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet"
BODY = {"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}


def test_polling_without_and_with_latency(arm, azure_emulator):
    arm.group("rg")
    quick = arm.call("PUT", VNET, BODY, "2026-03-01")
    assert quick.status_code == 201
    assert quick.json()["properties"]["provisioningState"] == "Updating"
    assert "Retry-After" not in quick.headers
    assert azure_emulator.wait_idle()
    polled = arm.call("GET", quick.headers["Azure-AsyncOperation"])
    assert polled.json()["status"] == "Succeeded" and "Retry-After" not in polled.headers

    azure_emulator.set_latency(operations={"Microsoft.Network/virtualNetworks/delete": 30})
    deleting = arm.call("DELETE", VNET, api_version="2026-03-01")
    assert deleting.status_code == 202
    assert deleting.headers["Retry-After"] == "1"
    status = arm.call("GET", deleting.headers["Azure-AsyncOperation"])
    assert status.json()["status"] == "InProgress" and status.headers["Retry-After"] == "1"
    location = arm.call("GET", deleting.headers["Location"])
    assert location.status_code == 202 and location.headers["Location"]
    assert arm.call("GET", VNET, api_version="2026-03-01").json()["properties"]["provisioningState"] == "Deleting"
    assert arm.call("PUT", VNET, BODY, "2026-03-01").status_code == 409  # another operation is in progress
    azure_emulator.reset()  # latency back to none; running operations are abandoned
    assert azure_emulator.latency()["operations"] == {}


def test_azure_profile_is_scaled(azure_emulator):
    table = azure_emulator.set_latency(profile="azure", scale=0.5)
    assert table["operations"]["microsoft.compute/virtualmachines/write"] == 60.0
    assert table["scale"] == 0.5
    # Retry-After as recorded ARM sessions show it, scaled too: (first answer, first poll, later polls).
    assert table["retry_after"]["microsoft.compute/virtualmachines/write"] == [5, 25, None]
    assert table["retry_after"]["microsoft.compute/virtualmachines/extensions/write"] == [5, None, None]
    assert table["retry_after"]["microsoft.network/virtualnetworks/write"] == [2, 5, 5]
    assert table["retry_after"]["microsoft.network/networkinterfaces/delete"] == [5, 5, 5]
    assert table["retry_after"]["microsoft.resources/subscriptions/resourcegroups/delete"] == [8, 8, 8]


def test_azure_profile_retry_after_on_answer_first_poll_and_later_polls(arm, azure_emulator):
    """A VM create: Retry-After on the 201 and a longer one on the first InProgress poll, none on later
    polls, and never once the operation has ended (the Location URL counts as a poll too)."""
    arm.group("rg")
    azure_emulator.set_latency(profile="azure", scale=0.05)  # VNet 0.2 s, Retry-After 1 s (at least)
    answer = arm.call("PUT", VNET, BODY, "2026-03-01")
    assert answer.headers["Retry-After"] == "1"
    status_url = answer.headers["Azure-AsyncOperation"]
    assert azure_emulator.wait_idle()
    done = arm.call("GET", status_url)
    assert done.json()["status"] == "Succeeded" and "Retry-After" not in done.headers

    azure_emulator.set_latency(profile="azure", scale=1, operations={"Microsoft.Network/virtualNetworks/delete": 30})
    deleting = arm.call("DELETE", VNET, api_version="2026-03-01")
    assert deleting.headers["Retry-After"] == "10"
    first = arm.call("GET", deleting.headers["Azure-AsyncOperation"])
    later = arm.call("GET", deleting.headers["Location"])
    assert first.headers["Retry-After"] == "10" and later.headers["Retry-After"] == "10"
    azure_emulator.reset()


def test_an_operation_can_end_canceled(azure_emulator, arm):
    arm.group("rg")
    azure_emulator.add_fault("operation", path="/virtualNetworks/vnet$", method="PUT", status="Canceled")
    answer = arm.call("PUT", VNET, BODY, "2026-03-01")
    assert azure_emulator.wait_idle()
    status = arm.call("GET", answer.headers["Azure-AsyncOperation"]).json()
    assert status["status"] == "Canceled" and status["error"]["code"] == "OperationCanceled"
    network = azure_emulator.network_client()
    azure_emulator.add_fault("operation", path="/virtualNetworks/vnet2$", method="PUT", code="InternalServerError")
    with pytest.raises(HttpResponseError) as excinfo:
        network.virtual_networks.begin_create_or_update("rg", "vnet2", BODY).result()
    assert "InternalServerError" in str(excinfo.value)
    assert network.virtual_networks.get("rg", "vnet2").provisioning_state == "Failed"


def test_server_errors_are_retried_then_surface(azure_emulator):
    resources = azure_emulator.resource_client(retry_total=1, retry_backoff_factor=0.01)
    azure_emulator.add_fault("error", path="/resourcegroups/flaky$", method="PUT", status=503)
    assert resources.resource_groups.create_or_update("flaky", {"location": "eastus"}).name == "flaky"
    azure_emulator.add_fault("error", path="/resourcegroups/broken$", method="PUT", times=5)
    with pytest.raises(HttpResponseError) as excinfo:
        resources.resource_groups.create_or_update("broken", {"location": "eastus"})
    assert excinfo.value.status_code == 500 and excinfo.value.error.code == "InternalServerError"
    faults = azure_emulator.faults()
    assert [f["fired"] for f in faults] == [1, 2]


def test_retry_after_schedule_of_one_operation():
    op = Operation(id="op", kind="Microsoft.Compute/virtualMachines/write", resource_id="vm", method="PUT")
    op.retry_after = (10, 50, None)
    assert op.first_retry_after() == 10
    assert [op.poll_retry_after() for _poll in range(3)] == [50, None, None]
    op.status = "Succeeded"
    assert op.first_retry_after() is None
    assert op.poll_retry_after() is None
