# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The comparison flow: one Azure resource per process, in sequence, with the Azure SDK directly.

``python azure_sequential.py SPEC.json STEP`` creates one resource (resource_group, security_group,
public_ip, virtual_network, network_interface, virtual_machine, extension) the way one
azure.azcollection task does: a fresh process that authenticates, reads the resource (GET), and if
it is missing writes it (PUT) and waits for the long-running operation. The playbook
``playbooks/provision_sequential.yml`` runs the seven steps as seven tasks. It shares no code with
the collection's modules; only the Docker install script (the payload, not the orchestration) is
the collection's, so both flows make the emulator do the same work.

The service principal comes from the AZURE_* environment (as AWX injects it); SPEC.json gives the
endpoint, token audience and the names.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sys

from azure.core.exceptions import ResourceNotFoundError
from azure.identity import ClientSecretCredential

STEPS = (
    "resource_group",
    "security_group",
    "public_ip",
    "virtual_network",
    "network_interface",
    "virtual_machine",
    "extension",
)


def _clients(spec: dict):
    from azure.mgmt.compute import ComputeManagementClient  # noqa: PLC0415
    from azure.mgmt.network import NetworkManagementClient  # noqa: PLC0415
    from azure.mgmt.resource.resources import ResourceManagementClient  # noqa: PLC0415

    credential = ClientSecretCredential(
        os.environ["AZURE_TENANT"],
        os.environ["AZURE_CLIENT_ID"],
        os.environ["AZURE_SECRET"],
        authority=spec["endpoint"],
        disable_instance_discovery=True,
    )
    kwargs = {"base_url": spec["endpoint"], "credential_scopes": [spec["audience"].rstrip("/") + "/.default"]}
    subscription = os.environ["AZURE_SUBSCRIPTION_ID"]
    return (
        subscription,
        ResourceManagementClient(credential, subscription, **kwargs),
        NetworkManagementClient(credential, subscription, **kwargs),
        ComputeManagementClient(credential, subscription, **kwargs),
    )


def _rid(subscription: str, spec: dict, provider: str, kind: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{spec['resource_group']}/providers/{provider}/{kind}/{name}"


def _bodies(spec: dict, subscription: str) -> dict:
    """Request bodies in the REST shape (the SDK sends a dict as JSON, unchanged)."""
    name, location = spec["name"], spec["location"]
    net = "Microsoft.Network"
    rules = [
        {
            "name": rule_name,
            "properties": {
                "protocol": "Tcp",
                "sourcePortRange": "*",
                "destinationPortRange": str(port),
                "sourceAddressPrefixes": spec["allowed_cidrs"],
                "destinationAddressPrefix": "*",
                "access": "Allow",
                "priority": priority,
                "direction": "Inbound",
            },
        }
        for rule_name, port, priority in (("ssh", 22, 1000), ("docker-tls", spec["docker_port"], 1010))
    ]
    with open(spec["ssh_public_key"], encoding="utf-8") as handle:
        ssh_key = handle.read().strip()
    user = spec["admin_username"]
    return {
        "resource_group": {"location": location},
        "security_group": {"location": location, "properties": {"securityRules": rules}},
        "public_ip": {
            "location": location,
            "sku": {"name": "Standard"},
            "properties": {"publicIPAllocationMethod": "Static", "dnsSettings": {"domainNameLabel": spec["dns_label"]}},
        },
        "virtual_network": {
            "location": location,
            "properties": {
                "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
                "subnets": [{"name": "default", "properties": {"addressPrefix": "10.0.0.0/24"}}],
            },
        },
        "network_interface": {
            "location": location,
            "properties": {
                "networkSecurityGroup": {"id": _rid(subscription, spec, net, "networkSecurityGroups", f"{name}-nsg")},
                "ipConfigurations": [
                    {
                        "name": "ipconfig1",
                        "properties": {
                            "subnet": {
                                "id": _rid(subscription, spec, net, "virtualNetworks", f"{name}-vnet")
                                + "/subnets/default"
                            },
                            "publicIPAddress": {"id": _rid(subscription, spec, net, "publicIPAddresses", f"{name}-ip")},
                            "privateIPAllocationMethod": "Dynamic",
                        },
                    }
                ],
            },
        },
        "virtual_machine": {
            "location": location,
            "properties": {
                "hardwareProfile": {"vmSize": "Standard_B2s"},
                "storageProfile": {
                    "imageReference": {
                        "publisher": "Canonical",
                        "offer": "ubuntu-24_04-lts",
                        "sku": "server",
                        "version": "latest",
                    },
                    "osDisk": {"createOption": "FromImage", "managedDisk": {"storageAccountType": "Standard_LRS"}},
                },
                "osProfile": {
                    "computerName": name,
                    "adminUsername": user,
                    "linuxConfiguration": {
                        "disablePasswordAuthentication": True,
                        "ssh": {"publicKeys": [{"path": f"/home/{user}/.ssh/authorized_keys", "keyData": ssh_key}]},
                    },
                },
                "networkProfile": {
                    "networkInterfaces": [
                        {
                            "id": _rid(subscription, spec, net, "networkInterfaces", f"{name}-nic"),
                            "properties": {"primary": True},
                        }
                    ]
                },
            },
        },
        "extension": {
            "location": location,
            "properties": {
                "publisher": "Microsoft.Azure.Extensions",
                "type": "CustomScript",
                "typeHandlerVersion": "2.1",
                "autoUpgradeMinorVersion": True,
                "protectedSettings": {"script": _script(spec)},
            },
        },
    }


def _script(spec: dict) -> str:
    """The collection's Docker install script with this host's certificates, gzip + base64 as CustomScript takes."""
    with open(spec["install_script"], encoding="utf-8") as handle:
        script = handle.read()
    return base64.b64encode(gzip.compress(script.encode())).decode()


def _get_or_none(getter, *args):
    try:
        return getter(*args)
    except ResourceNotFoundError:
        return None


def step(spec: dict, name: str) -> bool:
    """Create the resource of step ``name`` if it is missing; True when something was written."""
    subscription, resources, network, compute = _clients(spec)
    body = _bodies(spec, subscription)[name]
    rg, vm = spec["resource_group"], spec["name"]
    if name == "resource_group":
        if resources.resource_groups.check_existence(rg):
            return False
        resources.resource_groups.create_or_update(rg, body)
        return True
    operations = {
        "security_group": (network.network_security_groups, f"{vm}-nsg"),
        "public_ip": (network.public_ip_addresses, f"{vm}-ip"),
        "virtual_network": (network.virtual_networks, f"{vm}-vnet"),
        "network_interface": (network.network_interfaces, f"{vm}-nic"),
        "virtual_machine": (compute.virtual_machines, vm),
    }
    if name == "extension":
        ext = compute.virtual_machine_extensions
        if _get_or_none(ext.get, rg, vm, "docker") is not None:
            return False
        ext.begin_create_or_update(rg, vm, "docker", body).result()
        return True
    client, resource_name = operations[name]
    if _get_or_none(client.get, rg, resource_name) is not None:
        return False
    client.begin_create_or_update(rg, resource_name, body).result()
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in STEPS:
        print(f"usage: azure_sequential.py SPEC.json {{{'|'.join(STEPS)}}}", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as handle:
        spec = json.load(handle)
    changed = step(spec, argv[1])
    print(json.dumps({"changed": changed, "step": argv[1]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
