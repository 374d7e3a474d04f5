# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_host_probe run by ansible-playbook: check mode, results, failures, warnings, environment."""

from __future__ import annotations

import json
import pathlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible_collections.dockerhost.azure.tests.integration.docker_host_probe.probe_helpers import FQDN
from ansible_collections.dockerhost.azure.tests.support.ansible import AnsibleRunner

pytestmark = pytest.mark.docker

MODULE = "dockerhost.azure.docker_host_probe"


def run_play(tasks: list[dict], home: pathlib.Path, env: dict[str, str] | None = None) -> tuple[list[dict], str]:
    """One play on localhost; returns every task's registered result (tasks never stop the play) and the output.

    No DOCKER_* variable of the caller's and HOME is ``home``: no ~/.docker of the developer's.
    """
    runner = AnsibleRunner(home / "ansible-home", drop_prefixes=("DOCKER_",), extra={"HOME": str(home)})
    run = runner.play(tasks, env=env)
    return run.results, run.output


def probe_task(check_mode: bool = False, **args) -> dict:
    return {MODULE: args, "check_mode": check_mode}


@pytest.fixture(scope="module")
def plays(probe_world, tmp_path_factory):
    """Both plays, run at the same time (ansible-playbook spends most of its time starting up)."""
    world = probe_world
    base = tmp_path_factory.mktemp("probe-plays")
    connection = world.tls_params()
    task_options = [
        probe_task(check_mode=True, min_api_version="1.24", **connection),
        probe_task(**dict(connection, tls_hostname=None)),
        probe_task(**dict(connection, tls_hostname=None, tls_verify=False)),
    ]
    environment = [
        probe_task(),
        probe_task(tls_hostname="dockerhost2.westeurope.cloudapp.azure.com"),
        probe_task(cert_path=world.ca_only_dir),
    ]
    env = {
        "DOCKER_HOST": world.tls.url,
        "DOCKER_CERT_PATH": world.cert_dir,
        "DOCKER_TLS_HOSTNAME": FQDN,
        "DOCKER_TLS_VERIFY": "0",
    }
    with ThreadPoolExecutor(2) as pool:
        options_run = pool.submit(run_play, task_options, base / "options")
        env_run = pool.submit(run_play, environment, base / "environment", env)
        return {"options": options_run.result(), "environment": env_run.result()}


def test_check_mode_success_and_actionable_failures(plays, probe_world):
    world = probe_world
    (ok, mismatch, unverified), output = plays["options"]

    assert not ok.get("failed"), ok
    assert ok["changed"] is False
    assert ok["ping"] == "OK"
    assert ok["version"]["Version"] == ok["info"]["ServerVersion"]
    assert ok["server_cert"]["sans"] == [f"DNS:{FQDN}"]
    assert ok["attempts"] == 1
    assert ok["docker_host"] == world.tls.url

    assert mismatch["failed"]
    assert mismatch["changed"] is False
    assert mismatch["error_kind"] == "tls_hostname_mismatch"
    assert "set tls_hostname" in mismatch["msg"]
    assert mismatch["server_cert"]["sans"] == [f"DNS:{FQDN}"]
    assert mismatch["attempts"] == 1

    assert not unverified.get("failed"), unverified
    assert any("tls_verify is false" in warning for warning in unverified["warnings"])
    assert unverified["server_cert"]["verified"] is False

    # The private key is read by the TLS library only: it never reaches results or output.
    key_body = pathlib.Path(world.client.key).read_text().splitlines()[1]
    assert key_body not in output
    assert key_body not in json.dumps(plays["options"][0])


def test_environment_fallbacks(plays, probe_world):
    (from_env, host_overridden, path_overridden), _output = plays["environment"]

    assert not from_env.get("failed"), from_env
    assert from_env["docker_host"] == probe_world.tls.url
    # DOCKER_TLS_VERIFY=0 does not turn verification off; the module says so.
    assert from_env["server_cert"]["verified"] is True
    assert any("DOCKER_TLS_VERIFY=0 still means 'verify'" in warning for warning in from_env["warnings"])

    # Options in the task win over the environment.
    assert host_overridden["error_kind"] == "tls_hostname_mismatch"
    assert "'dockerhost2.westeurope.cloudapp.azure.com'" in host_overridden["msg"]
    assert path_overridden["error_kind"] == "tls_client_rejected"
    assert "no client certificate was sent" in path_overridden["msg"]
