# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The VM agent: CustomScript runs a script that configures dockerd like the project's install script must;
failures, re-runs, faults and removal behave as on Azure."""

from __future__ import annotations

import base64
import gzip
import json
import os
import socket
import ssl
import time

import pytest
from azure.core.exceptions import HttpResponseError

from ansible_collections.dockerhost.azure.plugins.module_utils._install_script import (
    packed_script,
    render_install_script,
)

pytestmark = [pytest.mark.emulator, pytest.mark.docker]

EXT_PATH = "resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm/extensions/install-docker"
# A stand-in for the project's install script, written to the contract (azure_emulator/README.md).
SCRIPT = """#!/bin/sh
set -eu
R="${{DOCKERHOST_ROOT:-}}"
[ "${{DOCKERHOST_SKIP_PACKAGES:-}}" = 1 ] || {{ echo "would apt-get install docker.io" >&2; exit 9; }}
mkdir -p "$R/etc/docker" "$R/etc/systemd/system/docker.service.d" "$R/var/lib/probe"
cat > "$R/etc/docker/ca.pem" <<'PEM'
{ca}PEM
cat > "$R/etc/docker/server-cert.pem" <<'PEM'
{cert}PEM
umask 077
cat > "$R/etc/docker/server-key.pem" <<'PEM'
{key}PEM
cat > "$R/etc/docker/daemon.json" <<JSON
{{"hosts": ["unix:///var/run/docker.sock", "tcp://0.0.0.0:{port}"], "tls": true, "tlsverify": true,
 "tlscacert": "$R/etc/docker/ca.pem", "tlscert": "$R/etc/docker/server-cert.pem",
 "tlskey": "$R/etc/docker/server-key.pem"}}
JSON
{dropin}
runs=$(cat "$R/var/lib/probe/runs" 2>/dev/null || echo 0)
echo $((runs + 1)) > "$R/var/lib/probe/runs"
echo "configured docker on port {port}"
"""
DROPIN = """cat > "$R/etc/systemd/system/docker.service.d/override.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=/usr/bin/dockerd --containerd=/run/containerd/containerd.sock
UNIT"""


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


@pytest.fixture
def vm(arm):
    arm.group("rg")
    _vnet, pip, _nsg, nic = arm.network_for_vm("rg", label="agent-test")
    arm.vm("rg", "vm", nic["id"])
    return pip["properties"]["ipAddress"]


def _script(test_ca, ip: str, *, port: int = 2376, dropin: bool = True, gzipped: bool = False) -> str:
    server = test_ca.server("server", ip_addresses=(ip,))
    text = SCRIPT.format(
        ca=_read(test_ca.cert_path), cert=_read(server.cert), key=_read(server.key), port=port,
        dropin=DROPIN if dropin else "",
    )  # fmt: skip
    data = gzip.compress(text.encode()) if gzipped else text.encode()
    return base64.b64encode(data).decode()


def _cse(settings: dict | None = None, protected: dict | None = None, **extra) -> dict:
    props = {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1",
             "autoUpgradeMinorVersion": True, "settings": settings or {}, **extra}  # fmt: skip
    if protected is not None:
        props["protectedSettings"] = protected
    return {"location": "eastus", "properties": props}


def _put(arm, body: dict) -> tuple[int, dict]:
    """PUT the extension and wait; return the operation's final status and the extension with its instance view."""
    answer = arm.call("PUT", EXT_PATH, body, "2026-04-01")
    assert answer.status_code in (200, 201), answer.text
    status = arm.call("GET", answer.headers["Azure-AsyncOperation"])
    deadline = time.monotonic() + 120
    while status.json()["status"] == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.1)
        status = arm.call("GET", answer.headers["Azure-AsyncOperation"])
    view = arm.call("GET", EXT_PATH, api_version="2026-04-01", **{"$expand": "instanceView"}).json()
    return status.json(), view


def _mtls_ok(test_ca, ip: str, port: int = 2376) -> bool:
    client = test_ca.client()
    ctx = ssl.create_default_context(cafile=test_ca.cert_path)
    ctx.check_hostname = False
    ctx.load_cert_chain(client.cert, client.key)
    with socket.create_connection((ip, port), timeout=10) as raw, ctx.wrap_socket(raw) as tls:
        tls.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        return tls.recv(1024).startswith(b"HTTP/1.0 200")


def test_custom_script_configures_a_real_daemon(arm, test_ca, vm):
    status, ext = _put(arm, _cse(protected={"script": _script(test_ca, vm, gzipped=True)}))
    assert status["status"] == "Succeeded", status
    view = ext["properties"]["instanceView"]["statuses"][0]
    assert view["code"] == "ProvisioningState/succeeded"
    assert "configured docker on port 2376" in view["message"]
    assert "protectedSettings" not in ext["properties"]
    assert _mtls_ok(test_ca, vm)


def test_without_the_dropin_dockerd_refuses_hosts_in_both_places(arm, test_ca, vm):
    status, ext = _put(arm, _cse(protected={"script": _script(test_ca, vm, dropin=False)}))
    assert status["status"] == "Failed"
    assert status["error"]["code"] == "VMExtensionProvisioningError"
    expected = "the following directives are specified both as a flag and in the configuration file: hosts"
    assert expected in status["error"]["message"]
    assert ext["properties"]["provisioningState"] == "Failed"
    assert expected in ext["properties"]["instanceView"]["statuses"][0]["message"]


def test_a_failing_script_reports_its_exit_status_and_stderr(azure_emulator, vm):
    compute = azure_emulator.compute_client()
    body = _cse({"commandToExecute": "echo partial; echo 'E: Unable to locate package docker.io' >&2; exit 3"})
    with pytest.raises(HttpResponseError) as excinfo:
        compute.virtual_machine_extensions.begin_create_or_update("rg", "vm", "install-docker", body).result()
    message = str(excinfo.value)
    assert "VMExtensionProvisioningError" in message
    assert "command terminated with exit status=3" in message
    assert "E: Unable to locate package docker.io" in message
    view = compute.virtual_machine_extensions.get("rg", "vm", "install-docker", expand="instanceView").instance_view
    assert view.statuses[0].code.startswith("ProvisioningState/failed")


@pytest.mark.parametrize(
    ("settings", "protected", "text"),
    [
        ({"commandToExecute": "true"}, {"commandToExecute": "true"},
         "'commandToExecute' was specified both in public and protected settings; it must be specified only once"),
        ({}, {"commandToExecute": "true", "script": "dHJ1ZQ=="},
         "'commandToExecute' and 'script' were both specified, but only one is validate at a time"),
        ({}, {}, "'commandToExecute' is not specified"),
    ],
)  # fmt: skip
def test_custom_script_settings_are_checked_like_the_real_handler(arm, vm, settings, protected, text):
    status, _ext = _put(arm, _cse(settings, protected))
    assert status["status"] == "Failed"
    assert status["error"]["code"] == "VMExtensionProvisioningError"
    assert f"invalid configuration: {text}" in status["error"]["message"]


def test_new_settings_or_force_update_tag_rerun_the_extension(arm, azure_emulator, test_ca, vm):
    script = _script(test_ca, vm)
    body = _cse(protected={"script": script}, forceUpdateTag="1")
    assert _put(arm, body)[0]["status"] == "Succeeded"
    root = azure_emulator.vms()[0]["root"]
    runs = os.path.join(root, "var", "lib", "probe", "runs")
    assert _read(runs).strip() == "1"
    assert _put(arm, body)[0]["status"] == "Succeeded"  # same goal state: not run again
    assert _read(runs).strip() == "1"
    assert _put(arm, _cse(protected={"script": script}, forceUpdateTag="2"))[0]["status"] == "Succeeded"
    assert _read(runs).strip() == "2"
    new_port = _cse(protected={"script": _script(test_ca, vm, port=4243)}, forceUpdateTag="2")
    assert _put(arm, new_port)[0]["status"] == "Succeeded"
    assert _read(runs).strip() == "3"
    assert _mtls_ok(test_ca, vm, 4243)
    with pytest.raises(OSError):
        socket.create_connection((vm, 2376), timeout=2).close()
    # Every run's status stays visible (make demo-vm shows the first run's install output after a re-apply).
    (shown,) = azure_emulator.vms()[0]["extensions"].values()
    ports = [run["message"].splitlines()[2] for run in shown["runs"]]
    assert ports == [*["configured docker on port 2376"] * 2, "configured docker on port 4243"]
    assert shown["message"] == shown["runs"][-1]["message"]
    # Deleting the extension stops the daemon it configured.
    answer = arm.call("DELETE", EXT_PATH, api_version="2026-04-01")
    assert answer.status_code == 202
    assert azure_emulator.wait_idle()
    with pytest.raises(OSError):
        socket.create_connection((vm, 4243), timeout=2).close()


def test_an_injected_extension_failure_and_suppress_failures(arm, azure_emulator, vm):
    azure_emulator.add_fault("extension", path="/extensions/install-docker$", message="Enable failed: disk full")
    status, ext = _put(arm, _cse({"commandToExecute": "true"}))
    assert status["status"] == "Failed" and "Enable failed: disk full" in status["error"]["message"]
    azure_emulator.add_fault("extension", path="/extensions/install-docker$", message="Enable failed: again")
    status, ext = _put(arm, _cse({"commandToExecute": "true"}, suppressFailures=True, forceUpdateTag="x"))
    assert status["status"] == "Succeeded"
    assert ext["properties"]["instanceView"]["statuses"][0]["message"] == "Enable failed: again"


def test_the_install_script_merges_an_existing_daemon_json_that_a_real_dockerd_accepts(
    arm, azure_emulator, test_ca, vm
):
    """The project's own script (issue 13 item 11): keys written before the first run are kept, the merged file
    (TLS, hardened defaults, the administrator's keys) starts a real dockerd, and a conflict fails by name."""
    assert _put(arm, _cse({"commandToExecute": "true"}))[0]["status"] == "Succeeded"  # the VM's root exists
    docker_dir = os.path.join(azure_emulator.vms()[0]["root"], "etc", "docker")
    os.makedirs(docker_dir, exist_ok=True)
    mine = {"data-root": "/mnt/docker-data", "debug": True, "max-concurrent-downloads": 2, "log-driver": "local"}
    with open(os.path.join(docker_dir, "daemon.json"), "w", encoding="utf-8") as handle:
        json.dump(mine, handle)
    server = test_ca.server("server", ip_addresses=(vm,))
    with open(test_ca.cert_path, "rb") as ca, open(server.cert, "rb") as cert, open(server.key, "rb") as key:
        rendered = render_install_script(2376, ca.read(), cert.read(), key.read())
    body = _cse(protected={"script": packed_script(rendered)}, forceUpdateTag="script")
    status, _ext = _put(arm, body)
    assert status["status"] == "Succeeded", status
    assert _mtls_ok(test_ca, vm)
    with open(os.path.join(docker_dir, "daemon.json"), encoding="utf-8") as handle:
        merged = json.load(handle)
    assert {key: merged[key] for key in mine} == mine
    assert merged["tlsverify"] is True and merged["live-restore"] is True and merged["no-new-privileges"] is True
    assert "log-opts" not in merged  # the administrator chose the log driver
    assert any(name.startswith("daemon.json.dockerhost-backup-") for name in os.listdir(docker_dir))

    merged["tlsverify"] = False
    with open(os.path.join(docker_dir, "daemon.json"), "w", encoding="utf-8") as handle:
        json.dump(merged, handle)
    status, _ext = _put(arm, _cse(protected={"script": packed_script(rendered)}, forceUpdateTag="again"))
    assert status["status"] == "Failed"
    assert "daemon.json already sets tlsverify to other values" in status["error"]["message"]
