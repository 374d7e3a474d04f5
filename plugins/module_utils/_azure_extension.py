# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VM extension that installs Docker and gives its daemon the TLS certificates.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

What each install method sends is in ``_azure_install_methods``; this file plans and applies it.
Certificates and key only ever travel in protectedSettings, which Azure never returns; so that a change
is still seen, the extension's forceUpdateTag carries the method's public fingerprints (SHA-256 of the
server and CA certificates, of the install script, and the port). Never a hash of the key: the
certificate already changes with it. The CA print also tells which CA the daemon trusts (``_azure_rekey``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_install_methods import (
    INSTALL_METHODS,
    InstallMethod,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_resources import (
    OWNER_TAG,
    Step,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import (
    AzureDockerHostError,
    Deadline,
    InvalidOption,
    delete_and_wait,
    get_or_none,
    put_and_wait,
)

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.dockerhost.azure.plugins.module_utils._azure_certificates import CertificateSet

__all__ = [
    "SERVER_KEY_REQUIRED",
    "ExtensionFailed",
    "ServerKeyRequired",
    "apply_reasons",
    "check_server_key",
    "delete_extension",
    "extension_outcome",
    "failure_text",
    "get_extension",
    "list_extensions",
    "parse_update_tag",
    "plan_extensions",
    "put_extension",
]

_TAIL_LINES = 20
_TAIL_CHARS = 2000


class ExtensionFailed(AzureDockerHostError):
    """The extension ran on the VM and failed; carries its outcome for the task result."""

    def __init__(self, message: str, outcome: dict):
        super().__init__(message)
        self.outcome = outcome


SERVER_KEY_REQUIRED = "server_key_required"


class ServerKeyRequired(InvalidOption):
    """The extension must be (re-)applied but ``server_key`` was omitted; raised before any write."""

    def __init__(self, vm_name: str, reasons: list[str]):
        super().__init__(
            "server_key",
            f"VM {vm_name!r}: the Docker extension must be applied ({'; '.join(reasons)}), which ships the server "
            "key, and server_key was not given (server_cert is the certificate in use on the host, whose key "
            "stays there). Nothing was changed. Issue a new server pair (docker_tls_certs without "
            "server_cert_in_use) and run again with server_cert and server_key.",
        )
        self.reasons = reasons

    def facts(self) -> dict:
        return {"error_kind": SERVER_KEY_REQUIRED, "reasons": list(self.reasons)}


_PRINT_REASONS = {
    "cert": "the server certificate is not the one the extension carries",
    "ca": "the CA is not the one the extension carries",
    "script": "the install script changed",
    "daemon": "daemon_options changed",
    "port": "docker_port changed",
}
_PROPERTY_REASONS = {
    "settings": "the extension's public settings changed",
    "type_handler_version": "the extension's handler version changed",
    "provisioning_state": "the extension's last run did not succeed",
    "publisher": "the extension's publisher differs",
}


def apply_reasons(step: Step) -> list[str]:
    """Pure: why the extension ``step`` is (re-)applied, in words (empty when it is not)."""
    if step.action == "create":
        return ["the Docker extension is not on the VM yet"]
    if step.action != "update":
        return []
    reasons = []
    for key in step.reasons:
        if key == "fingerprints":
            before = (step.before or {}).get("fingerprints") or {}
            after = (step.after or {}).get("fingerprints") or {}
            changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            reasons += [_PRINT_REASONS.get(k, f"its {k} fingerprint changed") for k in changed]
        else:
            reasons.append(_PROPERTY_REASONS.get(key, f"its {key} changed"))
    return reasons


def check_server_key(steps: list[Step], certs: CertificateSet, vm_name: str) -> None:
    """Pure: without the server key only a plan that does not put our extension may go on."""
    if certs.has_key:
        return
    for step in steps:
        if step.resource == "extension" and step.action in ("create", "update"):
            raise ServerKeyRequired(vm_name, apply_reasons(step))


# -- the extension's plan ------------------------------------------------------------------------------
_TAG_PREFIX = "dockerhost"


def _update_tag(prints: dict[str, str], run: int) -> str:
    parts = [f"{key}={value}" for key, value in prints.items()]
    if run:
        parts.append(f"run={run}")
    return f"{_TAG_PREFIX}:" + ";".join(parts)


def parse_update_tag(tag: str | None) -> dict[str, str]:
    """``dockerhost:port=2376;cert=...;ca=...;script=...[;run=N]`` as a dict (empty when not ours)."""
    if not tag or not tag.startswith(f"{_TAG_PREFIX}:"):
        return {}
    pairs = (part.partition("=") for part in tag[len(_TAG_PREFIX) + 1 :].split(";") if part)
    return {key: value for key, _sep, value in pairs}


def _major_minor(version: str | None) -> str:
    return ".".join((version or "").split(".")[:2])


def _state(resource: dict) -> dict:
    props = resource.get("properties") or {}
    tag = parse_update_tag(props.get("forceUpdateTag"))
    tag.pop("run", None)
    return {
        "publisher": props.get("publisher"),
        "type": props.get("type"),
        "type_handler_version": _major_minor(props.get("typeHandlerVersion")),
        "settings": props.get("settings") or {},
        "fingerprints": tag,
        "provisioning_state": props.get("provisioningState"),
    }


def _find(extensions: list[dict], method: InstallMethod) -> dict | None:
    for ext in extensions:
        props = ext.get("properties") or {}
        if (ext.get("name") or "").lower() == method.name.lower() and (
            props.get("type") or ""
        ).lower() == method.type.lower():
            return ext
    return None


def plan_extensions(
    extensions: list[dict], *, method: InstallMethod, port: int, certs: CertificateSet, location: str, vm_name: str
) -> list[Step]:
    """Steps for the VM's extensions: remove another install method's extension if it is there, then ours.

    The extension carries only the ownership tag (user tags would re-run it for nothing).
    """
    steps = []
    for other in INSTALL_METHODS.values():
        if other.option == method.option:
            continue
        found = _find(extensions, other)
        if found is not None:
            steps.append(Step("extension", found["name"], "delete", before=_state(found), after=None))

    prints = method.fingerprints(port, certs)
    after = {
        "publisher": method.publisher,
        "type": method.type,
        "type_handler_version": method.version,
        "settings": method.settings(port),
        "fingerprints": prints,
        "provisioning_state": "Succeeded",
    }
    actual = _find(extensions, method)
    run = 0
    if actual is None:
        action, before, reasons = "create", None, []
    else:
        before = _state(actual)
        if "ca" not in before["fingerprints"] and before["fingerprints"].get("cert") == prints["cert"]:
            # A tag without the CA print: the same server certificate means the same CA (it is checked to be
            # issued by it), so the missing print alone does not re-run the extension.
            before["fingerprints"] = {**before["fingerprints"], "ca": prints["ca"]}
        reasons = [key for key in after if key not in ("publisher", "type") and before.get(key) != after.get(key)]
        if (before["publisher"] or "").lower() != method.publisher.lower():
            reasons.append("publisher")
        action = "update" if reasons else "none"
        if reasons == ["provisioning_state"]:
            # Same settings after a failure: Azure re-runs an extension only when something changes.
            run = int(parse_update_tag((actual.get("properties") or {}).get("forceUpdateTag")).get("run", "0") or 0) + 1
    body = {
        "location": location,
        "tags": {OWNER_TAG: vm_name},
        "properties": {
            "publisher": method.publisher,
            "type": method.type,
            "typeHandlerVersion": method.version,
            "autoUpgradeMinorVersion": True,
            "forceUpdateTag": _update_tag(prints, run),
            "settings": method.settings(port),
        },
    }
    if certs.has_key:  # without it the extension is not put (check_server_key)
        body["properties"]["protectedSettings"] = method.protected_settings(port, certs)
    steps.append(Step("extension", method.name, action, before=before, after=after, body=body, reasons=reasons))
    return steps


# -- outcome -------------------------------------------------------------------------------------------
def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "\n".join(lines[-_TAIL_LINES:])[-_TAIL_CHARS:]


def failure_text(resource: dict | None) -> str:
    """What a failed extension said: status messages and the script's stderr tail."""
    view = ((resource or {}).get("properties") or {}).get("instanceView") or {}
    parts = []
    for status in view.get("statuses") or []:
        if status.get("message"):
            parts.append(_tail(str(status["message"])))
    for status in view.get("substatuses") or []:
        code = str(status.get("code") or "")
        if "stderr" in code.lower() and status.get("message"):
            parts.append("stderr:\n" + _tail(str(status["message"])))
    return "\n".join(p for p in parts if p) or "no status message was reported"


def extension_outcome(resource: dict | None, method: InstallMethod) -> dict:
    """The ``extension`` return value."""
    props = (resource or {}).get("properties") or {}
    statuses = (props.get("instanceView") or {}).get("statuses") or []
    message = next((str(s.get("message")) for s in statuses if s.get("message")), None)
    return {
        "name": method.name,
        "type": f"{method.publisher}.{method.type}",
        "provisioning_state": props.get("provisioningState"),
        "status_message": _tail(message) if message else None,
    }


# -- SDK -----------------------------------------------------------------------------------------------
def list_extensions(clients, resource_group: str, vm_name: str, deadline: Deadline) -> list[dict]:
    """The VM's extensions with their instance view, in one request (none when the VM does not exist)."""
    result = get_or_none(
        f"list extensions of virtual machine {vm_name!r}",
        clients.compute.virtual_machine_extensions.list,
        resource_group,
        vm_name,
        expand="instanceView",
        deadline=deadline,
    )
    return list((result or {}).get("value") or [])


def get_extension(clients, resource_group: str, vm_name: str, name: str, deadline: Deadline) -> dict | None:
    return get_or_none(
        f"read extension {name!r}",
        clients.compute.virtual_machine_extensions.get,
        resource_group,
        vm_name,
        name,
        expand="instanceView",
        deadline=deadline,
    )


def put_extension(clients, step: Step, resource_group: str, vm_name: str, deadline: Deadline) -> dict:
    return put_and_wait(
        f"{step.action} extension {step.name!r} on {vm_name!r}",
        clients.compute.virtual_machine_extensions.begin_create_or_update,
        resource_group,
        vm_name,
        step.name,
        step.body,
        deadline=deadline,
    )


def delete_extension(clients, resource_group: str, vm_name: str, name: str, deadline: Deadline) -> None:
    delete_and_wait(
        f"delete extension {name!r} from {vm_name!r}",
        clients.compute.virtual_machine_extensions.begin_delete,
        resource_group,
        vm_name,
        name,
        deadline=deadline,
    )
