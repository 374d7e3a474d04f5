# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_host_probe as a module: bad input is refused before anything is contacted, in words that help."""

from __future__ import annotations

import ast
import json
import pathlib

import pytest
import yaml

from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import DOCKER_CONNECTION_ARGUMENT_SPEC
from ansible_collections.dockerhost.azure.plugins.modules import docker_host_probe
from ansible_collections.dockerhost.azure.tests.support.module_args import patch_module_args

# TEST-NET-3: never routed, so a test that wrongly tried to connect would hang until its timeout.
UNROUTED = "tcp://203.0.113.10:2376"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No DOCKER_* variables and an empty home: the developer's ~/.docker stays out of the tests."""
    for name in ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS_HOSTNAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def run_module(capsys, args: dict) -> dict:
    with patch_module_args(args), pytest.raises(SystemExit):
        docker_host_probe.main()
    return json.loads(capsys.readouterr().out)


def test_argument_spec_is_the_shared_set_plus_waiting():
    spec = docker_host_probe.argument_spec()
    assert set(spec) == set(DOCKER_CONNECTION_ARGUMENT_SPEC) | {"wait_timeout", "min_api_version"}
    assert spec["wait_timeout"]["default"] == 0


def test_client_cert_without_key(capsys):
    result = run_module(capsys, {"docker_host": UNROUTED, "client_cert": "/tmp/cert.pem", "timeout": 30})
    assert result["failed"]
    assert "client_cert" in result["msg"]
    assert "client_key" in result["msg"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"ca_cert": "/nonexistent/ca.pem"}, "ca_cert /nonexistent/ca.pem does not exist"),
        ({"cert_path": "/nonexistent/certs"}, "cert_path /nonexistent/certs is not a directory"),
        ({"docker_host": "http://203.0.113.10:2375"}, "plain HTTP"),
        ({"min_api_version": "latest"}, "min_api_version 'latest'"),
        ({"wait_timeout": -1}, "wait_timeout must be 0 or more"),
        ({"timeout": -5}, "timeout must be more than 0"),
    ],
)
def test_bad_input_fails_at_once_naming_the_option(capsys, args, words):
    result = run_module(capsys, {"docker_host": UNROUTED, "timeout": 30, **args})
    assert result["failed"]
    assert result["error_kind"] == "invalid_option"
    assert words in result["msg"]
    assert result["attempts"] == 0
    assert result["changed"] is False


def test_missing_local_socket_in_check_mode(capsys, tmp_path):
    socket_path = tmp_path / "docker.sock"
    result = run_module(capsys, {"docker_host": f"unix://{socket_path}", "_ansible_check_mode": True})
    assert result["failed"]
    assert result["changed"] is False
    assert result["error_kind"] == "connection_refused"
    assert f"there is no socket at {socket_path}" in result["msg"]
    assert result["docker_host"] == f"unix://{socket_path}"
    assert result["attempts"] == 1


def test_docker_tls_verify_zero_is_explained(capsys, clean_env, tmp_path):
    clean_env.setenv("DOCKER_TLS_VERIFY", "0")
    result = run_module(capsys, {"docker_host": f"unix://{tmp_path}/docker.sock"})
    # ansible-core 2.19 wraps warnings in event objects here; the text is what matters.
    assert "DOCKER_TLS_VERIFY=0 still means 'verify'" in json.dumps(result["warnings"])


# -- issue 13 items 6 and 7: every number bounded, every string checked whole ------------------------------

STRING_VALUES = {
    "docker_host": UNROUTED,
    "cert_path": "/etc/docker-client",
    "ca_cert": "/etc/docker-client/ca.pem",
    "client_cert": "/etc/docker-client/cert.pem",
    "client_key": "/etc/docker-client/key.pem",
    "tls_hostname": "vm.example",
    "min_api_version": "1.41",
}


def test_every_string_option_has_a_trailing_newline_case():
    spec = docker_host_probe.argument_spec()
    assert set(STRING_VALUES) == {name for name, option in spec.items() if option["type"] in ("str", "path")}


@pytest.mark.parametrize("option", sorted(STRING_VALUES))
def test_trailing_newline_in_any_string_option_is_refused(capsys, option):
    args = {"docker_host": UNROUTED, "timeout": 30, option: STRING_VALUES[option] + "\n"}
    if option == "client_cert":
        args["client_key"] = STRING_VALUES["client_key"]
    if option == "client_key":
        args["client_cert"] = STRING_VALUES["client_cert"]
    result = run_module(capsys, args)
    assert result["failed"]
    assert result["error_kind"] == "invalid_option"
    assert result["msg"].startswith(f"{option} "), result["msg"]
    assert result["attempts"] == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"timeout": 1e12}, "timeout must be more than 0 and at most 3600 seconds"),
        ({"timeout": "nan"}, "timeout must be more than 0"),
        ({"timeout": "inf"}, "timeout must be more than 0"),
        ({"wait_timeout": 1e12}, "wait_timeout must be 0 or more and at most 86400 seconds"),
        ({"wait_timeout": "nan"}, "wait_timeout must be 0 or more"),
        ({"wait_timeout": "-inf"}, "wait_timeout must be 0 or more"),
        ({"docker_host": "tcp://203.0.113.10:0"}, "docker_host 'tcp://203.0.113.10:0' has an invalid port"),
        ({"docker_host": "tcp://203.0.113.10:65536"}, "docker_host 'tcp://203.0.113.10:65536' has an invalid port"),
        ({"docker_host": "tcp://bad host:2376"}, "docker_host 'bad host' is not a host name"),
        ({"tls_hostname": "vm.example/x"}, "tls_hostname 'vm.example/x' is not a host name"),
    ],
)
def test_out_of_range_numbers_and_bad_names_fail_naming_the_option(capsys, args, words):
    result = run_module(capsys, {"docker_host": UNROUTED, "timeout": 30, **args})
    assert result["failed"]
    assert result["error_kind"] == "invalid_option"
    assert words in result["msg"]
    assert result["attempts"] == 0


# -- issue 15: the target Python range --------------------------------------------------------------------

COLLECTION = pathlib.Path(docker_host_probe.__file__).resolve().parents[2]
_PREFIX = "ansible_collections.dockerhost.azure.plugins.module_utils."


def shipped_module_utils(module: pathlib.Path | None = None) -> set[pathlib.Path]:
    """Every module_utils file a module's payload carries: its collection imports, followed through."""
    seen: set[pathlib.Path] = set()
    todo = [(module or pathlib.Path(docker_host_probe.__file__)).resolve()]
    while todo:
        tree = ast.parse(todo.pop().read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(_PREFIX):
                path = COLLECTION / "plugins" / "module_utils" / (node.module.removeprefix(_PREFIX) + ".py")
                if path not in seen:
                    seen.add(path)
                    todo.append(path)
    return seen


def test_module_declares_the_python_range_of_tests_config():
    documented = yaml.safe_load(docker_host_probe.DOCUMENTATION)["requirements"]
    minimum = ".".join(str(part) for part in docker_host_probe.MIN_PYTHON)
    assert any(f"Python {minimum} or later" in line for line in documented)
    config = yaml.safe_load((COLLECTION / "tests" / "config.yml").read_text(encoding="utf-8"))
    assert config["modules"]["python_requires"] == f">={minimum}"


@pytest.mark.parametrize(
    ("module", "expected"),
    [
        ("docker_host_probe", {"_docker_probe.py", "_docker_options.py", "_docker_transport.py", "_tls_x509.py"}),
        ("docker_tls_certs", {"_tls_x509.py", "_tls_certs.py", "_tls_request.py", "_cert_dir.py", "_atomic_io.py"}),
        ("azure_docker_vm", {"_azure_request.py", "_azure_plan.py", "_azure_sdk.py", "_install_script.py"}),
    ],
)
def test_shipped_module_utils_parse_as_python_3_8(module, expected):
    """No syntax newer than the oldest target tests/config.yml claims, in the module and all it imports
    (runtime features are covered by the integration tests that run the modules on a real Python 3.8)."""
    module_file = COLLECTION / "plugins" / "modules" / f"{module}.py"
    files = shipped_module_utils(module_file)
    assert {path.name for path in files} >= expected
    for path in [*files, module_file]:
        ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 8))


def test_module_file_parses_as_old_python_so_it_can_refuse_it():
    """The module file itself must parse on old Pythons (as 3.4, the oldest ast can check; 2.7 is tested with a
    real interpreter by the integration tests) to fail with a message instead of a SyntaxError."""
    source = pathlib.Path(docker_host_probe.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source, feature_version=(3, 4))
    assert not any(isinstance(node, ast.JoinedStr) for node in ast.walk(tree)), "no f-strings before the check"
    assert "from __future__ import annotations" not in source


def test_old_python_gets_a_message(capsys, monkeypatch):
    monkeypatch.setattr(docker_host_probe.sys, "version_info", (3, 6, 15, "final", 0))
    with pytest.raises(SystemExit):
        docker_host_probe.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"]
    assert result["error_kind"] == "unsupported_python"
    assert "needs Python 3.8 or later" in result["msg"]
    assert "is Python 3.6.15" in result["msg"]
