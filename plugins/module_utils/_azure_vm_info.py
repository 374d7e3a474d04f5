# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""azure_docker_vm_info: where a Docker host made by azure_docker_vm is, from one read of its public IP.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

The public IP is named as azure_docker_vm names it (``_azure_network.NetworkNames``: ``<vm>-ip``) and read
with the same call (``get_network_resource``). :func:`address_facts` (pure) turns the REST dict, or None when
it does not exist, into the module's result.
"""

from __future__ import annotations

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_network import (
    NetworkIds,
    NetworkNames,
    get_network_resource,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_request import refuse_control_characters
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_resources import (
    location_key,
    owned_by,
    validate_resource_group,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import Clients, Deadline, InvalidOption
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_vm import validate_vm_name

__all__ = ["address_facts", "check_target", "read_address"]


def check_target(params: dict) -> tuple[str, str]:
    """The resource group and VM name, checked as azure_docker_vm checks them (no request)."""
    refuse_control_characters({"resource_group": params["resource_group"], "name": params["name"]})
    name = validate_vm_name(params["name"])
    NetworkNames(name).check_lengths()
    if params["timeout"] < 1:
        raise InvalidOption("timeout", "must be a positive number of seconds")
    return validate_resource_group(params["resource_group"]), name


def address_facts(resource: dict | None, *, vm_name: str, resource_id: str) -> dict:
    """Pure: the module's result for the public IP ``resource`` (None: it does not exist)."""
    if resource is None:
        return {
            "exists": False,
            "fqdn": None,
            "public_ip": None,
            "dns_label": None,
            "location": None,
            "attached": False,
            "managed": False,
            "resource_id": resource_id,
        }
    props = resource.get("properties") or {}
    dns = props.get("dnsSettings") or {}
    return {
        "exists": True,
        "fqdn": dns.get("fqdn"),
        "public_ip": props.get("ipAddress"),
        "dns_label": dns.get("domainNameLabel"),
        "location": location_key(resource.get("location")) or None,
        # A NIC's IP configuration holds it: the VM's network is (still) there.
        "attached": bool((props.get("ipConfiguration") or {}).get("id")),
        "managed": owned_by(resource, vm_name),
        "resource_id": resource.get("id") or resource_id,
    }


def read_address(clients: Clients, resource_group: str, vm_name: str, deadline: Deadline) -> dict:
    """One GET of the VM's public IP (404, also of a missing group: it does not exist)."""
    ids = NetworkIds(clients.subscription_id, resource_group, NetworkNames(vm_name))
    found = get_network_resource(clients, "public_ip", resource_group, ids.names.name("public_ip"), deadline)
    return address_facts(found, vm_name=vm_name, resource_id=ids.id("public_ip"))
