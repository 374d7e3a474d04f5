# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# The Python libraries the Azure modules need, with their minimum versions, built from the one list in
# plugins/module_utils/_azure_requirements.py (a unit test keeps requirements.txt equal to it).

from __future__ import annotations

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_requirements import AZURE_REQUIREMENTS


class ModuleDocFragment:
    DOCUMENTATION = "options: {}\nrequirements:\n" + "".join(
        f"  - {name} >= {minimum}\n" for name, minimum in AZURE_REQUIREMENTS.items()
    )
