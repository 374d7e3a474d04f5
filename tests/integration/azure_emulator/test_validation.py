# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each validation rule is refused as Azure refuses it: status, ARM's error body, Azure's code (and target)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.emulator

NET = "resourceGroups/rg/providers/Microsoft.Network"
VM = "resourceGroups/rg/providers/Microsoft.Compute/virtualMachines"


def _refused(answer, status: int, code: str, target: str | None = None) -> dict:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) <= {"code", "message", "target", "details", "additionalInfo"}
    assert error["code"] == code, error
    assert error["message"]
    if target is not None:
        assert error.get("target") == target
    return error


@pytest.fixture
def world(arm):
    """A group with a VNet and a NIC: what the VM and NIC cases refer to."""
    arm.group("rg")
    vnet = arm.vnet("rg", "vnet", "10.0.0.0/16", {"default": "10.0.0.0/24"})
    nic = arm.nic("rg", "nic", vnet["properties"]["subnets"][0]["id"])
    return {"subnet": vnet["properties"]["subnets"][0]["id"], "nic": nic["id"]}


def test_resource_group_rules(arm):
    _refused(
        arm.call("PUT", "resourcegroups/bad.", {"location": "eastus"}, "2025-04-01"), 400, "InvalidResourceGroupName"
    )
    _refused(arm.call("PUT", "resourcegroups/x", {"tags": {}}, "2025-04-01"), 400, "LocationRequired")
    _refused(arm.call("PUT", "resourcegroups/x", {"location": "eastus"}), 400, "MissingApiVersionParameter")
    _refused(
        arm.call("PUT", "resourcegroups/x", {"location": "eastus"}, "2099-01-01"), 400, "InvalidApiVersionParameter"
    )
    _refused(arm.call("GET", "resourcegroups/none", api_version="2025-04-01"), 404, "ResourceGroupNotFound")
    _refused(arm.call("GET", f"{NET}/virtualNetworks/v", api_version="2026-03-01"), 404, "ResourceGroupNotFound")


@pytest.mark.parametrize("name", ["-vnet", "vnet-", "vnet.", "v" * 81, "vn@t"])
def test_network_resource_names(arm, name):
    arm.group("rg")
    body = {"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}}
    _refused(arm.call("PUT", f"{NET}/virtualNetworks/{name}", body, "2026-03-01"), 400, "InvalidResourceName")


def test_api_versions_and_parents(arm, world):
    path = f"{NET}/virtualNetworks/vnet"
    _refused(arm.call("GET", path, api_version="2099-01-01"), 400, "NoRegisteredProviderFound")
    _refused(arm.call("GET", path), 400, "MissingApiVersionParameter")
    _refused(arm.call("GET", f"{NET}/virtualNetworks/missing", api_version="2026-03-01"), 404, "ResourceNotFound")
    _refused(arm.call("GET", f"{path}/subnets/missing", api_version="2026-03-01"), 404, "NotFound")
    subnet = {"properties": {"addressPrefix": "10.9.0.0/24"}}
    _refused(
        arm.call("PUT", f"{NET}/virtualNetworks/none/subnets/s", subnet, "2026-03-01"), 404, "ParentResourceNotFound"
    )
    _refused(arm.call("PUT", f"{path}/subnets/out", subnet, "2026-03-01"), 400, "NetcfgSubnetRangeOutsideVnet")
    overlap = {"properties": {"addressPrefix": "10.0.0.128/25"}}
    _refused(arm.call("PUT", f"{path}/subnets/overlap", overlap, "2026-03-01"), 400, "NetcfgSubnetRangesOverlap")


def _vm_body(arm, world, **profile) -> dict:
    return arm.vm_body(world["nic"], **profile)


@pytest.mark.parametrize("username", ["admin", "root", "administrator", "user", "test", "guest", "Admin"])
def test_reserved_admin_usernames(arm, world, username):
    body = _vm_body(arm, world, adminUsername=username, adminPassword="Val1d-Password!", linuxConfiguration={})
    error = _refused(arm.call("PUT", f"{VM}/vm", body, "2026-04-01"), 400, "InvalidParameter", "adminUsername")
    assert error["message"] == "The Admin Username specified is not allowed."


@pytest.mark.parametrize("username", ["u" * 65, "bad@user", "bad/user", "ends-with-dot."])
def test_malformed_admin_usernames(arm, world, username):
    body = _vm_body(arm, world, adminUsername=username, adminPassword="Val1d-Password!", linuxConfiguration={})
    _refused(arm.call("PUT", f"{VM}/vm", body, "2026-04-01"), 400, "InvalidParameter", "adminUsername")


@pytest.mark.parametrize(
    "password",
    ["Ab1!x", "abcdefgh", "abcdefg1", "ABCDEFG!", "Aa1!" * 18 + "x", "P@ssw0rd", "Password1", "Pa$$word"],
)
def test_linux_password_rules(arm, world, password):
    body = _vm_body(arm, world, adminPassword=password, linuxConfiguration={"disablePasswordAuthentication": False})
    _refused(arm.call("PUT", f"{VM}/vm", body, "2026-04-01"), 400, "InvalidParameter", "adminPassword")


def test_vm_rules(arm, world):
    ok = _vm_body(arm, world)
    _refused(arm.call("PUT", f"{VM}/vm-", ok, "2026-04-01"), 400, "InvalidResourceName")
    _refused(arm.call("PUT", f"{VM}/_vm", ok, "2026-04-01"), 400, "InvalidResourceName")
    no_size = _vm_body(arm, world)
    del no_size["properties"]["hardwareProfile"]
    _refused(arm.call("PUT", f"{VM}/vm", no_size, "2026-04-01"), 400, "InvalidParameter", "hardwareProfile.vmSize")
    image = _vm_body(arm, world)
    image["properties"]["storageProfile"]["imageReference"]["sku"] = "99_04-lts"
    _refused(arm.call("PUT", f"{VM}/vm", image, "2026-04-01"), 404, "PlatformImageNotFound")
    no_auth = _vm_body(arm, world, linuxConfiguration={"disablePasswordAuthentication": True})
    _refused(arm.call("PUT", f"{VM}/vm", no_auth, "2026-04-01"), 400, "InvalidParameter", "linuxConfiguration")
    key = _vm_body(arm, world)
    key["properties"]["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0]["path"] = "/root/.ssh/authorized_keys"
    _refused(
        arm.call("PUT", f"{VM}/vm", key, "2026-04-01"),
        400,
        "InvalidParameter",
        "linuxConfiguration.ssh.publicKeys.path",
    )
    key["properties"]["osProfile"]["linuxConfiguration"]["ssh"]["publicKeys"][0].update(
        path="/home/azureuser/.ssh/authorized_keys", keyData="ssh-rsa not-a-key"
    )
    _refused(
        arm.call("PUT", f"{VM}/vm", key, "2026-04-01"), 400, "InvalidParameter",
        "linuxConfiguration.ssh.publicKeys.keyData",
    )  # fmt: skip
    missing_nic = _vm_body(arm, world)
    missing_nic["properties"]["networkProfile"]["networkInterfaces"][0]["id"] += "-gone"
    _refused(arm.call("PUT", f"{VM}/vm", missing_nic, "2026-04-01"), 400, "InvalidResourceReference")
    assert arm.call("PUT", f"{VM}/vm", ok, "2026-04-01").status_code == 201
    assert arm.emu.wait_idle()
    second = arm.call("PUT", f"{VM}/vm2", ok, "2026-04-01")
    _refused(second, 400, "NicInUse")
    renamed = _vm_body(arm, world, adminUsername="someoneelse")
    _refused(arm.call("PUT", f"{VM}/vm", renamed, "2026-04-01"), 409, "PropertyChangeNotAllowed")
    _refused(arm.call("DELETE", f"{NET}/networkInterfaces/nic", api_version="2026-03-01"), 400, "NicInUse")


@pytest.mark.parametrize("label", ["Upper", "ab", "-abc", "abc-", "a_b_c", "1abc", "a" * 64])
def test_dns_label_rules(arm, label):
    arm.group("rg")
    body = {"location": "eastus", "properties": {"dnsSettings": {"domainNameLabel": label}}}
    _refused(arm.call("PUT", f"{NET}/publicIPAddresses/ip", body, "2026-03-01"), 400, "InvalidDomainNameLabel")


def test_dns_labels_are_unique_per_location(arm):
    arm.group("rg")
    arm.public_ip("rg", "one", dnsSettings={"domainNameLabel": "dockerhost"})
    body = {"location": "eastus", "properties": {"dnsSettings": {"domainNameLabel": "dockerhost"}}}
    error = _refused(arm.call("PUT", f"{NET}/publicIPAddresses/two", body, "2026-03-01"), 400, "DnsRecordInUse")
    assert error["message"] == "DNS record dockerhost.eastus.cloudapp.azure.com is already used by another public IP."
    elsewhere = arm.public_ip("rg", "three", "westus", dnsSettings={"domainNameLabel": "dockerhost"})
    assert elsewhere["properties"]["dnsSettings"]["fqdn"] == "dockerhost.westus.cloudapp.azure.com"
    standard_dynamic = {"location": "eastus", "sku": {"name": "Standard"},
                        "properties": {"publicIPAllocationMethod": "Dynamic"}}  # fmt: skip
    _refused(
        arm.call("PUT", f"{NET}/publicIPAddresses/four", standard_dynamic, "2026-03-01"), 400,
        "StandardSkuPublicIPAddressesMustBeStatic",
    )  # fmt: skip


def _rule(priority, direction="Inbound", port="2376") -> dict:
    return {"properties": {"protocol": "Tcp", "access": "Allow", "direction": direction, "priority": priority,
                           "sourceAddressPrefix": "203.0.113.0/24", "sourcePortRange": "*",
                           "destinationAddressPrefix": "*", "destinationPortRange": port}}  # fmt: skip


def test_nsg_priority_range_and_uniqueness(arm):
    arm.group("rg")
    arm.nsg("rg", "nsg")
    rules = f"{NET}/networkSecurityGroups/nsg/securityRules"
    for priority in (99, 4097, 0, "100"):
        error = _refused(
            arm.call("PUT", f"{rules}/r", _rule(priority), "2026-03-01"), 400, "SecurityRuleInvalidPriority"
        )
        assert "Allowed range 100-4096" in error["message"]
    assert arm.put(f"{rules}/docker", _rule(100), "network")["properties"]["priority"] == 100
    error = _refused(arm.call("PUT", f"{rules}/ssh", _rule(100, port="22"), "2026-03-01"), 400, "SecurityRuleConflict")
    assert "Rules cannot have the same Priority and Direction" in error["message"]
    assert arm.put(f"{rules}/out", _rule(100, "Outbound"), "network")["properties"]["direction"] == "Outbound"
    bad_port = _rule(200, port="any")
    _refused(arm.call("PUT", f"{rules}/port", bad_port, "2026-03-01"), 400, "SecurityRuleInvalidPortRange")
    inline = {"location": "eastus", "properties": {"securityRules": [
        {"name": "a", **_rule(300)}, {"name": "b", **_rule(300, port="22")}]}}  # fmt: skip
    _refused(arm.call("PUT", f"{NET}/networkSecurityGroups/n2", inline, "2026-03-01"), 400, "SecurityRuleConflict")


def test_references_to_missing_resources(arm, world):
    body = {"location": "eastus", "properties": {"ipConfigurations": [
        {"name": "ipconfig1", "properties": {"subnet": {"id": world["subnet"] + "-gone"}}}]}}  # fmt: skip
    error = _refused(
        arm.call("PUT", f"{NET}/networkInterfaces/nic2", body, "2026-03-01"), 400, "InvalidResourceReference"
    )
    assert "was not found" in error["message"]
    body["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"] = "default"
    _refused(arm.call("PUT", f"{NET}/networkInterfaces/nic2", body, "2026-03-01"), 400, "LinkedInvalidPropertyId")
    other_region = {"location": "westus", "properties": {"ipConfigurations": [
        {"name": "ipconfig1", "properties": {"subnet": {"id": world["subnet"]}}}]}}  # fmt: skip
    _refused(
        arm.call("PUT", f"{NET}/networkInterfaces/nic3", other_region, "2026-03-01"), 400, "InvalidResourceReference"
    )
    _refused(
        arm.call("DELETE", f"{NET}/virtualNetworks/vnet/subnets/default", api_version="2026-03-01"), 400,
        "InUseSubnetCannotBeDeleted",
    )  # fmt: skip
