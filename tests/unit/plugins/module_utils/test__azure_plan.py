# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan: explicit stages in dependency order, and an executor that follows them."""

from __future__ import annotations

import dataclasses

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_certificates import load_certificates
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_plan import (
    Executor,
    network_ids,
    plan_absent,
    plan_present,
    resource_ids,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_rekey import CaMismatch
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_request import build_request
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_resources import OWNER_TAG
from ansible_collections.dockerhost.azure.tests.unit.plugins.module_utils.azure_fixtures import SUB, vm_params


@pytest.fixture
def request_(test_ca):
    return build_request(vm_params(test_ca, resource_group="rg"))


def test_present_from_nothing_is_staged_in_dependency_order(request_):
    plan = plan_present(request_, network_ids(request_, SUB), None, {})
    assert [(stage.name, [s.resource for s in stage.steps], stage.concurrent) for stage in plan.stages] == [
        ("resource group", ["resource_group"], False),
        ("network", ["network_security_group", "public_ip", "virtual_network"], True),
        ("network interface", ["network_interface"], False),
        ("virtual machine", ["virtual_machine"], False),
        ("extensions", ["extension"], False),
    ]
    assert plan.changed
    assert {s.action for s in plan.steps} == {"create"}


def test_an_existing_subnet_leaves_out_the_virtual_network(request_):
    subnet = f"/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    request = dataclasses.replace(request_, subnet_id=subnet)
    ids = network_ids(request, SUB)
    plan = plan_present(request, ids, None, {})
    assert "virtual_network" not in [s.resource for s in plan.steps]
    assert resource_ids(request, ids)["subnet"] == subnet
    assert "virtual_network" not in resource_ids(request, ids)


def owned(name):
    return {"name": name, "tags": {OWNER_TAG: "dh1"}}


def test_absent_deletes_the_vm_then_the_nic_then_the_rest_together(request_):
    actual = {
        "virtual_machine": owned("dh1"),
        "network_interface": owned("dh1-nic"),
        "network_security_group": owned("dh1-nsg"),
        "public_ip": {"name": "dh1-ip", "tags": {}},  # not ours: left alone
        "virtual_network": owned("dh1-vnet"),
        "extensions": [owned("docker-install")],  # goes with the VM
    }
    plan = plan_absent(request_, actual)
    assert [(stage.name, [s.name for s in stage.steps], stage.concurrent) for stage in plan.stages] == [
        ("virtual machine", ["dh1"], False),
        ("network interface", ["dh1-nic"], False),
        ("network", ["dh1-nsg", "dh1-vnet"], True),
    ]
    assert {s.action for s in plan.steps} == {"delete"}


def test_absent_on_a_foreign_vm_removes_only_our_extension(request_):
    actual = {"virtual_machine": {"name": "dh1", "tags": {}}, "extensions": [owned("docker-install"), {"name": "x"}]}
    plan = plan_absent(request_, actual)
    assert [(s.resource, s.name) for s in plan.steps] == [("extension", "docker-install")]
    assert not plan_absent(request_, {}).changed


class RecordingExecutor(Executor):
    """Records the writes instead of sending them."""

    def __init__(self, request):
        super().__init__(clients=None, request=request, deadline=None)
        self.sent = []
        record = (self._record, self._record)
        self._operations = dict.fromkeys(self._operations, record)

    def _record(self, step):
        self.sent.append((step.resource, step.action))
        return {"name": step.name}


def test_the_executor_follows_the_stages_and_skips_unchanged_steps(request_):
    plan = plan_present(request_, network_ids(request_, SUB), None, {})
    executor = RecordingExecutor(request_)
    current = executor.apply(plan, {})
    assert [resource for resource, _action in executor.sent[:1]] == ["resource_group"]
    assert {resource for resource, _action in executor.sent[1:4]} == {
        "network_security_group",
        "public_ip",
        "virtual_network",
    }
    assert [resource for resource, _action in executor.sent[4:]] == [
        "network_interface",
        "virtual_machine",
        "extension",
    ]
    assert current["virtual_machine"] == {"name": "dh1"}
    assert executor.wrote


# -- never re-key a host by accident -----------------------------------------------------------------------------
def _set_up_with(request):
    """The extension as Azure returns it after ``request`` was applied."""
    (step,) = plan_present(request, network_ids(request, SUB), None, {}).stages[-1].steps
    props = {k: v for k, v in step.body["properties"].items() if k != "protectedSettings"}
    return {"name": step.name, "tags": step.body["tags"], "properties": {**props, "provisioningState": "Succeeded"}}


def _with_new_ca(request_, tmp_path):
    other_ca = TestCA(str(tmp_path / "other-pki"), name="Other CA")
    pair = other_ca.server(dns_names=("dh1.westeurope.cloudapp.azure.com",))
    return dataclasses.replace(request_, certs=load_certificates(other_ca.cert_path, pair.cert, pair.key))


def test_another_ca_is_refused_before_any_step_and_rotate_ca_applies_it(request_, tmp_path):
    actual = {"extensions": [_set_up_with(request_)]}
    ids = network_ids(request_, SUB)
    assert plan_present(request_, ids, None, actual).stages[-1].steps[0].action == "none"
    new_ca = _with_new_ca(request_, tmp_path)
    with pytest.raises(CaMismatch) as caught:
        plan_present(new_ca, ids, None, actual)
    assert request_.certs.ca_sha256 in caught.value.message and new_ca.certs.ca_sha256 in caught.value.message
    plan = plan_present(new_ca, ids, None, actual, rotate_ca=True)
    (step,) = plan.stages[-1].steps
    assert (step.action, step.reasons) == ("update", ["fingerprints"])
    assert (step.before["fingerprints"]["ca"], step.after["fingerprints"]["ca"]) == (
        request_.certs.ca_sha256,
        new_ca.certs.ca_sha256,
    )
    assert plan.warnings == ()


def test_an_extension_whose_ca_is_unknown_is_applied_with_a_warning(request_):
    foreign = _set_up_with(request_)
    foreign["properties"]["forceUpdateTag"] = "set-by-hand"
    plan = plan_present(request_, network_ids(request_, SUB), None, {"extensions": [foreign]})
    assert plan.stages[-1].steps[0].action == "update"
    (warning,) = plan.warnings
    assert "unknown" in warning and request_.certs.ca_sha256 in warning
