# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every Azure resource of a Docker host shares: the plan record, ids, locations, tags, the group.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

Pure functions over REST-shaped dicts (camelCase, as in Microsoft's API reference), plus the resource
group's two SDK calls. The per-resource files (``_azure_network``, ``_azure_vm``, ``_azure_extension``)
build their :class:`Step` values with these helpers; ``_azure_sdk`` is the transport underneath.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import (
    Clients,
    Deadline,
    InvalidOption,
    call,
    get_or_none,
)

__all__ = [
    "OWNER_TAG",
    "Step",
    "arm_id",
    "create_resource_group",
    "get_resource_group",
    "location_key",
    "owned_by",
    "plan_resource_group",
    "same_id",
    "validate_location",
    "validate_resource_group",
    "validate_tags",
    "wanted_tags",
]

# What this collection writes on every resource it creates, so that state=absent removes exactly that.
OWNER_TAG = "dockerhost-azure-vm"


@dataclass
class Step:
    """One resource in a plan: what exists, what is wanted, and what to send.

    ``action`` is ``none``, ``create``, ``update`` or ``delete``; ``before``/``after`` hold only the managed
    properties (what diff mode shows); ``body`` is the REST body to PUT (never shown: it may carry secrets).
    """

    resource: str  # the resource type, as results and diffs name it: network_security_group, extension...
    name: str
    action: str
    before: dict | None = None
    after: dict | None = None
    body: dict | None = field(default=None, repr=False)
    reasons: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.action != "none"


# -- names, ids, locations, tags -----------------------------------------------------------------------
_RG_RE = re.compile(r"[-\w.()]{1,90}")
_LOCATION_RE = re.compile(r"[a-z0-9]+")


def arm_id(subscription: str, resource_group: str, provider: str, *parts: str) -> str:
    """``/subscriptions/S/resourceGroups/G/providers/P/type/name[/type/name]``."""
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{provider}/" + "/".join(parts)


def same_id(left: str | None, right: str | None) -> bool:
    """ARM ids are case-insensitive."""
    return (left or "").rstrip("/").lower() == (right or "").rstrip("/").lower()


def location_key(location: str | None) -> str:
    """``West Europe`` and ``westeurope`` are the same region."""
    return (location or "").replace(" ", "").lower()


def validate_location(location: str | None) -> str | None:
    if location is None:
        return None
    key = location_key(location)
    if not _LOCATION_RE.fullmatch(key):
        raise InvalidOption("location", f"{location!r} is not an Azure region name such as 'westeurope'")
    return key


def validate_resource_group(name: str) -> str:
    if not _RG_RE.fullmatch(name) or name.endswith("."):
        raise InvalidOption(
            "resource_group",
            f"{name!r} is not a valid resource group name: 1-90 letters, digits, '_', '-', '.', '(' or ')', "
            "not ending with '.'",
        )
    return name


_TAG_NAME_FORBIDDEN = re.compile(r"[<>%&\\?/]")


def validate_tags(tags: dict | None) -> dict[str, str] | None:
    """Azure's tag limits, checked before any request: 50 tags, names 1-512, values up to 256."""
    if tags is None:
        return None
    if len(tags) > 50:
        raise InvalidOption("tags", f"Azure allows at most 50 tags per resource, got {len(tags)}")
    clean: dict[str, str] = {}
    for key, value in tags.items():
        name = str(key)
        text = "" if value is None else str(value)
        if not name or len(name) > 512 or _TAG_NAME_FORBIDDEN.search(name):
            raise InvalidOption("tags", f"tag name {name!r} must be 1-512 characters without < > % & \\ ? /")
        if len(text) > 256:
            raise InvalidOption("tags", f"the value of tag {name!r} is longer than 256 characters")
        if name.lower() == OWNER_TAG:
            raise InvalidOption("tags", f"{OWNER_TAG!r} is reserved: the module marks what it created with it")
        clean[name] = text
    return clean


def owned_by(resource: dict | None, vm_name: str) -> bool:
    """True when the resource carries this module's ownership tag for this VM."""
    if not resource:
        return False
    for key, value in (resource.get("tags") or {}).items():
        if key.lower() == OWNER_TAG and str(value).lower() == vm_name.lower():
            return True
    return False


def wanted_tags(actual: dict | None, tags: dict[str, str] | None, vm_name: str) -> dict[str, str]:
    """The tags a resource should carry.

    ``tags`` unset leaves existing tags alone; set, it is the exact user set. The ownership tag is added on
    creation and kept on resources that have it; it is never added to a resource the module did not create.
    """
    current = dict((actual or {}).get("tags") or {})
    if actual is not None and tags is None:
        return current
    result = dict(tags or {})
    if actual is None or owned_by(actual, vm_name):
        result[OWNER_TAG] = vm_name
    return result


# -- resource group ------------------------------------------------------------------------------------
def plan_resource_group(
    actual: dict | None, name: str, location: str | None, tags: dict[str, str] | None, vm_name: str
) -> Step:
    """Create the group when missing; an existing group is only read (it may hold other things)."""
    if actual is not None:
        state = {"location": location_key(actual.get("location"))}
        return Step("resource_group", name, "none", before=state, after=state)
    if location is None:
        raise InvalidOption("location", f"resource group {name!r} does not exist; set location to create it")
    body = {"location": location, "tags": wanted_tags(None, tags, vm_name)}
    return Step("resource_group", name, "create", before=None, after={"location": location}, body=body)


def get_resource_group(clients: Clients, name: str, deadline: Deadline) -> dict | None:
    return get_or_none(f"read resource group {name!r}", clients.resource.resource_groups.get, name, deadline=deadline)


def create_resource_group(clients: Clients, step: Step, deadline: Deadline) -> None:
    call(
        f"create resource group {step.name!r}",
        clients.resource.resource_groups.create_or_update,
        step.name,
        step.body,
        deadline=deadline,
    )
