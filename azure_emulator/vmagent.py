# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fast VM agent (the default backend): does what an extension would do on the VM, with a real dockerd per VM
but no guest operating system.

What the handlers decide (settings checks, decoding, status texts) is in handlers.py, shared with the guest
backend (guest_agent.py); this file says where the script runs and plays systemd afterwards:

* ``Microsoft.Azure.Extensions/CustomScript`` 2.x: the script runs on this machine, in a work dir under the VM's
  private root, with ``DOCKERHOST_ROOT=<the VM's private root>`` and ``DOCKERHOST_SKIP_PACKAGES=1``. Then the agent
  plays systemd: it reads ``$DOCKERHOST_ROOT/etc/docker/daemon.json`` and the drop-ins under
  ``$DOCKERHOST_ROOT/etc/systemd/system/docker.service.d/``, and starts dockerd as Ubuntu's docker.service would
  (``ExecStart=/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock`` unless a drop-in replaces
  it), with only the listen addresses (0.0.0.0 -> the VM's public IP) and state directories replaced.
* ``Microsoft.Azure.Extensions/DockerExtension``: dockerd with ``--tlsverify`` and the given certs on the VM's IP
  and port.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .dockerd import DOCKERD, DockerDaemon, DockerdError
from .gate import Gate
from .handlers import (
    FULL_VERSIONS,
    HANDLER_VERSIONS,
    SCRIPT_TIMEOUT,
    ExtensionFailed,
    ExtensionOutcome,
    custom_script_payload,
    custom_script_status,
    docker_extension_config,
    record_run,
    run_handler,
    tail,
)

__all__ = ["FULL_VERSIONS", "HANDLER_VERSIONS", "ExtensionOutcome", "VMAgent"]

# What the sandbox always decides (no privileges for networking, no image storage driver): see dockerd.py.
_SANDBOX = {"storage-driver": "vfs", "iptables": False, "bridge": "none"}
_UBUNTU_EXECSTART = "/usr/bin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock"
DOCKERD_TIMEOUT = 90.0


@dataclass
class VMState:
    root: str  # DOCKERHOST_ROOT, the VM's private "/"
    directory: str
    daemon: DockerDaemon | None = None
    owner: str | None = None  # key of the extension that configured the running daemon
    gates: list = field(default_factory=list)  # NSG gates in front of the daemon (when enforcement is on)
    gone: bool = False
    behind: tuple | None = None
    public_ip: str = ""
    sequence: int = 0
    extensions: dict = field(default_factory=dict)


class VMDockerd(DockerDaemon):
    """A dockerd configured like the VM's docker.service: the caller's daemon.json and flags, listen and state
    directories replaced."""

    def __init__(self, state_dir: str, config: dict, listen: list[str], flags: list[str], hosts_as_flags: bool):
        tcp = next((h for h in listen if h.startswith("tcp://")), None)
        host, port = ("127.0.0.1", 0)
        if tcp:
            host, _sep, port_text = tcp[len("tcp://") :].rpartition(":")
            port = int(port_text)
        super().__init__(host, port, tls=None, state_dir=state_dir, config=config)
        self.listen = [h.replace("{EXEC_ROOT}", self.exec_root) for h in listen]
        self.flags = flags
        self.hosts_as_flags = hosts_as_flags

    def daemon_config(self) -> dict:
        cfg = dict(self.config)
        cfg.update(_SANDBOX)
        # Without iptables dockerd refuses icc=false ("ICC=false uses iptables to function"); the sandbox has no
        # bridge for containers to talk over anyway, so the VM's setting is dropped here, nowhere else.
        if cfg.get("icc") is False:
            del cfg["icc"]
        cfg.update({"data-root": self.data_root, "exec-root": self.exec_root, "pidfile": self.pidfile})
        if self.hosts_as_flags:
            cfg.pop("hosts", None)
        else:
            cfg["hosts"] = self.listen
        return cfg

    def argv(self) -> list[str]:
        args = [DOCKERD, "--config-file", self.config_path, *self.flags]
        if self.hosts_as_flags:
            args += [f"-H={h}" for h in self.listen]
        return args

    def start(self, timeout: float = DOCKERD_TIMEOUT) -> VMDockerd:
        with open(self.config_path, "w", encoding="utf-8") as handle:
            json.dump(self.daemon_config(), handle, indent=2)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                self.argv(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid = self.process.pid
        self._save_state()
        try:
            self._wait_all(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_all(self, timeout: float) -> None:
        banners = []
        for address in self.listen:
            if address.startswith("tcp://"):
                banners.append(f"API listen on {address[len('tcp://') :]}")
            elif address.startswith("unix://"):
                banners.append(f"API listen on {address[len('unix://') :]}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DockerdError(f"dockerd exited with {self.process.returncode}:\n{self.log_tail()}")
            log = self._read_log()
            if all(b in log for b in banners) and (not self.port or self._accepts_tcp()):
                return
            time.sleep(0.05)
        raise DockerdError(f"dockerd did not start listening within {timeout}s:\n{self.log_tail()}")


def _write(path: str, data: bytes, mode: int = 0o644) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


class VMAgent:
    """One per emulator; VMs are keyed by their resource key (lower-case id)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._lock = threading.RLock()
        self._vms: dict[str, VMState] = {}
        self.generation = 0

    # -- VM life cycle ------------------------------------------------------------------------------
    def vm(self, vm_key: str, vm_id: str) -> VMState:
        with self._lock:
            state = self._vms.get(vm_key)
            if state is None:
                directory = os.path.join(self.directory, vm_id)
                state = VMState(root=os.path.join(directory, "root"), directory=directory)
                os.makedirs(state.root, exist_ok=True)
                self._vms[vm_key] = state
            return state

    def vm_booted(self, vm_key: str, vm_id: str, host_ip: str, profile: dict) -> None:
        """A VM was created or updated: the fast backend has no guest to boot (its daemons start with extensions)."""

    def power(self, vm_key: str, action: str, host_ip: str | None, profile: dict) -> None:
        """``start``, ``restart``, ``poweroff`` or ``deallocate``: anything but a start forgets the VM's daemons
        (nothing of the fast backend survives a reboot; the guest backend keeps the guest's disk)."""
        if action != "start":
            self.remove_vm(vm_key)

    def remove_vm(self, vm_key: str) -> None:
        with self._lock:
            state = self._vms.pop(vm_key, None)
        if state is None:
            return
        state.gone = True
        self._stop(state)
        shutil.rmtree(state.directory, ignore_errors=True)

    def remove_extension(self, vm_key: str, ext_key: str) -> None:
        with self._lock:
            state = self._vms.get(vm_key)
        if state is not None:
            state.extensions.pop(ext_key, None)
            if state.owner == ext_key:
                self._stop(state)

    def _stop(self, state: VMState) -> None:
        with self._lock:
            daemon, state.daemon, state.owner = state.daemon, None, None
            gates, state.gates = state.gates, []
        for gate in gates:
            gate.close()
        if daemon is not None:
            with contextlib.suppress(Exception):
                daemon.stop()

    def reset(self) -> None:
        with self._lock:
            self.generation += 1
            keys = list(self._vms)
        for key in keys:
            self.remove_vm(key)

    shutdown = reset

    def describe(self) -> list[dict]:
        with self._lock:
            return [
                {
                    "vm": key,
                    "root": state.root,
                    "extensions": dict(state.extensions),
                    "daemon": None
                    if state.daemon is None
                    else {
                        "pid": state.daemon.pid,
                        "listen": getattr(state.daemon, "listen", [state.daemon.url]),
                        "owner": state.owner,
                        "log": state.daemon.log_path,
                        "gates": [f"{g.public[0]}:{g.public[1]}" for g in state.gates],
                    },
                }
                for key, state in self._vms.items()
            ]

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
        """Run the extension (``ext`` is its public properties) on the VM; never raises for handler failures.

        ``behind``: (hidden address, allow(port)) puts the daemon on the hidden address behind an NSG gate on
        ``host_ip``.
        """
        generation = self.generation
        state = self.vm(vm_key, vm_id)
        state.behind = behind
        outcome = run_handler(
            ext,
            protected,
            lambda settings, secret: self._custom_script(state, host_ip, ext_key, settings, secret),
            lambda settings, secret: self._docker_extension(state, host_ip, ext_key, settings, secret),
        )
        with self._lock:
            stale = state.gone or self.generation != generation
            record_run(state.extensions, ext_key, outcome)
        if stale:
            self._stop(state)
        return outcome

    def _replace_daemon(self, state: VMState, ext_key: str, daemon: VMDockerd) -> None:
        """Stop the VM's current docker service and start the new one (a restart of docker.service)."""
        self._stop(state)
        try:
            daemon.start()
        except DockerdError as exc:
            raise ExtensionFailed(f"Enable failed: docker.service failed to start: {tail(str(exc), 3000)}") from exc
        gates = []
        if state.behind is not None:
            hidden, allow = state.behind
            for address in daemon.listen:
                if address.startswith(f"tcp://{hidden}:"):
                    port = int(address.rsplit(":", 1)[1])
                    gates.append(Gate((state.public_ip, port), (hidden, port), lambda p=port: allow(p)))
        with self._lock:
            state.daemon, state.owner, state.gates = daemon, ext_key, gates

    # CustomScript --------------------------------------------------------------------------------------
    def _custom_script(
        self, state: VMState, host_ip: str, ext_key: str, settings: dict, protected: dict
    ) -> ExtensionOutcome:
        payload = custom_script_payload(settings, protected)
        with self._lock:
            sequence = state.sequence
            state.sequence += 1
        workdir = os.path.join(state.root, "var", "lib", "waagent", "custom-script", "download", str(sequence))
        os.makedirs(workdir, exist_ok=True)
        if payload.script is not None:
            _write(os.path.join(workdir, "script.sh"), payload.script, 0o700)
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "HOME": "/root",
            "DOCKERHOST_ROOT": state.root,
            "DOCKERHOST_SKIP_PACKAGES": "1",
        }
        try:
            result = subprocess.run(
                payload.argv(workdir), cwd=workdir, env=env, capture_output=True, timeout=SCRIPT_TIMEOUT, check=False
            )
            stdout, stderr, code = result.stdout, result.stderr, result.returncode
        except subprocess.TimeoutExpired as exc:
            stdout, stderr, code = exc.stdout or b"", exc.stderr or b"", -9
        _write(os.path.join(workdir, "stdout"), stdout)
        _write(os.path.join(workdir, "stderr"), stderr)
        message = custom_script_status(stdout.decode(errors="replace"), stderr.decode(errors="replace"), code)
        daemon = self._service_from_root(state, host_ip)
        self._replace_daemon(state, ext_key, daemon)
        return ExtensionOutcome(True, message, started_daemon=True)

    def _service_from_root(self, state: VMState, host_ip: str) -> VMDockerd:
        """docker.service as systemd would start it from what the script wrote under the private root."""
        config_path = os.path.join(state.root, "etc", "docker", "daemon.json")
        config: dict = {}
        if os.path.exists(config_path):
            try:
                with open(config_path, encoding="utf-8") as handle:
                    config = json.load(handle)
            except ValueError as exc:
                raise ExtensionFailed(
                    f"Enable failed: docker.service failed to start: unable to configure the Docker daemon with file "
                    f"/etc/docker/daemon.json: invalid character in JSON ({exc})"
                ) from exc
            if not isinstance(config, dict):
                raise ExtensionFailed("Enable failed: docker.service failed to start: daemon.json is not an object")
        for key in ("tlscacert", "tlscert", "tlskey"):
            path = config.get(key)
            if isinstance(path, str) and not os.path.abspath(path).startswith(state.root + os.sep):
                raise ExtensionFailed(
                    f"Enable failed: daemon.json {key} {path!r} is outside the VM's root (DOCKERHOST_ROOT="
                    f"{state.root}); the install script must prefix every path it writes with $DOCKERHOST_ROOT"
                )
        args = self._exec_start(state)
        flag_hosts = [value for name, value in args if name in ("-H", "--host")]
        if flag_hosts and "hosts" in config:
            from_file = " ".join(config["hosts"]) if isinstance(config["hosts"], list) else config["hosts"]
            raise ExtensionFailed(
                "Enable failed: docker.service failed to start: unable to configure the Docker daemon with file "
                "/etc/docker/daemon.json: the following directives are specified both as a flag and in the "
                f"configuration file: hosts: (from flag: [{' '.join(flag_hosts)}], from file: [{from_file}])"
            )
        flags = []
        for name, value in args:
            key = name.lstrip("-")
            if name in ("-H", "--host", "--containerd"):
                continue
            if key in config:
                raise ExtensionFailed(
                    "Enable failed: docker.service failed to start: unable to configure the Docker daemon with file "
                    "/etc/docker/daemon.json: the following directives are specified both as a flag and in the "
                    f"configuration file: {key}: (from flag: {value}, from file: {config[key]})"
                )
            flags.append(name if value is None else f"{name}={value}")
        hosts = config.get("hosts") if "hosts" in config else flag_hosts
        if isinstance(hosts, str):
            hosts = [hosts]
        tls = bool(config.get("tls") or config.get("tlsverify"))
        listen = [self._listen_address(h, self._bind_ip(state, host_ip), tls) for h in hosts or ["fd://"]]
        return VMDockerd(
            os.path.join(state.directory, "dockerd"), config, listen, flags, hosts_as_flags="hosts" not in config
        )

    @staticmethod
    def _bind_ip(state: VMState, host_ip: str) -> str:
        """Where dockerd binds: the VM's address, or the hidden one behind the NSG gate."""
        state.public_ip = host_ip
        return state.behind[0] if state.behind is not None else host_ip

    @staticmethod
    def _listen_address(host: str, host_ip: str, tls: bool) -> str:
        if host.startswith(("unix://", "fd://")):
            return "unix://{EXEC_ROOT}/docker.sock"  # the VM's /var/run/docker.sock (or systemd's socket)
        if host.startswith("tcp://"):
            _addr, _sep, port = host[len("tcp://") :].rpartition(":")
            if not _sep or not port.isdigit():
                port = "2376" if tls else "2375"
            return f"tcp://{host_ip}:{port}"
        raise ExtensionFailed(f"Enable failed: docker.service failed to start: unsupported host {host!r}")

    def _exec_start(self, state: VMState) -> list[tuple[str, str | None]]:
        """The effective ExecStart of docker.service after the drop-ins, as (flag, value) pairs."""
        lines = [_UBUNTU_EXECSTART]
        dropins = os.path.join(state.root, "etc", "systemd", "system", "docker.service.d")
        if os.path.isdir(dropins):
            for name in sorted(os.listdir(dropins)):
                if not name.endswith(".conf"):
                    continue
                with open(os.path.join(dropins, name), encoding="utf-8") as handle:
                    section = ""
                    for raw in handle:
                        line = raw.strip()
                        if line.startswith("[") and line.endswith("]"):
                            section = line
                        elif section == "[Service]" and line.startswith("ExecStart="):
                            value = line[len("ExecStart=") :].strip()
                            lines = [] if not value else [*lines, value]
        if len(lines) != 1:
            raise ExtensionFailed(
                "Enable failed: docker.service: Service has more than one ExecStart= setting, which is only allowed "
                "for Type=oneshot services. Refusing."
                if lines
                else "Enable failed: docker.service: Service lacks both ExecStart= and ExecStop= setting. Refusing."
            )
        words = shlex.split(lines[0].lstrip("-@"))[1:]
        pairs: list[tuple[str, str | None]] = []
        index = 0
        while index < len(words):
            word = words[index]
            if "=" in word and word.startswith("-"):
                name, value = word.split("=", 1)
                pairs.append((name, value))
            elif word in ("-H", "--host") and index + 1 < len(words):
                pairs.append((word, words[index + 1]))
                index += 1
            else:
                pairs.append((word, None))
            index += 1
        return pairs

    # DockerExtension -------------------------------------------------------------------------------------
    def _docker_extension(
        self, state: VMState, host_ip: str, ext_key: str, settings: dict, protected: dict
    ) -> ExtensionOutcome:
        config = docker_extension_config(settings, protected)
        port = config.port
        flags: list[str] = []
        if config.certs is not None:
            etc = os.path.join(state.root, "etc", "docker")
            paths = {}
            for what, name in (("ca", "ca.pem"), ("cert", "server-cert.pem"), ("key", "server-key.pem")):
                paths[what] = os.path.join(etc, name)
                _write(paths[what], config.certs[what], 0o600 if what == "key" else 0o644)
            flags = [
                "--tlsverify",
                f"--tlscacert={paths['ca']}",
                f"--tlscert={paths['cert']}",
                f"--tlskey={paths['key']}",
            ]
        flags += [w for option in config.options for w in shlex.split(option)]
        listen = [f"tcp://{self._bind_ip(state, host_ip)}:{port}", "unix://{EXEC_ROOT}/docker.sock"]
        daemon = VMDockerd(os.path.join(state.directory, "dockerd"), {}, listen, flags, hosts_as_flags=True)
        self._replace_daemon(state, ext_key, daemon)
        return ExtensionOutcome(True, "Enable succeeded: Docker daemon is running", started_daemon=True)
