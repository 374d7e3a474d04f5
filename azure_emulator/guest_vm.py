# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real Linux VM: QEMU with software emulation (TCG), its own Debian kernel, cloud-init and SSH.

The full-VM sibling of :class:`azure_emulator.guest.Guest` (systemd-nspawn): same interface where it makes
sense (``boot(timeout)``, ``run(command) -> Result``, ``connect(port)``, ``main_pid(unit)``, ``stop()``, a
context manager, ``console_log``/``console_tail``), plus :meth:`VMGuest.reboot`. What nspawn cannot show
needs this: the install script's own apt path, a reboot, cloud-init, the kernel's AppArmor.

- The image (``hack/guest-vm-image.sh``, :func:`guest_vm_image`) is a qcow2 of a ``mmdebstrap`` tree with
  ``linux-image-amd64``, cloud-init and openssh-server, no Docker; QEMU boots its kernel and initrd with
  ``-kernel/-initrd``. A VM writes to its own qcow2 overlay in ``log_dir``, never to the image, and keeps it
  across :meth:`reboot`.
- Provisioning as Azure does it, through a cloud-init NoCloud seed (an ISO labelled ``cidata``): meta-data
  with the instance id and host name; vendor-data (the provider's part) creating the admin user with the SSH
  public key and passwordless sudo, naming the host in ``/etc/hosts``, and writing ``customData`` base64-encoded to
  ``/var/lib/waagent/CustomData`` as the Azure Linux agent does; user-data = ``customData`` decoded, which
  cloud-init then handles as on Azure (a ``#cloud-config`` or a script runs; a user-data ``users:`` or
  ``write_files:`` replaces the provider's, as user-data overrides vendor-data).
- Commands run over SSH as the admin user with ``sudo`` (root, clean environment, ``/bin/sh -c``), as a
  real Azure VM is reached. The key pair is made per VM in ``log_dir``.
- Network: QEMU user networking. The guest reaches the Debian archive through it (apt needs that, so the
  network is not ``restrict=on``; the guest can therefore also reach the host's loopback services through
  10.0.2.2, a known limit). The host reaches the guest's SSH and the ``ports`` it asks for through
  ``hostfwd`` on a loopback ``address``, named at boot (``ports``) or added while it runs (QEMU's
  ``hostfwd_add``): :meth:`VMGuest.connect` connects there, :meth:`VMGuest.forward` tells
  ``(address, host port)`` for code that wants a ``host:port``.
- Every wait is bounded (boot, each command, reboot, power-off). QEMU dies with the process that started it
  (``PR_SET_PDEATHSIG``); :meth:`stop` powers off through QMP (ACPI), kills after ``timeout`` and always
  reaps QEMU.

Under software emulation a boot takes 30-90 s on a shared 2-core machine, QEMU 1-2 GB of memory.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import shlex
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field

from .guest import GuestError, Result, _die_with_parent, build_image, failed_command, reap, root_shell

__all__ = ["VMGuest", "guest_vm_image", "missing_vm_requirements"]

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_SCRIPT = os.path.join(_REPO, "hack", "guest-vm-image.sh")
VM_SUITES = ("bookworm",)
_TOOLS = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "genisoimage": "genisoimage",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "mmdebstrap": "mmdebstrap",
}
_counter = itertools.count(1)


def missing_vm_requirements() -> str | None:
    """Why QEMU guests cannot run here (not root, a tool missing), or None when they can."""
    if os.geteuid() != 0:
        return "the VM image is built as root (mmdebstrap, mkfs.ext4 -d)"
    for tool, package in _TOOLS.items():
        if shutil.which(tool) is None:
            return f"{tool} is not installed: run `make setup` (bindep.txt: {package})"
    return None


def guest_vm_image(suite: str = "bookworm", timeout: float = 1800.0) -> str:
    """Directory of the cached VM image of ``suite`` (disk.qcow2, vmlinuz, initrd.img, build.json).

    ``DOCKERHOST_GUEST_VM_IMAGE``, when set, names an image directory to use instead (one built earlier by
    hack/guest-vm-image.sh, e.g. while a new one builds)."""
    given = os.environ.get("DOCKERHOST_GUEST_VM_IMAGE")
    if given:
        if not os.path.isfile(os.path.join(given, "build.json")):
            raise GuestError(f"DOCKERHOST_GUEST_VM_IMAGE={given} is not a VM image (no build.json)")
        return given
    if suite not in VM_SUITES:
        raise GuestError(f"unknown VM suite {suite!r}: one of {', '.join(VM_SUITES)}")
    return build_image(IMAGE_SCRIPT, suite, "VM image", timeout)


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


@dataclass
class VMGuest:
    """One QEMU VM. ``VMGuest(image_dir, log_dir, ports=(2376,)).boot()``; always ``stop()`` (or ``with``).

    ``ports``: guest TCP ports to forward from boot on, each to a free port on ``address``, or a mapping
    ``{guest port: host port}`` (e.g. ``{2376: 2376}`` on the emulator's public IP). SSH (22) is always
    forwarded; any other port is forwarded when first asked for (:meth:`forward`, :meth:`connect`).
    ``custom_data``: base64 text, as Azure's ``osProfile.customData``.
    """

    image: str
    log_dir: str
    name: str = ""
    hostname: str = "dockerhost-vm"
    admin_username: str = "azureuser"
    custom_data: str | None = None
    address: str = "127.0.0.1"
    ports: tuple[int, ...] | dict[int, int] = ()
    memory_mb: int = 2048
    cpus: int = 2
    process: subprocess.Popen | None = field(default=None, init=False, repr=False)
    forwards: dict[int, tuple[str, int]] = field(default_factory=dict, init=False)
    _forwarding: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.name:
            self.name = f"dh-vm-{os.getpid()}-{next(_counter)}"

    # -- files -------------------------------------------------------------------------------------
    def _path(self, suffix: str) -> str:
        return os.path.join(self.log_dir, f"{self.name}.{suffix}")

    @property
    def console_log(self) -> str:
        return self._path("console.log")

    @property
    def ssh_key(self) -> str:
        """The admin user's private key (its ``.pub`` went into the seed)."""
        return self._path("id_ed25519")

    def console_tail(self, chars: int = 3000) -> str:
        try:
            with open(self.console_log, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-chars:]
        except OSError:
            return ""

    def _fail(self, message: str) -> GuestError:
        return GuestError(f"{self.name}: {message}\n--- console (tail) ---\n{self.console_tail()}")

    def _seed(self) -> str:
        """The NoCloud seed ISO: meta-data, vendor-data (admin user, CustomData), user-data (customData)."""
        with open(self.ssh_key + ".pub", encoding="ascii") as handle:
            public_key = handle.read().strip()
        vendor = {
            "users": [
                {
                    "name": self.admin_username,
                    "shell": "/bin/bash",
                    "sudo": "ALL=(ALL) NOPASSWD:ALL",
                    "lock_passwd": True,
                    "ssh_authorized_keys": [public_key],
                }
            ],
            "ssh_pwauth": False,
            # /etc/hosts names the host (sudo warns on every command otherwise), as Azure's images have it.
            "manage_etc_hosts": True,
        }
        user_data = b""
        if self.custom_data is not None:
            user_data = base64.b64decode(self.custom_data, validate=True)
            vendor["write_files"] = [
                {"path": "/var/lib/waagent/CustomData", "permissions": "0600", "content": self.custom_data}
            ]
        seed = self._path("seed")
        shutil.rmtree(seed, ignore_errors=True)
        os.makedirs(seed)
        files = {
            "meta-data": json.dumps({"instance-id": self.name, "local-hostname": self.hostname}).encode(),
            "vendor-data": b"#cloud-config\n" + json.dumps(vendor, indent=1).encode() + b"\n",
            "user-data": user_data,
        }
        for filename, content in files.items():
            with open(os.path.join(seed, filename), "wb") as handle:
                handle.write(content)
        iso = self._path("seed.iso")
        _checked(["genisoimage", "-quiet", "-output", iso, "-volid", "cidata", "-joliet", "-rock", seed])
        return iso

    # -- life cycle ------------------------------------------------------------------------------
    def boot(self, timeout: float = 300.0, until: str = "running") -> VMGuest:
        """Start QEMU; wait until the admin user logs in over SSH and, with ``until="running"``, systemd
        has finished booting (cloud-init included). ``until="ssh"`` returns at the first login, as Azure
        may start extensions while cloud-init still runs."""
        if until not in ("ssh", "running"):
            raise ValueError(f"until must be 'ssh' or 'running', not {until!r}")
        os.makedirs(self.log_dir, exist_ok=True)
        for required in ("disk.qcow2", "vmlinuz", "initrd.img"):
            if not os.path.isfile(os.path.join(self.image, required)):
                raise GuestError(f"{self.image} is not a VM image: no {required} (hack/guest-vm-image.sh)")
        for stale in (self.ssh_key, self.ssh_key + ".pub"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
        _checked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", self.name, "-f", self.ssh_key])
        seed = self._seed()
        disk = self._path("qcow2")
        base = os.path.join(self.image, "disk.qcow2")
        _checked(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, disk])
        wanted = self.ports if isinstance(self.ports, dict) else {port: 0 for port in self.ports}
        wanted = {22: 0, **wanted}
        self.forwards = {guest: (self.address, host or _free_port(self.address)) for guest, host in wanted.items()}
        hostfwd = ",".join(f"hostfwd=tcp:{address}:{host}-:{guest}" for guest, (address, host) in self.forwards.items())
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path("qmp"))
        command = [
            "qemu-system-x86_64",
            "-name", self.name,
            "-machine", "pc",
            "-accel", "tcg,thread=multi,tb-size=256",
            "-cpu", "max",
            "-smp", str(self.cpus),
            "-m", str(self.memory_mb),
            "-nodefaults", "-no-user-config", "-display", "none",
            "-kernel", os.path.join(self.image, "vmlinuz"),
            "-initrd", os.path.join(self.image, "initrd.img"),
            "-append", "root=/dev/vda rw console=ttyS0,115200 panic=-1",
            "-drive", f"file={disk},format=qcow2,if=virtio,discard=unmap",
            "-drive", f"file={seed},format=raw,if=virtio,readonly=on",
            "-netdev", f"user,id=net0,{hostfwd}",
            "-device", "virtio-net-pci,netdev=net0,romfile=",
            "-device", "virtio-rng-pci",
            "-serial", f"file:{self.console_log}",
            "-qmp", f"unix:{self._path('qmp')},server=on,wait=off",
        ]  # fmt: skip
        with open(self._path("qemu.log"), "wb") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 (it only calls prctl)
            )
        try:
            self._wait_ready(time.monotonic() + timeout, timeout, until)
        except BaseException:
            self.stop(timeout=5)
            raise
        return self

    def _wait_ready(self, deadline: float, timeout: float, until: str, not_boot: str = "") -> None:
        """Wait for an SSH login (on a boot other than ``not_boot``), then for systemd when asked."""
        why = "no answer"
        while True:
            self._check_alive()
            left = deadline - time.monotonic()
            if left <= 0:
                raise self._fail(f"no SSH login within {timeout:.0f}s (last: {why})")
            probe = self._ssh("cat /proc/sys/kernel/random/boot_id", timeout=min(20.0, max(left, 1.0)))
            if probe is not None and probe.returncode == 0 and probe.stdout.strip() not in ("", not_boot):
                break
            if probe is not None:
                why = (probe.stderr.strip().splitlines() or [f"exit {probe.returncode}"])[-1]
            time.sleep(2)
        if until == "ssh":
            return
        state = ""
        while time.monotonic() < deadline:
            left = max(1.0, deadline - time.monotonic())
            state = self.run("systemctl is-system-running", timeout=min(30.0, left), check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(2)
        raise self._fail(f"systemd did not finish booting within {timeout:.0f}s (state {state!r})")

    def _check_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            try:
                with open(self._path("qemu.log"), encoding="utf-8", errors="replace") as handle:
                    qemu = handle.read()[-2000:]
            except OSError:
                qemu = ""
            raise self._fail(f"QEMU is not running (exit {code}): {qemu.strip()}")

    def boot_id(self) -> str:
        return self.run("cat /proc/sys/kernel/random/boot_id").stdout.strip()

    def reboot(self, timeout: float = 300.0) -> VMGuest:
        """``systemctl reboot`` in the guest (same QEMU, same disk); wait for the new boot to be running."""
        before = self.boot_id()
        # The SSH session may end with the guest's sshd: its exit status says nothing.
        self._ssh("systemctl reboot", timeout=30.0)
        self._wait_ready(time.monotonic() + timeout, timeout, "running", not_boot=before)
        return self

    def stop(self, timeout: float = 60.0) -> None:
        """Power off (ACPI, through QMP), kill after ``timeout``; always reap QEMU."""
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(OSError, ValueError):
            self._qmp("system_powerdown")
        reap(self.process, timeout)

    def _qmp(self, command: str, arguments: dict | None = None) -> object:
        """One QMP command; its ``return`` value. A QMP ``error`` raises OSError with QEMU's description."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as qmp:
            qmp.settimeout(5)
            qmp.connect(self._path("qmp"))
            stream = qmp.makefile("rwb")
            stream.readline()  # the greeting
            answer: dict = {}
            for execute, args in (("qmp_capabilities", None), (command, arguments)):
                message = {"execute": execute, **({"arguments": args} if args else {})}
                stream.write(json.dumps(message).encode() + b"\r\n")
                stream.flush()
                while True:  # events may come before the answer
                    line = stream.readline()
                    if not line:
                        raise OSError("QMP closed")
                    answer = json.loads(line)
                    if "return" in answer or "error" in answer:
                        break
                if "error" in answer:
                    raise OSError(f"QMP {execute}: {answer['error'].get('desc', answer['error'])}")
            return answer["return"]

    def __enter__(self) -> VMGuest:
        return self.boot()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- using it ----------------------------------------------------------------------------------
    def ssh_command(self) -> list[str]:
        """``ssh`` argv (without the remote command) that logs in as the admin user."""
        port = self.forwards[22][1]
        return [
            "ssh",
            "-i", self.ssh_key,
            "-p", str(port),
            "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=15",
            "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=4",
            f"{self.admin_username}@{self.address}",
        ]  # fmt: skip

    def _ssh(self, command: str, *, timeout: float, input: str | None = None, env: dict | None = None):
        """``command`` as root (sudo, clean environment, /bin/sh); None when ssh itself timed out."""
        argv = [*self.ssh_command(), shlex.join(["sudo", "-n", *root_shell(command, env)])]
        try:
            done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return None
        return Result(done.returncode, done.stdout, done.stderr)

    def run(
        self,
        command: str,
        *,
        timeout: float = 60.0,
        check: bool = True,
        input: str | None = None,
        env: dict | None = None,
    ) -> Result:
        """Run ``command`` with /bin/sh as root in the guest (over SSH and sudo, clean environment).

        Exit status 255 with an ``ssh:`` message is SSH's own failure, not the command's."""
        self._check_alive()
        result = self._ssh(command, timeout=timeout, input=input, env=env)
        if result is None:
            raise self._fail(f"`{command[:200]}` did not finish in {timeout:.0f}s")
        if check and result.returncode != 0:
            raise self._fail(failed_command(command, result))
        return result

    def forward(self, port: int) -> tuple[str, int]:
        """``(address, host port)`` that reaches the guest's TCP ``port``: the boot's forward, or one added now
        (QEMU's ``hostfwd_add`` through QMP) to a free port on ``address``; kept across :meth:`reboot`."""
        with self._forwarding:  # the emulator's forwards connect from several threads
            if port in self.forwards:
                return self.forwards[port]
            self._check_alive()
            host = _free_port(self.address)
            try:
                said = self._qmp(
                    "human-monitor-command",
                    {"command-line": f"hostfwd_add net0 tcp:{self.address}:{host}-:{port}"},
                )
            except (OSError, ValueError) as exc:
                raise self._fail(f"cannot forward port {port}: {exc}") from exc
            if str(said).strip():  # HMP reports a failure as text, not as a QMP error
                raise self._fail(f"cannot forward port {port}: {str(said).strip()}")
            self.forwards[port] = (self.address, host)
            return self.forwards[port]

    def connect(self, port: int, timeout: float = 10.0) -> socket.socket:
        """A TCP socket connected to the guest's ``port`` through its forward (added on first use)."""
        where = self.forward(port)
        conn = socket.create_connection(where, timeout=timeout)
        conn.settimeout(timeout)
        return conn

    def main_pid(self, unit: str) -> int:
        """The unit's MainPID in the guest (0 when it is not running)."""
        return int(self.run(f"systemctl show -P MainPID {shlex.quote(unit)}").stdout.strip() or 0)


def _checked(argv: list[str]) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    except subprocess.TimeoutExpired as exc:
        raise GuestError(f"`{argv[0]}` did not finish in 120s") from exc
    if done.returncode != 0:
        raise GuestError(f"`{shlex.join(argv)}` exited {done.returncode}: {done.stderr.strip()[-2000:]}")
