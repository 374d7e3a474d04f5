# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""azure_docker_vm's options, checked and normalised into one frozen :class:`Request`.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

:func:`build_request` runs every input check before any request is sent (no network, only the three
certificate files are read): bad input raises :class:`InvalidOption` naming the option. Everything after
it (plan, executor, result) reads the request, never the raw parameters.

The certificate files come last, and with ``validate_only`` they are neither required nor read: a caller
(the docker_host role) checks every other option before it has written the certificates, then calls again.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_auth import (
    plan_credential,
    validate_cloud_environment,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_certificates import (
    CertificateSet,
    is_pem_text,
    load_certificates,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_install_methods import (
    INSTALL_METHODS,
    InstallMethod,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_network import (
    NetworkNames,
    validate_dns_label,
    validate_subnet_id,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_resources import (
    validate_location,
    validate_resource_group,
    validate_tags,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import InvalidOption
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_security_group import (
    validate_allowed_cidrs,
    validate_docker_port,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_vm import (
    Image,
    parse_image,
    validate_admin_password,
    validate_admin_username,
    validate_ssh_public_keys,
    validate_vm_name,
    validate_vm_size,
)

__all__ = ["Request", "build_request", "refuse_control_characters"]

# Whitespace in these is normalised on purpose (a pasted .pub file ends in a newline); the password has
# its own rule, whose message never repeats it; tags are checked by validate_tags.
_NORMALISED = frozenset({"ssh_public_keys", "admin_password", "tags"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def refuse_control_characters(params: dict) -> None:
    """No option value (nor list item) holds a control character: no Azure name, id, region or path does.

    A trailing newline (from a file, a YAML block scalar, a registered stdout) passes every ``^...$`` check
    made with ``re.match``; it is refused here first, for every option, without repeating the value.
    """
    for option, value in params.items():
        if option in _NORMALISED or option.startswith("_"):
            continue
        if option == "server_cert" and isinstance(value, str) and is_pem_text(value):
            continue  # PEM text is lines; load_certificates checks it is one certificate
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str) and (found := _CONTROL.search(item)):
                where = "ends with" if found.start() == len(item) - 1 else "contains"
                raise InvalidOption(
                    option, f"{where} a control character ({found.group()!r}); remove it (a trailing newline?)"
                )


@dataclass(frozen=True)
class Request:
    """The validated options. With ``state=absent`` only the fields above ``docker_port`` are set."""

    credential: Any  # _azure_auth.CredentialPlan
    cloud_environment: str
    state: str
    resource_group: str
    name: str
    location: str | None
    tags: dict[str, str] | None
    subnet_id: str | None
    wait_timeout: int
    docker_port: int | None = None
    allowed_cidrs: tuple[str, ...] = ()
    dns_label: str | None = None
    vm_size: str | None = None
    image: Image | None = None
    admin_username: str | None = None
    ssh_public_keys: tuple[str, ...] = ()
    admin_password: str | None = field(default=None, repr=False)
    certs: CertificateSet | None = None  # None with validate_only: the files are read by the real call
    install_method: InstallMethod | None = None  # configured with the daemon options

    @property
    def present(self) -> bool:
        return self.state == "present"


def _expand(value: str) -> str:
    """``server_cert``: PEM text as it is, a path as Ansible expands ``type: path`` options."""
    return value if is_pem_text(value) else os.path.expanduser(os.path.expandvars(value))


def build_request(params: dict) -> Request:
    """Every input check, before any request; raises InvalidOption naming the option."""
    refuse_control_characters(params)
    credential = plan_credential(params)  # options, then the environment, then a profile
    common = {
        "credential": credential,
        "cloud_environment": validate_cloud_environment(credential.cloud_environment),
        "state": params["state"],
        "resource_group": validate_resource_group(params["resource_group"]),
        "name": validate_vm_name(params["name"]),
        "location": validate_location(params["location"]),
        "tags": validate_tags(params["tags"]),
        "subnet_id": validate_subnet_id(params["subnet_id"]),
        "wait_timeout": params["wait_timeout"],
    }
    NetworkNames(common["name"]).check_lengths()
    if params["wait_timeout"] < 1:
        raise InvalidOption("wait_timeout", "must be a positive number of seconds")
    if params["state"] == "absent":
        return Request(**common)
    keys = validate_ssh_public_keys(params["ssh_public_keys"])
    password = validate_admin_password(params["admin_password"])
    if not keys and password is None:
        raise InvalidOption("ssh_public_keys", "give ssh_public_keys or admin_password (or both) to log in to the VM")
    try:
        method = INSTALL_METHODS[params["docker_install"]].configured(params.get("daemon_options"))
    except ValueError as exc:  # DaemonOptionsError names the key
        raise InvalidOption("daemon_options", str(exc)) from None
    checked = {
        "docker_port": validate_docker_port(params["docker_port"]),
        "allowed_cidrs": tuple(validate_allowed_cidrs(params["allowed_cidrs"], params["allow_from_anywhere"])),
        "dns_label": validate_dns_label(params["dns_label"], params["name"]),
        "vm_size": validate_vm_size(params["vm_size"]),
        "image": parse_image(params["image"]),
        "admin_username": validate_admin_username(params["admin_username"]),
        "ssh_public_keys": tuple(keys),
        "admin_password": password,
        "install_method": method,
    }
    if params.get("validate_only"):
        return Request(**common, **checked)
    missing = [o for o in ("ca_cert", "server_cert") if not params[o]]
    if missing:
        raise InvalidOption(missing[0], "ca_cert and server_cert (with server_key) are required with state=present")
    # Without server_key only a host whose extension already carries server_cert converges (see the plan).
    certs = load_certificates(params["ca_cert"], _expand(params["server_cert"]), params["server_key"] or None)
    return Request(**common, **checked, certs=certs)
