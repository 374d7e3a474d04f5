# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_host_probe run by ansible-playbook: check mode, results, failures, warnings, environment.

Every play runs twice: on the controller, where the action plugin probes inside Ansible's own process,
and as on a managed node (the ``elsewhere`` test connection), where the module runs; both must answer
alike.
"""

from __future__ import annotations

import json
import pathlib
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible_collections.dockerhost.azure.tests.integration.docker_host_probe.probe_helpers import FQDN
from ansible_collections.dockerhost.azure.tests.support.ansible import ELSEWHERE, AnsibleRunner

pytestmark = pytest.mark.docker

MODULE = "dockerhost.azure.docker_host_probe"
# Task vars per path: none on the controller; the test connection that is not `local` for the module.
PATHS = {"controller": {}, "module": ELSEWHERE}
# What -vvv prints when the module itself is sent to the host and run there.
MODULE_SENT = re.compile(r"PUT \S+ TO \S+/AnsiballZ_docker_host_probe\.py")


def run_play(
    tasks: list[dict], home: pathlib.Path, env: dict[str, str] | None = None, path: str = "controller"
) -> tuple[list[dict], str]:
    """One play on localhost along ``path``; returns every task's registered result and the -vvv output.

    No DOCKER_* variable of the caller's and HOME is ``home``: no ~/.docker of the developer's.
    """
    runner = AnsibleRunner(home / "ansible-home", drop_prefixes=("DOCKER_",), extra={"HOME": str(home)})
    run = runner.play([{**task, "vars": PATHS[path]} if PATHS[path] else task for task in tasks], env=env, verbosity=3)
    return run.results, run.output


def probe_task(check_mode: bool = False, **args) -> dict:
    return {MODULE: args, "check_mode": check_mode}


@pytest.fixture(scope="module")
def plays(probe_world, tmp_path_factory):
    """Both plays along both paths, run at the same time (ansible-playbook spends most of its time starting up)."""
    world = probe_world
    base = tmp_path_factory.mktemp("probe-plays")
    connection = world.tls_params()
    task_options = [
        probe_task(check_mode=True, min_api_version="1.24", **connection),
        probe_task(**dict(connection, tls_hostname=None)),
        probe_task(**dict(connection, tls_hostname=None, tls_verify=False)),
        probe_task(**dict(connection, timeout="soon")),
        probe_task(**dict(connection, colour="blue")),
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
    with ThreadPoolExecutor(4) as pool:
        runs = {
            (name, path): pool.submit(run_play, tasks, base / f"{name}-{path}", task_env, path)
            for name, tasks, task_env in (("options", task_options, None), ("environment", environment, env))
            for path in PATHS
        }
        return {key: run.result() for key, run in runs.items()}


@pytest.mark.parametrize("path", PATHS)
def test_check_mode_success_and_actionable_failures(plays, probe_world, path):
    world = probe_world
    (ok, mismatch, unverified, not_a_number, unknown), output = plays["options", path]

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

    # Options are checked by the module's own argument spec, in its own words, on either path.
    assert not_a_number["failed"]
    assert "argument 'timeout'" in not_a_number["msg"]  # ansible-core's words, which vary by release
    assert "convert to float" in not_a_number["msg"]
    assert unknown["failed"]
    assert unknown["msg"].startswith(f"Unsupported parameters for ({MODULE}) module: colour.")

    # The private key is read by the TLS library only: it never reaches results or output.
    key_body = pathlib.Path(world.client.key).read_text().splitlines()[1]
    assert key_body not in output
    assert key_body not in json.dumps(plays["options", path][0])


@pytest.mark.parametrize("path", PATHS)
def test_environment_fallbacks(plays, probe_world, path):
    (from_env, host_overridden, path_overridden), _output = plays["environment", path]

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


def _comparable(result: dict) -> dict:
    """A result without what differs from run to run (the time taken)."""
    return {key: value for key, value in result.items() if key != "elapsed"}


def test_the_controller_and_the_module_give_the_same_results(plays):
    for play in ("options", "environment"):
        controller, module = (plays[play, path][0] for path in PATHS)
        assert [_comparable(result) for result in controller] == [_comparable(result) for result in module]


def test_the_probe_runs_in_process_only_on_the_controller(plays):
    for play in ("options", "environment"):
        assert not MODULE_SENT.search(plays[play, "controller"][1])
        assert len(MODULE_SENT.findall(plays[play, "module"][1])) == len(plays[play, "module"][0])


def test_async_environment_and_become_run_the_module_even_on_the_controller(probe_world, tmp_path):
    """Where the module would not run as this very process (in the background, with other environment
    variables, as another user), the module runs, on the controller too."""
    connection = probe_world.tls_params()
    by_ip = {key: value for key, value in connection.items() if key != "tls_hostname"}
    tasks = [
        {MODULE: connection, "async": 60, "poll": 1},
        {MODULE: by_ip, "environment": {"DOCKER_TLS_HOSTNAME": FQDN}},
    ]
    if shutil.which("su"):  # root becoming root: no password, no sudo needed
        tasks.append({MODULE: connection, "become": True, "become_method": "ansible.builtin.su"})
    results, output = run_play(tasks, tmp_path)
    for result in results:
        assert not result.get("failed"), result
        assert result["ping"] == "OK"
        assert result["server_cert"]["sans"] == [f"DNS:{FQDN}"]
    assert len(MODULE_SENT.findall(output)) == len(tasks)


def test_action_plugin_hooks_hold_on_this_ansible_core(probe_world, tmp_path):
    """Pins what the action plugin relies on, on every ansible-core it runs with (``make min-deps``: the
    oldest claimed): ``Task.environment`` is empty without the keyword (the probe runs in-process) and set
    with it, and the executor's ``cleanup()`` removes the module's temporary directory."""
    connection = probe_world.tls_params()
    tasks = [
        {MODULE: connection},
        {MODULE: connection, "environment": {}},
        {MODULE: connection, "environment": {"DOCKERHOST_PROBE_TEST": "1"}},
    ]
    results, output = run_play(tasks, tmp_path)
    assert all(result["ping"] == "OK" for result in results), results
    assert len(MODULE_SENT.findall(output)) == 1  # only the task that sets a variable

    results, output = run_play([probe_task(**connection)], tmp_path / "module", path="module")
    assert results[0]["ping"] == "OK"
    assert len(MODULE_SENT.findall(output)) == 1
    remote_tmp = tmp_path / "module" / "ansible-home" / "tmp"
    sent_to = re.search(r"PUT \S+ TO (\S+)/AnsiballZ_docker_host_probe\.py", output).group(1)
    assert sent_to.startswith(str(remote_tmp)), sent_to  # where to look is where the module went
    assert not list(remote_tmp.glob("ansible-tmp-*")), "the module's temporary directory was left behind"
