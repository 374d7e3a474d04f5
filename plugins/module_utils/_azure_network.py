# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker host's network: one table of resource types; the public IP, virtual network and NIC.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

Input checks (DNS label, subnet id) and ``plan_*`` functions are pure: an existing
resource (REST dict, or ``None``) plus what is wanted gives a :class:`Step`. Updates are GET-modify-PUT
of the resource as read, so properties the module does not manage (other subnets, IP configurations)
are kept. The security group has its own file (``_azure_security_group``). The SDK calls at the end
are one line each over ``_azure_sdk``, driven by the :data:`NETWORK_RESOURCES` row.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_resources import (
    Step,
    arm_id,
    location_key,
    same_id,
    wanted_tags,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import (
    AzureDockerHostError,
    Deadline,
    InvalidOption,
    delete_and_wait,
    get_or_none,
    put_and_wait,
)

__all__ = [
    "NETWORK_RESOURCES",
    "NetworkIds",
    "NetworkNames",
    "NetworkResource",
    "check_location",
    "delete_network_resource",
    "finish_update",
    "get_network_resource",
    "plan_network_interface",
    "plan_public_ip",
    "plan_virtual_network",
    "put_network_resource",
    "validate_dns_label",
    "validate_subnet_id",
]

VNET_PREFIX = "10.0.0.0/16"
SUBNET_NAME = "default"
SUBNET_PREFIX = "10.0.0.0/24"
_DNS_LABEL_RE = re.compile(r"[a-z][a-z0-9-]{1,61}[a-z0-9]")
_SUBNET_ID_RE = re.compile(
    r"/subscriptions/[^/\s]+/resourceGroups/[^/\s]+/providers/Microsoft\.Network/virtualNetworks/[^/\s]+/subnets/[^/\s]+",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class NetworkResource:
    """One network resource type the module makes for a VM: a row of :data:`NETWORK_RESOURCES`."""

    key: str  # what results, diffs and plans call it
    label: str  # what messages call it
    arm_type: str  # Microsoft.Network/<arm_type>
    operations: str  # the NetworkManagementClient attribute
    suffix: str  # named <vm><suffix>
    max_name: int  # Azure's name length limit


# In the order results list them; the plan decides what depends on what.
NETWORK_RESOURCES = {
    row.key: row
    for row in (
        NetworkResource(
            "network_security_group",
            "network security group",
            "networkSecurityGroups",
            "network_security_groups",
            "-nsg",
            80,
        ),
        NetworkResource("public_ip", "public IP address", "publicIPAddresses", "public_ip_addresses", "-ip", 80),
        NetworkResource("virtual_network", "virtual network", "virtualNetworks", "virtual_networks", "-vnet", 64),
        NetworkResource(
            "network_interface", "network interface", "networkInterfaces", "network_interfaces", "-nic", 80
        ),
    )
}


# -- input ---------------------------------------------------------------------------------------------
def validate_dns_label(label: str | None, name: str) -> str:
    """The public IP's DNS label, by default the VM name in lower case."""
    option = "dns_label" if label is not None else "name"
    value = label if label is not None else name.lower()
    if not _DNS_LABEL_RE.fullmatch(value):
        raise InvalidOption(
            option,
            f"{value!r} is not a valid DNS label: 3-63 lower-case letters, digits and hyphens, starting with a letter "
            "and ending with a letter or digit" + ("" if label is not None else " (set dns_label explicitly)"),
        )
    return value


def validate_subnet_id(subnet_id: str | None) -> str | None:
    if subnet_id is not None and not _SUBNET_ID_RE.fullmatch(subnet_id):
        raise InvalidOption(
            "subnet_id",
            "must be a subnet resource id: /subscriptions/S/resourceGroups/G/providers/Microsoft.Network/"
            "virtualNetworks/V/subnets/N",
        )
    return subnet_id


@dataclass(frozen=True)
class NetworkNames:
    """Names of the network resources made for VM ``vm``; known (and checked) before anything is sent."""

    vm: str

    def name(self, resource: str) -> str:
        return f"{self.vm}{NETWORK_RESOURCES[resource].suffix}"

    def check_lengths(self) -> None:
        for row in NETWORK_RESOURCES.values():
            value = self.name(row.key)
            if len(value) > row.max_name:
                raise InvalidOption(
                    "name",
                    f"too long: the {row.label} would be named {value!r}, over Azure's {row.max_name} characters",
                )


@dataclass(frozen=True)
class NetworkIds:
    """Resource ids of those resources in one subscription's resource group, and of the NIC's subnet."""

    subscription: str
    resource_group: str
    names: NetworkNames
    given_subnet_id: str | None = None

    def id(self, resource: str) -> str:
        return arm_id(
            self.subscription,
            self.resource_group,
            "Microsoft.Network",
            NETWORK_RESOURCES[resource].arm_type,
            self.names.name(resource),
        )

    @property
    def subnet_id(self) -> str:
        if self.given_subnet_id:
            return self.given_subnet_id
        return f"{self.id('virtual_network')}/subnets/{SUBNET_NAME}"


# -- shared plan helpers -------------------------------------------------------------------------------
def check_location(label: str, name: str, actual: dict, location: str) -> None:
    if location_key(actual.get("location")) != location:
        raise AzureDockerHostError(
            f"location: {label} {name!r} exists in {actual.get('location')!r}, not {location!r}; Azure cannot move it "
            "in place (delete it or use the existing location)"
        )


def _failed(actual: dict) -> bool:
    return (actual.get("properties") or {}).get("provisioningState") == "Failed"


def finish_update(resource: str, name: str, actual: dict, *, before: dict, after: dict, body: dict) -> Step:
    reasons = [key for key in after if before.get(key) != after.get(key)]
    if _failed(actual):
        reasons.append("provisioning_state")  # a failed earlier run: PUT again to converge
    return Step(resource, name, "update" if reasons else "none", before=before, after=after, body=body, reasons=reasons)


# -- public IP -----------------------------------------------------------------------------------------
def _public_ip_state(resource: dict) -> dict:
    props = resource.get("properties") or {}
    return {
        "location": location_key(resource.get("location")),
        "sku": (resource.get("sku") or {}).get("name"),
        "allocation": props.get("publicIPAllocationMethod"),
        "dns_label": (props.get("dnsSettings") or {}).get("domainNameLabel"),
        "tags": dict(resource.get("tags") or {}),
    }


def plan_public_ip(
    actual: dict | None,
    *,
    ids: NetworkIds,
    location: str,
    dns_label: str,
    tags: dict[str, str] | None,
    vm_name: str,
) -> Step:
    """A Standard, static IPv4 address with the DNS label (the host's FQDN comes from it)."""
    name = ids.names.name("public_ip")
    after = {
        "location": location,
        "sku": "Standard",
        "allocation": "Static",
        "dns_label": dns_label,
        "tags": wanted_tags(actual, tags, vm_name),
    }
    if actual is None:
        body = {
            "location": location,
            "tags": after["tags"],
            "sku": {"name": "Standard", "tier": "Regional"},
            "properties": {
                "publicIPAllocationMethod": "Static",
                "publicIPAddressVersion": "IPv4",
                "dnsSettings": {"domainNameLabel": dns_label},
            },
        }
        return Step("public_ip", name, "create", before=None, after=after, body=body)
    check_location(NETWORK_RESOURCES["public_ip"].label, name, actual, location)
    before = _public_ip_state(actual)
    if (before["sku"] or "").lower() != "standard":
        raise AzureDockerHostError(
            f"public IP address {name!r} exists with SKU {before['sku']!r}; the module needs a Standard static "
            "address and Azure cannot change the SKU of an address in place: delete it or choose another name"
        )
    body = copy.deepcopy(actual)
    props = body.setdefault("properties", {})
    props["publicIPAllocationMethod"] = "Static"
    dns = {k: v for k, v in (props.get("dnsSettings") or {}).items() if k != "fqdn"}
    dns["domainNameLabel"] = dns_label
    props["dnsSettings"] = dns
    body["tags"] = after["tags"]
    return finish_update("public_ip", name, actual, before=before, after=after, body=body)


# -- virtual network -----------------------------------------------------------------------------------
def plan_virtual_network(
    actual: dict | None, *, ids: NetworkIds, location: str, tags: dict[str, str] | None, vm_name: str
) -> Step:
    """A /16 with one /24 subnet when the module creates it; an existing one only needs the subnet."""
    name = ids.names.name("virtual_network")
    after = {"location": location, "subnet": SUBNET_NAME, "tags": wanted_tags(actual, tags, vm_name)}
    if actual is None:
        body = {
            "location": location,
            "tags": after["tags"],
            "properties": {
                "addressSpace": {"addressPrefixes": [VNET_PREFIX]},
                "subnets": [{"name": SUBNET_NAME, "properties": {"addressPrefix": SUBNET_PREFIX}}],
            },
        }
        return Step("virtual_network", name, "create", before=None, after=after, body=body)
    check_location(NETWORK_RESOURCES["virtual_network"].label, name, actual, location)
    subnets = {s.get("name", "").lower() for s in (actual.get("properties") or {}).get("subnets") or []}
    if SUBNET_NAME not in subnets:
        raise AzureDockerHostError(
            f"virtual network {name!r} exists without a subnet named {SUBNET_NAME!r}; add one or pass subnet_id"
        )
    before = {
        "location": location_key(actual.get("location")),
        "subnet": SUBNET_NAME,
        "tags": dict(actual.get("tags") or {}),
    }
    body = copy.deepcopy(actual)
    body["tags"] = after["tags"]
    return finish_update("virtual_network", name, actual, before=before, after=after, body=body)


# -- network interface ---------------------------------------------------------------------------------
def _primary_ip_configuration(resource: dict) -> dict:
    configs = (resource.get("properties") or {}).get("ipConfigurations") or []
    for config in configs:
        if (config.get("properties") or {}).get("primary"):
            return config
    return configs[0] if configs else {}


def _nic_state(resource: dict) -> dict:
    props = resource.get("properties") or {}
    config = _primary_ip_configuration(resource).get("properties") or {}
    return {
        "location": location_key(resource.get("location")),
        "subnet_id": (config.get("subnet") or {}).get("id"),
        "public_ip_id": (config.get("publicIPAddress") or {}).get("id"),
        "security_group_id": (props.get("networkSecurityGroup") or {}).get("id"),
        "tags": dict(resource.get("tags") or {}),
    }


def plan_network_interface(
    actual: dict | None, *, ids: NetworkIds, location: str, tags: dict[str, str] | None, vm_name: str
) -> Step:
    """The NIC joins the subnet, the public IP and the security group."""
    name = ids.names.name("network_interface")
    after = {
        "location": location,
        "subnet_id": ids.subnet_id,
        "public_ip_id": ids.id("public_ip"),
        "security_group_id": ids.id("network_security_group"),
        "tags": wanted_tags(actual, tags, vm_name),
    }
    config = {
        "name": "ipconfig1",
        "properties": {
            "primary": True,
            "privateIPAllocationMethod": "Dynamic",
            "subnet": {"id": after["subnet_id"]},
            "publicIPAddress": {"id": after["public_ip_id"]},
        },
    }
    if actual is None:
        body = {
            "location": location,
            "tags": after["tags"],
            "properties": {"ipConfigurations": [config], "networkSecurityGroup": {"id": after["security_group_id"]}},
        }
        return Step("network_interface", name, "create", before=None, after=after, body=body)
    check_location(NETWORK_RESOURCES["network_interface"].label, name, actual, location)
    before = _nic_state(actual)
    # ARM ids compare case-insensitively: show the actual spelling when they are the same resource.
    for key in ("subnet_id", "public_ip_id", "security_group_id"):
        if same_id(before[key], after[key]):
            after[key] = before[key]
    body = copy.deepcopy(actual)
    props = body.setdefault("properties", {})
    primary = _primary_ip_configuration(body)
    if primary:
        primary.setdefault("properties", {})["subnet"] = {"id": after["subnet_id"]}
        primary["properties"]["publicIPAddress"] = {"id": after["public_ip_id"]}
    else:
        props["ipConfigurations"] = [config]
    props["networkSecurityGroup"] = {"id": after["security_group_id"]}
    body["tags"] = after["tags"]
    return finish_update("network_interface", name, actual, before=before, after=after, body=body)


# -- SDK -----------------------------------------------------------------------------------------------
def _operations(clients, resource: str):
    return getattr(clients.network, NETWORK_RESOURCES[resource].operations)


def get_network_resource(clients, resource: str, resource_group: str, name: str, deadline: Deadline) -> dict | None:
    action = f"read {NETWORK_RESOURCES[resource].label} {name!r}"
    return get_or_none(action, _operations(clients, resource).get, resource_group, name, deadline=deadline)


def put_network_resource(clients, step: Step, resource_group: str, deadline: Deadline) -> dict:
    action = f"{step.action} {NETWORK_RESOURCES[step.resource].label} {step.name!r}"
    begin = _operations(clients, step.resource).begin_create_or_update
    return put_and_wait(action, begin, resource_group, step.name, step.body, deadline=deadline)


def delete_network_resource(clients, step: Step, resource_group: str, deadline: Deadline) -> None:
    action = f"delete {NETWORK_RESOURCES[step.resource].label} {step.name!r}"
    delete_and_wait(
        action, _operations(clients, step.resource).begin_delete, resource_group, step.name, deadline=deadline
    )
