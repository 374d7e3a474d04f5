# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker host's virtual machine: input rules, the plan, and its SDK calls.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

The input rules are Azure's (VM and computer names, Linux admin user names and passwords, SSH public
keys), checked before any request so a bad value fails fast and names its option. :func:`plan_vm`
compares what exists with what is wanted; what Azure cannot change in place (image, admin user,
SSH keys, password login, location, NIC) fails clearly instead of being silently ignored.
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

try:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key
except ImportError:  # reported by the module through missing_required_lib
    rsa = load_ssh_public_key = None

__all__ = [
    "DEFAULT_IMAGE",
    "Image",
    "VmSpec",
    "delete_vm",
    "get_vm",
    "parse_image",
    "plan_vm",
    "put_vm",
    "validate_admin_password",
    "validate_admin_username",
    "validate_ssh_public_keys",
    "validate_vm_name",
    "validate_vm_size",
    "vm_id",
]

DEFAULT_IMAGE = "Canonical:ubuntu-24_04-lts:server:latest"
OS_DISK_TYPE = "StandardSSD_LRS"

_VM_NAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?")
_USERNAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_VM_SIZE_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
# Azure refuses these Linux admin user names (documented list, compared without case).
RESERVED_USERNAMES = frozenset(
    (
        *("administrator", "admin", "admin1", "admin2", "adm", "actuser", "aspnet", "backup", "console", "guest"),
        *("owner", "root", "server", "sql", "support", "support_388945a0", "sys", "a", "1", "123", "david", "john"),
        *("test", "test1", "test2", "test3", "user", "user1", "user2", "user3", "user4", "user5"),
    )
)
# Azure refuses these passwords outright.
BANNED_PASSWORDS = frozenset(
    (
        *("abc@123", "iloveyou!", "P@$$w0rd", "P@ssw0rd", "P@ssword123", "Pa$$word", "pass@word1", "Password!"),
        *("Password1", "Password22"),
    )
)
_SSH_KEY_TYPES = ("ssh-rsa", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521")


# -- input ---------------------------------------------------------------------------------------------
def validate_vm_name(name: str) -> str:
    """Also the Linux computer name and the stem of the network resources' names."""
    if not _VM_NAME_RE.fullmatch(name) or name.isdigit():
        raise InvalidOption(
            "name",
            f"{name!r} is not a valid Linux VM name: 1-64 letters, digits and hyphens, starting and ending with a "
            "letter or digit, not only digits",
        )
    return name


def validate_vm_size(size: str) -> str:
    if not _VM_SIZE_RE.fullmatch(size):
        raise InvalidOption("vm_size", f"{size!r} is not a VM size name such as Standard_B2s")
    return size


def validate_admin_username(username: str) -> str:
    if not 1 <= len(username) <= 64:
        raise InvalidOption("admin_username", "must be 1-64 characters")
    if not _USERNAME_RE.fullmatch(username):
        raise InvalidOption(
            "admin_username",
            f"{username!r} may only contain letters, digits, '_' and '-', and must not start with a digit or '-'",
        )
    if username.lower() in RESERVED_USERNAMES:
        raise InvalidOption("admin_username", f"{username!r} is reserved by Azure; choose another name, e.g. azureuser")
    return username


def validate_admin_password(password: str | None) -> str | None:
    """Azure's Linux password rules; the message never repeats the password."""
    if password is None:
        return None
    if not 6 <= len(password) <= 72:
        raise InvalidOption("admin_password", "must be 6-72 characters long")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):
        raise InvalidOption("admin_password", "must not contain control characters")
    classes = sum(
        (
            any(ch.islower() for ch in password),
            any(ch.isupper() for ch in password),
            any(ch.isdigit() for ch in password),
            any(not ch.isalnum() for ch in password),
        )
    )
    if classes < 3:
        raise InvalidOption(
            "admin_password",
            "needs 3 of these 4: a lower-case letter, an upper-case letter, a digit, a special character",
        )
    if password in BANNED_PASSWORDS:
        raise InvalidOption("admin_password", "is on Azure's list of disallowed passwords")
    return password


def validate_ssh_public_keys(keys: list[str] | None) -> list[str]:
    """OpenSSH public keys (``type base64 [comment]``); a private key given by mistake is refused, unshown."""
    clean = []
    for index, raw in enumerate(keys or []):
        text = " ".join(str(raw).split())
        where = f"item {index + 1}"
        if "PRIVATE KEY" in text:
            raise InvalidOption("ssh_public_keys", f"{where} is a private key; give the public key (the .pub file)")
        parts = text.split(" ")
        if len(parts) < 2 or parts[0] not in _SSH_KEY_TYPES:
            raise InvalidOption(
                "ssh_public_keys",
                f"{where} is not an OpenSSH public key ('ssh-ed25519 AAAA... comment' or 'ssh-rsa ...')",
            )
        try:
            key = load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
        except (ValueError, TypeError) as exc:
            raise InvalidOption("ssh_public_keys", f"{where} cannot be parsed as an OpenSSH public key") from exc
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
            raise InvalidOption(
                "ssh_public_keys", f"{where} is a {key.key_size}-bit RSA key; Azure needs at least 2048 bits"
            )
        clean.append(text)
    return clean


@dataclass(frozen=True)
class Image:
    """A marketplace image (publisher:offer:sku:version) or an image resource id."""

    publisher: str | None = None
    offer: str | None = None
    sku: str | None = None
    version: str | None = None
    id: str | None = None

    def reference(self) -> dict:
        if self.id:
            return {"id": self.id}
        return {"publisher": self.publisher, "offer": self.offer, "sku": self.sku, "version": self.version}

    def __str__(self) -> str:
        return self.id or f"{self.publisher}:{self.offer}:{self.sku}:{self.version}"

    def matches(self, reference: dict | None) -> bool:
        """Whether an existing VM's imageReference is this image (a pinned version must match)."""
        ref = reference or {}
        if self.id:
            return same_id(self.id, ref.get("id"))
        if ref.get("id") and not ref.get("publisher"):
            return False
        for wanted, actual in (
            (self.publisher, ref.get("publisher")),
            (self.offer, ref.get("offer")),
            (self.sku, ref.get("sku")),
        ):
            if (wanted or "").lower() != (actual or "").lower():
                return False
        version = (self.version or "").lower()
        return version == "latest" or version in {
            (ref.get("version") or "").lower(),
            (ref.get("exactVersion") or "").lower(),
        }


def parse_image(value: str) -> Image:
    text = value.strip()
    if text.startswith("/subscriptions/"):
        return Image(id=text)
    parts = text.split(":")
    if len(parts) != 4 or not all(parts):
        raise InvalidOption(
            "image", f"{value!r} is neither publisher:offer:sku:version (e.g. {DEFAULT_IMAGE}) nor an image resource id"
        )
    return Image(*parts)


# -- plan ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VmSpec:
    """What the VM should be; ``admin_password`` is only sent when the VM is created (Azure never returns it)."""

    name: str
    location: str
    vm_size: str
    image: Image
    admin_username: str
    ssh_public_keys: tuple[str, ...]
    admin_password: str | None
    nic_id: str
    tags: dict | None


def vm_id(subscription: str, resource_group: str, name: str) -> str:
    return arm_id(subscription, resource_group, "Microsoft.Compute", "virtualMachines", name)


def _keys_of(resource: dict) -> list[str]:
    linux = (((resource.get("properties") or {}).get("osProfile") or {}).get("linuxConfiguration")) or {}
    return sorted(" ".join(str(k.get("keyData", "")).split()) for k in (linux.get("ssh") or {}).get("publicKeys") or [])


def _vm_state(resource: dict) -> dict:
    props = resource.get("properties") or {}
    os_profile = props.get("osProfile") or {}
    linux = os_profile.get("linuxConfiguration") or {}
    ref = (props.get("storageProfile") or {}).get("imageReference") or {}
    nics = (props.get("networkProfile") or {}).get("networkInterfaces") or []
    image = ref.get("id") or ":".join(str(ref.get(k)) for k in ("publisher", "offer", "sku", "version"))
    return {
        "location": location_key(resource.get("location")),
        "vm_size": (props.get("hardwareProfile") or {}).get("vmSize"),
        "image": image,
        "admin_username": os_profile.get("adminUsername"),
        "ssh_public_keys": _keys_of(resource),
        "password_authentication": not linux.get("disablePasswordAuthentication", False),
        "network_interface_id": nics[0].get("id") if nics else None,
        "tags": dict(resource.get("tags") or {}),
    }


def _create_body(spec: VmSpec, tags: dict) -> dict:
    linux: dict = {"disablePasswordAuthentication": spec.admin_password is None, "provisionVMAgent": True}
    if spec.ssh_public_keys:
        path = f"/home/{spec.admin_username}/.ssh/authorized_keys"
        linux["ssh"] = {"publicKeys": [{"path": path, "keyData": key} for key in spec.ssh_public_keys]}
    os_profile = {"computerName": spec.name, "adminUsername": spec.admin_username, "linuxConfiguration": linux}
    if spec.admin_password is not None:
        os_profile["adminPassword"] = spec.admin_password
    return {
        "location": spec.location,
        "tags": tags,
        "properties": {
            "hardwareProfile": {"vmSize": spec.vm_size},
            "storageProfile": {
                "imageReference": spec.image.reference(),
                "osDisk": {
                    "name": f"{spec.name}-osdisk",
                    "createOption": "FromImage",
                    "caching": "ReadWrite",
                    "managedDisk": {"storageAccountType": OS_DISK_TYPE},
                    # Deleting the VM deletes its OS disk: nothing is left behind by state=absent.
                    "deleteOption": "Delete",
                },
            },
            "osProfile": os_profile,
            "networkProfile": {"networkInterfaces": [{"id": spec.nic_id, "properties": {"primary": True}}]},
        },
    }


def plan_vm(actual: dict | None, spec: VmSpec) -> Step:
    tags = wanted_tags(actual, spec.tags, spec.name)
    after = {
        "location": spec.location,
        "vm_size": spec.vm_size,
        "image": str(spec.image),
        "admin_username": spec.admin_username,
        "ssh_public_keys": sorted(spec.ssh_public_keys),
        "password_authentication": spec.admin_password is not None,
        "network_interface_id": spec.nic_id,
        "tags": tags,
    }
    if actual is None:
        return Step("virtual_machine", spec.name, "create", before=None, after=after, body=_create_body(spec, tags))

    before = _vm_state(actual)
    props = actual.get("properties") or {}
    if spec.image.matches((props.get("storageProfile") or {}).get("imageReference")):
        after["image"] = before["image"]
    if same_id(before["network_interface_id"], spec.nic_id):
        after["network_interface_id"] = before["network_interface_id"]
    # Azure compares VM sizes without case (and answers in its own spelling): the same size is no change.
    if (before["vm_size"] or "").lower() == spec.vm_size.lower():
        after["vm_size"] = before["vm_size"]
    # Azure keeps what it was created with; changing these means a new VM.
    fixed = {
        "location": "location",
        "image": "image",
        "admin_username": "admin_username",
        "ssh_public_keys": "ssh_public_keys",
        "password_authentication": "admin_password",
        "network_interface_id": "subnet_id",
    }
    blocked = [option for key, option in fixed.items() if before[key] != after[key]]
    if blocked:
        labels = {"password_authentication": "password login", "network_interface_id": "network interface"}
        details = []
        for key, option in fixed.items():
            if option in blocked:
                shown = "differ" if key == "ssh_public_keys" else f"{before[key]!r} -> {after[key]!r}"
                details.append(f"{option}: {shown}" if key == option else f"{option} ({labels[key]}: {shown})")
        raise AzureDockerHostError(
            f"virtual machine {spec.name!r} exists and Azure cannot change in place: {'; '.join(details)}. "
            "Keep the current values, or remove the host (state=absent) and create it again"
        )
    body = copy.deepcopy(actual)
    body.pop("resources", None)  # the VM's extensions are read-only here
    body_props = body.setdefault("properties", {})
    body_props.pop("instanceView", None)
    body_props.setdefault("hardwareProfile", {})["vmSize"] = after["vm_size"]
    body["tags"] = tags
    reasons = [key for key in ("vm_size", "tags") if before[key] != after[key]]
    if props.get("provisioningState") == "Failed":
        reasons.append("provisioning_state")
    return Step(
        "virtual_machine",
        spec.name,
        "update" if reasons else "none",
        before=before,
        after=after,
        body=body,
        reasons=reasons,
    )


# -- SDK -----------------------------------------------------------------------------------------------
def get_vm(clients, resource_group: str, name: str, deadline: Deadline) -> dict | None:
    return get_or_none(
        f"read virtual machine {name!r}", clients.compute.virtual_machines.get, resource_group, name, deadline=deadline
    )


def put_vm(clients, step: Step, resource_group: str, deadline: Deadline) -> dict:
    return put_and_wait(
        f"{step.action} virtual machine {step.name!r}",
        clients.compute.virtual_machines.begin_create_or_update,
        resource_group,
        step.name,
        step.body,
        deadline=deadline,
    )


def delete_vm(clients, resource_group: str, name: str, deadline: Deadline) -> None:
    delete_and_wait(
        f"delete virtual machine {name!r}",
        clients.compute.virtual_machines.begin_delete,
        resource_group,
        name,
        deadline=deadline,
    )
