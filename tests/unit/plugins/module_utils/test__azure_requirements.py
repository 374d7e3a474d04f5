# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Requirements written once: requirements.txt, the module documentation and the version check agree."""

from __future__ import annotations

import importlib.metadata
import pathlib
import re

import pytest
import yaml

from ansible_collections.dockerhost.azure.plugins.doc_fragments.azure_requirements import ModuleDocFragment
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_requirements import (
    AZURE_REQUIREMENTS,
    requirement_problems,
    requirements_text,
)

ROOT = pathlib.Path(__file__).resolve().parents[4]


def test_requirements_txt_states_the_same_minimums():
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)>=(\S+)$", "\n".join(lines), re.M))
    pinned.pop("ansible-core")
    assert pinned == AZURE_REQUIREMENTS


def test_the_doc_fragment_lists_every_requirement_azure_core_included():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["requirements"]
    assert documented == [f"{name} >= {minimum}" for name, minimum in AZURE_REQUIREMENTS.items()]
    assert "azure-core >= 1.30.0" in documented
    assert "azure-core >= 1.30.0" in requirements_text()


def installed(versions):
    def version(name):
        if name not in versions:
            raise importlib.metadata.PackageNotFoundError(name)
        return versions[name]

    return version


def test_this_environment_meets_the_requirements():
    assert requirement_problems() == []


@pytest.mark.parametrize(
    ("over", "problem"),
    [
        ({"azure-mgmt-network": "24.0.0"}, "azure-mgmt-network 24.0.0 is older than 25.0.0"),
        ({"azure-mgmt-network": "25.0.0b1"}, None),
        ({"azure-core": "1.9.0"}, "azure-core 1.9.0 is older than 1.30.0"),
        ({"cryptography": "41.0.7"}, None),
        ({"azure-identity": None}, "azure-identity is not installed (needs >= 1.15.0)"),
    ],
)
def test_a_missing_or_old_library_is_named_with_both_versions(over, problem):
    versions = {**AZURE_REQUIREMENTS, **over}
    versions = {name: version for name, version in versions.items() if version is not None}
    assert requirement_problems(installed(versions)) == ([problem] if problem else [])
