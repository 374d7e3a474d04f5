# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guest backend (``--vm-backend guest``): every VM the emulator creates is a booted Linux guest.

Where the fast backend (vmagent.py) runs the install script on this machine under a private root and plays
systemd, this one boots a guest per VM from a cached image (a *guest kind*: ``nspawn``, systemd-nspawn of a
Debian tree, azure_emulator/guest.py; ``vm``, QEMU, azure_emulator/guest_vm.py where that exists) and runs the
extension's handler inside it, as root, the way the real handler does. The handler's decisions (settings
checks, decoding, status texts) are shared with the fast backend (handlers.py); only where the script runs
differs.

* Create boots the guest and provisions it as the Azure agent does: host name, and ``customData`` in
  ``/var/lib/waagent/CustomData`` (base64, as waagent keeps it) and decoded in
  ``/var/lib/cloud/instance/user-data.txt`` (where cloud-init puts it on Azure). The nspawn image has no
  cloud-init, so the install script's cloud-init wait returns at once there; the VM kind has a real one.
* CustomScript: ``script`` goes to ``/var/lib/waagent/custom-script/download/<n>/script.sh`` (mode 0500) and runs
  as ``/bin/sh script.sh`` in that directory (dash on Debian), or ``commandToExecute`` with ``/bin/sh -c``;
  stdout and stderr are kept next to it, as the handler keeps them. A re-run happens only when the extension's
  settings or forceUpdateTag change (compute.py decides, for both backends).
* DockerExtension: the certificates in ``/etc/docker`` and a drop-in with the extension's ``ExecStart``, then
  ``systemctl restart docker``.
* Every TCP port the guest listens on for everyone (``0.0.0.0``, ``[::]``, ``*``) after an extension ran is
  forwarded from the VM's public IP (127.0.x.y), same port, one :class:`~.forward.Forward` each on top of
  ``guest.connect(port)``; behind an NSG gate (gate.py) when the emulator enforces NSGs.
* Restart reboots the guest (its disk, an overlay over the image, is kept); power-off and deallocate stop it
  and keep the disk; start boots it again; delete stops it and removes the disk.

Guests are booted from one long-lived worker thread pool: nspawn dies with the thread that started it
(``PR_SET_PDEATHSIG``), and the emulator's operations run on short-lived threads.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
import contextlib
import logging
import os
import shlex
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .forward import Forward
from .gate import Gate
from .guest import GuestError
from .handlers import (
    SCRIPT_TIMEOUT,
    TAIL_BYTES,
    ExtensionFailed,
    ExtensionOutcome,
    custom_script_payload,
    custom_script_status,
    docker_extension_config,
    record_run,
    run_handler,
    tail,
)

__all__ = ["GUEST_KINDS", "GuestAgent", "guest_factory"]

log = logging.getLogger("azure_emulator.guest_agent")

# How long a guest may take to boot, by kind: a container's systemd starts in seconds; a QEMU VM under software
# emulation takes 1.5 min on a quiet 2-core machine and several times that on a loaded one (tests/guests/README.md).
BOOT_TIMEOUTS = {"nspawn": 120.0, "vm": 900.0}
# How long the handler's script may run: the real handler waits up to 90 minutes. A container's script skips
# apt (Docker is in its image); a QEMU VM's runs apt under emulation: 3 min on a quiet machine, 10+ loaded.
SCRIPT_TIMEOUTS = {"nspawn": SCRIPT_TIMEOUT, "vm": max(SCRIPT_TIMEOUT, 1500.0)}
# A guest factory makes an unbooted guest for a VM: (name, directory for its disk and logs, profile) -> guest with
# boot(timeout) / run(command, ...) / connect(port) / reboot(timeout) / stop() / main_pid(unit).
GuestFactory = Callable[[str, str, dict], Any]
_WILDCARDS = ("*", "0.0.0.0", "[::]", "::")


def _nspawn_guests(suite: str) -> GuestFactory:
    from .guest import Guest, guest_image, missing_requirements  # noqa: PLC0415 - only this kind needs it

    reason = missing_requirements()
    if reason:
        raise GuestError(f"the nspawn guest kind cannot run here: {reason}")
    image = guest_image(suite)  # built once per machine and cached; minutes on first use

    def make(name: str, directory: str, profile: dict) -> Any:
        return Guest(image, os.path.join(directory, "logs"), name=name, disk=os.path.join(directory, "disk"))

    return make


def _vm_guests(suite: str) -> GuestFactory:
    """QEMU guests (azure_emulator/guest_vm.py): cloud-init seeds customData, user and key.

    QEMU forwards (``hostfwd``) each port the guest listens on when the agent first connects to it, so any
    ``docker_port`` works, as on the nspawn kind.
    """
    try:
        from .guest_vm import VMGuest, guest_vm_image  # noqa: PLC0415 - optional, and only this kind needs it
    except ImportError as exc:
        raise GuestError(
            "the vm guest kind needs azure_emulator/guest_vm.py (QEMU guests), which this checkout does not have"
        ) from exc
    image = guest_vm_image(suite)

    def make(name: str, directory: str, profile: dict) -> Any:
        return VMGuest(
            image,
            os.path.join(directory, "logs"),
            name=name,
            hostname=profile.get("computer_name") or "dockerhost-vm",
            admin_username=profile.get("admin_username") or "azureuser",
            custom_data=profile.get("custom_data"),
        )

    return make


# Adding a guest kind is one row here (and one function above).
GUEST_KINDS: dict[str, Callable[[str], GuestFactory]] = {"nspawn": _nspawn_guests, "vm": _vm_guests}


def guest_factory(kind: str, suite: str) -> GuestFactory:
    if kind not in GUEST_KINDS:
        raise GuestError(f"unknown guest kind {kind!r}: one of {', '.join(GUEST_KINDS)}")
    return GUEST_KINDS[kind](suite)


@dataclass
class GuestVM:
    key: str
    name: str
    directory: str
    guest: Any
    running: bool = False
    host_ip: str = ""
    ports: set = field(default_factory=set)  # guest ports forwarded from the public IP
    forwards: list = field(default_factory=list)
    gates: list = field(default_factory=list)
    behind: tuple | None = None  # (hidden address, allow(port)) when NSGs are enforced
    sequence: int = 0
    extensions: dict = field(default_factory=dict)
    gone: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)


class GuestAgent:
    """The emulator's VM agent when VMs are guests; VMs are keyed by their resource key (lower-case id).

    ``factory`` makes the guests (:func:`guest_factory`); its image is built or found when the agent starts.
    """

    def __init__(self, directory: str, factory: GuestFactory, kind: str = "nspawn") -> None:
        self.directory = directory
        self.factory = factory
        self.kind = kind
        self.boot_timeout = BOOT_TIMEOUTS.get(kind, max(BOOT_TIMEOUTS.values()))
        self.script_timeout = SCRIPT_TIMEOUTS.get(kind, max(SCRIPT_TIMEOUTS.values()))
        self._lock = threading.RLock()
        self._vms: dict[str, GuestVM] = {}
        self.generation = 0
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="guest")

    def _in_pool(self, call: Callable[[], Any]) -> Any:
        """Run ``call`` on the agent's long-lived threads (a guest started there lives as long as the agent)."""
        return self._pool.submit(call).result()

    # -- VM life cycle ------------------------------------------------------------------------------
    def vm_booted(self, vm_key: str, vm_id: str, host_ip: str, profile: dict) -> None:
        """Create (first PUT): boot the VM's guest and provision it. Later PUTs only follow a new public IP."""
        with self._lock:
            vm = self._vms.get(vm_key)
            if vm is None:
                name = f"az-{vm_id.replace('-', '')[:12]}"
                directory = os.path.join(self.directory, vm_id)
                vm = GuestVM(vm_key, name, directory, self.factory(name, directory, profile), host_ip=host_ip)
                self._vms[vm_key] = vm
                first = True
            else:
                first = False
        with vm.lock:
            if first:
                self._boot(vm)
                self._provision(vm, profile)
            if vm.running and host_ip != vm.host_ip:
                vm.host_ip = host_ip
                self._forward(vm)

    def power(self, vm_key: str, action: str, host_ip: str | None, profile: dict) -> None:
        """``start`` boots, ``restart`` reboots, ``poweroff``/``deallocate`` stop; the disk is kept."""
        with self._lock:
            vm = self._vms.get(vm_key)
        if vm is None:
            return
        with vm.lock:
            if host_ip:
                vm.host_ip = host_ip
            if action == "start" and not vm.running:
                self._boot(vm)
            elif action == "restart":
                self._unforward(vm)
                try:
                    self._in_pool(lambda: vm.guest.reboot(self.boot_timeout))
                except GuestError as exc:
                    vm.running = False
                    raise RuntimeError(str(exc)) from exc
            elif action in ("poweroff", "deallocate"):
                self._unforward(vm)
                self._in_pool(vm.guest.stop)
                vm.running = False
                return
            self._forward(vm)

    def _boot(self, vm: GuestVM) -> None:
        try:
            self._in_pool(lambda: vm.guest.boot(self.boot_timeout))
        except GuestError as exc:
            raise RuntimeError(str(exc)) from exc
        vm.running = True
        self._forward(vm)

    @staticmethod
    def _provision(vm: GuestVM, profile: dict) -> None:
        """What the Azure agent and cloud-init do on the first boot (kinds with cloud-init do it themselves)."""
        if hasattr(vm.guest, "custom_data"):
            return  # the kind seeds cloud-init with the profile itself (guest_vm.py)
        name = profile.get("computer_name") or vm.name
        vm.guest.run(f"echo {shlex.quote(name)} > /etc/hostname && hostname {shlex.quote(name)}", check=False)
        custom = profile.get("custom_data")
        if custom is None:
            return
        try:
            decoded = base64.b64decode(custom, validate=True)
        except (binascii.Error, ValueError):
            decoded = b""  # ARM checked it is base64; keep going without user-data rather than fail the boot
        vm.guest.run(
            "umask 077 && mkdir -p /var/lib/waagent /var/lib/cloud/instance"
            " && cat > /var/lib/waagent/CustomData && base64 -d < /var/lib/waagent/CustomData"
            " > /var/lib/cloud/instance/user-data.txt",
            input=base64.b64encode(decoded).decode(),
        )

    def remove_vm(self, vm_key: str) -> None:
        with self._lock:
            vm = self._vms.pop(vm_key, None)
        if vm is None:
            return
        with vm.lock:
            vm.gone = True
            self._unforward(vm)
            with contextlib.suppress(Exception):
                self._in_pool(vm.guest.stop)
            vm.running = False
            shutil.rmtree(vm.directory, ignore_errors=True)

    def remove_extension(self, vm_key: str, ext_key: str) -> None:
        """Deleting an extension removes its handler, not what its script did: Docker keeps running."""
        with self._lock:
            vm = self._vms.get(vm_key)
        if vm is not None:
            vm.extensions.pop(ext_key, None)

    def reset(self) -> None:
        with self._lock:
            self.generation += 1
            keys = list(self._vms)
        for key in keys:
            self.remove_vm(key)

    def shutdown(self) -> None:
        self.reset()
        self._pool.shutdown(wait=True)

    def describe(self) -> list[dict]:
        with self._lock:
            vms = list(self._vms.items())
        return [
            {
                "vm": key,
                "backend": "guest",
                "guest": {
                    "kind": self.kind,
                    "name": vm.name,
                    "running": vm.running,
                    "leader": getattr(vm.guest, "leader", None),  # nspawn: the guest's PID 1, for nsenter
                    "console_log": getattr(vm.guest, "console_log", None),
                },
                "extensions": dict(vm.extensions),
                "forwards": [f"{vm.host_ip}:{port}" for port in sorted(vm.ports)] if vm.running else [],
            }
            for key, vm in vms
        ]

    # -- ports ---------------------------------------------------------------------------------------
    def _unforward(self, vm: GuestVM) -> None:
        forwards, vm.forwards = vm.forwards, []
        gates, vm.gates = vm.gates, []
        for item in (*gates, *forwards):
            with contextlib.suppress(Exception):
                item.close()

    def _forward(self, vm: GuestVM) -> None:
        """One forward per port in ``vm.ports`` on the VM's public IP (or its hidden one behind the NSG gate)."""
        self._unforward(vm)
        if not vm.running or not vm.host_ip:
            return
        for port in sorted(vm.ports):
            listen = vm.behind[0] if vm.behind is not None else vm.host_ip
            try:
                vm.forwards.append(Forward.tcp(lambda p=port: vm.guest.connect(p), (listen, port)))
                if vm.behind is not None:
                    allow = vm.behind[1]
                    vm.gates.append(Gate((vm.host_ip, port), (listen, port), lambda p=port, a=allow: a(p)))
            except OSError as exc:
                log.warning("%s: cannot forward %s:%s to the guest: %s", vm.name, listen, port, exc)

    @staticmethod
    def _listening_ports(vm: GuestVM) -> set[int]:
        """TCP ports the guest listens on for everyone (not only on its loopback)."""
        listed = vm.guest.run("ss -Hltn", check=False).stdout
        ports = set()
        for line in listed.splitlines():
            fields = line.split()
            if len(fields) >= 4:
                address, _sep, port = fields[3].rpartition(":")
                if address.split("%")[0] in _WILDCARDS and port.isdigit():
                    ports.add(int(port))
        return ports

    # -- running a handler ---------------------------------------------------------------------------
    def enable(
        self,
        vm_key: str,
        vm_id: str,
        host_ip: str,
        *,
        ext_key: str,
        ext: dict,
        protected: dict,
        behind: tuple[str, Callable[[int], bool]] | None = None,
    ) -> ExtensionOutcome:
        """Run the extension (``ext`` is its public properties) in the VM's guest; never raises for handler
        failures. ``behind``: (hidden address, allow(port)) puts the forwards behind an NSG gate on ``host_ip``."""
        generation = self.generation
        with self._lock:
            vm = self._vms.get(vm_key)
        if vm is None or not vm.running:
            return ExtensionOutcome(False, "Enable failed: the VM's guest is not running")
        with vm.lock:
            vm.host_ip, vm.behind = host_ip, behind
            try:
                outcome = run_handler(
                    ext,
                    protected,
                    lambda settings, secret: self._custom_script(vm, settings, secret),
                    lambda settings, secret: self._docker_extension(vm, settings, secret),
                )
            except GuestError as exc:
                outcome = ExtensionOutcome(False, f"Enable failed: the VM's guest stopped answering: {exc}")
            if not vm.gone and self.generation == generation and vm.running:
                vm.ports = self._listening_ports(vm)
                self._forward(vm)
            with self._lock:
                record_run(vm.extensions, ext_key, outcome)
        return outcome

    def _custom_script(self, vm: GuestVM, settings: dict, protected: dict) -> ExtensionOutcome:
        payload = custom_script_payload(settings, protected)
        workdir = f"/var/lib/waagent/custom-script/download/{vm.sequence}"
        vm.sequence += 1
        vm.guest.run(f"mkdir -p {workdir}")
        if payload.script is not None:
            vm.guest.run(
                f"base64 -d > {workdir}/script.sh && chmod 0500 {workdir}/script.sh",
                input=base64.b64encode(payload.script).decode(),
            )
        command = f"cd {workdir} && exec {shlex.join(payload.argv(workdir))} > stdout 2> stderr"
        try:
            code = vm.guest.run(command, timeout=self.script_timeout, check=False).returncode
        except GuestError:
            code = -9  # killed after the emulator's bound (the real handler waits up to 90 minutes)
        stdout, stderr = (self._tail_of(vm, f"{workdir}/{name}") for name in ("stdout", "stderr"))
        return ExtensionOutcome(True, custom_script_status(stdout, stderr, code), started_daemon=True)

    @staticmethod
    def _tail_of(vm: GuestVM, path: str) -> str:
        """The file's last 4 KiB as text (through base64: a cut may split a character, any byte may be there)."""
        encoded = vm.guest.run(f"tail -c {TAIL_BYTES} {path} | base64 -w0", check=False).stdout
        try:
            return base64.b64decode(encoded).decode(errors="replace")
        except (binascii.Error, ValueError):
            return ""

    def _docker_extension(self, vm: GuestVM, settings: dict, protected: dict) -> ExtensionOutcome:
        config = docker_extension_config(settings, protected)
        argv = ["/usr/bin/dockerd", "-H", "fd://", "-H", f"tcp://0.0.0.0:{config.port}"]
        if config.certs is not None:
            for what, name in (("ca", "ca.pem"), ("cert", "server-cert.pem"), ("key", "server-key.pem")):
                vm.guest.run(
                    f"mkdir -p /etc/docker && umask 077 && cat > /etc/docker/{name}",
                    input=config.certs[what].decode(),
                )
            argv += [
                "--tlsverify",
                "--tlscacert=/etc/docker/ca.pem",
                "--tlscert=/etc/docker/server-cert.pem",
                "--tlskey=/etc/docker/server-key.pem",
            ]
        argv += [w for option in config.options for w in shlex.split(option)]
        dropin = f"[Service]\nExecStart=\nExecStart={shlex.join(argv)}\n"
        vm.guest.run(
            "mkdir -p /etc/systemd/system/docker.service.d"
            " && cat > /etc/systemd/system/docker.service.d/dockerextension.conf && systemctl daemon-reload",
            input=dropin,
        )
        done = vm.guest.run("systemctl restart docker.service", timeout=120, check=False)
        if done.returncode != 0:
            journal = vm.guest.run("journalctl -u docker.service -n 20 -o cat", check=False).stdout
            raise ExtensionFailed(f"Enable failed: docker.service failed to start: {tail(journal, 3000)}")
        return ExtensionOutcome(True, "Enable succeeded: Docker daemon is running", started_daemon=True)
