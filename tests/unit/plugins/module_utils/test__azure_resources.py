# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every resource shares: ids, locations, tags and ownership, the resource group plan."""

from __future__ import annotations

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_resources import (
    OWNER_TAG,
    owned_by,
    plan_resource_group,
    same_id,
    validate_location,
    validate_resource_group,
    validate_tags,
    wanted_tags,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import InvalidOption


def test_ids_compare_without_case():
    assert same_id("/subscriptions/S/resourceGroups/G/x", "/SUBSCRIPTIONS/s/resourcegroups/g/X/")
    assert not same_id("/a/b", "/a/c")


@pytest.mark.parametrize("location", ["West Europe", "westeurope", "WESTEUROPE"])
def test_locations_are_normalised(location):
    assert validate_location(location) == "westeurope"


@pytest.mark.parametrize(("func", "value", "option"), [(validate_location, "west-europe!", "location")])
def test_bad_location(func, value, option):
    with pytest.raises(InvalidOption) as info:
        func(value)
    assert info.value.option == option


@pytest.mark.parametrize("name", ["", "a" * 91, "group.", "bad/name", "spaces here"])
def test_bad_resource_group_names(name):
    with pytest.raises(InvalidOption, match="resource_group"):
        validate_resource_group(name)


@pytest.mark.parametrize(
    ("tags", "problem"),
    [
        ({f"t{i}": "v" for i in range(51)}, "at most 50"),
        ({"a/b": "v"}, "tag name"),
        ({"x" * 513: "v"}, "tag name"),
        ({"k": "v" * 257}, "longer than 256"),
        ({OWNER_TAG: "x"}, "reserved"),
    ],
)
def test_bad_tags(tags, problem):
    with pytest.raises(InvalidOption, match=problem):
        validate_tags(tags)


def test_tags_are_strings():
    assert validate_tags({"n": 1, "empty": None}) == {"n": "1", "empty": ""}


def test_wanted_tags():
    # Creating: the user's tags plus ownership.
    assert wanted_tags(None, {"a": "1"}, "vm") == {"a": "1", OWNER_TAG: "vm"}
    assert wanted_tags(None, None, "vm") == {OWNER_TAG: "vm"}
    mine = {"tags": {"a": "1", OWNER_TAG: "vm"}}
    theirs = {"tags": {"a": "1"}}
    # Tags unset: leave them alone.
    assert wanted_tags(mine, None, "vm") == mine["tags"]
    assert wanted_tags(theirs, None, "vm") == theirs["tags"]
    # Tags set: exactly them, ownership kept only where it was.
    assert wanted_tags(mine, {"b": "2"}, "vm") == {"b": "2", OWNER_TAG: "vm"}
    assert wanted_tags(theirs, {"b": "2"}, "vm") == {"b": "2"}


def test_owned_by_this_vm_only():
    assert owned_by({"tags": {OWNER_TAG: "VM1"}}, "vm1")
    assert not owned_by({"tags": {OWNER_TAG: "vm2"}}, "vm1")
    assert not owned_by({"tags": {}}, "vm1")
    assert not owned_by(None, "vm1")


def test_resource_group_plan():
    existing = {"name": "g", "location": "westeurope", "properties": {"provisioningState": "Succeeded"}}
    assert plan_resource_group(existing, "g", None, None, "vm").action == "none"
    assert plan_resource_group(existing, "g", "eastus", {"a": "b"}, "vm").action == "none"  # never changed
    step = plan_resource_group(None, "g", "westeurope", {"a": "b"}, "vm")
    assert step.action == "create"
    assert step.body == {"location": "westeurope", "tags": {"a": "b", OWNER_TAG: "vm"}}
    with pytest.raises(InvalidOption, match="location"):
        plan_resource_group(None, "g", None, None, "vm")


def test_a_trailing_newline_is_refused():
    with pytest.raises(InvalidOption, match="resource_group"):
        validate_resource_group("rg\n")
    with pytest.raises(InvalidOption, match="location"):
        validate_location("westeurope\n")
