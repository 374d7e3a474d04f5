# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Regions, api-versions and resource name rules, as Azure states them.

Name rules: learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules
(Microsoft.Resources, Microsoft.Network, Microsoft.Compute sections).
"""

from __future__ import annotations

import re

from .core import ArmError

__all__ = [
    "API_VERSIONS",
    "LOCATIONS",
    "check_api_version",
    "check_name",
    "check_resource_group_name",
    "normalize_location",
]

# Azure public cloud regions (the names ARM answers with, lower case, no spaces).
LOCATIONS = (
    "eastus",
    "eastus2",
    "southcentralus",
    "westus2",
    "westus3",
    "australiaeast",
    "southeastasia",
    "northeurope",
    "swedencentral",
    "uksouth",
    "westeurope",
    "centralus",
    "southafricanorth",
    "centralindia",
    "eastasia",
    "japaneast",
    "koreacentral",
    "canadacentral",
    "francecentral",
    "germanywestcentral",
    "italynorth",
    "norwayeast",
    "polandcentral",
    "spaincentral",
    "switzerlandnorth",
    "mexicocentral",
    "uaenorth",
    "brazilsouth",
    "israelcentral",
    "qatarcentral",
    "northcentralus",
    "westus",
    "japanwest",
    "westcentralus",
    "canadaeast",
    "ukwest",
    "australiasoutheast",
    "australiacentral",
    "koreasouth",
    "southindia",
    "westindia",
    "francesouth",
    "germanynorth",
    "norwaywest",
    "switzerlandwest",
    "southafricawest",
    "uaecentral",
    "brazilsoutheast",
)

_COMPUTE = (
    "2015-06-15 2016-03-30 2016-04-30-preview 2017-03-30 2017-12-01 2018-04-01 2018-06-01 2018-10-01 "
    "2019-03-01 2019-07-01 2019-12-01 2020-06-01 2020-12-01 2021-03-01 2021-04-01 2021-07-01 2021-11-01 "
    "2022-03-01 2022-08-01 2022-11-01 2023-03-01 2023-07-01 2023-09-01 2024-03-01 2024-07-01 2024-11-01 "
    "2025-04-01 2025-11-01 2026-04-01"
)
_NETWORK = (
    "2015-06-15 2016-03-30 2016-06-01 2016-09-01 2016-12-01 2017-03-01 2017-06-01 2017-08-01 2017-09-01 "
    "2017-10-01 2017-11-01 2018-01-01 2018-02-01 2018-04-01 2018-06-01 2018-07-01 2018-08-01 2018-10-01 "
    "2018-11-01 2018-12-01 2019-02-01 2019-04-01 2019-06-01 2019-07-01 2019-08-01 2019-09-01 2019-11-01 "
    "2019-12-01 2020-03-01 2020-04-01 2020-05-01 2020-06-01 2020-07-01 2020-08-01 2020-11-01 2021-02-01 "
    "2021-03-01 2021-05-01 2021-08-01 2022-01-01 2022-05-01 2022-07-01 2022-09-01 2022-11-01 2023-02-01 "
    "2023-04-01 2023-05-01 2023-06-01 2023-09-01 2023-11-01 2024-01-01 2024-03-01 2024-05-01 2024-07-01 "
    "2024-10-01 2025-01-01 2025-03-01 2025-05-01 2025-07-01 2026-01-01 2026-03-01"
)
_RESOURCES = (
    "2014-04-01 2015-01-01 2015-11-01 2016-02-01 2016-06-01 2016-07-01 2016-09-01 2017-05-10 2018-02-01 "
    "2018-05-01 2019-03-01 2019-05-01 2019-05-10 2019-07-01 2019-08-01 2019-10-01 2020-06-01 2020-08-01 "
    "2020-10-01 2021-01-01 2021-04-01 2022-09-01 2023-07-01 2024-03-01 2024-07-01 2024-11-01 2025-03-01 "
    "2025-04-01"
)
API_VERSIONS = {
    "microsoft.compute": tuple(_COMPUTE.split()),
    "microsoft.network": tuple(_NETWORK.split()),
    "microsoft.resources": tuple(_RESOURCES.split()),
}


def normalize_location(value: object) -> str | None:
    """ARM accepts display names ("West US") and answers with the short name ("westus")."""
    if not isinstance(value, str):
        return None
    short = value.replace(" ", "").lower()
    return short if short in LOCATIONS else None


def check_api_version(request_version: str | None, namespace: str, type_name: str, location: str = "") -> None:
    if not request_version:
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    supported = API_VERSIONS[namespace.lower()]
    if request_version in supported:
        return
    if namespace.lower() == "microsoft.resources":
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{request_version}' is invalid. The supported versions are "
            f"'{','.join(reversed(supported))}'.",
        )
    raise ArmError(
        400,
        "NoRegisteredProviderFound",
        f"No registered resource provider found for location '{location or 'westus'}' and API version "
        f"'{request_version}' for type '{type_name}'. The supported api-versions are '{', '.join(supported)}'. "
        f"The supported locations are '{', '.join(LOCATIONS)}'.",
    )


_RG_NAME = re.compile(r"^[-\w._()]{1,90}$")


def check_resource_group_name(name: str) -> None:
    if not _RG_NAME.match(name) or name.endswith("."):
        raise ArmError(
            400,
            "InvalidResourceGroupName",
            f"Resource group name '{name}' is invalid. It can include alphanumeric, underscore, parentheses, "
            "hyphen, period (except at end), and Unicode characters that match the allowed characters.",
        )


# Network resources (virtualNetworks, subnets, networkSecurityGroups, securityRules, publicIPAddresses,
# networkInterfaces): 1-80 (subnets, rules: 1-80), alphanumerics, underscores, periods and hyphens; start with
# alphanumeric; end with alphanumeric or underscore.
_NETWORK_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?$")
# Linux VM resource name: 1-64, no \/"'[]:|<>+=;,?*@&, no leading underscore, no trailing period or hyphen.
_VM_FORBIDDEN = set("\\/\"'[]:|<>+=;,?*@&#%~!$^(){}` ")


def check_name(kind: str, name: str, type_name: str) -> None:
    """Raise ARM's InvalidResourceName for a name ``type_name`` (e.g. Microsoft.Network/virtualNetworks) refuses."""
    if kind == "network":
        if _NETWORK_NAME.match(name):
            return
        raise ArmError(
            400,
            "InvalidResourceName",
            f"Resource name {name} is invalid. The name can be up to 80 characters long. It must begin with a word "
            "character, and it must end with a word character or with '_'. The name may contain word characters "
            "or '.', '-', '_'.",
            details=[],
        )
    if kind == "vm":
        bad = (
            not 1 <= len(name) <= 64
            or any(ch in _VM_FORBIDDEN for ch in name)
            or name.startswith("_")
            or name.endswith((".", "-"))
        )
        if not bad:
            return
        raise ArmError(
            400,
            "InvalidResourceName",
            f"The Resource '{type_name}/{name}' has an invalid name. Virtual machine names can only contain "
            "alphanumeric characters, underscores, periods and hyphens, must be at most 64 characters long, must "
            "not start with an underscore and must not end with a period or hyphen.",
        )
    if kind == "extension":
        if 1 <= len(name) <= 80 and not any(ch in _VM_FORBIDDEN for ch in name):
            return
        raise ArmError(
            400,
            "InvalidResourceName",
            f"The Resource '{type_name}/{name}' has an invalid name.",
        )
    raise ValueError(kind)
