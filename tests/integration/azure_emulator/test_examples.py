# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Microsoft's published examples, replayed: their requests are accepted, and the emulator's responses have the
same keys in the same places as the examples' responses. Every difference is listed below with its reason."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.emulator

EXAMPLES = Path(__file__).resolve().parent / "examples"
# Placeholders in the examples are not values: they are replaced as a user would replace them.
PLACEHOLDERS = {
    "{your-username}": "azureuser",
    "{your-password}": "Emul4tor-Pass!",
    "{image_publisher}": "Canonical",
    "{image_offer}": "UbuntuServer",
    "{image_sku}": "16.04-LTS",
    "{existing-nic-name}": "myNic",
}
SAMPLE_SUBSCRIPTIONS = ("{subscription-id}", "00000000-0000-0000-0000-000000000000", "subid")


def load(name: str, subscription: str) -> dict:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    for placeholder, value in PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    for sample in SAMPLE_SUBSCRIPTIONS:
        text = text.replace(f"/subscriptions/{sample}/", f"/subscriptions/{subscription}/")
    return json.loads(text)


def key_paths(value, prefix: str = "") -> set[str]:
    """Every key's path (``properties.subnets[].id``); list items are merged."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, child in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            paths |= key_paths(child, path)
    elif isinstance(value, list):
        for item in value:
            paths |= key_paths(item, f"{prefix}[]")
    return paths


@dataclass
class Case:
    method: str
    path: str  # formatted with the example's parameters
    body: str | None = None  # the example's body parameter
    compare: str = "201"  # which example response our answer is compared with
    status: tuple[int, ...] = (201,)
    setup: Callable | None = None
    query: dict = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # example keys we do not answer: why
    extra: dict[str, str] = field(default_factory=dict)  # keys we answer that the example lacks: why


NET = "resourceGroups/{resourceGroupName}/providers/Microsoft.Network"
VM = "resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachines/{vmName}"
ETAG = {"etag": "the network RP returns an etag on every resource (the SDK models have it); the example omits it"}


def _rg1(arm, location="eastus"):
    arm.group("rg1", location)


def _vnet_for_nic(arm):
    _rg1(arm)
    arm.vnet("rg1", "rg1-vnet", "172.20.0.0/16", {"default": "172.20.2.0/24"})
    arm.public_ip("rg1", "test-ip")


def _vnet_with_used_subnet(arm):
    _rg1(arm, "westus")
    vnet = arm.vnet("rg1", "test-vnet", "10.0.0.0/16", {"subnet1": "10.0.1.0/24"}, "westus")
    arm.nic("rg1", "nic1", vnet["properties"]["subnets"][0]["id"], location="westus")


def _subnet_test(arm, with_subnet=False):
    arm.group("subnet-test")
    arm.vnet("subnet-test", "vnetname", "10.0.0.0/16", {"subnet1": "10.0.0.0/16"} if with_subnet else {})


def _nsg(arm, location="eastus"):
    _rg1(arm, location)
    rule = {
        "name": "rule1",
        "properties": {
            "access": "Allow", "destinationAddressPrefix": "*", "destinationPortRange": "80", "direction": "Inbound",
            "priority": 130, "sourceAddressPrefix": "*", "sourcePortRange": "*", "protocol": "*",
        },
    }  # fmt: skip
    arm.nsg("rg1", "testnsg", location, rules=[rule])


def _pip_attached(arm, name="testDNS-ip"):
    _rg1(arm, "westus")
    vnet = arm.vnet("rg1", "test-vnet", "10.0.0.0/16", {"default": "10.0.0.0/24"}, "westus")
    tags = [{"ipTagType": "FirstPartyUsage", "tag": "SQL"}, {"ipTagType": "FirstPartyUsage", "tag": "Storage"}]
    pip = arm.public_ip("rg1", name, "westus", ipTags=tags)
    arm.nic("rg1", "testDNS649", vnet["properties"]["subnets"][0]["id"], pip_id=pip["id"], location="westus")


def _nic_alone(arm):
    _vnet_for_nic(arm)
    subnet = f"{arm.sub}/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/rg1-vnet/subnets/default"
    arm.nic("rg1", "test-nic", subnet)


def _nic_on_vm(arm):
    """The NIC of NetworkInterfaceCreate.json with an NSG, attached to a VM (as NetworkInterfaceGet shows it)."""
    _vnet_for_nic(arm)
    nsg = arm.nsg("rg1", "nsg")
    body = load("network/NetworkInterfaceCreate.json", arm.emu.subscription_id)["parameters"]["parameters"]
    body["properties"]["networkSecurityGroup"] = {"id": nsg["id"]}
    body["properties"]["enableAcceleratedNetworking"] = False  # a B2s has no accelerated networking
    nic = arm.put("resourceGroups/rg1/providers/Microsoft.Network/networkInterfaces/test-nic", body, "network")
    arm.vm("rg1", "vm1", nic["id"])


def _vm_prereqs(arm, group="myResourceGroup", location="westus", nic="myNic"):
    arm.group(group, location)
    vnet = arm.vnet(group, "vnet", "10.0.0.0/16", {"default": "10.0.0.0/24"}, location)
    return arm.nic(group, nic, vnet["properties"]["subnets"][0]["id"], location=location)


def _vm(arm, group="myResourceGroup", name="myVM", location="westus", extension=None):
    nic = _vm_prereqs(arm, group, location, nic=f"{name}-nic")
    arm.vm(group, name, nic["id"], location)
    if extension:
        _extension(arm, group, name, extension, location)


def _extension(arm, group, vm, name, location):
    """The extension of the MaximumSet example (its handler does not exist: it fails, suppressFailures hides it)."""
    body = load("compute/VirtualMachineExtension_CreateOrUpdate_MaximumSet_Gen.json", arm.emu.subscription_id)
    body = body["parameters"]["extensionParameters"]
    body["location"] = location
    arm.put(
        f"resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{vm}/extensions/{name}", body, "compute"
    )


def _windows_vm_like_the_get_example(arm):
    """VirtualMachine_Get.json's VM as far as it is emulated: Windows, tags, data disks, boot diagnostics, userData."""
    nic = _vm_prereqs(arm)
    body = {
        "location": "westus",
        "tags": {"myTag1": "tagValue1"},
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_DS3_v2"},
            "storageProfile": {
                "imageReference": {"publisher": "MicrosoftWindowsServer", "offer": "WindowsServer",
                                   "sku": "2016-Datacenter", "version": "latest"},
                "osDisk": {"name": "myOsDisk", "createOption": "FromImage", "caching": "ReadWrite",
                           "managedDisk": {"storageAccountType": "Premium_LRS"}},
                "dataDisks": [{"lun": 0, "name": "myDataDisk0", "createOption": "Empty", "caching": "ReadWrite",
                               "managedDisk": {"storageAccountType": "Premium_LRS"}, "diskSizeGB": 30}],
            },
            "osProfile": {"computerName": "myVM", "adminUsername": "azureadmin", "adminPassword": "Emul4tor-Pass!",
                          "windowsConfiguration": {"provisionVMAgent": True, "enableAutomaticUpdates": False}},
            "networkProfile": {"networkInterfaces": [{"id": nic["id"]}]},
            "diagnosticsProfile": {"bootDiagnostics": {"enabled": True,
                                                       "storageUri": "http://mystorageaccount.blob.core.windows.net"}},
            "userData": "RXhhbXBsZSBVc2VyRGF0YQ==",
        },
    }  # fmt: skip
    arm.put("resourceGroups/myResourceGroup/providers/Microsoft.Compute/virtualMachines/myVM", body, "compute")
    ext = {"location": "westus", "tags": {"displayName": "CustomScriptExtension-DSC"},
           "properties": {"autoUpgradeMinorVersion": True, "publisher": "Microsoft.Compute",
                          "type": "CustomScriptExtension", "typeHandlerVersion": "1.9", "settings": {},
                          "suppressFailures": True}}  # fmt: skip
    path = "resourceGroups/myResourceGroup/providers/Microsoft.Compute/virtualMachines/myVM"
    arm.put(f"{path}/extensions/CustomScriptExtension-DSC", ext, "compute")


SKU = {"sku": "Azure answers the SKU it applied (Basic, Regional by default); the example omits it"}
UNATTACHED = "the example's address is attached to a NIC the request does not create (shown once attached: Get)"
NSG_ETAGS = {
    **ETAG,
    "properties.defaultSecurityRules[].etag": ETAG["etag"],
    "properties.securityRules[].etag": ETAG["etag"],
}
EXT_MISSING = {
    "properties.protectedSettings": "Azure never returns protected settings (the generated example echoes them)",
}
SENT_VIEW = "read-only: Azure ignores the instanceView a client sends (the generated example echoes it)"
EXT_PUT_MISSING = {**EXT_MISSING, "properties.instanceView": SENT_VIEW}
EXT_VIEW_MISSING = {"properties.instanceView.substatuses": "the handlers report no substatuses"}
VM_CREATE_EXTRA = {
    "properties.osProfile.allowExtensionOperations": "Azure returns it (default true); the example omits it",
}
PASSWORD_AUTH = "properties.osProfile.linuxConfiguration.disablePasswordAuthentication"
NOT_EMULATED = "not emulated (availability sets, placement groups, gallery applications, scale sets)"
WINDOWS_CONFIG = "properties.osProfile.windowsConfiguration"

# fmt: off
CASES = {
    # -- resources ----------------------------------------------------------------------------------------------
    "resources/CreateResourceGroup.json": Case(
        "PUT", "resourcegroups/{resourceGroupName}", "parameters",
        extra={"type": "ARM returns the type (as ResourceGroups_Get shows); this example omits it"},
    ),
    "resources/ResourceGroups_Get.json": Case(
        "GET", "resourcegroups/{resourceGroupName}", compare="200", status=(200,),
        setup=lambda arm: arm.group("my-resource-group"),
    ),
    "resources/ForceDeleteVMsInResourceGroup.json": Case(
        "DELETE", "resourcegroups/{resourceGroupName}", compare="202", status=(202,),
        setup=lambda arm: arm.group("my-resource-group"),
        query={"forceDeletionTypes": "Microsoft.Compute/virtualMachines"},
    ),
    # -- network ------------------------------------------------------------------------------------------------
    "network/VirtualNetworkCreateSubnet.json": Case(
        "PUT", NET + "/virtualNetworks/{virtualNetworkName}", "parameters", setup=_rg1,
        extra={**ETAG, "properties.subnets[].etag": ETAG["etag"]},
    ),
    "network/VirtualNetworkGet.json": Case(
        "GET", NET + "/virtualNetworks/{virtualNetworkName}", compare="200", status=(200,),
        setup=_vnet_with_used_subnet,
        missing={"properties.defaultPublicNatGateway": "NAT gateways are not emulated"},
        extra={**ETAG, "properties.subnets[].etag": ETAG["etag"]},
    ),
    "network/VirtualNetworkDelete.json": Case(
        "DELETE", NET + "/virtualNetworks/{virtualNetworkName}", compare="202", status=(202,),
        setup=lambda arm: (_rg1(arm), arm.vnet("rg1", "test-vnet", "10.0.0.0/16", {})),
    ),
    "network/SubnetCreate.json": Case(
        "PUT", NET + "/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}", "subnetParameters",
        setup=_subnet_test, extra=ETAG,
    ),
    "network/SubnetGet.json": Case(
        "GET", NET + "/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}", compare="200", status=(200,),
        setup=lambda arm: _subnet_test(arm, with_subnet=True), extra=ETAG,
    ),
    "network/SubnetDelete.json": Case(
        "DELETE", NET + "/virtualNetworks/{virtualNetworkName}/subnets/{subnetName}", compare="202", status=(202,),
        setup=lambda arm: _subnet_test(arm, with_subnet=True),
    ),
    "network/NetworkSecurityGroupCreateWithRule.json": Case(
        "PUT", NET + "/networkSecurityGroups/{networkSecurityGroupName}", "parameters", setup=_rg1, extra=NSG_ETAGS,
    ),
    "network/NetworkSecurityGroupGet.json": Case(
        "GET", NET + "/networkSecurityGroups/{networkSecurityGroupName}", compare="200", status=(200,),
        setup=lambda arm: _nsg(arm, "westus"), extra=NSG_ETAGS,
    ),
    "network/NetworkSecurityGroupDelete.json": Case(
        "DELETE", NET + "/networkSecurityGroups/{networkSecurityGroupName}", compare="202", status=(202,), setup=_nsg,
    ),
    "network/NetworkSecurityGroupRuleCreate.json": Case(
        "PUT", NET + "/networkSecurityGroups/{networkSecurityGroupName}/securityRules/{securityRuleName}",
        "securityRuleParameters", compare="200", status=(200,), setup=_nsg, extra=ETAG,
    ),
    "network/NetworkSecurityGroupRuleDelete.json": Case(
        "DELETE", NET + "/networkSecurityGroups/{networkSecurityGroupName}/securityRules/{securityRuleName}",
        compare="202", status=(202,), setup=_nsg,
    ),
    "network/PublicIpAddressCreateDns.json": Case(
        "PUT", NET + "/publicIPAddresses/{publicIpAddressName}", "parameters", setup=_rg1,
        missing={"properties.ipConfiguration": UNATTACHED},
        extra={**ETAG, **SKU},
    ),
    "network/PublicIpAddressCreateCustomizedValues.json": Case(
        "PUT", NET + "/publicIPAddresses/{publicIpAddressName}", "parameters", setup=_rg1,
        missing={"properties.ipConfiguration": UNATTACHED,
                 "zones": "the example passes zones as a URL parameter (not part of the API); its body has none"},
        extra={**ETAG, "properties.ipAddress": "a Standard Static address has its IP from creation (Azure answers it)"},
    ),
    "network/PublicIpAddressGet.json": Case(
        "GET", NET + "/publicIPAddresses/{publicIpAddressName}", compare="200", status=(200,), setup=_pip_attached,
        extra={**ETAG, **SKU},
        missing={"properties.ddosSettings.ddosProtectionPlan": "DDoS protection plans are not emulated"},
    ),
    "network/PublicIpAddressDelete.json": Case(
        "DELETE", NET + "/publicIPAddresses/{publicIpAddressName}", compare="202", status=(202,),
        setup=lambda arm: (_rg1(arm), arm.public_ip("rg1", "test-ip")),
    ),
    "network/NetworkInterfaceCreate.json": Case(
        "PUT", NET + "/networkInterfaces/{networkInterfaceName}", "parameters", setup=_vnet_for_nic,
        extra={**ETAG, "properties.ipConfigurations[].etag": ETAG["etag"],
               "properties.disableTcpStateTracking": "sent by the request; the example's 200 has it, its 201 not",
               "properties.dnsSettings.internalDomainNameSuffix": "Azure answers it (NetworkInterfaceGet.json has it)"},
    ),
    "network/NetworkInterfaceGet.json": Case(
        "GET", NET + "/networkInterfaces/{networkInterfaceName}", compare="200", status=(200,), setup=_nic_on_vm,
        extra={**ETAG, "properties.ipConfigurations[].etag": ETAG["etag"]},
        missing={"properties.dscpConfiguration": "DSCP configurations are not emulated"},
    ),
    "network/NetworkInterfaceDelete.json": Case(
        "DELETE", NET + "/networkInterfaces/{networkInterfaceName}", compare="202", status=(202,),
        setup=_nic_alone,
    ),
    # -- compute ------------------------------------------------------------------------------------------------
    "compute/VirtualMachine_Create_WithSshAuthentication.json": Case(
        "PUT", VM, "parameters", setup=_vm_prereqs, extra=VM_CREATE_EXTRA,
        missing={"properties.securityProfile": "only returned when sent (the 2026-04-01 examples agree)"},
    ),
    "compute/VirtualMachine_Create_LinuxVmWithPatchSettingModeOfImageDefault.json": Case(
        "PUT", VM, "parameters", setup=_vm_prereqs, extra={
            **VM_CREATE_EXTRA,
            PASSWORD_AUTH: "Azure answers the value in force",
        },
    ),
    "compute/VirtualMachine_Create_WithPasswordAuthentication.json": Case(
        "PUT", VM, "parameters", setup=_vm_prereqs, extra=VM_CREATE_EXTRA,
    ),
    "compute/VirtualMachine_Get.json": Case(
        "GET", VM, compare="200", status=(200,), setup=_windows_vm_like_the_get_example,
        query={"$expand": "userData"},
        missing={
            "managedBy": NOT_EMULATED, "properties.availabilitySet": NOT_EMULATED,
            "properties.proximityPlacementGroup": NOT_EMULATED, "properties.applicationProfile": NOT_EMULATED,
            "properties.extensionsTimeBudget": "only returned when set; the example set it",
        },
        extra={"properties.osProfile.allowExtensionOperations": VM_CREATE_EXTRA[
            "properties.osProfile.allowExtensionOperations"],
            "properties.storageProfile.osDisk.deleteOption": "Azure returns the OS disk's deleteOption (Detach)",
            "resources[].properties.suppressFailures": "set by the setup: the Windows handler is not emulated",
        },
    ),
    "compute/VirtualMachine_Get_InstanceView.json": Case(
        "GET", VM + "/instanceView", compare="200", status=(200,), setup=lambda arm: _vm(arm, extension="ext0"),
        missing={
            "bootDiagnostics": "boot diagnostics are off on this VM (as on any VM that does not enable them)",
            "patchStatus": "patch assessment is not emulated",
        },
        extra={"extensions[].statuses[].time": "the handler's status time (VirtualMachineExtension_Get.json shows it)"},
    ),
    "compute/VirtualMachine_Delete_Force.json": Case(
        "DELETE", VM, compare="202", status=(202,), setup=_vm, query={"forceDeletion": "true"},
    ),
    "compute/VirtualMachineExtension_CreateOrUpdate_MaximumSet_Gen.json": Case(
        "PUT", VM + "/extensions/{vmExtensionName}", "extensionParameters",
        setup=lambda arm: _vm(arm, "rgcompute", "aaaaaaaaaaaaaaaaaaaaaaaa"), missing=EXT_PUT_MISSING,
    ),
    "compute/VirtualMachineExtension_CreateOrUpdate_MinimumSet_Gen.json": Case(
        "PUT", VM + "/extensions/{vmExtensionName}", "extensionParameters",
        setup=lambda arm: _vm(arm, "rgcompute", "myVM"),
        extra={k: "ARM always answers name, type and provisioningState; the generated minimum example shows only "
                  "what it sent" for k in ("name", "type", "properties", "properties.provisioningState")},
    ),
    "compute/VirtualMachineExtension_Get_MaximumSet_Gen.json": Case(
        "GET", VM + "/extensions/{vmExtensionName}", compare="200", status=(200,), query={"$expand": "instanceView"},
        setup=lambda arm: _vm(arm, "rgcompute", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa", extension="aaaaaaa"),
        missing={**EXT_MISSING, **EXT_VIEW_MISSING},
    ),
    "compute/VirtualMachineExtension_List_MaximumSet_Gen.json": Case(
        "GET", VM + "/extensions", compare="200", status=(200,), query={"$expand": "instanceView"},
        setup=lambda arm: _vm(arm, "rgcompute", "aaaaaaaaaaaaa", extension="myVMExtension"),
        missing={f"value[].{k}": v for k, v in {**EXT_MISSING, **EXT_VIEW_MISSING}.items()},
    ),
    "compute/VirtualMachineExtension_Delete_MaximumSet_Gen.json": Case(
        "DELETE", VM + "/extensions/{vmExtensionName}", compare="202", status=(202,),
        setup=lambda arm: _vm(arm, "rgcompute", "aaaaaaaaaaaaa", extension="aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
    ),
}
# fmt: on


def _covers(allowed: str, path: str) -> bool:
    """An explained key covers itself and everything below it."""
    return path == allowed or path.startswith((allowed + ".", allowed + "["))


def _uncovered(paths: set[str], explained: dict[str, str]) -> list[str]:
    return sorted(p for p in paths if not any(_covers(a, p) for a in explained))


def _unused(paths: set[str], explained: dict[str, str]) -> list[str]:
    return sorted(a for a in explained if not any(_covers(a, p) for p in paths))


def test_every_example_is_replayed():
    on_disk = {str(p.relative_to(EXAMPLES)) for p in EXAMPLES.glob("*/*.json")}
    assert on_disk == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_example(name, azure_emulator, arm):
    case = CASES[name]
    example = load(name, azure_emulator.subscription_id)
    params = example["parameters"]
    if case.setup is not None:
        case.setup(arm)
    path = case.path.format(**params)
    body = params.get(case.body) if case.body else None
    answer = arm.call(case.method, path, body, params["api-version"], **case.query)
    assert answer.status_code in case.status, answer.text
    expected = example["responses"][case.compare]
    if case.method == "DELETE":
        headers = {h.lower() for h in expected.get("headers", {})}
        assert headers <= {h.lower() for h in answer.headers}, (headers, dict(answer.headers))
        assert azure_emulator.wait_idle()
        return
    ours, theirs = key_paths(answer.json()), key_paths(expected["body"])
    missing, extra = theirs - ours, ours - theirs
    assert _uncovered(missing, case.missing) == [], "keys the example has and we lack"
    assert _uncovered(extra, case.extra) == [], "keys we answer that the example lacks"
    assert _unused(missing, case.missing) == [] and _unused(extra, case.extra) == [], "stale explanations"
    assert azure_emulator.wait_idle()
