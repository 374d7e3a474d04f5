# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# The Python libraries the Azure modules need, with their minimum versions. The one list is
# AZURE_REQUIREMENTS in plugins/module_utils/_azure_requirements.py; this fragment must stay a literal
# (ansible-test and ansible-doc read it without running it), so test__azure_requirements.py keeps it, and
# requirements.txt, equal to that list.


class ModuleDocFragment:
    DOCUMENTATION = r"""
options: {}
requirements:
  - azure-core >= 1.30.0
  - azure-identity >= 1.15.0
  - azure-mgmt-compute >= 30.0.0
  - azure-mgmt-network >= 25.0.0
  - azure-mgmt-resource >= 23.0.0
  - cryptography >= 41.0
"""
