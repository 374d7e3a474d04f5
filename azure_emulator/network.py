# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Microsoft.Network: virtual networks + subnets, NSGs + security rules, public IP addresses, network interfaces.

Shapes follow Microsoft's examples (../shared/azure-rest-api/network); rules and error codes follow what the
network resource provider answers (InvalidResourceName, InvalidResourceReference, LinkedInvalidPropertyId,
DnsRecordInUse, InvalidDomainNameLabel, SecurityRuleInvalidPriority, SecurityRuleConflict,
InUseSubnetCannotBeDeleted, PublicIPAddressInUse, NicInUse, NetcfgSubnetRangeOutsideVnet, ...).
"""

from __future__ import annotations

import copy
import ipaddress
import random
import re
import socket
from typing import Any

from .arm import Kind, PutContext, Resource, ResourceManager, check_tags, etag
from .core import ArmError, Request, new_id
from .gate import rule_allows
from .lro import SUCCEEDED, Operation
from .names import LOCATIONS, check_name, normalize_location

__all__ = ["AddressPool", "check_location", "check_reference", "inbound_allowed", "register"]

_PROTOCOLS = {"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "esp": "Esp", "ah": "Ah", "*": "*"}
_DIRECTIONS = {"inbound": "Inbound", "outbound": "Outbound"}
_ACCESS = {"allow": "Allow", "deny": "Deny"}
_SERVICE_TAGS = {"*", "virtualnetwork", "azureloadbalancer", "internet", "any"}
_DNS_LABEL = re.compile(r"^[a-z][a-z0-9-]{1,61}[a-z0-9]$")
_DEFAULT_RULES = (
    ("AllowVnetInBound", "Allow inbound traffic from all VMs in VNET", "Allow", "VirtualNetwork", "Inbound", 65000,
     "VirtualNetwork"),
    ("AllowAzureLoadBalancerInBound", "Allow inbound traffic from azure load balancer", "Allow", "*", "Inbound",
     65001, "AzureLoadBalancer"),
    ("DenyAllInBound", "Deny all inbound traffic", "Deny", "*", "Inbound", 65500, "*"),
    ("AllowVnetOutBound", "Allow outbound traffic from all VMs to all VMs in VNET", "Allow", "VirtualNetwork",
     "Outbound", 65000, "VirtualNetwork"),
    ("AllowInternetOutBound", "Allow outbound traffic from all VMs to Internet", "Allow", "Internet", "Outbound",
     65001, "*"),
    ("DenyAllOutBound", "Deny all outbound traffic", "Deny", "*", "Outbound", 65500, "*"),
)  # fmt: skip


def _bad_request(code: str, message: str) -> ArmError:
    return ArmError(400, code, message, details=[])


def _ref(resource_id: str) -> dict:
    return {"id": resource_id}


def check_location(ctx: PutContext, type_name: str) -> str:
    """The request's location, normalized; ARM's errors for a missing, unknown or changed one."""
    raw = ctx.body.get("location")
    if raw in (None, ""):
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    location = normalize_location(raw)
    if location is None:
        raise ArmError(
            400,
            "LocationNotAvailableForResourceType",
            f"The provided location '{raw}' is not available for resource type '{type_name}'. List of available "
            f"regions for the resource type is '{','.join(LOCATIONS)}'.",
        )
    if ctx.existing is not None and ctx.existing.body.get("location") != location:
        raise ArmError(
            409,
            "InvalidResourceLocation",
            f"The resource '{ctx.name}' already exists in location '{ctx.existing.body.get('location')}' in resource "
            f"group '{ctx.group}'. A resource with the same name cannot be created in location '{location}'. Please "
            "select a new resource name.",
        )
    return location


def check_reference(arm: ResourceManager, owner_id: str, value: Any, expected_type: str, path: str) -> Resource:
    """Resolve ``{"id": ...}``; LinkedInvalidPropertyId for a malformed id, InvalidResourceReference if missing."""
    ref_id = value.get("id") if isinstance(value, dict) else None
    if not isinstance(ref_id, str) or not ref_id.lower().startswith("/subscriptions/"):
        raise ArmError(
            400,
            "LinkedInvalidPropertyId",
            f"Property id '{ref_id}' at path '{path}' is invalid. Expect fully qualified resource Id that start with "
            "'/subscriptions/{subscriptionId}' or '/providers/{resourceProviderNamespace}/'.",
        )
    found = arm.resolve(value, expected_type)
    if found is None:
        raise _bad_request(
            "InvalidResourceReference",
            f"Resource {ref_id} referenced by resource {owner_id} was not found. Please make sure that the referenced "
            "resource exists, and that both resources are in the same region.",
        )
    return found


def _same_region(arm: ResourceManager, owner_id: str, owner_location: str, target: Resource) -> None:
    if arm.location_of(target) != owner_location:
        raise _bad_request(
            "InvalidResourceReference",
            f"Resource {target.id} referenced by resource {owner_id} was not found. Please make sure that the "
            "referenced resource exists, and that both resources are in the same region.",
        )


class NetworkKind(Kind):
    namespace = "Microsoft.Network"
    pending_state = "Updating"

    def check_name(self, name: str) -> None:
        check_name("network", name, self.type_name)

    def base_body(self, ctx: PutContext, location: str | None) -> dict:
        body: dict = {"name": ctx.name, "id": ctx.id, "etag": etag()}
        if self.path[:-1] == ():
            body["type"] = self.type_name
        if location is not None:
            body["location"] = location
        tags = check_tags(ctx.body.get("tags"))
        if tags is not None:
            body["tags"] = tags
        return body

    def not_found(self, arm: ResourceManager, resource_id: str, name: str, group: str) -> ArmError:
        if len(self.path) > 1:
            return ArmError(404, "NotFound", f"Resource {resource_id} not found.", details=[])
        return super().not_found(arm, resource_id, name, group)

    def finish(self, res: Resource, op: Operation) -> None:
        state = SUCCEEDED if op.status == SUCCEEDED else "Failed"
        res.properties["provisioningState"] = state
        res.body["etag"] = etag()
        for child_key in res.state.get("inline_children", ()):
            child = res.state["arm"].resources.get(child_key)
            if child is not None and child.op is None:
                child.properties["provisioningState"] = state


def _upsert_child(ctx: PutContext, parent: Resource, kind: Kind, *, name: str, child_id: str, body: dict) -> str:
    """Create or replace a child written inline in its parent's PUT (subnets, security rules); its key."""
    arm = ctx.arm
    current = arm.get(child_id)
    if current is None:
        current = Resource(id=child_id, kind=kind, name=name, group=ctx.group, body=body, parent=parent.key)
        arm.resources[current.key] = current
    else:
        current.body = body
    current.state["arm"] = arm
    return current.key


# -- virtual networks and subnets -----------------------------------------------------------------------
def _network(value: Any, owner_id: str, what: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise _bad_request(
            "InvalidAddressPrefixFormat",
            f"Address prefix {value} of resource {owner_id} is not formatted correctly. It should follow CIDR "
            "notation, for example 10.0.0.0/24.",
        ) from exc
    if net.version != 4:
        raise _bad_request("InvalidAddressPrefixFormat", f"{what} {value} of resource {owner_id} is not IPv4.")
    return net


def _subnet_prefixes(props: dict, subnet_id: str) -> list[ipaddress.IPv4Network]:
    if props.get("addressPrefix") and props.get("addressPrefixes"):
        raise _bad_request(
            "InvalidRequestFormat",
            f"Subnet {subnet_id} has both addressPrefix and addressPrefixes set; use one of them.",
        )
    raw = props.get("addressPrefixes") or ([props["addressPrefix"]] if props.get("addressPrefix") else [])
    if not raw:
        raise _bad_request(
            "NetcfgInvalidSubnet",
            f"Subnet {subnet_id} is not valid in virtual network. Subnet must have address prefix.",
        )
    return [_network(p, subnet_id, "Address prefix") for p in raw]


class VirtualNetworkKind(NetworkKind):
    path = ("virtualNetworks",)

    def validate(self, ctx: PutContext) -> None:
        location = check_location(ctx, self.type_name)
        props = ctx.body.get("properties") or {}
        space = (props.get("addressSpace") or {}).get("addressPrefixes") or []
        vnet_nets = [_network(p, ctx.id, "Address prefix") for p in space]
        for i, left in enumerate(vnet_nets):
            for right in vnet_nets[i + 1 :]:
                if left.overlaps(right):
                    raise _bad_request(
                        "VnetAddressSpacesOverlap",
                        f"Cannot create or update virtual network {ctx.id} since it has overlapping address spaces "
                        f"{left} and {right}.",
                    )
        stored = self.base_body(ctx, location)
        stored["properties"] = {
            "addressSpace": {"addressPrefixes": [str(n) for n in vnet_nets]},
            "virtualNetworkPeerings": [],
        }
        if props.get("dhcpOptions"):
            stored["properties"]["dhcpOptions"] = copy.deepcopy(props["dhcpOptions"])
        subnets = props.get("subnets") or []
        seen: dict[str, ipaddress.IPv4Network] = {}
        planned = []
        for index, subnet in enumerate(subnets):
            if not isinstance(subnet, dict) or not subnet.get("name"):
                raise _bad_request(
                    "InvalidRequestFormat", f"Cannot parse the request: subnets[{index}] must have a name."
                )
            name = subnet["name"]
            check_name("network", name, "Microsoft.Network/virtualNetworks/subnets")
            sub_id = f"{ctx.id}/subnets/{name}"
            sub_props = subnet.get("properties") or {}
            prefixes = _subnet_prefixes(sub_props, sub_id)
            _check_subnet_ranges(name, prefixes, vnet_nets, seen, ctx.name)
            planned.append((name, sub_id, sub_props, prefixes))
        # Subnets left out of the PUT are deleted, as in Azure; a subnet in use cannot be.
        keep = {name.lower() for name, *_rest in planned}
        doomed = []
        if ctx.existing is not None:
            for child in ctx.arm.children(ctx.existing, SUBNET):
                if child.name.lower() not in keep:
                    SUBNET.check_delete(child)
                    doomed.append(child)
            for _name, sub_id, _props, prefixes in planned:
                current = ctx.arm.get(sub_id)
                if current is not None:
                    _check_prefix_change(ctx.arm, current, prefixes)
        for _name, sub_id, sub_props, _prefixes in planned:
            if sub_props.get("networkSecurityGroup"):
                nsg = check_reference(
                    ctx.arm, sub_id, sub_props["networkSecurityGroup"], "Microsoft.Network/networkSecurityGroups",
                    "properties.subnets.properties.networkSecurityGroup.id",
                )  # fmt: skip
                _same_region(ctx.arm, sub_id, location, nsg)
        ctx.stored = stored
        ctx.state["planned_subnets"] = planned
        ctx.state["doomed_subnets"] = doomed

    def commit(self, ctx: PutContext, res: Resource) -> None:
        arm = ctx.arm
        res.state["arm"] = arm
        for child in ctx.state.pop("doomed_subnets", []):
            arm.resources.pop(child.key, None)
        children = []
        for name, sub_id, sub_props, prefixes in ctx.state.pop("planned_subnets", []):
            current = arm.get(sub_id)
            body = _subnet_body(current.name if current else name, current.id if current else sub_id, sub_props)
            body["properties"].update(_prefix_props(sub_props, prefixes))
            body["properties"]["provisioningState"] = self.pending_state
            children.append(_upsert_child(ctx, res, SUBNET, name=name, child_id=sub_id, body=body))
        res.state["inline_children"] = children

    def render(self, res: Resource, request: Request) -> dict:
        body = copy.deepcopy(res.body)
        arm: ResourceManager = res.state["arm"]
        body["properties"]["subnets"] = [SUBNET.render(s, request) for s in arm.children(res, SUBNET)]
        return body

    def check_delete(self, res: Resource) -> None:
        for subnet in res.state["arm"].children(res, SUBNET):
            SUBNET.check_delete(subnet)


def _prefix_props(props: dict, prefixes: list[ipaddress.IPv4Network]) -> dict:
    if props.get("addressPrefixes"):
        return {"addressPrefixes": [str(p) for p in prefixes]}
    return {"addressPrefix": str(prefixes[0])}


def _subnet_body(name: str, sub_id: str, props: dict) -> dict:
    body = {"name": name, "id": sub_id, "etag": etag(), "properties": {}}
    for key in ("networkSecurityGroup", "privateEndpointNetworkPolicies", "privateLinkServiceNetworkPolicies",
                "defaultOutboundAccess", "serviceEndpoints", "delegations"):  # fmt: skip
        if key in props and props[key] is not None:
            body["properties"][key] = copy.deepcopy(props[key])
    if "networkSecurityGroup" in body["properties"]:
        body["properties"]["networkSecurityGroup"] = _ref(props["networkSecurityGroup"]["id"])
    return body


def _check_subnet_ranges(name, prefixes, vnet_nets, seen, vnet_name) -> None:
    for prefix in prefixes:
        if not any(prefix.subnet_of(v) for v in vnet_nets):
            raise _bad_request(
                "NetcfgSubnetRangeOutsideVnet",
                f"Subnet '{name}' is not valid because its IP address range is outside the IP address range of "
                f"virtual network '{vnet_name}'.",
            )
        for other_name, other in seen.items():
            if prefix.overlaps(other):
                raise _bad_request(
                    "NetcfgSubnetRangesOverlap",
                    f"Subnet '{name}' is not valid because its IP address range overlaps with that of an existing "
                    f"subnet '{other_name}' in virtual network '{vnet_name}'.",
                )
        seen[name] = prefix


def _check_prefix_change(arm: ResourceManager, subnet: Resource, prefixes: list[ipaddress.IPv4Network]) -> None:
    for config in _ip_configs_in(arm, subnet):
        address = ipaddress.ip_address(config["properties"]["privateIPAddress"].split("/")[0])
        if not any(address in p for p in prefixes):
            raise _bad_request(
                "InUseSubnetCannotBeUpdated",
                f"Subnet {subnet.name} is in use and cannot be updated. In order to update the subnet, delete all the "
                "resources within the subnet. See aka.ms/deletesubnet.",
            )


def _ip_configs_in(arm: ResourceManager, subnet: Resource) -> list[dict]:
    configs = []
    for nic in arm.resources.values():
        if nic.kind is NIC:
            for config in nic.properties.get("ipConfigurations", []):
                if config["properties"].get("subnet", {}).get("id", "").lower() == subnet.key:
                    configs.append(config)
    return configs


class SubnetKind(NetworkKind):
    path = ("virtualNetworks", "subnets")

    def validate(self, ctx: PutContext) -> None:
        vnet = ctx.parent
        props = ctx.body.get("properties") or {}
        prefixes = _subnet_prefixes(props, ctx.id)
        vnet_nets = [ipaddress.ip_network(p) for p in vnet.properties["addressSpace"]["addressPrefixes"]]
        seen = {
            s.name: ipaddress.ip_network(s.properties.get("addressPrefix") or s.properties["addressPrefixes"][0])
            for s in ctx.arm.children(vnet, self)
            if s.key != ctx.id.lower()
        }
        _check_subnet_ranges(ctx.name, prefixes, vnet_nets, seen, vnet.name)
        if ctx.existing is not None:
            _check_prefix_change(ctx.arm, ctx.existing, prefixes)
        if props.get("networkSecurityGroup"):
            nsg = check_reference(
                ctx.arm, ctx.id, props["networkSecurityGroup"], "Microsoft.Network/networkSecurityGroups",
                "properties.networkSecurityGroup.id",
            )  # fmt: skip
            _same_region(ctx.arm, ctx.id, vnet.body["location"], nsg)
        body = _subnet_body(ctx.name, ctx.id, props)
        body["properties"].update(_prefix_props(props, prefixes))
        ctx.stored = body

    def commit(self, ctx: PutContext, res: Resource) -> None:
        res.state["arm"] = ctx.arm
        ctx.parent.body["etag"] = etag()

    def render(self, res: Resource, request: Request) -> dict:
        body = copy.deepcopy(res.body)
        configs = _ip_configs_in(res.state["arm"], res)
        if configs:
            body["properties"]["ipConfigurations"] = [_ref(c["id"]) for c in configs]
        return body

    def check_delete(self, res: Resource) -> None:
        configs = _ip_configs_in(res.state["arm"], res)
        if configs:
            raise _bad_request(
                "InUseSubnetCannotBeDeleted",
                f"Subnet {res.name} is in use by {configs[0]['id']} and cannot be deleted. In order to delete the "
                "subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.",
            )


# -- network security groups and rules ------------------------------------------------------------------
def _check_port_range(value: Any) -> None:
    text = str(value)
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    ok = text == "*" or (
        match is not None
        and int(match.group(1)) <= 65535
        and (match.group(2) is None or int(match.group(1)) <= int(match.group(2)) <= 65535)
    )
    if not ok:
        raise _bad_request(
            "SecurityRuleInvalidPortRange",
            f"Security rule has invalid Port range. Value provided: {text}. Value should be an integer OR integer "
            "range with '-' delimiter. Valid range 0-65535.",
        )


def _check_address_prefix(value: Any) -> None:
    text = str(value)
    if text.lower() in _SERVICE_TAGS or re.fullmatch(r"[A-Za-z][A-Za-z0-9.]*", text):
        return  # "*", VirtualNetwork, Internet, AzureLoadBalancer and other service tags (Storage.WestUS, ...)
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise _bad_request(
            "SecurityRuleInvalidAddressPrefix",
            f"Security rule has invalid Address prefix. Value provided: {text}",
        ) from exc


def _rule_properties(rule_id: str, props: dict) -> dict:
    """A security rule's properties, validated as the network RP does, in Azure's casing."""
    out: dict = {}
    for key, table in (("protocol", _PROTOCOLS), ("access", _ACCESS), ("direction", _DIRECTIONS)):
        value = props.get(key)
        if value is None:
            raise _bad_request(
                "SecurityRuleParameterMissing" if key != "protocol" else "SecurityRuleInvalidProtocol",
                f"Security rule {rule_id} is missing required parameter '{key}'.",
            )
        normalized = table.get(str(value).lower())
        if normalized is None:
            raise _bad_request(
                "InvalidRequestFormat",
                f"Cannot parse the request. Value '{value}' is not valid for property '{key}'. Allowed values: "
                f"{', '.join(sorted(set(table.values())))}.",
            )
        out[key] = normalized
    priority = props.get("priority")
    if not isinstance(priority, int) or isinstance(priority, bool) or not 100 <= priority <= 4096:
        raise _bad_request(
            "SecurityRuleInvalidPriority",
            f"Security rule has invalid Priority. Value provided: {priority} Allowed range 100-4096.",
        )
    out["priority"] = priority
    for side in ("source", "destination"):
        single, plural = f"{side}AddressPrefix", f"{side}AddressPrefixes"
        asgs = props.get(f"{side}ApplicationSecurityGroups")
        if props.get(single) and props.get(plural):
            raise _bad_request(
                "SecurityRuleParameterContainsUnsupportedValue",
                f"Security rule {rule_id} cannot have both {single} and {plural} specified.",
            )
        if not props.get(single) and not props.get(plural) and not asgs:
            raise _bad_request(
                "SecurityRuleParameterMissing",
                f"Security rule {rule_id} is missing required parameter '{single}'.",
            )
        for prefix in [props[single]] if props.get(single) else props.get(plural) or []:
            _check_address_prefix(prefix)
        if props.get(single):
            out[single] = props[single]
        if props.get(plural):
            out[plural] = list(props[plural])
        port, ports = f"{side}PortRange", f"{side}PortRanges"
        if props.get(port) and props.get(ports):
            raise _bad_request(
                "SecurityRuleParameterContainsUnsupportedValue",
                f"Security rule {rule_id} cannot have both {port} and {ports} specified.",
            )
        if props.get(port) is None and not props.get(ports):
            raise _bad_request(
                "SecurityRuleParameterMissing", f"Security rule {rule_id} is missing required parameter '{port}'."
            )
        for value in [props[port]] if props.get(port) is not None else props[ports]:
            _check_port_range(value)
        if props.get(port) is not None:
            out[port] = str(props[port])
        else:
            out[ports] = [str(p) for p in props[ports]]
    if props.get("description") is not None:
        if len(str(props["description"])) > 140:
            raise _bad_request(
                "SecurityRuleDescriptionTooLong", f"Security rule {rule_id} description exceeds 140 characters."
            )
        out["description"] = props["description"]
    return out


def _check_rule_conflicts(rules: list[tuple[str, dict]]) -> None:
    """Rules (name, properties) of one NSG: no two with the same priority and direction."""
    taken: dict[tuple[int, str], str] = {}
    for name, props in rules:
        slot = (props["priority"], props["direction"])
        if slot in taken:
            raise _bad_request(
                "SecurityRuleConflict",
                f"Security rule {taken[slot]} conflicts with rule {name}. Rules cannot have the same Priority and "
                "Direction. To learn more, see aka.ms/nsgrules.",
            )
        taken[slot] = name


class NetworkSecurityGroupKind(NetworkKind):
    path = ("networkSecurityGroups",)

    def validate(self, ctx: PutContext) -> None:
        location = check_location(ctx, self.type_name)
        props = ctx.body.get("properties") or {}
        planned = []
        for index, rule in enumerate(props.get("securityRules") or []):
            if not isinstance(rule, dict) or not rule.get("name"):
                raise _bad_request(
                    "InvalidRequestFormat", f"Cannot parse the request: securityRules[{index}] must have a name."
                )
            check_name("network", rule["name"], "Microsoft.Network/networkSecurityGroups/securityRules")
            rule_id = f"{ctx.id}/securityRules/{rule['name']}"
            planned.append((rule["name"], rule_id, _rule_properties(rule_id, rule.get("properties") or {})))
        names = [n.lower() for n, *_r in planned]
        if len(set(names)) != len(names):
            raise _bad_request("InvalidRequestFormat", "Cannot parse the request: security rule names must be unique.")
        _check_rule_conflicts([(n, p) for n, _i, p in planned])
        stored = self.base_body(ctx, location)
        stored["properties"] = {}
        stored["properties"]["defaultSecurityRules"] = [
            {
                "name": name,
                "id": f"{ctx.id}/defaultSecurityRules/{name}",
                "etag": stored["etag"],
                "properties": {
                    "description": desc, "protocol": "*", "sourcePortRange": "*", "destinationPortRange": "*",
                    "sourceAddressPrefix": src, "destinationAddressPrefix": dst, "access": access,
                    "priority": prio, "direction": direction, "provisioningState": SUCCEEDED,
                },
            }
            for name, desc, access, dst, direction, prio, src in _DEFAULT_RULES
        ]  # fmt: skip
        ctx.stored = stored
        ctx.state["planned_rules"] = planned

    def commit(self, ctx: PutContext, res: Resource) -> None:
        arm = ctx.arm
        res.state["arm"] = arm
        planned = ctx.state.pop("planned_rules", [])
        keep = {name.lower() for name, *_r in planned}
        for child in arm.children(res, RULE):
            if child.name.lower() not in keep:
                arm.resources.pop(child.key, None)
        children = []
        for name, rule_id, props in planned:
            current = arm.get(rule_id)
            body = {"name": current.name if current else name, "id": current.id if current else rule_id,
                    "etag": etag(), "properties": {**props, "provisioningState": self.pending_state}}  # fmt: skip
            children.append(_upsert_child(ctx, res, RULE, name=name, child_id=rule_id, body=body))
        res.state["inline_children"] = children

    def render(self, res: Resource, request: Request) -> dict:
        body = copy.deepcopy(res.body)
        arm: ResourceManager = res.state["arm"]
        body["properties"]["securityRules"] = [RULE.render(r, request) for r in arm.children(res, RULE)]
        nics = [n for n in arm.resources.values() if n.kind is NIC and _nsg_id(n.properties) == res.key]
        subnets = [s for s in arm.resources.values() if s.kind is SUBNET and _nsg_id(s.properties) == res.key]
        if nics:
            body["properties"]["networkInterfaces"] = [_ref(n.id) for n in nics]
        if subnets:
            body["properties"]["subnets"] = [_ref(s.id) for s in subnets]
        return body

    def check_delete(self, res: Resource) -> None:
        arm: ResourceManager = res.state["arm"]
        for other in arm.resources.values():
            if other.kind in (NIC, SUBNET) and _nsg_id(other.properties) == res.key:
                raise _bad_request(
                    "InUseNetworkSecurityGroupCannotBeDeleted",
                    f"Network security group {res.id} cannot be deleted because it is in use by the following "
                    f"resources: {other.id}. In order to delete the Network security group, remove the association "
                    "with the resource(s). To learn how to do this, see aka.ms/deletensg.",
                )


def _nsg_id(props: dict) -> str:
    return (props.get("networkSecurityGroup") or {}).get("id", "").lower()


class SecurityRuleKind(NetworkKind):
    path = ("networkSecurityGroups", "securityRules")

    def validate(self, ctx: PutContext) -> None:
        props = _rule_properties(ctx.id, ctx.body.get("properties") or {})
        siblings = [(r.name, r.properties) for r in ctx.arm.children(ctx.parent, self) if r.key != ctx.id.lower()]
        _check_rule_conflicts([*siblings, (ctx.name, props)])
        ctx.stored = {"name": ctx.name, "id": ctx.id, "etag": etag(), "properties": props}

    def commit(self, ctx: PutContext, res: Resource) -> None:
        res.state["arm"] = ctx.arm
        ctx.parent.body["etag"] = etag()


# -- public IP addresses --------------------------------------------------------------------------------
class AddressPool:
    """Distinct 127.0.x.y addresses for public IPs (the VM's daemon listens there)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()
        self._rng = random.SystemRandom()

    def allocate(self) -> str:
        for _attempt in range(500):
            address = f"127.0.{self._rng.randint(1, 254)}.{self._rng.randint(2, 254)}"
            if address in self.taken or not _bindable(address):
                continue
            self.taken.add(address)
            return address
        raise ArmError(500, "InternalServerError", "No free loopback address left for a public IP.")

    def release(self, address: str | None) -> None:
        self.taken.discard(address)


def _bindable(address: str) -> bool:
    for port in (2376, 4243):
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


class PublicIPAddressKind(NetworkKind):
    path = ("publicIPAddresses",)

    def __init__(self, pool: AddressPool) -> None:
        self.pool = pool

    def validate(self, ctx: PutContext) -> None:
        location = check_location(ctx, self.type_name)
        props = ctx.body.get("properties") or {}
        sku = ctx.body.get("sku") or {}
        sku_name = {"basic": "Basic", "standard": "Standard"}.get(str(sku.get("name", "Basic")).lower())
        if sku_name is None:
            raise _bad_request(
                "InvalidRequestFormat", f"Cannot parse the request. Invalid sku name '{sku.get('name')}'."
            )
        method_raw = props.get("publicIPAllocationMethod") or ("Static" if sku_name == "Standard" else "Dynamic")
        method = {"static": "Static", "dynamic": "Dynamic"}.get(str(method_raw).lower())
        if method is None:
            raise _bad_request(
                "InvalidRequestFormat", f"Cannot parse the request. Invalid publicIPAllocationMethod '{method_raw}'."
            )
        if sku_name == "Standard" and method != "Static":
            raise _bad_request(
                "StandardSkuPublicIPAddressesMustBeStatic",
                f"Standard sku publicIp {ctx.id} must have AllocationMethod set to Static.",
            )
        version = props.get("publicIPAddressVersion", "IPv4")
        if str(version).lower() != "ipv4":
            raise _bad_request("InvalidRequestFormat", "The emulator only serves IPv4 public IP addresses.")
        idle = props.get("idleTimeoutInMinutes", 4)
        if not isinstance(idle, int) or not 4 <= idle <= 30:
            raise _bad_request(
                "PublicIPIdleTimeoutIsOutOfRange",
                f"IdleTimeoutInMinutes of public IP {ctx.id} is {idle}; it must be between 4 and 30 minutes.",
            )
        if ctx.existing is not None:
            old = ctx.existing.body.get("sku", {}).get("name", "Basic")
            if old != sku_name:
                raise _bad_request(
                    "PublicIPSkuCannotBeChanged",
                    f"Sku of public IP {ctx.id} cannot be changed from {old} to {sku_name}.",
                )
        stored = self.base_body(ctx, location)
        stored["sku"] = {"name": sku_name, "tier": sku.get("tier", "Regional")}
        if ctx.body.get("zones"):
            stored["zones"] = list(ctx.body["zones"])
        stored["properties"] = {
            "publicIPAddressVersion": "IPv4",
            "publicIPAllocationMethod": method,
            "idleTimeoutInMinutes": idle,
            "ddosSettings": copy.deepcopy(props.get("ddosSettings") or {"protectionMode": "VirtualNetworkInherited"}),
        }
        if props.get("ipTags"):
            stored["properties"]["ipTags"] = copy.deepcopy(props["ipTags"])
        dns = props.get("dnsSettings") or {}
        label = dns.get("domainNameLabel")
        if label:
            self._check_label(ctx, label, location)
            stored["properties"]["dnsSettings"] = {
                "domainNameLabel": label,
                "fqdn": f"{label}.{location}.cloudapp.azure.com",
            }
            if dns.get("reverseFqdn"):
                stored["properties"]["dnsSettings"]["reverseFqdn"] = dns["reverseFqdn"]
        ctx.stored = stored

    def _check_label(self, ctx: PutContext, label: Any, location: str) -> None:
        if not isinstance(label, str) or not _DNS_LABEL.match(label):
            raise _bad_request(
                "InvalidDomainNameLabel",
                f"The domain name label {label} is invalid. It must conform to the following regular expression: "
                "^[a-z][a-z0-9-]{1,61}[a-z0-9]$.",
            )
        for other in ctx.arm.resources.values():
            same_place = other.kind is self and other.key != ctx.id.lower() and other.body.get("location") == location
            if same_place and other.properties.get("dnsSettings", {}).get("domainNameLabel", "").lower() == label:
                raise _bad_request(
                    "DnsRecordInUse",
                    f"DNS record {label}.{location}.cloudapp.azure.com is already used by another public IP.",
                )

    def commit(self, ctx: PutContext, res: Resource) -> None:
        res.state["arm"] = ctx.arm
        props = res.properties
        address = res.state.get("ip")
        if props["publicIPAllocationMethod"] == "Static" and address is None:
            res.state["ip"] = self.pool.allocate()
        if res.state.get("ip") and (props["publicIPAllocationMethod"] == "Static" or res.state.get("attached_vm")):
            props["ipAddress"] = res.state["ip"]

    def render(self, res: Resource, request: Request) -> dict:
        body = copy.deepcopy(res.body)
        config = _pip_config(res.state["arm"], res)
        if config is not None:
            body["properties"]["ipConfiguration"] = _ref(config["id"])
        return body

    def check_delete(self, res: Resource) -> None:
        config = _pip_config(res.state["arm"], res)
        if config is not None:
            raise _bad_request(
                "PublicIPAddressCannotBeDeleted",
                f"Public IP address {res.id} can not be deleted since it is still allocated to resource "
                f"{config['id']}. In order to delete the public IP, disassociate/detach the Public IP address from the "
                "resource.  To learn how to do this, see aka.ms/deletepublicip.",
            )

    def removed(self, res: Resource) -> None:
        self.pool.release(res.state.get("ip"))

    # -- the VM's life cycle moves a Dynamic address ------------------------------------------------
    def vm_started(self, res: Resource, vm_id: str) -> str:
        res.state["attached_vm"] = vm_id
        if res.state.get("ip") is None:
            res.state["ip"] = self.pool.allocate()
        res.properties["ipAddress"] = res.state["ip"]
        return res.state["ip"]

    def vm_gone(self, res: Resource) -> None:
        res.state.pop("attached_vm", None)
        if res.properties["publicIPAllocationMethod"] == "Dynamic":
            self.pool.release(res.state.pop("ip", None))
            res.properties.pop("ipAddress", None)


def _pip_config(arm: ResourceManager, pip: Resource) -> dict | None:
    for nic in arm.resources.values():
        if nic.kind is NIC:
            for config in nic.properties.get("ipConfigurations", []):
                if config["properties"].get("publicIPAddress", {}).get("id", "").lower() == pip.key:
                    return config
    return None


# -- network interfaces ---------------------------------------------------------------------------------
class NetworkInterfaceKind(NetworkKind):
    path = ("networkInterfaces",)

    def validate(self, ctx: PutContext) -> None:
        location = check_location(ctx, self.type_name)
        props = ctx.body.get("properties") or {}
        configs = props.get("ipConfigurations") or []
        if not configs:
            raise _bad_request(
                "NetworkInterfaceMustHaveAtLeastOneIpConfiguration",
                f"Network interface {ctx.id} must have at least one IP configuration.",
            )
        arm = ctx.arm
        planned = []
        subnet_of_primary = None
        primaries = [c for c in configs if (c.get("properties") or {}).get("primary")]
        if len(primaries) > 1:
            raise _bad_request(
                "MoreThanOnePrimaryIpConfigurationOnNic",
                f"Network interface {ctx.id} has more than one primary IP configuration.",
            )
        for index, config in enumerate(configs):
            cprops = config.get("properties") or {} if isinstance(config, dict) else {}
            name = config.get("name") if isinstance(config, dict) else None
            if not name:
                raise _bad_request(
                    "InvalidRequestFormat", f"Cannot parse the request: ipConfigurations[{index}] must have a name."
                )
            config_id = f"{ctx.id}/ipConfigurations/{name}"
            primary = bool(cprops.get("primary")) or (not primaries and index == 0)
            subnet = None
            if cprops.get("subnet") is not None:
                subnet = check_reference(
                    arm, ctx.id, cprops["subnet"], "Microsoft.Network/virtualNetworks/subnets",
                    f"properties.ipConfigurations[{index}].properties.subnet.id",
                )  # fmt: skip
                _same_region(arm, ctx.id, location, subnet)
            pip = None
            if cprops.get("publicIPAddress") is not None:
                pip = check_reference(
                    arm, ctx.id, cprops["publicIPAddress"], "Microsoft.Network/publicIPAddresses",
                    f"properties.ipConfigurations[{index}].properties.publicIPAddress.id",
                )  # fmt: skip
                _same_region(arm, ctx.id, location, pip)
                holder = _pip_config(arm, pip)
                if holder is not None and not holder["id"].lower().startswith(ctx.id.lower() + "/"):
                    raise _bad_request(
                        "PublicIPAddressInUse",
                        f"Resource {pip.id} is referenced by resource {holder['id']} and cannot be referenced by "
                        f"{config_id}.",
                    )
            if primary:
                subnet_of_primary = subnet
            planned.append((name, config_id, cprops, primary, subnet, pip))
        if subnet_of_primary is None:
            raise _bad_request(
                "SubnetRequiredForPrimaryIpConfiguration",
                f"Primary IP configuration of network interface {ctx.id} must reference a subnet.",
            )
        for entry in planned:
            if entry[4] is not None and entry[4].parent != subnet_of_primary.parent:
                raise _bad_request(
                    "IpConfigurationsOfNicMustBeInSameVnet",
                    f"IP configurations of network interface {ctx.id} must all be in the same virtual network.",
                )
        nsg = None
        if props.get("networkSecurityGroup") is not None:
            nsg = check_reference(
                arm, ctx.id, props["networkSecurityGroup"], "Microsoft.Network/networkSecurityGroups",
                "properties.networkSecurityGroup.id",
            )  # fmt: skip
            _same_region(arm, ctx.id, location, nsg)
        stored = self.base_body(ctx, location)
        dns = props.get("dnsSettings") or {}
        stored["properties"] = {
            "dnsSettings": {
                "dnsServers": list(dns.get("dnsServers") or []),
                "appliedDnsServers": [],
                "internalDomainNameSuffix": _internal_suffix(subnet_of_primary),
            },
            "enableAcceleratedNetworking": bool(props.get("enableAcceleratedNetworking", False)),
            "enableIPForwarding": bool(props.get("enableIPForwarding", False)),
            "vnetEncryptionSupported": False,
            "ipConfigurations": [],
        }
        if "disableTcpStateTracking" in props:
            stored["properties"]["disableTcpStateTracking"] = bool(props["disableTcpStateTracking"])
        if nsg is not None:
            stored["properties"]["networkSecurityGroup"] = _ref(nsg.id)
        ctx.stored = stored
        ctx.state["planned_configs"] = (planned, subnet_of_primary)

    def commit(self, ctx: PutContext, res: Resource) -> None:
        arm = ctx.arm
        res.state["arm"] = arm
        planned, default_subnet = ctx.state.pop("planned_configs")
        previous = {c["name"].lower(): c for c in res.state.get("configs", [])}
        configs = []
        for name, config_id, cprops, primary, own_subnet, pip in planned:
            subnet = own_subnet or default_subnet
            before = previous.get(name.lower())
            config_props = {
                "primary": primary,
                "privateIPAddressVersion": "IPv4",
                "privateIPAllocationMethod": "Static"
                if cprops.get("privateIPAllocationMethod") == "Static"
                else "Dynamic",
                "provisioningState": self.pending_state,
                "subnet": _ref(subnet.id),
            }
            length = cprops.get("privateIPAddressPrefixLength")
            keep = (
                before["properties"]["privateIPAddress"]
                if before and before["properties"]["subnet"]["id"].lower() == subnet.key
                else None
            )
            if cprops.get("privateIPAllocationMethod") == "Static" and cprops.get("privateIPAddress"):
                address = cprops["privateIPAddress"]
            else:
                address = keep or _next_private(arm, subnet, length, exclude=res)
            config_props["privateIPAddress"] = address
            if length:
                config_props["privateIPAddressPrefixLength"] = length
            if pip is not None:
                config_props["publicIPAddress"] = _ref(pip.id)
            configs.append({"name": name, "id": config_id, "etag": res.body["etag"], "properties": config_props})
        res.properties["ipConfigurations"] = configs
        res.state["configs"] = configs
        for key in ("virtualMachine", "macAddress", "primary"):
            if key in res.state:
                res.properties[key] = copy.deepcopy(res.state[key])

    def finish(self, res: Resource, op: Operation) -> None:
        super().finish(res, op)
        for config in res.properties.get("ipConfigurations", []):
            config["properties"]["provisioningState"] = res.properties["provisioningState"]

    def check_delete(self, res: Resource) -> None:
        vm = res.state.get("virtualMachine")
        if vm:
            raise _bad_request(
                "NicInUse",
                f"Network Interface {res.id} is used by existing resource {vm['id']}. In order to delete the network "
                "interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.",
            )

    # -- attachment to a VM ---------------------------------------------------------------------------
    def attach(self, res: Resource, vm_id: str, primary: bool) -> None:
        res.state["virtualMachine"] = _ref(vm_id)
        res.state["primary"] = primary
        res.state.setdefault("macAddress", "00-0D-3A-" + "-".join(f"{random.randint(0, 255):02X}" for _i in range(3)))
        for key in ("virtualMachine", "primary", "macAddress"):
            res.properties[key] = copy.deepcopy(res.state[key])

    def detach(self, res: Resource) -> None:
        for key in ("virtualMachine", "primary", "macAddress"):
            res.state.pop(key, None)
            res.properties.pop(key, None)


def _internal_suffix(subnet: Resource) -> str:
    """Azure's per-VNet internal DNS suffix (``<random>.<region code>.internal.cloudapp.net``)."""
    vnet = subnet.state["arm"].resources.get(subnet.parent)
    state = vnet.state if vnet is not None else subnet.state
    if "dns_suffix" not in state:
        state["dns_suffix"] = f"{new_id().replace('-', '')[:26]}.bx.internal.cloudapp.net"
    return state["dns_suffix"]


def _next_private(arm: ResourceManager, subnet: Resource, length: int | None, exclude: Resource) -> str:
    """The next free address (Azure reserves the first four and the last one) or aligned prefix in ``subnet``."""
    prefix = ipaddress.ip_network(subnet.properties.get("addressPrefix") or subnet.properties["addressPrefixes"][0])
    used = set()
    for config in _ip_configs_in(arm, subnet):
        if not config["id"].lower().startswith(exclude.key + "/"):
            used.add(config["properties"]["privateIPAddress"])
    if length:
        for block in prefix.subnets(new_prefix=int(length)):
            if str(block) not in used and int(block.network_address) - int(prefix.network_address) >= 4:
                return f"{block.network_address}/{length}"
    else:
        for offset in range(4, prefix.num_addresses - 1):
            candidate = str(prefix.network_address + offset)
            if candidate not in used:
                return candidate
    raise _bad_request(
        "SubnetIsFull", f"Subnet {subnet.name} with address prefix {prefix} does not have enough capacity."
    )


def inbound_allowed(arm: ResourceManager, vm: Resource, source: str, port: int) -> bool:
    """Would Azure let TCP from ``source`` reach ``port`` on the VM's primary NIC through its public IP?

    Both the subnet's and the NIC's NSG must allow it (default rules included); with no NSG at all a Standard
    public IP lets nothing in (secure by default) and a Basic one lets everything in.
    """
    refs = vm.properties["networkProfile"]["networkInterfaces"]
    ref = next((r for r in refs if r.get("properties", {}).get("primary")), refs[0])
    nic = arm.get(ref["id"])
    configs = nic.properties.get("ipConfigurations", []) if nic is not None else []
    config = next((c for c in configs if c["properties"].get("primary")), None)
    if config is None or not config["properties"].get("publicIPAddress"):
        return False
    pip = arm.get(config["properties"]["publicIPAddress"]["id"])
    subnet = arm.get(config["properties"]["subnet"]["id"])
    if pip is None or subnet is None:
        return False
    vnet = arm.resources.get(subnet.parent)
    space = vnet.properties["addressSpace"]["addressPrefixes"] if vnet is not None else []
    nsgs = [arm.get(_nsg_id(props)) for props in (subnet.properties, nic.properties) if _nsg_id(props)]
    nsgs = [n for n in nsgs if n is not None]
    if not nsgs:
        return pip.body.get("sku", {}).get("name") == "Basic"
    private = config["properties"]["privateIPAddress"].split("/")[0]
    for nsg in nsgs:
        rules = [r.properties for r in arm.children(nsg, RULE)]
        rules += [d["properties"] for d in nsg.properties.get("defaultSecurityRules", [])]
        if not rule_allows(rules, source=source, destination=private, port=port, vnet=space):
            return False
    return True


SUBNET = SubnetKind()
RULE = SecurityRuleKind()
NIC = NetworkInterfaceKind()


def register(arm: ResourceManager, pool: AddressPool) -> PublicIPAddressKind:
    pip = PublicIPAddressKind(pool)
    for kind in (VirtualNetworkKind(), SUBNET, NetworkSecurityGroupKind(), RULE, pip, NIC):
        arm.register(kind)
    return pip
