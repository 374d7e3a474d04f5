# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator's guest backend (``--vm-backend guest``): the docker_host role from nothing to the host's
``docker --tlsverify info``, each VM a booted Debian guest (systemd-nspawn) running the install script as root.

One emulator per suite, one create and one re-run per suite (cached across the tests of that suite), the
failure path once (bookworm); then the guest agent alone (provisioning, the handler, a forward, power actions).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import urllib.request

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ansible_collections.dockerhost.azure.azure_emulator.dockerd import free_loopback_endpoint
from ansible_collections.dockerhost.azure.azure_emulator.guest_agent import GuestAgent, guest_factory
from ansible_collections.dockerhost.azure.tests.support.ansible import AnsibleRunner

pytestmark = [pytest.mark.guest, pytest.mark.slow]

HOST = "dockerhost1"
SUITES = ("bookworm", "trixie", "sid")
# The admin user's key (its private half is thrown away: nothing logs in over SSH here).
_SSH_KEY = (
    ed25519.Ed25519PrivateKey.generate()
    .public_key()
    .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    .decode()
)
RECAP = re.compile(rf"^{HOST}\s*: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.MULTILINE)


def role_run(emulator, work, daemon_options: dict | None = None) -> tuple[int, dict, str]:
    """ansible-playbook with the docker_host role for one host; (return code, recap counts, output)."""
    runner = AnsibleRunner(work / "ansible")
    variables = {
        "docker_host_cert_path": str(work / "docker"),
        "docker_host_resource_group": "guest-backend",
        "docker_host_location": "westeurope",
        "docker_host_allowed_cidrs": ["127.0.0.1/32"],
        "docker_host_ssh_public_keys": [_SSH_KEY],
        "docker_host_cert_ip_san": True,
        "docker_host_connect_address": "ip",
        "docker_host_poll_interval": 0,
        "docker_host_wait_timeout": 300,
        "docker_host_probe_wait_timeout": 60,
        "docker_host_daemon_options": daemon_options or {},
        "ansible_python_interpreter": "{{ ansible_playbook_python }}",
    }
    play = [{"hosts": HOST, "gather_facts": False, "vars": variables, "roles": ["dockerhost.azure.docker_host"]}]
    playbook = work / "play.yml"
    playbook.write_text(json.dumps(play))
    inventory = work / "inventory.ini"
    inventory.write_text(f"{HOST} ansible_connection=local\n")
    done = subprocess.run(
        [*runner.command(playbook), "-i", str(inventory)],
        env=runner.env(extra={**emulator.env(), "DOCKER_CONFIG": str(work / "docker")}),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = done.stdout + done.stderr
    match = RECAP.search(output)
    assert match, output[-4000:]
    ok, changed, unreachable, failed = (int(n) for n in match.groups())
    return done.returncode, {"ok": ok, "changed": changed, "failed": failed + unreachable}, output


def guest_vm(emulator) -> dict:
    (vm,) = emulator.vms()
    assert vm["guest"]["running"], vm
    return vm


def in_guest(vm: dict, command: str) -> str:
    """``command`` with /bin/sh as root inside the VM's guest (its PID 1's namespaces, as Guest.run does)."""
    enter = ["nsenter", f"--target={vm['guest']['leader']}", "--mount", "--uts", "--ipc", "--net", "--pid"]
    done = subprocess.run(
        [*enter, "--root", "--wd", "/bin/sh", "-c", command], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def docker_info(work, address: str) -> subprocess.CompletedProcess:
    """The host's docker CLI against the VM's public address, mutual TLS with the role's client pair."""
    return subprocess.run(
        ["docker", "--tlsverify", "-H", f"tcp://{address}", "info", "--format", "{{json .}}"],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "DOCKER_CERT_PATH": str(work / "docker"), "HOME": str(work)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def created(azure_guest_emulator, tmp_path_factory):
    """The role's first run on this suite's emulator: (work dir, return code, recap, output)."""
    if shutil.which("docker") is None:
        pytest.fail("no docker CLI on this host: run `make setup` (bindep.txt installs docker.io)")
    work = tmp_path_factory.mktemp("guest-backend")
    return work, *role_run(azure_guest_emulator, work)


@pytest.mark.parametrize("azure_guest_emulator", SUITES, indirect=True)
def test_the_role_makes_a_docker_host_the_host_cli_talks_to_over_mutual_tls(azure_guest_emulator, created):
    work, code, recap, output = created
    assert code == 0 and recap["failed"] == 0, output[-4000:]
    vm = guest_vm(azure_guest_emulator)
    (address,) = vm["forwards"]
    assert address.startswith("127.") and address.endswith(":2376")

    info = docker_info(work, address)
    assert info.returncode == 0, info.stderr
    # The answer comes from the guest's own dockerd: its kernel is this one, its name the guest's.
    assert json.loads(info.stdout)["Name"] == in_guest(vm, "hostname")
    installed = in_guest(vm, "cat /.dockerhost-guest").split()[1]
    assert installed.startswith(json.loads(info.stdout)["ServerVersion"].split("+")[0])
    assert in_guest(vm, "systemctl is-active docker.service") == "active"

    # Without a client certificate the daemon refuses.
    bare = subprocess.run(
        ["docker", "-H", f"tcp://{address}", "--tls", "info"],
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(work), "DOCKER_CERT_PATH": str(work / "none")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bare.returncode != 0


@pytest.mark.parametrize("azure_guest_emulator", SUITES, indirect=True)
def test_the_extension_status_carries_the_scripts_output_tail(azure_guest_emulator, created, monkeypatch):
    assert created[1] == 0, created[3][-4000:]
    azure_guest_emulator.use_ca_bundle(monkeypatch)
    compute = azure_guest_emulator.compute_client()
    (extension,) = compute.virtual_machine_extensions.list("guest-backend", HOST, expand="instanceView").value
    (status,) = extension.instance_view.statuses
    assert status.message.startswith("Enable succeeded: \n[stdout]\n"), status.message
    stdout, _sep, _stderr = status.message.partition("\n[stderr]\n")
    # The script's last lines, as the guest's handler directory keeps them.
    vm = guest_vm(azure_guest_emulator)
    downloads = "/var/lib/waagent/custom-script/download"
    kept = in_guest(vm, f"cat {downloads}/$(ls -v {downloads} | tail -n 1)/stdout")
    assert kept.splitlines()[-4:] == stdout.splitlines()[-4:]
    assert "configuration changed: 1" in stdout


@pytest.mark.parametrize("azure_guest_emulator", SUITES, indirect=True)
def test_a_rerun_changes_nothing_and_keeps_dockerd(azure_guest_emulator, created):
    work, code, _recap, output = created
    assert code == 0, output[-4000:]
    vm = guest_vm(azure_guest_emulator)
    pid = in_guest(vm, "systemctl show -P MainPID docker.service")
    scripts = in_guest(vm, "ls /var/lib/waagent/custom-script/download")

    code, recap, output = role_run(azure_guest_emulator, work)
    assert code == 0 and recap["changed"] == 0, output[-4000:]
    assert in_guest(vm, "systemctl show -P MainPID docker.service") == pid != "0"
    assert in_guest(vm, "ls /var/lib/waagent/custom-script/download") == scripts  # the handler did not run again
    assert docker_info(work, guest_vm(azure_guest_emulator)["forwards"][0]).returncode == 0


@pytest.mark.parametrize("azure_guest_emulator", ["bookworm"], indirect=True)
def test_a_script_failure_is_the_handlers_failure_text_in_the_modules_error(azure_guest_emulator, created, monkeypatch):
    """A daemon option dockerd refuses: the script rolls back and exits non-zero; the extension's status is the
    handler's failure text, the module's error the script's stderr from it (dockerd's own words), and the old
    daemon serves on."""
    work, code, _recap, output = created
    assert code == 0, output[-4000:]
    vm = guest_vm(azure_guest_emulator)

    code, recap, output = role_run(azure_guest_emulator, work, daemon_options={"log-level": "loud"})
    assert code != 0 and recap["failed"] == 1, output[-4000:]
    assert "the CustomScript extension 'docker-install' failed on VM 'dockerhost1'" in output, output[-4000:]
    assert "unable to parse logging level: loud" in output  # dockerd in the guest, through the script's stderr

    azure_guest_emulator.use_ca_bundle(monkeypatch)
    compute = azure_guest_emulator.compute_client()
    (extension,) = compute.virtual_machine_extensions.list("guest-backend", HOST, expand="instanceView").value
    (status,) = extension.instance_view.statuses
    failure = "Enable failed: failed to execute command: command terminated with exit status=1\n[stdout]\n"
    assert status.message.startswith(failure), status.message[:300]
    assert "\n[stderr]\n" in status.message and status.message.rstrip().endswith("Docker runs with it")

    assert in_guest(vm, "systemctl is-active docker.service") == "active"
    assert docker_info(work, guest_vm(azure_guest_emulator)["forwards"][0]).returncode == 0


# The guest agent on its own (no emulator, no Azure calls): provisioning, the handler in the guest, the port
# forward, and the VM's power actions with its disk kept.
CSE = {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript", "typeHandlerVersion": "2.1"}


@pytest.fixture
def agent(guest_images, tmp_path):
    guest_images("bookworm")  # built (or found) before the agent asks for it
    made = GuestAgent(str(tmp_path / "vms"), guest_factory("nspawn", "bookworm"))
    try:
        yield made
    finally:
        made.shutdown()


def test_the_guest_agent_provisions_runs_the_handler_forwards_and_keeps_the_disk(agent, tmp_path):
    host_ip, port = free_loopback_endpoint(8080)
    user_data = "#cloud-config\nruncmd: [echo hello]\n"
    profile = {"computer_name": "agentvm", "custom_data": base64.b64encode(user_data.encode()).decode()}
    agent.vm_booted("vm1", "9a3c4e1f-0000-4000-8000-000000000001", host_ip, profile)
    (vm,) = agent.describe()
    assert in_guest(vm, "hostname") == "agentvm"
    assert in_guest(vm, "cat /var/lib/cloud/instance/user-data.txt") == user_data.strip()
    assert in_guest(vm, "base64 -d /var/lib/waagent/CustomData") == user_data.strip()
    assert in_guest(vm, "stat -c %a /var/lib/waagent/CustomData") == "600"

    # commandToExecute with /bin/sh -c, which is dash on Debian; a web server started by it gets forwarded.
    command = (
        f"systemd-run --unit=web python3 -m http.server {port} --bind 0.0.0.0 --directory /etc >/dev/null 2>&1"
        f" && timeout 20 sh -c 'until ss -Hltn | grep -q :{port}; do sleep 0.2; done'"
        " && echo out && readlink /proc/$$/exe && echo err >&2"
    )
    outcome = agent.enable(
        "vm1", "", host_ip, ext_key="e1", ext={**CSE, "settings": {"commandToExecute": command}}, protected={}
    )
    assert outcome.ok, outcome.message
    assert outcome.message == "Enable succeeded: \n[stdout]\nout\n/usr/bin/dash\n\n[stderr]\nerr\n"
    (vm,) = agent.describe()
    assert vm["forwards"] == [f"{host_ip}:{port}"]
    with urllib.request.urlopen(f"http://{host_ip}:{port}/hostname", timeout=30) as answer:
        assert answer.read().decode().strip() == "agentvm"

    failed = agent.enable(
        "vm1", "", host_ip, ext_key="e1", ext={**CSE, "settings": {"commandToExecute": "echo no; exit 3"}}, protected={}
    )
    assert not failed.ok
    assert failed.message == (
        "Enable failed: failed to execute command: command terminated with exit status=3\n[stdout]\nno\n\n[stderr]\n"
    )
    (vm,) = agent.describe()
    assert [run["message"] for run in vm["extensions"]["e1"]["runs"]] == [outcome.message, failed.message]

    # restart: a new boot of the same disk; the forward follows.
    in_guest(vm, "echo kept > /root/marker && systemctl enable web.service 2>/dev/null || true")
    leader = vm["guest"]["leader"]
    agent.power("vm1", "restart", host_ip, {})
    (vm,) = agent.describe()
    assert vm["guest"]["leader"] != leader
    assert in_guest(vm, "cat /root/marker") == "kept"
    agent.power("vm1", "poweroff", host_ip, {})
    assert agent.describe()[0]["guest"]["running"] is False
    agent.power("vm1", "start", host_ip, {})
    (vm,) = agent.describe()
    assert in_guest(vm, "cat /root/marker") == "kept"
    disk = tmp_path / "vms" / "9a3c4e1f-0000-4000-8000-000000000001"
    assert disk.is_dir()

    agent.remove_vm("vm1")
    assert agent.describe() == []
    assert not disk.exists()
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        assert str(disk) not in mounts.read()
