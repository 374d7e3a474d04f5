#!/usr/bin/python
# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: azure_docker_vm
short_description: An Azure Linux VM whose Docker daemon accepts only clients with your TLS certificates
version_added: 1.0.0
description:
  - One idempotent task from nothing to a Docker host in Azure, as C(azure vm docker create) did in 2014 - the
    Docker daemon on the VM listens on O(docker_port) and authenticates client connections with the
    certificates you give it (mutual TLS).
  - "It manages, in O(resource_group) (created in O(location) if missing): a network security group
    C(<name>-nsg) allowing SSH (22) and O(docker_port) only from O(allowed_cidrs); a Standard static public IP
    C(<name>-ip) with DNS label O(dns_label); a virtual network C(<name>-vnet) with subnet C(default)
    (unless O(subnet_id) names an existing subnet); a NIC C(<name>-nic); the VM O(name) with a managed OS disk;
    and a VM extension that installs Docker and configures TLS (O(docker_install))."
  - Independent resources (security group, public IP, virtual network) are created concurrently, then the NIC,
    the VM and the extension. Every wait is bounded by O(wait_timeout); Azure's throttling (HTTP 429 with
    C(Retry-After)) and transient errors are retried. Operations are checked when Azure's C(Retry-After) says
    to (the first check too), every second when Azure does not say.
  - Idempotent. Every managed property is compared with what exists; a run that changes nothing only reads (one
    GET per resource) and writes nothing. A property Azure cannot change in place (O(image), O(admin_username),
    O(ssh_public_keys), password login, O(location)) makes the task fail, naming it, instead of being ignored.
  - Azure never returns an extension's protected settings, so the extension's C(forceUpdateTag) carries
    SHA-256 fingerprints of the server certificate, the CA certificate, the install script and (when set)
    O(daemon_options), and the port (public values, never a hash of a key). Rotating the server certificate,
    changing the script or the daemon options re-runs the extension, and nothing else does. Another CA than
    the one the host was set up with is refused (see O(rotate_ca)). A failed extension fails the task with its
    status message and the tail of the script's standard error; the next run re-applies it.
  - Every resource the module creates carries the tag C(dockerhost-azure-vm=<name>). O(state=absent) deletes
    exactly those (VM with its OS disk, NIC, public IP, security group, virtual network) and nothing it did not
    create. The resource group is never deleted, since it may hold other things.
  - Bad input (names, DNS label, admin user, password, CIDRs, port, certificate files, a key that does not match
    its certificate) fails before any request is sent, naming the option.
author:
  - dockerhost.azure contributors (@dockerhost)
extends_documentation_fragment:
  - dockerhost.azure.azure
  - dockerhost.azure.azure_requirements
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Check mode reads what exists, reports what would be created or changed (RV(changes)) and sends no write.
  diff_mode:
    support: full
    details: The diff shows the managed properties of each resource before and after; never a secret.
  platform:
    platforms: posix
options:
  resource_group:
    description:
      - Resource group of every resource the module manages. Created in O(location) when it does not exist.
    type: str
    required: true
  name:
    description:
      - Name of the VM, also its Linux host name and the stem of the other resources' names (C(<name>-nsg),
        C(<name>-ip), C(<name>-vnet), C(<name>-nic), C(<name>-osdisk)).
      - 1-64 letters, digits and hyphens, starting and ending with a letter or digit, not only digits; the
        derived names must also fit Azure's limits (64 characters for the virtual network).
    type: str
    required: true
  location:
    description:
      - Azure region, for example V(westeurope). Defaults to the resource group's region; required when the
        group does not exist yet. Resources cannot move, so an existing one elsewhere is an error.
    type: str
  state:
    description:
      - V(present) creates or updates the Docker host; V(absent) deletes what the module created for it.
    type: str
    choices: [present, absent]
    default: present
  docker_install:
    description:
      - The VM extension that installs Docker and gives the daemon its certificates.
      - V(custom_script) (default, works on Azure today) runs the collection's install script through
        C(Microsoft.Azure.Extensions/CustomScript) 2.1, the certificates and key inside protected settings. The
        script waits for cloud-init and apt locks, installs the distribution's C(docker.io) if Docker is
        missing, writes C(/etc/docker/ca.pem), C(server-cert.pem) (C(0444)) and C(server-key.pem) (C(0400)),
        C(/etc/docker/daemon.json) (local socket plus C(tcp://0.0.0.0:<docker_port>) with C(tlsverify)) and a
        systemd drop-in that removes the unit's C(-H fd://) so unit and C(daemon.json) do not conflict, and
        restarts Docker only when that configuration changed. A C(daemon.json) it did not write is kept as
        C(daemon.json.dockerhost-orig).
      - V(docker_extension) uses C(Microsoft.Azure.Extensions/DockerExtension), the extension of the 2014 flow
        (public C(docker.port), protected C(certs.ca/cert/key)). Microsoft retired it; use it only on clouds that
        still serve it (for example an Azure Stack Hub with it in its marketplace).
      - Switching between the two removes the other extension if it is there.
    type: str
    choices: [custom_script, docker_extension]
    default: custom_script
  docker_port:
    description:
      - TCP port where the daemon accepts mutual-TLS clients, opened in the security group to O(allowed_cidrs).
      - V(2376) is Docker's TLS port; V(4243) was the 2014 default. V(2375), Docker's plain-HTTP port, is refused
        and never opened.
    type: int
    default: 2376
  daemon_options:
    description:
      - 'Keys merged into C(/etc/docker/daemon.json) on the VM with O(docker_install=custom_script), over the
        hardened defaults C(live-restore: true), C(no-new-privileges: true), C(log-driver: json-file) with
        C(log-opts) C(max-size: 10m) and C(max-file: "3"), C(userland-proxy: false) and C(icc: false).'
      - A value of V(null) leaves that default out (the daemon's own default, or what the host's C(daemon.json)
        says, applies). Every other key of the host's C(daemon.json), C(data-root) among them, is kept.
      - A key the host's C(daemon.json) already sets to another value (one this module did not write) is refused
        by name when the install script runs on the VM; the extension fails and nothing is changed there.
      - The listeners and TLS keys (C(hosts), C(tls), C(tlsverify), C(tlscacert), C(tlscert), C(tlskey)) cannot be
        set; use O(docker_port). Values must be JSON (strings, numbers, booleans, lists, dicts).
      - Azure never returns protected settings, so a SHA-256 fingerprint of these options joins the extension's
        C(forceUpdateTag) when they are set; changing them re-runs the install script once, and Docker restarts
        only when C(daemon.json) changed.
      - Refused with O(docker_install=docker_extension), which cannot apply them (rather than silently ignored).
    type: dict
    default: {}
    version_added: 1.0.0
  validate_only:
    description:
      - Check every option (names, region, port, CIDRs, login, O(daemon_options), ...) and return, without
        reading the certificate files, resolving the cloud, using a credential or sending any request.
      - For a playbook that validates all input before it writes the certificates (the
        P(dockerhost.azure.docker_host#role) role does); the real call then checks the certificate files. With
        V(true), O(ca_cert), O(server_cert) and O(server_key) are not required; the result is V(changed=false)
        with empty RV(resource_ids) and RV(changes).
    type: bool
    default: false
    version_added: 1.0.0
  allowed_cidrs:
    description:
      - Source networks (IPv4/IPv6 addresses or CIDRs, such as V(203.0.113.7/32)) allowed to reach SSH and
        O(docker_port). Nothing else is allowed in.
      - Required unless O(allow_from_anywhere=true). V(*), V(Internet), V(Any), V(0.0.0.0/0), V(::/0), or
        ranges adding up to the whole address space are refused unless O(allow_from_anywhere=true).
    type: list
    elements: str
  allow_from_anywhere:
    description:
      - Accept opening SSH and the Docker port to the whole internet. The daemon still demands a client
        certificate, but a Docker API reachable from anywhere is root on the VM the moment TLS is misconfigured.
      - Without O(allowed_cidrs), V(true) opens them to V(*).
    type: bool
    default: false
  dns_label:
    description:
      - DNS label of the public IP; the host's name is C(<dns_label>.<location>.cloudapp.azure.com) in public
        Azure. 3-63 lower-case letters, digits and hyphens, starting with a letter. Unique per region.
      - Defaults to O(name) in lower case.
      - The server certificate should name the resulting FQDN (RV(tls_hostname)); the module warns when it does not.
    type: str
  vm_size:
    description:
      - VM size. Resizing an existing VM restarts it.
    type: str
    default: Standard_B2s
  image:
    description:
      - Marketplace image as V(publisher:offer:sku:version), or the resource id of an image. Defaults to Ubuntu
        24.04 LTS from Canonical, latest version.
      - Fixed at creation; a different image for an existing VM is an error. V(latest) matches any version.
    type: str
    default: Canonical:ubuntu-24_04-lts:server:latest
  admin_username:
    description:
      - Linux administrator. 1-64 letters, digits, V(_) and V(-), not starting with a digit or V(-); names Azure
        reserves (V(admin), V(root), V(administrator), V(user), V(test), V(guest), ...) are refused.
      - Fixed at creation.
    type: str
    default: azureuser
  ssh_public_keys:
    description:
      - OpenSSH public keys (the contents of C(.pub) files) allowed to log in as O(admin_username).
      - At least one of O(ssh_public_keys) and O(admin_password) is required. With keys only, password login is
        disabled.
      - Fixed at creation (Azure does not change them in place; use the VMAccess extension or C(az vm user)).
    type: list
    elements: str
  admin_password:
    description:
      - Password of O(admin_username); enables password login over SSH. Azure's rules apply (6-72 characters,
        3 of lower case, upper case, digit, special character; common passwords refused).
      - Only sent when the VM is created (Azure never returns it, so it is not compared). Never logged or returned.
    type: str
  tags:
    description:
      - Tags of the security group, public IP, virtual network, NIC and VM (and of the resource group when the
        module creates it). When set, these are exactly the tags (plus the module's C(dockerhost-azure-vm) tag on
        what it created); when unset, existing tags are left alone.
      - A tag change only updates tags; the extension does not re-run.
    type: dict
  subnet_id:
    description:
      - Resource id of an existing subnet for the NIC. No virtual network is then created (and
        O(state=absent) leaves the subnet alone). It must be in O(location).
    type: str
  ca_cert:
    description:
      - PEM file of the CA whose client certificates the daemon accepts, for example
        RV(dockerhost.azure.docker_tls_certs#module:ca_cert).
      - It must hold exactly that one certificate (the CA that issued O(server_cert)) and nothing else; a file
        with another PEM block (an appended CA, which the daemon would also trust) is refused.
      - Required with O(state=present).
    type: path
  server_cert:
    description:
      - PEM file of the daemon's certificate, issued by O(ca_cert) for the host's FQDN, for example
        RV(dockerhost.azure.docker_tls_certs#module:server_cert).
      - Or the certificate's PEM text (starting with C(-----BEGIN CERTIFICATE-----)), as
        RV(dockerhost.azure.docker_tls_certs#module:server_cert) is when it kept the certificate in use on the
        host (RV(dockerhost.azure.docker_tls_certs#module:server_kept)). Accepted since 1.1.0.
      - Required with O(state=present).
    type: str
  server_key:
    description:
      - PEM file of the key of O(server_cert) (unencrypted). Its content only travels in the extension's
        protected settings.
      - Required with O(state=present), except when O(server_cert) is the certificate the host's extension
        already carries (the C(cert=) fingerprint of its C(forceUpdateTag)) and nothing else makes the
        extension run again; a control node without the host's server pair (an AWX job) then converges without
        it and sends no write for the extension.
      - When it is omitted and the extension must be applied (another certificate, CA, install script, port or
        O(daemon_options), a failed last run, no extension yet), the task fails before any write, in check
        mode too, with C(error_kind=server_key_required) and the reasons in C(reasons) (a list); issue a new
        server pair and run again with it. The P(dockerhost.azure.docker_host#role) role does so by itself.
    type: path
  rotate_ca:
    description:
      - Whether this run may replace the CA the host's Docker daemon was set up with.
      - The extension's C(forceUpdateTag) records the SHA-256 fingerprint of the CA it shipped. When O(ca_cert)
        is another CA (a new one minted on a control node that lost C(~/.docker), or one supplied by mistake),
        the task fails before any write, in check mode too, naming the VM, both CA fingerprints and this
        option (the failed result also has them as C(deployed_ca_sha256) and C(ca_sha256)). A host with no
        extension yet is not concerned.
      - When V(true), the new CA (with O(server_cert) and O(server_key)) is shipped and the daemon then trusts
        B(only) the new CA; every existing client holding a certificate from the old CA is locked out until it
        gets a client certificate from the new one. Once applied, a re-run with the same CA changes nothing.
      - A C(forceUpdateTag) without a CA fingerprint (written by hand or by another tool) leaves the deployed
        CA unknown. If its server certificate fingerprint is that of O(server_cert), the CA counts as the same
        (O(server_cert) is checked to be issued by O(ca_cert)) and the extension does not re-run for the
        missing fingerprint alone; otherwise the extension is applied with a warning.
    type: bool
    default: false
    version_added: 1.0.0
  wait_timeout:
    description:
      - Seconds the whole task may wait for Azure (operations, retries, the extension's run). When it passes,
        the task fails; the operations continue in Azure and a new run converges.
    type: int
    default: 1800
seealso:
  - module: dockerhost.azure.docker_tls_certs
    description: Creates the CA, client and server certificates this module installs.
  - module: dockerhost.azure.docker_host_probe
    description: Checks that the daemon answers over mutual TLS, using RV(docker_host) and RV(tls_hostname).
  - name: Azure built-in role Virtual Machine Contributor
    description: With Network Contributor, the least-privilege roles on the resource group (see the notes).
    link: https://learn.microsoft.com/azure/role-based-access-control/built-in-roles
notes:
  - "Least privilege: on the resource group, the built-in roles C(Virtual Machine Contributor) and
    C(Network Contributor) (or a custom role with C(Microsoft.Compute/virtualMachines/*) (extensions included),
    C(Microsoft.Compute/disks/*), C(Microsoft.Network/networkSecurityGroups/*),
    C(Microsoft.Network/publicIPAddresses/*), C(Microsoft.Network/virtualNetworks/*),
    C(Microsoft.Network/networkInterfaces/*) and C(Microsoft.Resources/subscriptions/resourceGroups/read)).
    Creating the resource group needs C(Microsoft.Resources/subscriptions/resourceGroups/write) on the
    subscription; create it beforehand to avoid granting that."
  - With O(subnet_id) in another group, the identity also needs
    C(Microsoft.Network/virtualNetworks/subnets/join/action) there.
"""

EXAMPLES = r"""
- name: Certificates, shared by every Docker host (as ~/.docker was in 2014)
  dockerhost.azure.docker_tls_certs:
    server_name: dockerhost1
    hostnames: [dockerhost1.westeurope.cloudapp.azure.com]
  register: certs

- name: A Docker host reachable only from the office, over mutual TLS
  dockerhost.azure.azure_docker_vm:
    resource_group: docker-hosts
    location: westeurope
    name: dockerhost1
    allowed_cidrs: [203.0.113.0/24]
    ssh_public_keys:
      - "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
    ca_cert: "{{ certs.ca_cert }}"
    server_cert: "{{ certs.server_cert }}"
    server_key: "{{ certs.server_key }}"
    tags:
      owner: platform-team
  register: host

- name: Talk to it
  dockerhost.azure.docker_host_probe:
    docker_host: "{{ host.docker_host }}"
    tls_hostname: "{{ host.tls_hostname }}"
    wait_timeout: 300

- name: The 2014 flow, on a cloud that still serves the DockerExtension, on its 2014 port
  dockerhost.azure.azure_docker_vm:
    resource_group: docker-hosts
    name: dockerhost2
    docker_install: docker_extension
    docker_port: 4243
    allowed_cidrs: [203.0.113.0/24]
    ssh_public_keys: ["{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"]
    ca_cert: "{{ certs.ca_cert }}"
    server_cert: "{{ certs.server_cert }}"
    server_key: "{{ certs.server_key }}"

- name: Azure Stack Hub, credentials from the environment (AWX's Azure credential)
  dockerhost.azure.azure_docker_vm:
    cloud_environment: https://management.local.azurestack.external/metadata/endpoints?api-version=2022-09-01
    resource_group: docker-hosts
    location: local
    name: dockerhost3
    allowed_cidrs: [10.20.0.0/16]
    admin_password: "{{ vault_admin_password }}"
    ca_cert: "{{ certs.ca_cert }}"
    server_cert: "{{ certs.server_cert }}"
    server_key: "{{ certs.server_key }}"

- name: A fresh control node (AWX job) holding the CA and client pair only - read what the daemon presents
  dockerhost.azure.docker_host_probe:
    docker_host: tcp://dockerhost1.westeurope.cloudapp.azure.com:2376
    cert_path: "{{ cert_dir }}"
  register: probe
  failed_when: false

- name: Keep that certificate if it still does (no server pair is written), else issue a new pair
  dockerhost.azure.docker_tls_certs:
    path: "{{ cert_dir }}"
    server_name: dockerhost1
    hostnames: [dockerhost1.westeurope.cloudapp.azure.com]
    server_cert_in_use: "{{ probe.server_cert.pem | default(omit) }}"
  register: certs

- name: No write when the extension already carries it; server_key_required when it must be applied
  dockerhost.azure.azure_docker_vm:
    resource_group: docker-hosts
    location: westeurope
    name: dockerhost1
    allowed_cidrs: [203.0.113.0/24]
    ssh_public_keys: ["{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"]
    ca_cert: "{{ certs.ca_cert }}"
    server_cert: "{{ certs.server_cert }}"
    server_key: "{{ certs.server_key | default(omit, true) }}"

- name: Remove the host and everything the module created for it
  dockerhost.azure.azure_docker_vm:
    resource_group: docker-hosts
    name: dockerhost1
    state: absent
"""

RETURN = r"""
fqdn:
  description: The public IP's DNS name. V(null) in check mode before it exists.
  returned: state is present
  type: str
  sample: dockerhost1.westeurope.cloudapp.azure.com
public_ip:
  description: The VM's public IPv4 address.
  returned: state is present
  type: str
  sample: 20.50.1.2
private_ip:
  description: The NIC's private address.
  returned: state is present
  type: str
  sample: 10.0.0.4
docker_host:
  description: Where a Docker client connects, C(tcp://<fqdn>:<docker_port>) (the public IP when there is no FQDN).
  returned: state is present
  type: str
  sample: tcp://dockerhost1.westeurope.cloudapp.azure.com:2376
tls_hostname:
  description: The name the server certificate must carry and clients verify (the FQDN).
  returned: state is present
  type: str
  sample: dockerhost1.westeurope.cloudapp.azure.com
vm_id:
  description: Azure's unique id of the VM (C(vmId)).
  returned: state is present and the VM exists
  type: str
  sample: 0f2a4e2c-7c4c-4a55-9f2e-4e0a4c0f3b11
resource_ids:
  description: Resource ids of what the module manages, by kind.
  returned: always
  type: dict
  sample:
    resource_group: /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/docker-hosts
    virtual_machine: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/docker-hosts/providers/\
      Microsoft.Compute/virtualMachines/dockerhost1"
extension:
  description: The Docker-installing extension and its outcome.
  returned: state is present
  type: dict
  contains:
    name:
      description: Extension name on the VM.
      type: str
      sample: docker-install
    type:
      description: Publisher and type.
      type: str
      sample: Microsoft.Azure.Extensions.CustomScript
    provisioning_state:
      description: Azure's provisioning state (V(Succeeded), V(Failed), ...).
      type: str
      sample: Succeeded
    status_message:
      description: The extension's status message (for the install script, its output tail).
      type: str
      sample: "Enable succeeded: dockerhost: Docker demands mutual TLS on tcp://0.0.0.0:2376"
changes:
  description: What was (or in check mode would be) created, updated or deleted, and which managed properties differed.
  returned: always
  type: list
  elements: dict
  sample:
    - {resource: network_security_group, name: dockerhost1-nsg, action: update, properties: [tags]}
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_auth import AZURE_AUTH_ARGSPEC, connect_clients
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_certificates import CRYPTOGRAPHY_IMPORT_ERROR
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_extension import ExtensionFailed
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_install_methods import INSTALL_METHODS
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_plan import (
    Executor,
    common_result,
    network_ids,
    plan_absent,
    plan_present,
    present_result,
    read_existing,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_request import Request, build_request
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_requirements import (
    requirements_failure,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import (
    AZURE_SDK_IMPORT_ERROR,
    AzureDockerHostError,
    Deadline,
    InvalidOption,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_vm import DEFAULT_IMAGE


def argument_spec() -> dict:
    spec = dict(AZURE_AUTH_ARGSPEC)
    spec.update(
        resource_group={"type": "str", "required": True},
        name={"type": "str", "required": True},
        location={"type": "str"},
        state={"type": "str", "default": "present", "choices": ["present", "absent"]},
        docker_install={"type": "str", "default": "custom_script", "choices": sorted(INSTALL_METHODS)},
        docker_port={"type": "int", "default": 2376},
        daemon_options={"type": "dict", "default": {}},
        validate_only={"type": "bool", "default": False},
        allowed_cidrs={"type": "list", "elements": "str"},
        allow_from_anywhere={"type": "bool", "default": False},
        dns_label={"type": "str"},
        vm_size={"type": "str", "default": "Standard_B2s"},
        image={"type": "str", "default": DEFAULT_IMAGE},
        admin_username={"type": "str", "default": "azureuser"},
        ssh_public_keys={"type": "list", "elements": "str", "no_log": False},
        admin_password={"type": "str", "no_log": True},
        tags={"type": "dict"},
        subnet_id={"type": "str"},
        ca_cert={"type": "path"},
        server_cert={"type": "str"},
        server_key={"type": "path", "no_log": False},
        rotate_ca={"type": "bool", "default": False},
        wait_timeout={"type": "int", "default": 1800},
    )
    return spec


class DockerHostVM:
    """Reads what exists, plans, applies the plan (or only reports it in check mode), reports."""

    def __init__(self, module: AnsibleModule, request: Request, clients, deadline: Deadline):
        self.module = module
        self.request = request
        self.clients = clients
        self.deadline = deadline
        self.ids = network_ids(request, clients.subscription_id)
        self.executor = Executor(clients, request, deadline)

    def run(self) -> dict:
        group, actual = read_existing(self.clients, self.request, self.ids, self.deadline)
        if not self.request.present:
            plan = plan_absent(self.request, actual)
            if plan.changed and not self.module.check_mode:
                self.executor.apply(plan, actual)
            return common_result(plan, self.request, self.ids, self.module._diff)
        plan = plan_present(self.request, self.ids, group, actual, rotate_ca=self.module.params["rotate_ca"])
        current = actual
        if plan.changed and not self.module.check_mode:
            current = self.executor.apply(plan, actual)
        result, warnings = present_result(plan, self.request, self.ids, current, self.module._diff)
        for warning in warnings:
            self.module.warn(warning)
        return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    # Before anything else: an old SDK would otherwise fail later as a TypeError from inside a call.
    import_error = AZURE_SDK_IMPORT_ERROR or CRYPTOGRAPHY_IMPORT_ERROR
    failure = requirements_failure(import_error, "azure-core or cryptography")
    if failure:
        module.fail_json(msg=failure, exception=import_error)

    deadline = Deadline(module.params["wait_timeout"])
    try:
        request = build_request(module.params)
    except InvalidOption as exc:
        module.fail_json(msg=exc.message, option=exc.option)
    if module.params["validate_only"]:
        # No cloud, no credential, no request: the subscription is not known, so neither are the ids.
        module.exit_json(changed=False, resource_ids={}, changes=[])
    module.no_log_values.update(request.credential.secrets)  # from the environment or a profile
    if request.certs is not None and request.certs.has_key:
        # Defence in depth: Ansible masks these wherever they would appear in results or errors.
        module.no_log_values.add(request.certs.key_pem.decode())

    host = None
    try:
        clients = connect_clients(request.credential, request.cloud_environment, deadline)
        host = DockerHostVM(module, request, clients, deadline)
        result = host.run()
    except ExtensionFailed as exc:
        module.fail_json(msg=exc.message, extension=exc.outcome, changed=True)
    except InvalidOption as exc:
        module.fail_json(msg=exc.message, option=exc.option, **exc.facts())
    except AzureDockerHostError as exc:
        wrote = host is not None and host.executor.wrote
        module.fail_json(msg=exc.message, changed=wrote, exception=traceback.format_exc(), **exc.facts())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
