# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network input rules and plans: actual (REST dict) + wanted -> step."""

from __future__ import annotations

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_network import (
    NETWORK_RESOURCES,
    NetworkIds,
    NetworkNames,
    plan_network_interface,
    plan_public_ip,
    plan_virtual_network,
    validate_dns_label,
    validate_subnet_id,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import AzureDockerHostError, InvalidOption
from ansible_collections.dockerhost.azure.tests.unit.plugins.module_utils.azure_fixtures import (
    COMMON,
    IDS,
    SUB,
    common,
    created,
)


# -- allowed_cidrs: secure by default --------------------------------------------------------------------
def test_dns_label_defaults_to_the_name_in_lower_case():
    assert validate_dns_label(None, "DockerHost1") == "dockerhost1"


@pytest.mark.parametrize(
    ("label", "name", "option"),
    [("ab", "x", "dns_label"), ("1abc", "x", "dns_label"), ("abc-", "x", "dns_label"), ("a_bc", "x", "dns_label")],
)
def test_bad_dns_label(label, name, option):
    with pytest.raises(InvalidOption) as info:
        validate_dns_label(label, name)
    assert info.value.option == option


def test_a_name_that_makes_no_label_asks_for_dns_label():
    with pytest.raises(InvalidOption, match="set dns_label") as info:
        validate_dns_label(None, "1host")
    assert info.value.option == "name"


def test_subnet_id():
    good = f"/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    assert validate_subnet_id(good) == good
    with pytest.raises(InvalidOption, match="subnet_id"):
        validate_subnet_id("/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/virtualNetworks/v")


def test_derived_names_must_fit():
    NetworkNames("a" * 59).check_lengths()
    with pytest.raises(InvalidOption, match="virtual network would be named") as info:
        NetworkNames("a" * 60).check_lengths()
    assert info.value.option == "name"


# -- security group ----------------------------------------------------------------------------------------
# -- public IP ---------------------------------------------------------------------------------------------
def test_public_ip_create_noop_and_label_change():
    step = plan_public_ip(None, dns_label="dh1", **COMMON)
    assert step.body["sku"]["name"] == "Standard"
    assert step.body["properties"]["publicIPAllocationMethod"] == "Static"
    actual = created(step)
    actual["properties"]["dnsSettings"]["fqdn"] = "dh1.westeurope.cloudapp.azure.com"
    actual["properties"]["ipAddress"] = "20.1.2.3"
    assert plan_public_ip(actual, dns_label="dh1", **COMMON).action == "none"
    relabel = plan_public_ip(actual, dns_label="dh1b", **COMMON)
    assert relabel.reasons == ["dns_label"]
    assert relabel.body["properties"]["dnsSettings"] == {"domainNameLabel": "dh1b"}  # Azure computes the fqdn


def test_basic_public_ip_cannot_become_standard_in_place():
    actual = created(plan_public_ip(None, dns_label="dh1", **COMMON))
    actual["sku"] = {"name": "Basic"}
    with pytest.raises(AzureDockerHostError, match="SKU 'Basic'"):
        plan_public_ip(actual, dns_label="dh1", **COMMON)


# -- virtual network ---------------------------------------------------------------------------------------
def test_virtual_network():
    step = plan_virtual_network(None, **COMMON)
    assert step.body["properties"]["subnets"][0]["name"] == "default"
    actual = created(step)
    assert plan_virtual_network(actual, **COMMON).action == "none"
    retag = plan_virtual_network(actual, **common(tags={"env": "test"}))
    assert retag.reasons == ["tags"]
    assert retag.body["properties"]["subnets"] == actual["properties"]["subnets"]  # subnets kept as they are
    actual["properties"]["subnets"] = []
    with pytest.raises(AzureDockerHostError, match="subnet_id"):
        plan_virtual_network(actual, **COMMON)


# -- NIC ---------------------------------------------------------------------------------------------------
def test_nic_joins_subnet_public_ip_and_security_group():
    step = plan_network_interface(None, **COMMON)
    config = step.body["properties"]["ipConfigurations"][0]["properties"]
    assert config["subnet"]["id"].endswith("/virtualNetworks/dh1-vnet/subnets/default")
    assert config["publicIPAddress"]["id"].endswith("/publicIPAddresses/dh1-ip")
    assert step.body["properties"]["networkSecurityGroup"]["id"].endswith("/networkSecurityGroups/dh1-nsg")
    actual = created(step)
    # Azure may spell ids in another case: still the same resources.
    nsg = actual["properties"]["networkSecurityGroup"]
    nsg["id"] = nsg["id"].replace("resourceGroups", "resourcegroups")
    assert plan_network_interface(actual, **COMMON).action == "none"


def test_nic_uses_a_given_subnet():
    subnet = f"/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
    ids = NetworkIds(SUB, "rg", NetworkNames("dh1"), subnet)
    step = plan_network_interface(None, **common(ids=ids))
    assert step.body["properties"]["ipConfigurations"][0]["properties"]["subnet"]["id"] == subnet
    moved = plan_network_interface(created(step), **COMMON)
    assert moved.reasons == ["subnet_id"]


# -- the tables: one row per resource type, one per security rule ---------------------------------------
def test_every_network_resource_is_one_row():
    assert list(NETWORK_RESOURCES) == ["network_security_group", "public_ip", "virtual_network", "network_interface"]
    for row in NETWORK_RESOURCES.values():
        assert IDS.id(row.key).endswith(f"/providers/Microsoft.Network/{row.arm_type}/dh1{row.suffix}")
        assert NetworkNames("dh1").name(row.key) == f"dh1{row.suffix}"


def test_a_trailing_newline_is_refused():
    with pytest.raises(InvalidOption):
        validate_dns_label("dh1\n", "dh1")
    with pytest.raises(InvalidOption):
        validate_subnet_id(
            f"/subscriptions/{SUB}/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v/subnets/s\n"
        )
