# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values and fixtures shared by the unit tests of azure_docker_vm's module_utils (imported by each file;
the ``tls`` fixture is in conftest.py)."""

from __future__ import annotations

import copy
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_network import NetworkIds, NetworkNames
from ansible_collections.dockerhost.azure.plugins.modules.azure_docker_vm import argument_spec

SUB = "11111111-2222-3333-4444-555555555555"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGnmB1Mm0jwKPv6xS8NHcyUA7uSlqBMGZnGG7NAPSXF5 me@laptop"
FQDN = "dh1.westeurope.cloudapp.azure.com"
IDS = NetworkIds(SUB, "rg", NetworkNames("dh1"))
COMMON = {"ids": IDS, "location": "westeurope", "tags": None, "vm_name": "dh1"}


def common(**over) -> dict:
    """COMMON with some values replaced."""
    merged = dict(COMMON)
    merged.update(over)
    return merged


def created(step):
    """What Azure would return after creating from the step's body (ids, provisioningState added)."""
    resource = copy.deepcopy(step.body)
    resource.update(name=step.name, id=f"/x/{step.name}", etag='W/"1"')
    resource["properties"]["provisioningState"] = "Succeeded"
    return resource


def vm_params(test_ca, **over) -> dict:
    """azure_docker_vm's parameters as Ansible hands them over: every default, a valid host, ``over`` applied."""
    pair = test_ca.server(dns_names=(FQDN,))
    values = {name: spec.get("default") for name, spec in argument_spec().items()}
    values.update(
        subscription_id=SUB,
        resource_group="docker-hosts",
        name="dh1",
        location="westeurope",
        allowed_cidrs=["203.0.113.0/24"],
        ssh_public_keys=[KEY],
        ca_cert=test_ca.cert_path,
        server_cert=pair.cert,
        server_key=pair.key,
    )
    values.update(over)
    return values


def der_sha256(path):
    """SHA-256 of a PEM certificate file's DER form."""
    with open(path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
