# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""azure_docker_vm's request: every input check runs before any request and names its option."""

from __future__ import annotations

import dataclasses

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_request import build_request
from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import InvalidOption
from ansible_collections.dockerhost.azure.plugins.modules.azure_docker_vm import argument_spec
from ansible_collections.dockerhost.azure.tests.unit.plugins.module_utils.azure_fixtures import vm_params


@pytest.fixture
def params(test_ca):
    return vm_params(test_ca)


def test_valid_input(params):
    request = build_request(params)
    assert request.allowed_cidrs == ("203.0.113.0/24",)
    assert request.dns_label == "dh1"
    assert request.install_method.type == "CustomScript"
    assert request.credential.kind == "default"
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.name = "other"  # type: ignore[misc]
    assert params["admin_password"] is None or params["admin_password"] not in repr(request)


@pytest.mark.parametrize(
    ("over", "option"),
    [
        ({"name": "bad_name"}, "name"),
        ({"name": "a" * 64}, "name"),  # its virtual network name would be too long
        ({"resource_group": "bad/group"}, "resource_group"),
        ({"location": "West-Europe!"}, "location"),
        ({"dns_label": "Upper"}, "dns_label"),
        ({"admin_username": "admin"}, "admin_username"),
        ({"admin_password": "short"}, "admin_password"),
        ({"ssh_public_keys": None}, "ssh_public_keys"),
        ({"ssh_public_keys": ["not a key"]}, "ssh_public_keys"),
        ({"allowed_cidrs": ["0.0.0.0/0"]}, "allowed_cidrs"),
        ({"allowed_cidrs": None}, "allowed_cidrs"),
        ({"docker_port": 2375}, "docker_port"),
        ({"docker_port": 70000}, "docker_port"),
        ({"ca_cert": "/nonexistent/ca.pem"}, "ca_cert"),
        ({"server_cert": None}, "server_cert"),
        ({"image": "ubuntu"}, "image"),
        ({"vm_size": "B 2"}, "vm_size"),
        ({"tags": {"a/b": "c"}}, "tags"),
        ({"subnet_id": "/subnets/x"}, "subnet_id"),
        ({"wait_timeout": 0}, "wait_timeout"),
        ({"subscription_id": "nope"}, "subscription_id"),
        ({"secret": "s"}, "client_id"),
        ({"cloud_environment": "http://insecure/metadata"}, "cloud_environment"),
        ({"daemon_options": {"hosts": ["tcp://0.0.0.0:2375"]}}, "daemon_options"),
        ({"daemon_options": {"icc": "no"}}, "daemon_options"),
        ({"daemon_options": {"icc": True}, "docker_install": "docker_extension"}, "daemon_options"),
    ],
)
def test_bad_input_names_the_option(params, over, option):
    params.update(over)
    with pytest.raises(InvalidOption) as info:
        build_request(params)
    assert info.value.option == option
    assert str(info.value).startswith(f"{option}: ")


def test_mismatched_key_names_server_key(params, test_ca):
    params["server_key"] = test_ca.server("other").key
    with pytest.raises(InvalidOption) as info:
        build_request(params)
    assert info.value.option == "server_key"


def test_daemon_options_reach_the_install_method(params):
    params["daemon_options"] = {"icc": True, "log-driver": None}
    assert build_request(params).install_method.daemon_options == {"icc": True, "log-driver": None}


# -- validate_only: the role checks every option before it writes the certificates (issue 13 item 9) --------
@pytest.mark.parametrize("missing", ["ca_cert", "server_cert", "server_key"])
def test_validate_only_needs_no_certificate_files(params, missing):
    params.update(validate_only=True, **{missing: None})
    assert build_request(params).certs is None
    params["ca_cert"] = "/nonexistent/ca.pem"  # not even read
    assert build_request(params).certs is None


@pytest.mark.parametrize(
    ("over", "option"),
    [
        ({"name": "web.example.com"}, "name"),
        ({"docker_port": 2375}, "docker_port"),
        ({"location": ""}, "location"),
        ({"allowed_cidrs": None}, "allowed_cidrs"),
        ({"ssh_public_keys": None}, "ssh_public_keys"),
        ({"daemon_options": {"tlsverify": False}}, "daemon_options"),
    ],
)
def test_validate_only_checks_everything_else(params, over, option):
    params.update(validate_only=True, ca_cert=None, server_cert=None, server_key=None, **over)
    with pytest.raises(InvalidOption) as info:
        build_request(params)
    assert info.value.option == option


def test_a_missing_certificate_comes_after_every_other_check(params):
    params.update(server_cert=None, docker_port=2375)
    with pytest.raises(InvalidOption) as info:
        build_request(params)
    assert info.value.option == "docker_port"


def test_absent_needs_no_certificates_or_login(params):
    params.update(state="absent", ca_cert=None, server_cert=None, server_key=None, ssh_public_keys=None)
    assert build_request(params).certs is None


# -- a trailing newline passes every ^...$ check made with re.match (issue 13 item 7) -----------------
# Options that normalise whitespace on purpose: keys are re-joined (a pasted .pub file ends in a newline),
# and the password is checked by its own rule, whose message never repeats it.
NORMALISED = {"ssh_public_keys"}


def string_options():
    return sorted(
        name
        for name, spec in argument_spec().items()
        if spec["type"] in ("str", "path", "list") and not spec.get("choices") and name not in NORMALISED
    )


@pytest.mark.parametrize("option", string_options())
def test_every_string_option_refuses_a_trailing_newline(params, option):
    value = params[option] if params[option] is not None else "x"
    value = [f"{value[0]}\n", *value[1:]] if isinstance(value, list) else f"{value}\n"
    params[option] = value
    with pytest.raises(InvalidOption) as info:
        build_request(params)
    assert info.value.option == option
    assert "\n" not in str(info.value).split(": ", 1)[0]


def test_the_option_list_covers_the_names_from_the_issue():
    assert {"resource_group", "name", "dns_label", "admin_username", "location", "vm_size"} <= set(string_options())
    assert {"subscription_id", "tenant"} <= set(string_options())


# -- a fresh control node: the certificate in use as PEM text, no server key (issue 12 item 2) --------------
def test_server_cert_as_pem_text_without_the_key(params):
    from_file = build_request(params).certs
    with open(params["server_cert"]) as handle:
        params.update(server_cert=handle.read(), server_key=None)
    certs = build_request(params).certs
    assert certs.key_pem is None and not certs.has_key
    assert certs.server_sha256 == from_file.server_sha256 and certs.ca_sha256 == from_file.ca_sha256


def test_server_cert_pem_text_that_is_no_certificate_is_named(params):
    params.update(server_cert="-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n", server_key=None)
    with pytest.raises(InvalidOption) as info:
        build_request(params)
    assert info.value.option == "server_cert" and "PEM text" in str(info.value)


def test_ca_cert_and_server_cert_stay_required(params):
    params.update(server_cert=None, server_key=None)
    with pytest.raises(InvalidOption) as info:
        build_request(params)
    assert info.value.option == "server_cert"
