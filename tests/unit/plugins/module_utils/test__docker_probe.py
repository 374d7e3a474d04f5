# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The probe task's pure parts (the action plugin's environment check; the run itself is tested end to end)."""

from __future__ import annotations

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._docker_probe import has_environment


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        (None, False),
        ([], False),
        ([{}], False),
        ([None, {}], False),
        ({}, False),
        ([{"HTTPS_PROXY": "http://proxy:3128"}], True),
        ({"DOCKER_TLS_HOSTNAME": "vm.example"}, True),
        ([{}, "{{ proxy_env }}"], True),  # not templated: counts as set, so the module runs
    ],
)
def test_has_environment(environment, expected):
    assert has_environment(environment) is expected
