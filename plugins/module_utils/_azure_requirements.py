# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Python libraries azure_docker_vm needs, with their minimum versions: written once, here.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

The module documentation (``doc_fragments/azure_requirements.py``) and the missing-library message are
built from :data:`AZURE_REQUIREMENTS`; a unit test keeps ``requirements.txt`` (what pip installs) equal to
it. :func:`requirement_problems` runs before anything else: a missing or too old library is named with
its version and the minimum, instead of surfacing as a ``TypeError`` from inside an SDK call.
"""

from __future__ import annotations

import importlib.metadata
import re

from ansible.module_utils.basic import missing_required_lib

__all__ = ["AZURE_REQUIREMENTS", "requirement_problems", "requirements_failure", "requirements_text"]

# distribution name -> minimum version (the oldest `make min-deps` tests the modules on).
AZURE_REQUIREMENTS = {
    "azure-core": "1.30.0",
    "azure-identity": "1.15.0",
    "azure-mgmt-compute": "30.0.0",
    "azure-mgmt-network": "25.0.0",
    "azure-mgmt-resource": "23.0.0",
    "cryptography": "41.0",
}


def requirements_text() -> str:
    """``azure-core >= 1.30.0, azure-identity >= 1.15.0, ...``: what missing_required_lib names."""
    return ", ".join(f"{name} >= {minimum}" for name, minimum in AZURE_REQUIREMENTS.items())


def _release(version: str) -> tuple[int, ...]:
    """The numeric release part of a version (``25.0.0b1`` -> (25, 0, 0)); enough to compare with a minimum."""
    numbers = []
    for part in version.split("."):
        match = re.match(r"\d+", part)
        if match is None:
            break
        numbers.append(int(match.group()))
        if match.end() != len(part):  # a pre-release or local suffix ends the release part
            break
    return tuple(numbers)


def requirement_problems(installed=importlib.metadata.version) -> list[str]:
    """What is missing or older than its minimum, one sentence each (empty when all is well)."""
    problems = []
    for name, minimum in AZURE_REQUIREMENTS.items():
        try:
            version = installed(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed (needs >= {minimum})")
            continue
        if _release(version) < _release(minimum):
            problems.append(f"{name} {version} is older than {minimum}")
    return problems


def requirements_failure(import_error: str | None, imports: str) -> str | None:
    """The module's failure message when a requirement is missing or too old, or None when all is there.

    ``import_error``: the traceback of a failed import of ``imports`` (named in the message), or None.
    """
    problems = requirement_problems()
    if not problems and not import_error:
        return None
    found = "; ".join(problems) or f"installed, but {imports} fails to import"
    return f"{missing_required_lib(requirements_text())} Found: {found}."
