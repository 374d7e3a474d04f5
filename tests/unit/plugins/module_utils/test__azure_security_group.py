# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The security group: allowed_cidrs and the Docker port checked, rules planned from their table."""

from __future__ import annotations

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_resources import OWNER_TAG
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import AzureDockerHostError, InvalidOption
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_security_group import (
    DOCKER_RULE,
    SECURITY_RULES,
    SSH_RULE,
    plan_security_group,
    validate_allowed_cidrs,
    validate_docker_port,
    wanted_security_rules,
)
from ansible_collections.dockerhost.azure.tests.unit.plugins.module_utils.azure_fixtures import (
    COMMON,
    common,
    created,
)


@pytest.mark.parametrize(
    "cidrs",
    [["*"], ["Internet"], ["any"], ["0.0.0.0/0"], ["::/0"], ["10.0.0.0/8", "0.0.0.0/0"], ["0.0.0.0/1", "128.0.0.0/1"]],
)
def test_the_whole_internet_is_refused_unless_allowed(cidrs):
    with pytest.raises(InvalidOption) as info:
        validate_allowed_cidrs(cidrs, allow_from_anywhere=False)
    assert info.value.option == "allowed_cidrs"
    assert "allow_from_anywhere" in str(info.value)
    assert validate_allowed_cidrs(cidrs, allow_from_anywhere=True) == ["*"]


def test_cidrs_are_canonical_and_sorted():
    assert validate_allowed_cidrs(["203.0.113.7", "10.1.0.0/16", "2001:db8::/32", "10.1.0.0/16"], False) == [
        "10.1.0.0/16",
        "2001:db8::/32",
        "203.0.113.7/32",
    ]


@pytest.mark.parametrize(
    ("cidrs", "message"),
    [
        (["10.1.2.3/16"], "host bits set; did you mean 10.1.0.0/16"),
        (["not-an-ip"], "not an IPv4/IPv6 address or CIDR"),
        (["VirtualNetwork"], "not an IPv4/IPv6 address or CIDR"),
        ([], "is required"),
        (None, "is required"),
    ],
)
def test_bad_cidrs(cidrs, message):
    with pytest.raises(InvalidOption, match=message):
        validate_allowed_cidrs(cidrs, allow_from_anywhere=False)


def test_no_cidrs_with_allow_from_anywhere_opens_to_star():
    assert validate_allowed_cidrs(None, allow_from_anywhere=True) == ["*"]


@pytest.mark.parametrize(("port", "message"), [(2375, "plain-HTTP"), (0, "1-65535"), (65536, "1-65535"), (22, "SSH")])
def test_bad_docker_port(port, message):
    with pytest.raises(InvalidOption, match=message) as info:
        validate_docker_port(port)
    assert info.value.option == "docker_port"


@pytest.mark.parametrize("port", [2376, 4243, 1, 65535])
def test_good_docker_port(port):
    assert validate_docker_port(port) == port


def test_new_security_group_opens_ssh_and_docker_only_to_the_sources():
    step = plan_security_group(None, allowed_cidrs=["10.1.0.0/16"], docker_port=2376, **COMMON)
    assert step.action == "create"
    rules = {r["name"]: r["properties"] for r in step.body["properties"]["securityRules"]}
    assert set(rules) == {SSH_RULE, DOCKER_RULE}
    assert rules[SSH_RULE]["destinationPortRange"] == "22"
    assert rules[DOCKER_RULE]["destinationPortRange"] == "2376"
    assert all(r["sourceAddressPrefix"] == "10.1.0.0/16" for r in rules.values())
    assert all(r["direction"] == "Inbound" and r["access"] == "Allow" for r in rules.values())
    assert step.body["tags"] == {OWNER_TAG: "dh1"}
    assert "2375" not in repr(step.body)


def test_security_group_is_a_noop_when_equal_and_updates_only_what_differs():
    step = plan_security_group(None, allowed_cidrs=["10.1.0.0/16", "10.2.0.0/16"], docker_port=2376, **COMMON)
    actual = created(step)
    assert (
        plan_security_group(actual, allowed_cidrs=["10.1.0.0/16", "10.2.0.0/16"], docker_port=2376, **COMMON).action
        == "none"
    )

    moved = plan_security_group(actual, allowed_cidrs=["10.1.0.0/16", "10.2.0.0/16"], docker_port=4243, **COMMON)
    assert (moved.action, moved.reasons) == ("update", ["security_rules"])
    assert moved.after["security_rules"][DOCKER_RULE]["destination_ports"] == ["4243"]
    assert moved.before["security_rules"][DOCKER_RULE]["destination_ports"] == ["2376"]

    tagged = plan_security_group(
        actual, allowed_cidrs=["10.1.0.0/16", "10.2.0.0/16"], docker_port=2376, **common(tags={"a": "b"})
    )
    assert tagged.reasons == ["tags"]
    assert tagged.body["tags"] == {"a": "b", OWNER_TAG: "dh1"}


def test_security_group_update_keeps_rules_it_does_not_manage():
    actual = created(plan_security_group(None, allowed_cidrs=["10.1.0.0/16"], docker_port=2376, **COMMON))
    foreign = {"name": "allow-https", "properties": {"priority": 300, "destinationPortRange": "443"}}
    actual["properties"]["securityRules"].append(foreign)
    step = plan_security_group(actual, allowed_cidrs=["10.9.0.0/16"], docker_port=2376, **COMMON)
    names = [r["name"] for r in step.body["properties"]["securityRules"]]
    assert names == ["allow-https", SSH_RULE, DOCKER_RULE]


def test_security_group_single_vs_list_prefixes_compare_equal():
    actual = created(plan_security_group(None, allowed_cidrs=["10.1.0.0/16"], docker_port=2376, **COMMON))
    for rule in actual["properties"]["securityRules"]:
        rule["properties"]["sourceAddressPrefixes"] = [rule["properties"].pop("sourceAddressPrefix")]
    assert plan_security_group(actual, allowed_cidrs=["10.1.0.0/16"], docker_port=2376, **COMMON).action == "none"


def test_failed_provisioning_is_put_again():
    actual = created(plan_security_group(None, allowed_cidrs=["10.1.0.0/16"], docker_port=2376, **COMMON))
    actual["properties"]["provisioningState"] = "Failed"
    step = plan_security_group(actual, allowed_cidrs=["10.1.0.0/16"], docker_port=2376, **COMMON)
    assert (step.action, step.reasons) == ("update", ["provisioning_state"])


def test_resources_cannot_move():
    actual = created(plan_security_group(None, allowed_cidrs=["10.1.0.0/16"], docker_port=2376, **COMMON))
    with pytest.raises(AzureDockerHostError, match="location"):
        plan_security_group(actual, allowed_cidrs=["10.1.0.0/16"], docker_port=2376, **common(location="eastus"))


def test_every_security_rule_is_one_row():
    assert [(r.name, r.priority, r.port) for r in SECURITY_RULES] == [(SSH_RULE, 1000, 22), (DOCKER_RULE, 1010, None)]
    rules = wanted_security_rules(["10.1.0.0/16"], 4243)
    assert [r["properties"]["destinationPortRange"] for r in rules] == ["22", "4243"]
