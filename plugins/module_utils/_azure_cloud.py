# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Azure clouds: a known cloud by name, or the endpoints an ARM metadata URL publishes (Azure Stack Hub).

This file is private to the dockerhost.azure collection; it has no compatibility promise.
Deciding the endpoints is pure (:func:`known_cloud`, :func:`parse_cloud_metadata`) and unit tested; reading a
metadata URL is a thin function on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import (
    AzureDockerHostError,
    InvalidOption,
)

try:
    import requests
except ImportError:  # azure-core depends on it; reported with the SDK
    requests = None

__all__ = [
    "DEFAULT_CLOUD",
    "Cloud",
    "fetch_cloud_metadata",
    "known_cloud",
    "parse_cloud_metadata",
    "resolve_cloud",
    "validate_cloud_environment",
]

DEFAULT_CLOUD = "AzureCloud"


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
    "azureusgovernmentcloud": "azureusgovernment",
    "azure_us_gov_cloud": "azureusgovernment",
}


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
