# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The install script in a full Debian 12 VM (QEMU, software emulation): what nspawn guests cannot show.

One VM per module (azure_emulator/guest_vm.py, image from hack/guest-vm-image.sh), booted once and rebooted
once: provisioned by cloud-init from a NoCloud seed as Azure provisions (admin user, SSH key, host name,
customData), reached over SSH as that user with sudo. The image has no Docker: the script, rendered by
``render_install_script`` and run unmodified as root with ``/bin/sh`` as soon as the admin user can log in
(as the CustomScript extension may start while cloud-init still runs), goes its own way: waits for
cloud-init, apt-get update, apt-get install docker.io apparmor through QEMU's user networking. Then: mutual
TLS through the forwarded port (Python and the host's docker CLI), AppArmor enforced by the guest's own
kernel, a re-run that changes nothing, TLS back after ``systemctl reboot``.

The timings (boot, cloud-init wait, apt, the rest, re-run, reboot) are printed (``-s`` or the report's
captured output) and, with DOCKERHOST_VM_TIMINGS=FILE, written there as JSON for benchmarks/; nothing
asserts on them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import ssl
import subprocess
import time

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.guest_vm import (
    VMGuest,
    guest_vm_image,
    missing_vm_requirements,
)
from ansible_collections.dockerhost.azure.tests.guests.conftest import DockerTLS
from ansible_collections.dockerhost.azure.tests.guests.test_install_script import SCRIPT, https_get, import_busybox

_MISSING = missing_vm_requirements()
pytestmark = [
    pytest.mark.guest,
    pytest.mark.slow,
    pytest.mark.skipif(_MISSING is not None, reason=_MISSING or ""),
]

HOSTNAME = "dockerhost-vm1"
ADMIN = "azureuser"
# customData as Azure's API takes it (base64); cloud-init runs it as user-data, a shell script here.
CUSTOM_DATA = base64.b64encode(b"#!/bin/sh\necho ran-from-custom-data > /var/tmp/custom-data-ran\n").decode()
TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return DockerTLS(str(tmp_path_factory.mktemp("vm-pki")))


@pytest.fixture(scope="module")
def vm(tmp_path_factory):
    image = guest_vm_image("bookworm")
    with open(os.path.join(image, "build.json"), encoding="utf-8") as handle:
        TIMINGS["image_build_s"] = json.load(handle)["build_seconds"]
    guest = VMGuest(
        image,
        str(tmp_path_factory.mktemp("vm-logs")),
        hostname=HOSTNAME,
        admin_username=ADMIN,
        custom_data=CUSTOM_DATA,
        # No ports named at boot: Docker's is forwarded when first used, as the emulator's VM kind does it
        # for whatever docker_port a host has.
    )
    start = time.monotonic()
    guest.boot(timeout=900, until="ssh")
    TIMINGS["boot_to_ssh_s"] = round(time.monotonic() - start, 1)
    try:
        yield guest
    finally:
        start = time.monotonic()
        guest.stop(timeout=30)
        TIMINGS["power_off_s"] = round(time.monotonic() - start, 1)
        print(f"\nVM timings (bookworm, QEMU TCG): {json.dumps(TIMINGS)}")
        if os.environ.get("DOCKERHOST_VM_TIMINGS"):
            with open(os.environ["DOCKERHOST_VM_TIMINGS"], "w", encoding="utf-8") as handle:
                json.dump(TIMINGS, handle)


def timed_install(vm, tls, timeout: float):
    """Run the script as the handler does (a file, ``/bin/sh``, root); each stdout line stamped with the
    guest's clock. Returns (exit status, [(seconds, line)], stderr)."""
    directory = SCRIPT.rsplit("/", 1)[0]
    vm.run(f"mkdir -p {directory} && cat > {SCRIPT}", input=tls.script())
    stamp = "printf '%s %s\\n' \"$(date +%s.%N)\""
    done = vm.run(
        f"{stamp} start; cd {directory} && {{ /bin/sh {SCRIPT} 2>/run/dh-install.err; echo $? >/run/dh-install.rc; }}"
        f' | while IFS= read -r line; do {stamp} "$line"; done; {stamp} end',
        timeout=timeout,
    )
    lines = []
    for raw in done.stdout.splitlines():
        when, _sep, text = raw.partition(" ")
        lines.append((float(when), text))
    status = int(vm.run("cat /run/dh-install.rc").stdout.strip())
    return status, lines, vm.run("cat /run/dh-install.err").stdout


def _at(lines, prefix: str) -> int:
    return next(i for i, (_when, text) in enumerate(lines) if text.startswith(prefix))


@pytest.fixture(scope="module")
def first_run(vm, tls):
    """The first run, started as soon as the admin user can log in; the apt part timed apart."""
    status, lines, stderr = timed_install(vm, tls, timeout=1800)
    output = "\n".join(text for _when, text in lines)
    assert status == 0, f"stdout:\n{output}\nstderr:\n{stderr}"
    # cloud-init's own record of when its last stage finished, on the guest's clock.
    final = vm.run(
        'python3 -c \'import json; print(json.load(open("/var/lib/cloud/data/status.json"))'
        '["v1"]["modules-final"]["finished"])\''
    ).stdout.strip()
    waiting = _at(lines, "dockerhost: waiting for cloud-init")
    installing = [i for i, (_when, text) in enumerate(lines) if text.startswith("dockerhost: installing")]
    apt_start = max(lines[waiting][0], float(final))
    apt_end = lines[installing[-1] + 1][0]
    total = lines[-1][0] - lines[0][0]
    TIMINGS["first_run_s"] = round(total, 1)
    TIMINGS["first_run_cloud_init_wait_s"] = round(apt_start - lines[waiting][0], 1)
    TIMINGS["first_run_apt_s"] = round(apt_end - apt_start, 1)
    TIMINGS["first_run_rest_s"] = round(total - (apt_end - lines[waiting][0]), 1)
    print(f"\nfirst run:\n{output}")
    return output


def test_cloud_init_provisioned_the_vm_as_azure_does(vm, first_run):
    """Host name, admin user with the key and sudo, customData stored and run; the script waited for it."""
    assert "dockerhost: waiting for cloud-init" in first_run
    status = vm.run("cloud-init status --long", check=False).stdout
    assert status.splitlines()[0] == "status: done", status
    assert vm.run("hostname").stdout.strip() == HOSTNAME
    with open(vm.ssh_key + ".pub", encoding="ascii") as handle:
        key = handle.read().split()[1]
    assert key in vm.run(f"cat /home/{ADMIN}/.ssh/authorized_keys").stdout
    assert vm.run(f"id -nG {ADMIN}").returncode == 0
    assert vm.run("cat /var/lib/waagent/CustomData").stdout.strip() == CUSTOM_DATA
    assert vm.run("cat /var/tmp/custom-data-ran").stdout.strip() == "ran-from-custom-data"


def test_the_script_installs_docker_and_apparmor_with_apt(vm, first_run):
    """The image has neither: the script's own apt path put them there, through QEMU's user networking."""
    with open(os.path.join(vm.image, "packages.txt"), encoding="utf-8") as handle:
        in_image = {line.split()[0] for line in handle}
    assert not {"docker.io", "apparmor"} & in_image
    assert "dockerhost: installing docker.io apparmor" in first_run
    history = vm.run("cat /var/log/apt/history.log").stdout
    assert "apt-get -o DPkg::Lock::Timeout=" in history
    for package in ("docker.io", "apparmor"):
        assert vm.run(f"dpkg-query -W -f='${{Status}}' {package}").stdout == "install ok installed"


def test_the_daemon_demands_client_certificates_through_the_forwarded_port(vm, tls, first_run):
    status, version = https_get(vm, tls, "/version")
    assert status == 200
    assert version["Version"].startswith("20.10")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        https_get(vm, tls, "/version", client_cert=False)


def test_docker_cli_from_the_host_talks_mutual_tls(vm, tls, first_run):
    if shutil.which("docker") is None:
        pytest.skip("no docker CLI on this host (bindep.txt installs docker.io)")
    address, port = vm.forward(tls.port)
    cli = [
        "docker", "--tlsverify", f"--tlscacert={tls.ca.cert_path}", f"--tlscert={tls.client.cert}",
        f"--tlskey={tls.client.key}", "-H", f"tcp://{address}:{port}", "version", "--format", "{{.Server.Version}}",
    ]  # fmt: skip
    done = subprocess.run(cli, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("20.10")


def test_apparmor_is_enforced_and_a_container_runs_confined(vm, tls, first_run):
    """Issue 14, defect 2 on the real kernel: the docker-default profile is loaded and confines a container."""
    assert vm.run("cat /sys/module/apparmor/parameters/enabled").stdout.strip() == "Y"
    assert "docker-default" in vm.run("aa-status").stdout
    _status, info = https_get(vm, tls, "/info")
    assert any("name=apparmor" in option for option in info["SecurityOptions"])
    image = import_busybox(vm)
    label = vm.run(f"docker run --rm --network none {image} /bin/busybox cat /proc/self/attr/current", timeout=120)
    assert label.stdout.strip() == "docker-default (enforce)"


def test_rerun_changes_nothing_and_keeps_dockerd(vm, tls, first_run):
    pid = vm.main_pid("docker.service")
    status, lines, stderr = timed_install(vm, tls, timeout=300)
    output = "\n".join(text for _when, text in lines)
    TIMINGS["rerun_s"] = round(lines[-1][0] - lines[0][0], 1)
    assert status == 0, f"stdout:\n{output}\nstderr:\n{stderr}"
    assert "configuration changed: 0" in output
    assert "installing" not in output
    assert vm.main_pid("docker.service") == pid


def test_tls_answers_again_after_a_reboot(vm, tls, first_run):
    before = vm.boot_id()
    start = time.monotonic()
    vm.reboot(timeout=900)
    deadline = time.monotonic() + 180
    while True:
        try:
            status, _body = https_get(vm, tls, "/version")
            break
        except (OSError, ValueError, IndexError) as exc:  # the forward accepts before dockerd listens
            if time.monotonic() > deadline:
                raise AssertionError(f"no TLS answer 180 s after the reboot: {exc!r}\n{vm.console_tail()}") from exc
            time.sleep(3)
    TIMINGS["reboot_to_tls_s"] = round(time.monotonic() - start, 1)
    assert status == 200
    assert vm.boot_id() != before
    assert vm.run("systemctl is-enabled docker.service").stdout.strip() == "enabled"
