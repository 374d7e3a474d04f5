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
from ansible_collections.dockerhost.azure.plugins.module_utils._daemon_config import (
    DaemonOptionsError,
    daemon_options_fingerprint,
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


# -- daemon_options (issue 14 item 3) -------------------------------------------------------------------
def test_the_registered_methods_carry_no_daemon_options():
    assert all(method.daemon_options == {} for method in INSTALL_METHODS.values())


def test_custom_script_renders_its_daemon_options(certs, monkeypatch):
    seen = {}

    def render(port, ca_pem, cert_pem, key_pem, daemon_options=None):
        seen["options"] = daemon_options
        return "#!/bin/sh\n"

    monkeypatch.setattr(
        "ansible_collections.dockerhost.azure.plugins.module_utils._azure_install_methods.render_install_script", render
    )
    INSTALL_METHODS["custom_script"].configured({"icc": True, "log-driver": None}).protected_settings(2376, certs)
    assert seen["options"] == {"icc": True, "log-driver": None}


def test_daemon_options_join_the_fingerprints_only_when_set(certs):
    plain = INSTALL_METHODS["custom_script"]
    assert plain.configured({}).fingerprints(2376, certs) == plain.fingerprints(2376, certs)  # no re-run on upgrade
    one = plain.configured({"icc": True}).fingerprints(2376, certs)
    assert one == {**plain.fingerprints(2376, certs), "daemon": daemon_options_fingerprint({"icc": True})}
    assert plain.configured({"icc": None}).fingerprints(2376, certs)["daemon"] != one["daemon"]
    # Key order does not matter (canonical JSON); the key never appears.
    a = plain.configured({"icc": True, "debug": True}).fingerprints(2376, certs)
    b = plain.configured({"debug": True, "icc": True}).fingerprints(2376, certs)
    assert a == b
    assert certs.key_pem.decode() not in repr(a)


@pytest.mark.parametrize("key", ["hosts", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey"])
def test_owned_keys_are_refused_by_name(key):
    with pytest.raises(DaemonOptionsError, match=f"daemon_options.{key} cannot be set"):
        INSTALL_METHODS["custom_script"].configured({key: "x"})


def test_docker_extension_refuses_daemon_options_rather_than_ignore_them():
    docker = INSTALL_METHODS["docker_extension"]
    assert docker.configured({}).daemon_options == {}
    with pytest.raises(ValueError, match="docker_install=docker_extension"):
        docker.configured({"icc": True})
