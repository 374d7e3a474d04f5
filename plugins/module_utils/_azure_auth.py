# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure credentials, defined once for every module of the collection.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

The option set (:data:`AZURE_AUTH_ARGSPEC`, documented by ``doc_fragments/azure.py``) has no Ansible env
fallbacks: where each setting comes from (task > environment > ``~/.azure/credentials`` profile) is decided in
``_azure_credential_sources.py``, so that two environment names with different values, or a service principal
assembled from two sources, are refused instead of silently picked. Deciding *which* credential is pure
(:func:`plan_from_settings`); :func:`plan_credential` adds the reads (profile file, certificate file) and
:func:`build_credential` the azure-identity object. Clouds live in ``_azure_cloud.py`` (re-exported here).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_client_certificate import (
    check_client_certificate,
    read_certificate_file,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_cloud import (
    DEFAULT_CLOUD,
    Cloud,
    fetch_cloud_metadata,
    known_cloud,
    parse_cloud_metadata,
    resolve_cloud,
    validate_cloud_environment,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_credential_sources import (
    ENV_NAMES,
    Setting,
    check_one_source,
    merge_settings,
    read_profile,
    selected_profile,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import (
    ALL_SERVICES,
    AzureDockerHostError,
    Clients,
    Deadline,
    InvalidOption,
    build_clients,
)

# azure-identity is loaded when a credential is built (after input checks); its presence is checked first.
try:
    AZURE_IDENTITY_MISSING = importlib.util.find_spec("azure.identity") is None
except ImportError:
    AZURE_IDENTITY_MISSING = True

__all__ = [
    "AUTH_SOURCES",
    "AZURE_AUTH_ARGSPEC",
    "AZURE_IDENTITY_MISSING",
    "ENV_NAMES",
    "Cloud",
    "CredentialPlan",
    "build_credential",
    "connect_clients",
    "fetch_cloud_metadata",
    "known_cloud",
    "parse_cloud_metadata",
    "plan_credential",
    "plan_from_settings",
    "resolve_cloud",
    "subscription_from_cli",
    "validate_cloud_environment",
]

AUTH_SOURCES = ("auto", "env", "cli", "msi", "workload_identity")

# The option set every Azure module of the collection takes (documented in doc_fragments/azure.py). The
# environment names of each option are ENV_NAMES (read by plan_credential, not by Ansible's fallback).
AZURE_AUTH_ARGSPEC: dict[str, dict] = {
    "subscription_id": {"type": "str"},
    "client_id": {"type": "str"},
    "secret": {"type": "str", "no_log": True},
    "tenant": {"type": "str"},
    "client_certificate_path": {"type": "path"},
    "client_certificate_password": {"type": "str", "no_log": True},
    "profile": {"type": "str"},
    "auth_source": {"type": "str", "default": "auto", "choices": list(AUTH_SOURCES)},
    "cloud_environment": {"type": "str"},
}

_GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}")
_CREDENTIALS = ("secret", "client_certificate_path")


@dataclass(frozen=True)
class CredentialPlan:
    """Which azure-identity credential to build, and with what (secrets are never shown in repr)."""

    kind: str  # client_secret | client_certificate | default | cli | msi | workload_identity
    subscription_id: str | None
    tenant: str | None = None
    client_id: str | None = None
    secret: str | None = field(default=None, repr=False)
    certificate: bytes | None = field(default=None, repr=False)  # the checked file's bytes
    certificate_path: str | None = None
    certificate_password: str | None = field(default=None, repr=False)
    cloud_environment: str = DEFAULT_CLOUD
    sources: dict[str, str] = field(default_factory=dict, compare=False)  # option -> where it came from

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values for the module's no_log list (set from the environment or a profile, Ansible never saw them)."""
        return tuple(value for value in (self.secret, self.certificate_password) if value)


def _names(option: str, profile_where: str | None) -> str:
    where = " / ".join(ENV_NAMES.get(option, ()))
    return f"{option} (or {where}" + (f", or in {profile_where})" if profile_where else ")")


def plan_from_settings(
    auth_source: str, settings: dict[str, Setting], profile_where: str | None = None
) -> CredentialPlan:
    """Decide the credential from merged settings (pure; the certificate file is read by plan_credential).

    ``auto`` takes a service principal when a secret or a certificate is set (then client_id and tenant are
    required), else azure-identity's DefaultAzureCredential chain (workload identity, managed identity, Azure
    CLI, ...).
    """
    value = {name: s.value for name, s in settings.items()}

    def source(name: str) -> str:
        where = settings[name].where if name in settings else "the task"
        return "" if where == "the task" else f" (set by {where})"

    subscription, tenant = value.get("subscription_id"), value.get("tenant")
    if subscription is not None and not _GUID_RE.fullmatch(subscription):
        raise InvalidOption(
            "subscription_id",
            f"must be a subscription GUID such as 00000000-0000-0000-0000-000000000000{source('subscription_id')}",
        )
    if tenant is not None and not _TENANT_RE.fullmatch(tenant):
        raise InvalidOption(
            "tenant", f"must be a tenant GUID or domain name such as contoso.onmicrosoft.com{source('tenant')}"
        )
    if "client_certificate_password" in value and "client_certificate_path" not in value:
        where = settings["client_certificate_password"].where
        raise InvalidOption(
            "client_certificate_password", f"is set ({where}) without client_certificate_path: set both or neither"
        )
    given = [name for name in _CREDENTIALS if name in value]
    if len(given) == 2:
        raise InvalidOption(
            "client_certificate_path",
            f"a service principal authenticates with a secret ({settings['secret'].where}) or a certificate "
            f"({settings['client_certificate_path'].where}), not both: unset one",
        )

    if auth_source in ("auto", "env"):
        if auth_source == "env" or given:
            needed = ("client_id", "tenant", *(given or ["secret"]))
            missing = [name for name in needed if name not in value]
            if missing:
                named = ", ".join(_names(name, profile_where) for name in missing)
                raise InvalidOption(
                    missing[0],
                    f"a service principal needs client_id, tenant and a secret or client_certificate_path; "
                    f"missing: {named}",
                )
            check_one_source(settings, ("client_id", "tenant", *given, "client_certificate_password"))
            kind = "client_certificate" if given == ["client_certificate_path"] else "client_secret"
        else:
            kind = "default"
    elif auth_source in ("cli", "msi", "workload_identity"):
        kind = auth_source
    else:
        raise InvalidOption("auth_source", f"{auth_source!r} is not one of {', '.join(AUTH_SOURCES)}")

    if kind != "cli" and not subscription:
        raise InvalidOption("subscription_id", f"is required: set {_names('subscription_id', profile_where)}")
    try:
        cloud = validate_cloud_environment(value.get("cloud_environment") or DEFAULT_CLOUD)
    except InvalidOption as exc:
        raise InvalidOption("cloud_environment", exc.message.split(": ", 1)[1] + source("cloud_environment")) from None
    return CredentialPlan(
        kind=kind,
        subscription_id=subscription,
        tenant=tenant,
        client_id=value.get("client_id"),
        secret=value.get("secret") if kind == "client_secret" else None,
        certificate_path=value.get("client_certificate_path") if kind == "client_certificate" else None,
        certificate_password=value.get("client_certificate_password") if kind == "client_certificate" else None,
        cloud_environment=cloud,
        sources={name: s.where for name, s in settings.items()},
    )


def plan_credential(params: dict, environ=None) -> CredentialPlan:
    """The credential for the module's auth options, the environment (``os.environ``) and a named profile.

    Reads the profile file only when a profile is named, and the certificate file when a certificate is the
    credential (checked here, before any request; the plan carries the bytes that were checked).
    """
    environ = os.environ if environ is None else environ
    named = selected_profile(params, environ)
    profile = read_profile(named.value) if named is not None else None
    settings = merge_settings(params, environ, profile)
    plan = plan_from_settings(params.get("auth_source") or "auto", settings, profile.where if profile else None)
    if plan.kind != "client_certificate":
        return plan
    where = settings["client_certificate_path"].where
    path = os.path.expanduser(plan.certificate_path)
    data = read_certificate_file(path, where)
    check_client_certificate(data, plan.certificate_password, f"{path} (from {where})")
    return dataclasses.replace(plan, certificate=data, certificate_path=path)


def build_credential(plan: CredentialPlan, cloud: Cloud):
    """The azure-identity credential for the plan, aimed at the cloud's authority."""
    from azure.identity import (  # noqa: PLC0415 - loaded only once the input is known to be good
        AzureCliCredential,
        CertificateCredential,
        ClientSecretCredential,
        DefaultAzureCredential,
        ManagedIdentityCredential,
        WorkloadIdentityCredential,
    )

    discovery = {"disable_instance_discovery": True} if cloud.custom else {}
    tenant = cloud.tenant_override or plan.tenant
    if plan.kind == "client_secret":
        return ClientSecretCredential(tenant, plan.client_id, plan.secret, authority=cloud.authority, **discovery)
    if plan.kind == "client_certificate":
        return CertificateCredential(
            tenant,
            plan.client_id,
            certificate_data=plan.certificate,
            password=plan.certificate_password,
            authority=cloud.authority,
            **discovery,
        )
    if plan.kind == "cli":
        return AzureCliCredential(tenant_id=tenant or "")
    if plan.kind == "msi":
        return ManagedIdentityCredential(client_id=plan.client_id)
    if plan.kind == "workload_identity":
        token_file = os.environ.get("AZURE_FEDERATED_TOKEN_FILE")
        if not token_file:
            raise AzureDockerHostError(
                "auth_source=workload_identity needs AZURE_FEDERATED_TOKEN_FILE in the environment"
            )
        return WorkloadIdentityCredential(
            tenant_id=tenant,
            client_id=plan.client_id,
            token_file_path=token_file,
            authority=cloud.authority,
            **discovery,
        )
    return DefaultAzureCredential(
        authority=cloud.authority,
        exclude_interactive_browser_credential=True,
        managed_identity_client_id=plan.client_id,
        **discovery,
    )


def subscription_from_cli(timeout: float = 30.0) -> str:
    """The Azure CLI's current subscription, for auth_source=cli without subscription_id."""
    az = shutil.which("az")
    if az is None:
        raise AzureDockerHostError("subscription_id is required: auth_source=cli found no 'az' command to ask")
    try:
        proc = subprocess.run(  # noqa: S603 - fixed arguments, az found on PATH
            [az, "account", "show", "--output", "json"], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AzureDockerHostError(f"subscription_id is required: 'az account show' failed: {exc}") from exc
    if proc.returncode != 0:
        raise AzureDockerHostError(
            "subscription_id is required: 'az account show' failed (run 'az login'): " + proc.stderr.strip()[-500:]
        )
    try:
        subscription = json.loads(proc.stdout)["id"]
    except (ValueError, KeyError, TypeError) as exc:
        raise AzureDockerHostError("subscription_id is required: 'az account show' gave no subscription id") from exc
    return str(subscription)


def connect_clients(
    plan: CredentialPlan, cloud_environment: str, deadline: Deadline, *, services: tuple[str, ...] = ALL_SERVICES
) -> Clients:
    """The management clients a module works with: the cloud's endpoints (resolved within ``deadline``), the
    subscription (the plan's, else the Azure CLI's default) and the plan's credential."""
    cloud = resolve_cloud(cloud_environment, timeout=min(30.0, deadline.remaining()))
    subscription = plan.subscription_id or subscription_from_cli()
    credential = build_credential(plan, cloud)
    return build_clients(credential, subscription, cloud.resource_manager, cloud.scopes, deadline, services=services)
