# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker connection options: docker_host, the environment fallbacks, resolving certificate files."""

from __future__ import annotations

import os

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.dockerhost.azure.plugins.doc_fragments.docker import ModuleDocFragment
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import (
    DEFAULT_DOCKER_HOST,
    DOCKER_CONNECTION_ARGUMENT_SPEC,
    DOCKER_CONNECTION_REQUIRED_TOGETHER,
    DockerAPIError,
    Endpoint,
    environment_warnings,
    parse_docker_host,
    resolve_connection,
)
from ansible_collections.dockerhost.azure.tests.unit.plugins.module_utils import docker_fixtures
from ansible_collections.dockerhost.azure.tests.unit.plugins.module_utils.docker_fixtures import ENV_NAMES

# The shared fixtures (clean_env is autouse).
clean_env = docker_fixtures.clean_env
certs = docker_fixtures.certs

# -- docker_host ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("tcp://203.0.113.10:2376", Endpoint("tcp", host="203.0.113.10", port=2376)),
        ("tcp://203.0.113.10", Endpoint("tcp", host="203.0.113.10", port=2376)),
        ("TCP://Host.Example:4243/", Endpoint("tcp", host="host.example", port=4243)),
        ("https://host.example:2376", Endpoint("tcp", host="host.example", port=2376)),
        ("tcp://[2001:db8::1]:2376", Endpoint("tcp", host="2001:db8::1", port=2376)),
        ("unix:///var/run/docker.sock", Endpoint("unix", path="/var/run/docker.sock")),
    ],
)
def test_parse_docker_host(value, expected):
    assert parse_docker_host(value) == expected


def test_endpoint_url_round_trips():
    assert parse_docker_host("tcp://[2001:db8::1]").url == "tcp://[2001:db8::1]:2376"
    assert parse_docker_host(DEFAULT_DOCKER_HOST).url == DEFAULT_DOCKER_HOST


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("", "empty"),
        ("203.0.113.10:2376", "no scheme"),
        ("http://203.0.113.10:2375", "plain HTTP"),
        ("ssh://user@host", "not supported"),
        ("tcp://host:notaport", "invalid port"),
        ("tcp://host:2376/path", "tcp://<host>:<port>"),
        ("tcp://user@host:2376", "tcp://<host>:<port>"),
        ("unix://relative.sock", "absolute path"),
    ],
)
def test_parse_docker_host_rejects_with_the_option_named(value, words):
    with pytest.raises(DockerAPIError) as caught:
        parse_docker_host(value)
    assert caught.value.kind == "invalid_option"
    assert "docker_host" in caught.value.message
    assert words in caught.value.message


# -- the option set and its environment --------------------------------------------------------------


def validate(params: dict) -> dict:
    result = ArgumentSpecValidator(
        DOCKER_CONNECTION_ARGUMENT_SPEC, required_together=DOCKER_CONNECTION_REQUIRED_TOGETHER
    ).validate(params)
    if result.error_messages:
        raise ValueError("; ".join(result.error_messages))
    return result.validated_parameters


def test_defaults_without_environment(clean_env):
    params = validate({})
    assert params["docker_host"] == DEFAULT_DOCKER_HOST
    assert params["tls_verify"] is True
    assert params["cert_path"] == os.path.expanduser("~/.docker")
    assert params["tls_hostname"] is None
    assert params["timeout"] == 10.0


def test_environment_fills_unset_options(clean_env):
    clean_env.setenv("DOCKER_HOST", "tcp://203.0.113.10:2376")
    clean_env.setenv("DOCKER_CERT_PATH", "/etc/docker-client")
    clean_env.setenv("DOCKER_TLS_HOSTNAME", "vm.example")
    params = validate({})
    assert params["docker_host"] == "tcp://203.0.113.10:2376"
    assert params["cert_path"] == "/etc/docker-client"
    assert params["tls_hostname"] == "vm.example"


def test_task_options_beat_environment(clean_env):
    clean_env.setenv("DOCKER_HOST", "tcp://203.0.113.10:2376")
    clean_env.setenv("DOCKER_TLS_HOSTNAME", "vm.example")
    params = validate({"docker_host": "tcp://198.51.100.7", "tls_hostname": "other.example", "tls_verify": False})
    assert params["docker_host"] == "tcp://198.51.100.7"
    assert params["tls_hostname"] == "other.example"
    assert params["tls_verify"] is False


def test_empty_environment_values_count_as_unset(clean_env):
    clean_env.setenv("DOCKER_HOST", "")
    clean_env.setenv("DOCKER_TLS_HOSTNAME", "")
    params = validate({})
    assert params["docker_host"] == DEFAULT_DOCKER_HOST
    assert params["tls_hostname"] is None


@pytest.mark.parametrize("value", ["0", "false", "no", "1", "yes"])
def test_docker_tls_verify_any_value_means_verify(clean_env, value):
    clean_env.setenv("DOCKER_TLS_VERIFY", value)
    assert validate({})["tls_verify"] is True


@pytest.mark.parametrize(("value", "warned"), [("0", True), ("False", True), ("no", True), ("1", False), ("", False)])
def test_environment_warnings_explain_docker_tls_verify_zero(value, warned):
    warnings = environment_warnings({"DOCKER_TLS_VERIFY": value})
    assert bool(warnings) is warned
    if warned:
        assert f"DOCKER_TLS_VERIFY={value}" in warnings[0]
        assert "tls_verify: false" in warnings[0]


def test_client_cert_and_key_are_required_together(clean_env):
    with pytest.raises(ValueError, match="client_cert"):
        validate({"client_cert": "/tmp/cert.pem"})


def test_doc_fragment_documents_exactly_the_argument_spec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(documented) == set(DOCKER_CONNECTION_ARGUMENT_SPEC)
    for name, spec in DOCKER_CONNECTION_ARGUMENT_SPEC.items():
        assert documented[name]["type"] == spec["type"], name
        assert documented[name].get("default") == spec.get("default"), name
    for env in ENV_NAMES:
        assert f"E({env})" in ModuleDocFragment.DOCUMENTATION


# -- resolving files ------------------------------------------------------------------------------------


def test_cert_path_supplies_all_three_files(certs, clean_env):
    _ca, _client, cert_dir = certs
    settings = resolve_connection({"docker_host": "tcp://203.0.113.10", "cert_path": cert_dir})
    assert settings.ca_cert == os.path.join(cert_dir, "ca.pem")
    assert settings.client_cert == os.path.join(cert_dir, "cert.pem")
    assert settings.client_key == os.path.join(cert_dir, "key.pem")
    assert settings.verify_name == "203.0.113.10"
    assert settings.uses_tls


def test_explicit_files_win_over_cert_path(certs, tmp_path):
    ca, client, cert_dir = certs
    settings = resolve_connection(
        {
            "docker_host": "tcp://203.0.113.10",
            "cert_path": cert_dir,
            "ca_cert": ca.cert_path,
            "client_cert": client.cert,
            "client_key": client.key,
            "tls_hostname": "vm.example",
        }
    )
    assert (settings.ca_cert, settings.client_cert, settings.client_key) == (ca.cert_path, client.cert, client.key)
    assert settings.verify_name == "vm.example"


def test_missing_default_files_mean_system_store_and_no_client_cert(tmp_path):
    settings = resolve_connection(
        {"docker_host": "tcp://203.0.113.10", "cert_path": str(tmp_path), "use_system_ca_store": True}
    )
    assert settings.ca_cert is None
    assert "system CA store" in settings.ca_source
    assert settings.client_cert is None
    assert "no client certificate" in settings.client_source


def test_missing_ca_file_never_falls_back_to_the_system_store(tmp_path):
    """Issue 13 item 4: like the Docker CLI, no CA file is an error unless use_system_ca_store asks for the store."""
    with pytest.raises(DockerAPIError) as caught:
        resolve_connection({"docker_host": "tcp://203.0.113.10", "cert_path": str(tmp_path)})
    assert caught.value.kind == "invalid_option"
    assert f"{tmp_path}/ca.pem does not exist" in caught.value.message
    assert "use_system_ca_store" in caught.value.message


def test_no_ca_file_is_fine_without_verification(tmp_path):
    settings = resolve_connection(
        {"docker_host": "tcp://203.0.113.10", "cert_path": str(tmp_path), "tls_verify": False}
    )
    assert settings.ca_cert is None


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"cert_path": "/nonexistent/docker-certs"}, "cert_path /nonexistent/docker-certs is not a directory"),
        ({"ca_cert": "/nonexistent/ca.pem"}, "ca_cert /nonexistent/ca.pem does not exist"),
        ({"client_cert": "/nonexistent/c.pem", "client_key": "/nonexistent/k.pem"}, "client_cert /nonexistent/c.pem"),
        ({"client_cert": "/nonexistent/c.pem"}, "together"),
        ({"timeout": 0}, "timeout must be more than 0"),
    ],
)
def test_bad_files_fail_before_connecting(params, words):
    with pytest.raises(DockerAPIError) as caught:
        resolve_connection({"docker_host": "tcp://203.0.113.10", **params})
    assert caught.value.kind == "invalid_option"
    assert words in caught.value.message


def test_directory_given_as_ca_cert(tmp_path):
    with pytest.raises(DockerAPIError, match="is not a file"):
        resolve_connection({"docker_host": "tcp://203.0.113.10", "ca_cert": str(tmp_path)})


def test_half_a_client_pair_in_cert_path(certs):
    _ca, _client, cert_dir = certs
    os.unlink(os.path.join(cert_dir, "key.pem"))
    with pytest.raises(DockerAPIError, match=r"has cert\.pem but no key\.pem"):
        resolve_connection({"docker_host": "tcp://203.0.113.10", "cert_path": cert_dir})


def test_unix_socket_ignores_tls_options():
    settings = resolve_connection({"docker_host": "unix:///run/docker.sock", "ca_cert": "/nonexistent/ca.pem"})
    assert not settings.uses_tls
    assert settings.ca_cert is None
