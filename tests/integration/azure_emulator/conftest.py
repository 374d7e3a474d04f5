# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the emulator's own tests: raw ARM calls (as the examples are written) and small builders."""

from __future__ import annotations

import pytest
import requests

API = {"network": "2026-03-01", "compute": "2026-04-01", "resources": "2025-04-01"}
SSH_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCeClRAk2ipUs/l5voIsDC5q9RI+YSRd1Bvd/O+axgY4WiBzG+4FwJWZm/mLLe5DoOdHQwmU2"
    "FrKXZSW4w2sYE70KeWnrFViCOX5MTVvJgPE8ClugNl8RWth/tU849DvM9sT7vFgfVSHcAS2yDRyDlueii+8nF2ym8XWAPltFVCyLHRsyBp5Y"
    "PqK8JFYIa1eybKsY3hEAxRCA+/7bq8et+Gj3coOsuRmrehav7rE6N12Pb80I6ofa6SM5XNYq4Xk0iYNx7R3kdz0Jj9XgZYWjAHjJmT0gTRoO"
    "nt6upOuxK7xI/ykWrllgpXrCPu3Ymz+c+ujaqcxDopnAl2lmf69/J1"
)
IMAGE = {
    "publisher": "Canonical",
    "offer": "0001-com-ubuntu-server-jammy",
    "sku": "22_04-lts-gen2",
    "version": "latest",
}


class Arm:
    """Raw ARM requests with a real token (for examples and error bodies), plus builders of prerequisites."""

    def __init__(self, emulator) -> None:
        self.emu = emulator
        self.session = requests.Session()
        token = emulator.credential().get_token(emulator.credential_scope).token
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.sub = f"/subscriptions/{emulator.subscription_id}"

    def call(self, method: str, path: str, body=None, api_version: str | None = None, **query) -> requests.Response:
        url = path if path.startswith("https://") else f"{self.emu.endpoint}{self.sub}/{path.lstrip('/')}"
        params = dict(query)
        if api_version:
            params["api-version"] = api_version
        return self.session.request(method, url, json=body, params=params, timeout=60)

    def put(self, path: str, body: dict, api: str) -> dict:
        """PUT and wait until its operation ended; return the final GET."""
        answer = self.call("PUT", path, body, API[api])
        assert answer.status_code in (200, 201), answer.text
        assert self.emu.wait_idle()
        final = self.call("GET", path, api_version=API[api])
        assert final.status_code == 200, final.text
        return final.json()

    # -- builders -------------------------------------------------------------------------------
    def group(self, name: str, location: str = "eastus") -> dict:
        answer = self.call("PUT", f"resourcegroups/{name}", {"location": location}, API["resources"])
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def vnet(self, group: str, name: str, prefix: str, subnets: dict[str, str], location: str = "eastus") -> dict:
        body = {
            "location": location,
            "properties": {
                "addressSpace": {"addressPrefixes": [prefix]},
                "subnets": [{"name": n, "properties": {"addressPrefix": p}} for n, p in subnets.items()],
            },
        }
        return self.put(f"resourceGroups/{group}/providers/Microsoft.Network/virtualNetworks/{name}", body, "network")

    def public_ip(self, group: str, name: str, location: str = "eastus", **properties) -> dict:
        body = {"location": location, "properties": properties}
        if properties.get("publicIPAllocationMethod") == "Static":
            body["sku"] = {"name": "Standard"}
        return self.put(f"resourceGroups/{group}/providers/Microsoft.Network/publicIPAddresses/{name}", body, "network")

    def nsg(self, group: str, name: str, location: str = "eastus", rules: list | None = None) -> dict:
        body = {"location": location, "properties": {"securityRules": rules or []}}
        return self.put(
            f"resourceGroups/{group}/providers/Microsoft.Network/networkSecurityGroups/{name}", body, "network"
        )

    def nic(self, group: str, name: str, subnet_id: str, *, pip_id=None, nsg_id=None, location: str = "eastus") -> dict:
        config: dict = {"subnet": {"id": subnet_id}}
        if pip_id:
            config["publicIPAddress"] = {"id": pip_id}
        body: dict = {
            "location": location,
            "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": config}]},
        }
        if nsg_id:
            body["properties"]["networkSecurityGroup"] = {"id": nsg_id}
        return self.put(f"resourceGroups/{group}/providers/Microsoft.Network/networkInterfaces/{name}", body, "network")

    def vm_body(self, nic_id: str, location: str = "eastus", **profile) -> dict:
        os_profile = {
            "adminUsername": "azureuser",
            "linuxConfiguration": {
                "disablePasswordAuthentication": True,
                "ssh": {"publicKeys": [{"path": "/home/azureuser/.ssh/authorized_keys", "keyData": SSH_KEY}]},
            },
        }
        os_profile.update(profile)
        return {
            "location": location,
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_B2s"},
                "storageProfile": {"imageReference": dict(IMAGE), "osDisk": {"createOption": "FromImage"}},
                "osProfile": os_profile,
                "networkProfile": {"networkInterfaces": [{"id": nic_id}]},
            },
        }

    def vm(self, group: str, name: str, nic_id: str, location: str = "eastus") -> dict:
        path = f"resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}"
        return self.put(path, self.vm_body(nic_id, location), "compute")

    def network_for_vm(self, group: str, prefix: str = "vm", location: str = "eastus", label: str | None = None):
        """VNet, Standard static public IP (with a DNS label), NSG, NIC: what a Docker host needs."""
        vnet = self.vnet(group, f"{prefix}-vnet", "10.1.0.0/16", {"default": "10.1.0.0/24"}, location)
        dns = {"dnsSettings": {"domainNameLabel": label}} if label else {}
        pip = self.public_ip(group, f"{prefix}-ip", location, publicIPAllocationMethod="Static", **dns)
        nsg = self.nsg(group, f"{prefix}-nsg", location)
        nic = self.nic(
            group,
            f"{prefix}-nic",
            vnet["properties"]["subnets"][0]["id"],
            pip_id=pip["id"],
            nsg_id=nsg["id"],
            location=location,
        )
        return vnet, pip, nsg, nic


@pytest.fixture
def arm(azure_emulator):
    return Arm(azure_emulator)


@pytest.fixture
def arm_for():
    """Factory: an :class:`Arm` for an emulator the test started itself."""
    return Arm
