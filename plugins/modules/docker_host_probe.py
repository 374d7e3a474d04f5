#!/usr/bin/python
# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
module: docker_host_probe
short_description: Check that a Docker daemon answers over mutual TLS, and say exactly what is wrong if not
version_added: 1.0.0
description:
  - Connects to a Docker daemon, over mutual TLS for a V(tcp://) host, and calls C(/_ping), C(/version) and
    C(/info) of the Docker Engine API over one connection; the check C(docker --tlsverify -H tcp://HOST:2376 info)
    makes by hand.
  - With O(wait_timeout) it keeps trying while the failure can go away by itself (connection refused, no
    answer, a name that does not resolve yet, a daemon error), so a play can wait for the daemon of a VM
    it has just created.
  - On failure RV(error_kind) names the problem and the message says what to do about it.
  - It only reads; C(changed) is always V(false).
  - When the task runs on the controller (a local connection, as when a play on C(localhost) or a task
    delegated to C(localhost) probes a remote Docker host), its action plugin runs the same probe inside
    Ansible's own process instead of starting the module, which saves most of the task's time. Anywhere
    else, and on the controller with C(become), C(async) or the C(environment) keyword, the module runs as
    usual. The result is the same either way.
author:
  - dockerhost.azure contributors (@dockerhost)
options:
  wait_timeout:
    description:
      - Seconds to keep retrying a failure that can be temporary. V(0) makes a single attempt.
      - Pauses between attempts start at 0.05 seconds and double up to 0.25 seconds, so a daemon that starts
        answering is found within about half a second.
      - Certificate problems, a refused client certificate, plain HTTP and HTTP 4xx answers are not retried,
        as waiting does not fix them.
      - Every failure is reported at the latest O(wait_timeout) + O(timeout) seconds after the start (plus a
        fraction of a second), also when the port accepts connections and never answers.
      - V(0) or more and at most V(86400) (a day).
    type: float
    default: 0
  min_api_version:
    description:
      - Fail with RV(error_kind=api_version_too_old) when the daemon's API version is older than this, for
        example V(1.41) (Docker 20.10).
    type: str
extends_documentation_fragment:
  - dockerhost.azure.docker
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.ACTIONGROUPS
  - ansible.builtin.action_common_attributes.FLOW
attributes:
  action:
    support: full
    details: On the controller the action plugin probes without starting the module; see the description.
  async:
    support: full
    details: An C(async) task always runs the module.
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details: The module only reads, so check mode runs the same probe.
  diff_mode:
    support: none
  platform:
    platforms: posix
  action_group:
    support: full
    membership:
      - dockerhost.azure.docker
requirements:
  - Python 3.8 or later where the module runs (the managed node, or the controller when the task runs there).
    An older Python fails with RV(error_kind=unsupported_python) and a message saying what to do.
  - Optional, the Python library C(cryptography) where the module runs, for the subject, issuer, names and
    dates in RV(server_cert); without it only its fingerprint is returned, and RV(server_cert.details_missing)
    says why.
notes:
  - Failures that are not retried arrive at once, even with O(wait_timeout).
  - After the daemon has answered over V(tcp://), the module makes one more TLS connection without a client
    certificate, within the same time budget, and fails with RV(error_kind=client_auth_not_required) unless
    the daemon refuses it. A daemon that does not check client certificates is open to anyone who can
    reach it.
  - To see the daemon's certificate when verification fails, the module reads it over a second connection
    that sends nothing but the TLS handshake (no client certificate, no request); it is returned as
    RV(server_cert) with the error.
seealso:
  - module: dockerhost.azure.docker_tls_certs
    description: Creates the CA, server and client certificates this module uses.
  - module: dockerhost.azure.azure_docker_vm
    description: Creates the Docker host on Azure; its C(docker_host) and C(tls_hostname) results feed this module.
  - name: Protect the Docker daemon socket
    description: Docker's guide to mutual TLS for the Docker API.
    link: https://docs.docker.com/engine/security/protect-access/
"""

EXAMPLES = r"""
- name: Check the daemon with the certificates in ~/.docker (as the Docker CLI would)
  dockerhost.azure.docker_host_probe:
    docker_host: tcp://203.0.113.10:2376

- name: Connect to the VM's IP address, verify its FQDN, and wait up to 5 minutes for Docker to come up
  dockerhost.azure.docker_host_probe:
    docker_host: "tcp://{{ vm.public_ip }}:2376"
    tls_hostname: "{{ vm.fqdn }}"
    cert_path: "{{ playbook_dir }}/certs"
    wait_timeout: 300
    min_api_version: "1.41"
  register: probe

- name: Show what the daemon runs on
  ansible.builtin.debug:
    msg: "Docker {{ probe.version.Version }} on {{ probe.info.OperatingSystem }}, {{ probe.info.NCPU }} CPUs"

- name: Probe without failing the play, then act on the kind of failure
  dockerhost.azure.docker_host_probe:
    docker_host: tcp://docker.example.com:2376
    ca_cert: /etc/docker-client/ca.pem
    client_cert: /etc/docker-client/cert.pem
    client_key: /etc/docker-client/key.pem
  register: probe
  failed_when: false

- name: Renew the server certificate when it has expired
  ansible.builtin.debug:
    msg: "{{ probe.msg }}"
  when: probe.error_kind | default('') == 'tls_expired'
"""

RETURN = r"""
docker_host:
  description: The daemon's address as used, for example V(tcp://203.0.113.10:2376).
  returned: always
  type: str
  sample: tcp://203.0.113.10:2376
ping:
  description: The answer to C(/_ping).
  returned: success
  type: str
  sample: OK
version:
  description: The answer to C(/version), as the daemon sent it.
  returned: success
  type: dict
  contains:
    Version:
      description: Docker version.
      type: str
      sample: 20.10.24+dfsg1
    ApiVersion:
      description: Newest API version the daemon speaks.
      type: str
      sample: "1.41"
    MinAPIVersion:
      description: Oldest API version the daemon accepts.
      type: str
      sample: "1.12"
    Os:
      description: Operating system family of the daemon.
      type: str
      sample: linux
    Arch:
      description: CPU architecture of the daemon.
      type: str
      sample: amd64
    KernelVersion:
      description: Kernel of the Docker host.
      type: str
      sample: 6.1.0-18-cloud-amd64
    GoVersion:
      description: Go version dockerd was built with.
      type: str
      sample: go1.19.8
    GitCommit:
      description: Commit dockerd was built from.
      type: str
      sample: 5d6db84
    Components:
      description: Versions of the engine, containerd, runc and so on.
      type: list
      elements: dict
info:
  description: The useful part of the answer to C(/info); keys the daemon does not send are left out.
  returned: success
  type: dict
  contains:
    ID:
      description: The daemon's ID.
      type: str
    Name:
      description: The host name of the Docker host.
      type: str
      sample: dockerhost1
    ServerVersion:
      description: Docker version.
      type: str
      sample: 20.10.24+dfsg1
    OperatingSystem:
      description: Operating system of the Docker host.
      type: str
      sample: Debian GNU/Linux 12 (bookworm)
    OSType:
      description: Operating system family.
      type: str
      sample: linux
    OSVersion:
      description: Operating system version.
      type: str
      sample: "12"
    Architecture:
      description: CPU architecture.
      type: str
      sample: x86_64
    KernelVersion:
      description: Kernel version.
      type: str
    NCPU:
      description: Number of CPUs.
      type: int
      sample: 2
    MemTotal:
      description: Memory in bytes.
      type: int
      sample: 8341319680
    Containers:
      description: Number of containers.
      type: int
      sample: 0
    ContainersRunning:
      description: Number of running containers.
      type: int
    ContainersPaused:
      description: Number of paused containers.
      type: int
    ContainersStopped:
      description: Number of stopped containers.
      type: int
    Images:
      description: Number of images.
      type: int
      sample: 0
    Driver:
      description: Storage driver.
      type: str
      sample: overlay2
    DockerRootDir:
      description: Where the daemon keeps its data.
      type: str
      sample: /var/lib/docker
    LoggingDriver:
      description: Default logging driver.
      type: str
      sample: json-file
    CgroupDriver:
      description: Cgroup driver.
      type: str
      sample: systemd
    CgroupVersion:
      description: Cgroup version.
      type: str
      sample: "2"
    SecurityOptions:
      description: Security features in use.
      type: list
      elements: str
      sample: ["name=seccomp,profile=default"]
    Warnings:
      description: The daemon's own warnings, for example about an API reachable without TLS.
      type: list
      elements: str
server_cert:
  description:
    - The daemon's certificate. On failure it is returned when the certificate could be read, which
      explains most TLS verification failures.
  returned: success over V(tcp://), and on certificate verification failures
  type: dict
  contains:
    subject:
      description: Subject, as an RFC 4514 string (as M(dockerhost.azure.docker_tls_certs) shows it).
      type: str
      sample: CN=dockerhost1.westeurope.cloudapp.azure.com
    issuer:
      description: Issuer, as an RFC 4514 string.
      type: str
      sample: CN=Docker CA
    sans:
      description: Subject alternative names.
      type: list
      elements: str
      sample: ["DNS:dockerhost1.westeurope.cloudapp.azure.com", "IP:203.0.113.10"]
    not_before:
      description: Start of validity (UTC, ISO 8601).
      type: str
      sample: "2025-01-01T00:00:00+00:00"
    not_after:
      description: End of validity (UTC, ISO 8601), as RV(dockerhost.azure.docker_tls_certs#module:server_not_after).
      type: str
      sample: "2026-01-01T00:00:00+00:00"
    sha256_fingerprint:
      description:
        - SHA-256 of the DER certificate, lower-case hex without separators, as
          RV(dockerhost.azure.docker_tls_certs#module:server_fingerprint).
      type: str
      sample: facf4e1ccd2609566814f8d33404ba2066d3b3cfc3c44d3d7cedb7cb5b1f74c5
    pem:
      description:
        - The certificate itself, PEM text (public). Given even without C(cryptography).
        - For example the O(dockerhost.azure.docker_tls_certs#module:server_cert_in_use) of a control node
          that holds the CA but not the host's server pair.
      type: str
      sample: "-----BEGIN CERTIFICATE-----\nMIIB...\n-----END CERTIFICATE-----\n"
      version_added: 1.1.0
    details_missing:
      description:
        - Why only RV(server_cert.sha256_fingerprint) is given, for example because the Python library
          C(cryptography) is not installed where the probe ran (it is optional on a managed node).
      returned: when the certificate could not be read
      type: str
      version_added: 1.0.0
    verified:
      description: Whether the certificate was verified (V(false) with O(tls_verify=false)).
      returned: success
      type: bool
      sample: true
attempts:
  description: How many attempts the probe made.
  returned: always
  type: int
  sample: 1
elapsed:
  description: Seconds the probe took.
  returned: always
  type: float
  sample: 0.021
error_kind:
  description:
    - What went wrong, one of
    - V(invalid_option), an option is wrong (a missing file, a bad O(docker_host)); nothing was contacted.
    - V(dns), the host name does not resolve.
    - V(connection_refused), nothing accepts connections there, or the connection was reset or closed before
      TLS completed; for a V(unix://) socket, the socket is missing or not accessible.
    - V(timeout), no answer in time (to the connection, the TLS handshake or a request).
    - V(not_tls), the port answered without TLS, typically a daemon serving plain HTTP.
    - V(tls_unknown_ca), the daemon's certificate does not verify against the trusted CA.
    - V(tls_hostname_mismatch), the daemon's certificate is not valid for the name verified (see O(tls_hostname)).
    - V(tls_expired), the daemon's certificate has expired or is not valid yet.
    - V(tls_client_rejected), the daemon refused the client certificate, or no client certificate was sent.
    - V(tls_protocol), no TLS version or cipher in common.
    - V(http_error), the daemon answered with an HTTP error, or with something that is not the Docker API.
    - V(api_version_too_old), the daemon's API version is older than O(min_api_version).
    - V(unsupported_python), the Python that runs the module on the managed node is older than 3.8.
    - V(client_auth_not_required), the daemon answered a client that sent no certificate (C(tls) without
      C(tlsverify) in its C(daemon.json)), so anyone who can reach its port controls Docker, and is root, on
      that host.
  returned: failure
  type: str
  sample: tls_hostname_mismatch
"""

# This file keeps to syntax Python 2.7 can parse, so that on a Python older than MIN_PYTHON the task fails
# with a message instead of a SyntaxError traceback: the module_utils below need Python 3.8.
import json
import os
import sys

from ansible.module_utils.basic import AnsibleModule

MIN_PYTHON = (3, 8)

if sys.version_info >= MIN_PYTHON:
    from ansible_collections.dockerhost.azure.plugins.module_utils._docker_probe import (
        REQUIRED_TOGETHER,
        argument_spec,
        run_probe,
    )


def fail_on_old_python():
    """The task's failure on a Python this module does not support, in words, without a traceback."""
    # No f-strings: Python 2.7 must parse this file.
    minimum = ".".join(str(part) for part in MIN_PYTHON)
    version = ".".join(str(part) for part in sys.version_info[:3])
    msg = (
        "docker_host_probe needs Python "
        + minimum
        + " or later on the host it runs on; "
        + str(sys.executable)
        + " is Python "
        + version
        + ". Set ansible_python_interpreter to a newer Python there (on RHEL 8: "
        "dnf install python39), or probe from the controller (delegate_to: localhost)."
    )
    # AnsibleModule cannot report it: the option spec lives in the module_utils this Python cannot import,
    # and AnsibleModule refuses options it does not know. So answer as ansible-core's own basic.py does
    # below its minimum Python: the result as JSON on stdout, exit status 1.
    result = {"failed": True, "changed": False, "error_kind": "unsupported_python", "msg": msg}
    sys.stdout.write(json.dumps(result) + "\n")
    raise SystemExit(1)


def main():
    if sys.version_info < MIN_PYTHON:
        fail_on_old_python()
    module = AnsibleModule(argument_spec=argument_spec(), required_together=REQUIRED_TOGETHER, supports_check_mode=True)
    result, warnings = run_probe(module.params, os.environ)
    for warning in warnings:
        module.warn(warning)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
