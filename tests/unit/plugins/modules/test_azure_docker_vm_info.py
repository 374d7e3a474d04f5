# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""azure_docker_vm_info as a module: documented options are its options; bad input fails before any request."""

from __future__ import annotations

import json

import pytest
import yaml

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_auth import AZURE_AUTH_ARGSPEC
from ansible_collections.dockerhost.azure.plugins.modules import azure_docker_vm_info
from ansible_collections.dockerhost.azure.tests.support.module_args import patch_module_args


def run_module(capsys, args: dict) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        azure_docker_vm_info.main()
    return json.loads(capsys.readouterr().out)


def test_documentation_matches_argument_spec():
    documented = yaml.safe_load(azure_docker_vm_info.DOCUMENTATION)
    spec = azure_docker_vm_info.argument_spec()
    own = set(spec) - set(AZURE_AUTH_ARGSPEC)
    assert set(documented["options"]) == own
    for name in own:
        assert documented["options"][name].get("default") == spec[name].get("default"), name
        assert documented["options"][name]["type"] == spec[name]["type"], name
    assert documented["version_added"] == "1.1.0"
    returned = yaml.safe_load(azure_docker_vm_info.RETURN)
    assert set(returned) == {
        "exists",
        "fqdn",
        "public_ip",
        "dns_label",
        "location",
        "attached",
        "managed",
        "resource_id",
    }


@pytest.mark.parametrize(("args", "option"), [({"name": "bad_name"}, "name"), ({"timeout": 0}, "timeout")])
def test_bad_input_fails_naming_the_option(capsys, monkeypatch, args, option):
    def no_request(*_args, **_kwargs):
        raise AssertionError("a request was attempted")

    monkeypatch.setattr(azure_docker_vm_info, "connect_clients", no_request)
    result = run_module(capsys, {"resource_group": "rg", "name": "dh1", **args})
    assert result["failed"] and result["option"] == option, result
