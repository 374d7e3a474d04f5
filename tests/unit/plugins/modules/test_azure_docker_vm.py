# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""azure_docker_vm: the documentation and the argument spec say the same (the checks: test__azure_request.py)."""

from __future__ import annotations

import json

import pytest
import yaml

from ansible_collections.dockerhost.azure.plugins.module_utils import _azure_requirements
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_auth import AZURE_AUTH_ARGSPEC
from ansible_collections.dockerhost.azure.plugins.modules import azure_docker_vm
from ansible_collections.dockerhost.azure.plugins.modules.azure_docker_vm import argument_spec
from ansible_collections.dockerhost.azure.tests.support.module_args import patch_module_args


def run_module(capsys, args: dict) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        azure_docker_vm.main()
    return json.loads(capsys.readouterr().out)


def test_documentation_matches_argument_spec():
    documented = yaml.safe_load(azure_docker_vm.DOCUMENTATION)["options"]
    spec = argument_spec()
    own = set(spec) - set(AZURE_AUTH_ARGSPEC)  # documented once, by the doc fragment (test__azure_auth.py)
    assert set(documented) == own
    for name in own:
        assert documented[name].get("default") == spec[name].get("default"), name
        assert documented[name]["type"] == spec[name]["type"], name
    assert spec["admin_password"]["no_log"] is True


def test_an_old_sdk_is_named_with_its_version_before_anything_runs(capsys, monkeypatch):
    monkeypatch.setattr(
        _azure_requirements, "requirement_problems", lambda: ["azure-mgmt-network 24.0.0 is older than 25.0.0"]
    )
    result = run_module(capsys, {"resource_group": "rg", "name": "dh1", "state": "absent"})
    assert result["failed"]
    assert "azure-mgmt-network 24.0.0 is older than 25.0.0" in result["msg"]
    assert "azure-core >= 1.30.0" in result["msg"]
