# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""azure_docker_vm_info's pure parts: the target checked as azure_docker_vm checks it, the public IP as facts."""

from __future__ import annotations

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_resources import OWNER_TAG
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import InvalidOption
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_vm_info import address_facts, check_target

RID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/publicIPAddresses/dh1-ip"


def test_a_missing_public_ip_is_no_error():
    facts = address_facts(None, vm_name="dh1", resource_id=RID)
    assert facts["exists"] is False and facts["fqdn"] is None and facts["public_ip"] is None
    assert facts["resource_id"] == RID and facts["attached"] is False


def test_the_public_ip_as_azure_returns_it():
    resource = {
        "id": RID,
        "name": "dh1-ip",
        "location": "West Europe",
        "tags": {OWNER_TAG: "dh1"},
        "properties": {
            "ipAddress": "20.50.1.2",
            "dnsSettings": {"domainNameLabel": "dh1", "fqdn": "dh1.westeurope.cloudapp.azure.com"},
            "ipConfiguration": {"id": "/x/networkInterfaces/dh1-nic/ipConfigurations/ipconfig1"},
        },
    }
    assert address_facts(resource, vm_name="dh1", resource_id="ignored") == {
        "exists": True,
        "fqdn": "dh1.westeurope.cloudapp.azure.com",
        "public_ip": "20.50.1.2",
        "dns_label": "dh1",
        "location": "westeurope",
        "attached": True,
        "managed": True,
        "resource_id": RID,
    }


def test_a_public_ip_not_made_for_this_vm_and_not_attached():
    facts = address_facts({"properties": {}, "tags": {OWNER_TAG: "other"}}, vm_name="dh1", resource_id=RID)
    assert facts["exists"] is True and facts["managed"] is False and facts["attached"] is False
    assert facts["public_ip"] is None and facts["resource_id"] == RID


@pytest.mark.parametrize(
    ("params", "option"),
    [
        ({"resource_group": "rg", "name": "bad_name!"}, "name"),
        ({"resource_group": "rg/x", "name": "dh1"}, "resource_group"),
        ({"resource_group": "rg", "name": "dh1\n"}, "name"),
        ({"resource_group": "rg", "name": "x" * 61}, "name"),
        ({"resource_group": "rg", "name": "dh1", "timeout": 0}, "timeout"),
    ],
)
def test_bad_targets_are_named_before_any_request(params, option):
    with pytest.raises(InvalidOption) as caught:
        check_target({"timeout": 60, **params})
    assert caught.value.option == option


def test_a_good_target():
    assert check_target({"resource_group": "docker-hosts", "name": "dh1", "timeout": 60}) == ("docker-hosts", "dh1")
