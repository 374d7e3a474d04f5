#!/usr/bin/python
# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: azure_docker_vm_info
short_description: Where a Docker host made by azure_docker_vm is (its FQDN and public IP), from one read
version_added: 1.1.0
description:
  - Reads the public IP address resource C(<name>-ip) that M(dockerhost.azure.azure_docker_vm) made for the VM
    O(name) in O(resource_group), with one GET, and returns its FQDN and address.
  - For a control node that keeps nothing between runs (an AWX job, a CI runner) and so has no address record;
    the address of the daemon comes from Azure. The P(dockerhost.azure.docker_host#role) role uses it on such
    a node before it probes the daemon, and its C(probe) entry point when Azure credentials are given.
  - When the public IP (or its resource group) does not exist, RV(exists) is V(false); that is not an error.
  - It only reads; C(changed) is always V(false). Azure's throttling and transient errors are retried within
    O(timeout).
author:
  - dockerhost.azure contributors (@dockerhost)
extends_documentation_fragment:
  - dockerhost.azure.azure
  - dockerhost.azure.azure_requirements
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads, so check mode runs the same read.
  diff_mode:
    support: N/A
    details: Nothing changes.
  platform:
    platforms: posix
options:
  resource_group:
    description:
      - Resource group of the Docker host, as given to M(dockerhost.azure.azure_docker_vm).
    type: str
    required: true
  name:
    description:
      - Name of the VM, as given to M(dockerhost.azure.azure_docker_vm); its public IP is C(<name>-ip).
    type: str
    required: true
  timeout:
    description:
      - Seconds the read may take, retries of throttled or failed requests included.
    type: int
    default: 60
seealso:
  - module: dockerhost.azure.azure_docker_vm
    description: Makes the Docker host and returns the same RV(fqdn) and RV(public_ip).
  - module: dockerhost.azure.docker_host_probe
    description: Checks the daemon at that address over mutual TLS.
notes:
  - "Least privilege: C(Microsoft.Network/publicIPAddresses/read) on the resource group (the built-in role
    C(Reader) has it)."
"""

EXAMPLES = r"""
- name: Where is dockerhost1? (a fresh control node has no record of it)
  dockerhost.azure.azure_docker_vm_info:
    resource_group: docker-hosts
    name: dockerhost1
  register: where

- name: Ask its daemon over mutual TLS, connecting to the address and verifying the FQDN
  dockerhost.azure.docker_host_probe:
    docker_host: "tcp://{{ where.public_ip }}:2376"
    tls_hostname: "{{ where.fqdn }}"
    cert_path: ~/.docker
  when: where.exists
"""

RETURN = r"""
exists:
  description: Whether the VM's public IP address resource C(<name>-ip) exists.
  returned: always
  type: bool
  sample: true
fqdn:
  description: Its DNS name; V(null) when it does not exist or has no DNS label.
  returned: always
  type: str
  sample: dockerhost1.westeurope.cloudapp.azure.com
public_ip:
  description: Its IP address; V(null) when it does not exist (or Azure has not assigned it yet).
  returned: always
  type: str
  sample: 20.50.1.2
dns_label:
  description: Its DNS label.
  returned: always
  type: str
  sample: dockerhost1
location:
  description: Its region, as Azure names it without spaces.
  returned: always
  type: str
  sample: westeurope
attached:
  description: Whether a network interface holds it (the VM's network is there).
  returned: always
  type: bool
  sample: true
managed:
  description:
    - Whether it carries the tag C(dockerhost-azure-vm=<name>), that is, M(dockerhost.azure.azure_docker_vm)
      created it for this VM.
  returned: always
  type: bool
  sample: true
resource_id:
  description: Its resource id (what it would be, when it does not exist).
  returned: always
  type: str
  sample: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/docker-hosts/providers/\
    Microsoft.Network/publicIPAddresses/dockerhost1-ip"
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_auth import (
    AZURE_AUTH_ARGSPEC,
    connect_clients,
    plan_credential,
    validate_cloud_environment,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_requirements import (
    requirements_failure,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import (
    AZURE_SDK_IMPORT_ERROR,
    AzureDockerHostError,
    Deadline,
    InvalidOption,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_vm_info import check_target, read_address


def argument_spec() -> dict:
    spec = dict(AZURE_AUTH_ARGSPEC)
    spec.update(
        resource_group={"type": "str", "required": True},
        name={"type": "str", "required": True},
        timeout={"type": "int", "default": 60},
    )
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    failure = requirements_failure(AZURE_SDK_IMPORT_ERROR, "azure-core")
    if failure:
        module.fail_json(msg=failure, exception=AZURE_SDK_IMPORT_ERROR)
    try:
        resource_group, name = check_target(module.params)
        credential_plan = plan_credential(module.params)
        cloud_environment = validate_cloud_environment(credential_plan.cloud_environment)
    except InvalidOption as exc:
        module.fail_json(msg=exc.message, option=exc.option)
    module.no_log_values.update(credential_plan.secrets)
    deadline = Deadline(module.params["timeout"])
    try:
        clients = connect_clients(credential_plan, cloud_environment, deadline, services=("network",))
        result = read_address(clients, resource_group, name, deadline)
    except InvalidOption as exc:
        module.fail_json(msg=exc.message, option=exc.option)
    except AzureDockerHostError as exc:
        module.fail_json(msg=exc.message, exception=traceback.format_exc(), **exc.facts())
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
