# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker host's network security group: who may reach SSH and the Docker port.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

Adding an inbound rule is one :data:`SECURITY_RULES` row. ``allowed_cidrs`` is checked here (the open
internet only with ``allow_from_anywhere``), as is the Docker port (never 2375, Docker's plain-HTTP port).
Updates are GET-modify-PUT: rules the module does not manage are kept.
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_network import (
    NETWORK_RESOURCES,
    NetworkIds,
    check_location,
    finish_update,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_resources import (
    Step,
    location_key,
    wanted_tags,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import InvalidOption

__all__ = [
    "DOCKER_PLAIN_HTTP_PORT",
    "DOCKER_RULE",
    "SECURITY_RULES",
    "SSH_RULE",
    "SecurityRule",
    "plan_security_group",
    "validate_allowed_cidrs",
    "validate_docker_port",
    "wanted_security_rules",
]

DOCKER_PLAIN_HTTP_PORT = 2375  # Docker's unencrypted, unauthenticated port: never opened
_ANYWHERE_WORDS = {"*", "any", "internet"}


@dataclass(frozen=True)
class SecurityRule:
    """One inbound rule of the security group: a row of :data:`SECURITY_RULES`."""

    name: str
    priority: int
    port: int | None  # None: the docker_port option
    what: str

    def body(self, allowed_cidrs: list[str], docker_port: int) -> dict:
        """The rule as Azure takes it: TCP to ``port`` from ``allowed_cidrs`` only."""
        props = {
            "description": f"{self.what} (managed by dockerhost.azure)",
            "priority": self.priority,
            "direction": "Inbound",
            "access": "Allow",
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationPortRange": str(docker_port if self.port is None else self.port),
            "destinationAddressPrefix": "*",
        }
        if len(allowed_cidrs) == 1:
            props["sourceAddressPrefix"] = allowed_cidrs[0]
        else:
            props["sourceAddressPrefixes"] = list(allowed_cidrs)
        return {"name": self.name, "properties": props}


SSH_RULE = "dockerhost-ssh"
DOCKER_RULE = "dockerhost-docker-tls"
SECURITY_RULES = (
    SecurityRule(SSH_RULE, 1000, 22, "SSH"),
    SecurityRule(DOCKER_RULE, 1010, None, "Docker API over mutual TLS"),
)


def validate_allowed_cidrs(cidrs: list[str] | None, allow_from_anywhere: bool) -> list[str]:
    """Canonical source prefixes for the security rules; the open internet only when explicitly allowed."""
    if not cidrs:
        if allow_from_anywhere:
            return ["*"]
        raise InvalidOption(
            "allowed_cidrs",
            "is required: list the client networks allowed to reach SSH and the Docker port (e.g. 203.0.113.7/32); "
            "opening them to the internet needs allow_from_anywhere=true",
        )
    networks = []
    anywhere = False
    for raw in cidrs:
        text = str(raw).strip()
        if text.lower() in _ANYWHERE_WORDS:
            anywhere = True
            continue
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            if "has host bits set" in str(exc):
                fixed = ipaddress.ip_network(text, strict=False)
                raise InvalidOption("allowed_cidrs", f"{text!r} has host bits set; did you mean {fixed}?") from exc
            raise InvalidOption("allowed_cidrs", f"{text!r} is not an IPv4/IPv6 address or CIDR") from exc
        networks.append(network)
    # 0.0.0.0/0, ::/0, or pieces that add up to the whole address space (0.0.0.0/1 + 128.0.0.0/1).
    for version in (4, 6):
        collapsed = list(ipaddress.collapse_addresses(n for n in networks if n.version == version))
        if any(n.prefixlen == 0 for n in collapsed):
            anywhere = True
    if anywhere and not allow_from_anywhere:
        raise InvalidOption(
            "allowed_cidrs",
            "opens SSH and the Docker API to the whole internet ('*', 'Internet', 'Any' or 0.0.0.0/0); anyone "
            "reaching the Docker port gets root on the VM if TLS is ever misconfigured. Set allow_from_anywhere=true "
            "to accept that",
        )
    if anywhere:
        return ["*"]
    return sorted({str(n) for n in networks})


def validate_docker_port(port: int) -> int:
    if not 1 <= port <= 65535:
        raise InvalidOption("docker_port", f"{port} is not a TCP port (1-65535)")
    if port == DOCKER_PLAIN_HTTP_PORT:
        raise InvalidOption(
            "docker_port", "2375 is Docker's plain-HTTP port and is never opened; use 2376 (TLS) or another port"
        )
    if port == 22:
        raise InvalidOption("docker_port", "22 is the SSH port of the VM")
    return port


# -- network security group ----------------------------------------------------------------------------
def wanted_security_rules(allowed_cidrs: list[str], docker_port: int) -> list[dict]:
    """Inbound SSH and Docker-TLS rules from ``allowed_cidrs`` only; nothing else is opened."""
    return [rule.body(allowed_cidrs, docker_port) for rule in SECURITY_RULES]


def _rule_state(rule: dict | None) -> dict | None:
    """The managed facts of one security rule, normalised (Azure echoes single vs list prefixes as sent)."""
    if rule is None:
        return None
    props = rule.get("properties") or {}
    prefixes = props.get("sourceAddressPrefixes") or [props.get("sourceAddressPrefix")]
    ports = props.get("destinationPortRanges") or [props.get("destinationPortRange")]
    return {
        "priority": props.get("priority"),
        "direction": props.get("direction"),
        "access": props.get("access"),
        "protocol": props.get("protocol"),
        "destination_ports": sorted(str(p) for p in ports if p),
        "sources": sorted(str(s) for s in prefixes if s),
    }


def _rules_by_name(resource: dict | None) -> dict[str, dict]:
    return {r.get("name", "").lower(): r for r in ((resource or {}).get("properties") or {}).get("securityRules") or []}


def plan_security_group(
    actual: dict | None,
    *,
    ids: NetworkIds,
    location: str,
    allowed_cidrs: list[str],
    docker_port: int,
    tags: dict[str, str] | None,
    vm_name: str,
) -> Step:
    wanted = wanted_security_rules(allowed_cidrs, docker_port)
    after = {
        "location": location,
        "security_rules": {r["name"]: _rule_state(r) for r in wanted},
        "tags": wanted_tags(actual, tags, vm_name),
    }
    name = ids.names.name("network_security_group")
    if actual is None:
        body = {"location": location, "tags": after["tags"], "properties": {"securityRules": wanted}}
        return Step("network_security_group", name, "create", before=None, after=after, body=body)
    check_location(NETWORK_RESOURCES["network_security_group"].label, name, actual, location)
    existing = _rules_by_name(actual)
    before = {
        "location": location_key(actual.get("location")),
        "security_rules": {r["name"]: _rule_state(existing.get(r["name"].lower())) for r in wanted},
        "tags": dict(actual.get("tags") or {}),
    }
    body = copy.deepcopy(actual)
    ours = {r["name"].lower() for r in wanted}
    others = [r for key, r in existing.items() if key not in ours]
    body.setdefault("properties", {})["securityRules"] = others + wanted
    body["tags"] = after["tags"]
    return finish_update("network_security_group", name, actual, before=before, after=after, body=body)
