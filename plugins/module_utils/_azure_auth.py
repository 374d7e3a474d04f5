# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure credentials and cloud endpoints, defined once for every module of the collection.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

The option set (:data:`AZURE_AUTH_ARGSPEC`, documented by ``doc_fragments/azure.py``) takes the names
AWX's Azure credential injects as environment fallbacks. Deciding *which* credential and *which*
endpoints is pure (:func:`plan_credential`, :func:`known_cloud`, :func:`parse_cloud_metadata`) and unit
tested; building the azure-identity object and reading a metadata URL are thin functions on top.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ansible.module_utils.basic import env_fallback

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import (
    AzureDockerHostError,
    InvalidOption,
)

try:
    import requests
except ImportError:  # azure-core depends on it; reported with the SDK
    requests = None

# azure-identity is loaded when a credential is built (after input checks); its presence is checked first.
try:
    AZURE_IDENTITY_MISSING = importlib.util.find_spec("azure.identity") is None
except ImportError:
    AZURE_IDENTITY_MISSING = True

__all__ = [
    "AUTH_SOURCES",
    "AZURE_AUTH_ARGSPEC",
    "AZURE_IDENTITY_MISSING",
    "Cloud",
    "CredentialPlan",
    "build_credential",
    "fetch_cloud_metadata",
    "known_cloud",
    "parse_cloud_metadata",
    "plan_credential",
    "resolve_cloud",
    "subscription_from_cli",
    "validate_cloud_environment",
]

AUTH_SOURCES = ("auto", "env", "cli", "msi", "workload_identity")

# The option set every Azure module of the collection takes (documented in doc_fragments/azure.py).
AZURE_AUTH_ARGSPEC: dict[str, dict] = {
    "subscription_id": {"type": "str", "fallback": (env_fallback, ["AZURE_SUBSCRIPTION_ID"])},
    "client_id": {"type": "str", "fallback": (env_fallback, ["AZURE_CLIENT_ID"])},
    "secret": {"type": "str", "no_log": True, "fallback": (env_fallback, ["AZURE_SECRET", "AZURE_CLIENT_SECRET"])},
    "tenant": {"type": "str", "fallback": (env_fallback, ["AZURE_TENANT", "AZURE_TENANT_ID"])},
    "auth_source": {"type": "str", "default": "auto", "choices": list(AUTH_SOURCES)},
    "cloud_environment": {
        "type": "str",
        "default": "AzureCloud",
        "fallback": (env_fallback, ["AZURE_CLOUD_ENVIRONMENT"]),
    },
}

_GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TENANT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")


# -- clouds --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cloud:
    """Where to send ARM requests and where to get tokens for them."""

    name: str
    resource_manager: str  # e.g. https://management.azure.com (no trailing slash)
    authority: str  # login host or URL given to azure-identity
    audience: str  # token audience; the scope is <audience>/.default
    custom: bool = False  # from a metadata URL: no instance discovery (Azure Stack Hub does not serve it)
    tenant_override: str | None = None  # "adfs" for an AD FS-based Azure Stack Hub

    @property
    def scopes(self) -> list[str]:
        return [self.audience.rstrip("/") + "/.default"]


_KNOWN_CLOUDS = {
    "azurecloud": Cloud(
        "AzureCloud", "https://management.azure.com", "login.microsoftonline.com", "https://management.azure.com"
    ),
    "azurechinacloud": Cloud(
        "AzureChinaCloud",
        "https://management.chinacloudapi.cn",
        "login.chinacloudapi.cn",
        "https://management.chinacloudapi.cn",
    ),
    "azureusgovernment": Cloud(
        "AzureUSGovernment",
        "https://management.usgovcloudapi.net",
        "login.microsoftonline.us",
        "https://management.usgovcloudapi.net",
    ),
}
# Names older tools (msrestazure, the Azure CLI) use for the same clouds.
_ALIASES = {
    "azurepubliccloud": "azurecloud",
    "azure_public_cloud": "azurecloud",
    "azure_china_cloud": "azurechinacloud",
}
_ALIASES.update({"azureusgovernmentcloud": "azureusgovernment", "azure_us_gov_cloud": "azureusgovernment"})


def _is_url(value: str) -> bool:
    return "://" in value


def validate_cloud_environment(value: str) -> str:
    """A known cloud name or an https metadata URL; checked before any request."""
    if _is_url(value):
        parts = urlsplit(value)
        if parts.scheme != "https" or not parts.hostname:
            raise InvalidOption(
                "cloud_environment",
                f"{value!r} must be an https:// metadata endpoint URL (tokens never travel in clear)",
            )
        return value
    if known_cloud(value) is None:
        raise InvalidOption(
            "cloud_environment",
            f"unknown cloud {value!r}: use AzureCloud, AzureChinaCloud, AzureUSGovernment, or the https URL of a "
            "metadata endpoint (Azure Stack Hub: https://management.<region>.<fqdn>/metadata/endpoints?api-version=2022-09-01)",
        )
    return value


def known_cloud(name: str) -> Cloud | None:
    key = name.strip().lower()
    return _KNOWN_CLOUDS.get(_ALIASES.get(key, key))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _authority(login_endpoint: str, identity_provider: str | None) -> tuple[str, str | None]:
    """(authority, tenant override) from a metadata login endpoint; AD FS stacks use the tenant 'adfs'."""
    login = login_endpoint.rstrip("/")
    adfs = (identity_provider or "").upper() == "ADFS" or login.lower().endswith("/adfs")
    if adfs:
        return _origin(login), "adfs"
    return login, None


def parse_cloud_metadata(url: str, document: object) -> Cloud:
    """Endpoints from an ARM metadata document, in either published form.

    * ``api-version=2015-01-01`` (Azure Stack Hub): one object with ``authentication`` but no resource
      manager field, because it is served by the resource manager itself: its origin is the metadata URL's.
    * ``api-version=2022-09-01``: a list of clouds, each with ``resourceManager``; the one served by the URL's
      host is taken (or the only one).
    """
    if isinstance(document, list):
        clouds = [entry for entry in document if isinstance(entry, dict)]
        host = (urlsplit(url).hostname or "").lower()
        match = [c for c in clouds if (urlsplit(str(c.get("resourceManager", ""))).hostname or "").lower() == host]
        if len(match) != 1:
            match = clouds if len(clouds) == 1 else []
        if not match:
            names = ", ".join(str(c.get("name")) for c in clouds) or "none"
            raise AzureDockerHostError(
                f"cloud_environment: the metadata at {url} lists clouds ({names}) but none is served by {host}"
            )
        entry = match[0]
        resource_manager = str(entry.get("resourceManager") or "")
        name = str(entry.get("name") or host)
    elif isinstance(document, dict):
        entry = document
        resource_manager = str(entry.get("resourceManager") or _origin(url))
        name = str(entry.get("name") or urlsplit(url).hostname)
    else:
        raise AzureDockerHostError(f"cloud_environment: {url} did not return ARM cloud metadata")
    auth = entry.get("authentication") or {}
    login = auth.get("loginEndpoint")
    audiences = auth.get("audiences") or []
    if not (resource_manager and login and audiences):
        raise AzureDockerHostError(
            f"cloud_environment: the metadata at {url} lacks resourceManager, authentication.loginEndpoint or "
            "authentication.audiences"
        )
    authority, tenant = _authority(str(login), auth.get("identityProvider"))
    return Cloud(
        name=name,
        resource_manager=resource_manager.rstrip("/"),
        authority=authority,
        audience=str(audiences[0]),
        custom=True,
        tenant_override=tenant,
    )


def fetch_cloud_metadata(url: str, timeout: float) -> object:
    """GET the metadata document; TLS trust comes from REQUESTS_CA_BUNDLE when set (a private CA)."""
    try:
        response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
        response.raise_for_status()
        return response.json()
    except requests.exceptions.SSLError as exc:
        raise AzureDockerHostError(
            f"cloud_environment: TLS verification failed for {url} ({exc}); for a private CA set REQUESTS_CA_BUNDLE "
            "to a bundle that includes it"
        ) from exc
    except (requests.RequestException, ValueError) as exc:
        raise AzureDockerHostError(f"cloud_environment: cannot read cloud metadata from {url}: {exc}") from exc


def resolve_cloud(value: str, timeout: float = 30.0) -> Cloud:
    """A known cloud, or the endpoints a metadata URL names."""
    if _is_url(value):
        return parse_cloud_metadata(value, fetch_cloud_metadata(value, timeout))
    cloud = known_cloud(value)
    if cloud is None:  # validate_cloud_environment ran first; kept for direct callers
        raise InvalidOption("cloud_environment", f"unknown cloud {value!r}")
    return cloud


# -- credentials --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CredentialPlan:
    """Which azure-identity credential to build, and with what (the secret is never shown in repr)."""

    kind: str  # client_secret | default | cli | msi | workload_identity
    subscription_id: str | None
    tenant: str | None = None
    client_id: str | None = None
    secret: str | None = field(default=None, repr=False)


_ENV_NAMES = {
    "subscription_id": "AZURE_SUBSCRIPTION_ID",
    "client_id": "AZURE_CLIENT_ID",
    "secret": "AZURE_SECRET",
    "tenant": "AZURE_TENANT",
}


def plan_credential(params: dict) -> CredentialPlan:
    """Decide the credential from the auth options (after Ansible applied the env fallbacks).

    ``auto`` takes a service principal when client_id, secret and tenant are all set, else azure-identity's
    DefaultAzureCredential chain (environment, workload identity, managed identity, Azure CLI, ...).
    """
    source = params.get("auth_source") or "auto"
    subscription = params.get("subscription_id")
    if subscription is not None and not _GUID_RE.match(subscription):
        raise InvalidOption(
            "subscription_id", "must be a subscription GUID such as 00000000-0000-0000-0000-000000000000"
        )
    tenant = params.get("tenant")
    if tenant is not None and not _TENANT_RE.match(tenant):
        raise InvalidOption("tenant", "must be a tenant GUID or domain name such as contoso.onmicrosoft.com")
    client_id, secret = params.get("client_id"), params.get("secret")
    service_principal = ("client_id", "secret", "tenant")

    if source in ("auto", "env"):
        given = [n for n in service_principal if params.get(n)]
        if source == "env" or "secret" in given:
            missing = [name for name in service_principal if not params.get(name)]
            if missing:
                named = ", ".join(f"{name} (or {_ENV_NAMES[name]})" for name in missing)
                raise InvalidOption(
                    missing[0], f"a service principal needs client_id, secret and tenant; missing: {named}"
                )
            kind = "client_secret"
        else:
            kind = "default"
    elif source in ("cli", "msi", "workload_identity"):
        kind = source
    else:
        raise InvalidOption("auth_source", f"{source!r} is not one of {', '.join(AUTH_SOURCES)}")

    if kind != "cli" and not subscription:
        raise InvalidOption("subscription_id", "is required (or set AZURE_SUBSCRIPTION_ID)")
    return CredentialPlan(kind=kind, subscription_id=subscription, tenant=tenant, client_id=client_id, secret=secret)


def build_credential(plan: CredentialPlan, cloud: Cloud):
    """The azure-identity credential for the plan, aimed at the cloud's authority."""
    from azure.identity import (  # noqa: PLC0415 - loaded only once the input is known to be good
        AzureCliCredential,
        ClientSecretCredential,
        DefaultAzureCredential,
        ManagedIdentityCredential,
        WorkloadIdentityCredential,
    )

    discovery = {"disable_instance_discovery": True} if cloud.custom else {}
    tenant = cloud.tenant_override or plan.tenant
    if plan.kind == "client_secret":
        return ClientSecretCredential(tenant, plan.client_id, plan.secret, authority=cloud.authority, **discovery)
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
