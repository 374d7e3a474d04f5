# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install methods: one class each, registered once, each saying what it sends and what re-runs it."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_certificates import load_certificates
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_install_methods import (
    INSTALL_METHODS,
    CustomScript,
    DockerExtension,
    InstallMethod,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._install_script import script_sha256
from ansible_collections.dockerhost.azure.plugins.modules import azure_docker_vm


@pytest.fixture
def certs(test_ca):
    pair = test_ca.server(dns_names=("dh1.westeurope.cloudapp.azure.com",))
    return load_certificates(test_ca.cert_path, pair.cert, pair.key)


def test_each_method_is_registered_under_its_option_and_documented():
    assert {option: type(method) for option, method in INSTALL_METHODS.items()} == {
        "custom_script": CustomScript,
        "docker_extension": DockerExtension,
    }
    documented = yaml.safe_load(azure_docker_vm.DOCUMENTATION)["options"]["docker_install"]
    assert sorted(documented["choices"]) == sorted(INSTALL_METHODS)
    assert azure_docker_vm.argument_spec()["docker_install"]["choices"] == sorted(INSTALL_METHODS)
    assert len({m.name.lower() for m in INSTALL_METHODS.values()}) == len(INSTALL_METHODS)


def test_fingerprints_are_public_values(certs):
    custom, docker = INSTALL_METHODS["custom_script"], INSTALL_METHODS["docker_extension"]
    common = {"port": "2376", "cert": certs.server_sha256, "ca": certs.ca_sha256}
    assert docker.fingerprints(2376, certs) == common
    assert custom.fingerprints(2376, certs) == {**common, "script": script_sha256()}


def test_public_settings_never_carry_the_key(certs):
    for method in INSTALL_METHODS.values():
        assert certs.key_pem.decode() not in repr(method.settings(2376))
        assert method.protected_settings(2376, certs)


def test_a_method_must_say_what_it_protects(certs):
    class Incomplete(InstallMethod):
        option = name = type = "x"
        version = "1.0"

    with pytest.raises(NotImplementedError):
        Incomplete().protected_settings(2376, certs)
