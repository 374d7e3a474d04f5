# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real Linux guest: a Debian root file system booted with ``systemd-nspawn -b``, systemd as PID 1.

The emulator's guest backend (guest_agent.py, ``--vm-backend guest``) boots one per VM; ``tests/guests`` uses it too.
The image comes from ``hack/guest-image.sh`` (:func:`guest_image`), cached per suite; a guest never writes
to it: ``--volatile=overlay`` puts a tmpfs over it, so every boot starts from the image and leaves nothing.
With ``disk=DIR`` (the emulator's guest backend) the guest's changes go to an overlay whose upper layer is
in DIR instead, so they survive :meth:`Guest.stop` / :meth:`Guest.boot` and :meth:`Guest.reboot` as a VM's
disk does; the overlay is mounted only while the guest runs.

Isolation: ``--private-network`` gives the guest its own network namespace with only ``lo``, so its dockerd
(bridge, iptables rules, listeners on 0.0.0.0) touches nothing of the host's and two guests can both use
port 2376. The host reaches a guest's port with :meth:`Guest.connect`: a short-lived helper enters the
guest's network namespace, connects to 127.0.0.1 there and hands the connected socket back over a Unix
socket pair, so TLS then runs in the caller's process with the caller's certificates.

No machined is needed (``--register=no``; this host's PID 1 need not be systemd): commands run with
``nsenter`` into the namespaces of the guest's PID 1, found among the descendants of the nspawn process.
Every wait is bounded; :meth:`Guest.stop` powers off, then kills, and always reaps nspawn.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

__all__ = [
    "Guest",
    "GuestError",
    "Result",
    "failed_command",
    "guest_image",
    "missing_requirements",
    "reap",
    "root_shell",
]

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_SCRIPT = os.path.join(_REPO, "hack", "guest-image.sh")
SUITES = ("bookworm", "trixie", "sid")
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_counter = itertools.count(1)

# Runs in the guest's network namespace (host's files): connect, pass the socket back on fd 3.
_CONNECTOR = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=float(sys.argv[2]))
socket.send_fds(socket.socket(fileno=int(sys.argv[3])), [b"s"], [s.fileno()])
"""


class GuestError(RuntimeError):
    """A guest did not build, boot, answer or stop in time; the message says which and why."""


def missing_requirements() -> str | None:
    """Why guests cannot run here (not root, no systemd-nspawn, ...), or None when they can."""
    if os.geteuid() != 0:
        return "real guests need root (systemd-nspawn, nsenter)"
    for tool in ("systemd-nspawn", "nsenter", "mmdebstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed: run `make setup` (bindep.txt: systemd-container, mmdebstrap)"
    return None


def guest_image(suite: str, timeout: float = 1800.0) -> str:
    """Path of the cached root file system of ``suite``, built by hack/guest-image.sh on first use."""
    if suite not in SUITES:
        raise GuestError(f"unknown suite {suite!r}: one of {', '.join(SUITES)}")
    return build_image(IMAGE_SCRIPT, suite, "guest image", timeout)


def build_image(script: str, suite: str, what: str, timeout: float) -> str:
    """Run an image script of hack/ (it builds once, then finds the cached image) and return what it printed
    last: the image's path. ``what`` names the image in errors."""
    try:
        done = subprocess.run(["bash", script, suite], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise GuestError(f"building the {suite} {what} took more than {timeout:.0f}s") from exc
    if done.returncode != 0:
        raise GuestError(f"building the {suite} {what} failed:\n{done.stderr[-4096:]}")
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Result:
    """What a command in the guest did."""

    returncode: int
    stdout: str
    stderr: str


def root_shell(command: str, env: dict | None = None) -> list[str]:
    """``command`` for ``/bin/sh`` in root's clean environment, as a service has it (``env`` added)."""
    variables = {"PATH": _PATH, "HOME": "/root", "LANG": "C.UTF-8", **(env or {})}
    return ["/usr/bin/env", "-i", *(f"{k}={v}" for k, v in variables.items()), "/bin/sh", "-c", command]


def failed_command(command: str, result: Result) -> str:
    """What a guest command that exited non-zero said: its start, status and the tails of its output."""
    return (
        f"`{command[:200]}` exited {result.returncode}\n"
        f"stdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}"
    )


def reap(process: subprocess.Popen, timeout: float) -> None:
    """Wait ``timeout`` for a guest's process (nspawn, QEMU) to end after it was asked to power off, then kill
    its process group; it is always reaped."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass
class Guest:
    """One booted guest. ``Guest(rootfs, log_dir).boot()``; always ``stop()`` (or use ``with``)."""

    rootfs: str
    log_dir: str
    name: str = ""
    disk: str | None = None  # keep changes here across boots (an overlay's upper layer); None: nothing is kept
    process: subprocess.Popen | None = field(default=None, init=False, repr=False)
    leader: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not self.name:
            self.name = f"dh-{os.path.basename(self.rootfs).split('-')[0]}-{os.getpid()}-{next(_counter)}"

    @property
    def console_log(self) -> str:
        return os.path.join(self.log_dir, f"{self.name}.console.log")

    def console_tail(self, chars: int = 3000) -> str:
        try:
            with open(self.console_log, encoding="utf-8", errors="replace") as handle:
                return handle.read()[-chars:]
        except OSError:
            return ""

    # -- life cycle ------------------------------------------------------------------------------
    def boot(self, timeout: float = 90.0) -> Guest:
        """Start nspawn and wait until the guest's systemd is running (or degraded)."""
        os.makedirs(self.log_dir, exist_ok=True)
        env = dict(os.environ, SYSTEMD_NSPAWN_UNIFIED_HIERARCHY="1")
        root = ["--volatile=overlay", f"--directory={self.rootfs}"] if self.disk is None else [self._mount_disk()]
        command = [
            "systemd-nspawn",
            "--quiet",
            "--boot",
            *root,
            f"--machine={self.name}",
            "--register=no",
            "--keep-unit",
            "--private-network",
            "--console=pipe",
            "--kill-signal=SIGRTMIN+4",
            # runc joins a session keyring and attaches a BPF device filter for every container;
            # nspawn filters keyctl and bpf by default.
            "--system-call-filter=@keyring bpf",
        ]
        with open(self.console_log, "wb") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 (it only calls prctl)
            )
        deadline = time.monotonic() + timeout
        try:
            self.leader = self._wait_leader(deadline)
            state = ""
            while time.monotonic() < deadline:
                left = max(1.0, deadline - time.monotonic())
                state = self.run("systemctl is-system-running", timeout=min(10.0, left), check=False).stdout.strip()
                if state in ("running", "degraded"):
                    return self
                time.sleep(0.5)
            raise GuestError(f"{self.name}: systemd did not finish booting in {timeout:.0f}s (state {state!r})")
        except BaseException:
            self.stop()
            raise

    def _wait_leader(self, deadline: float) -> int:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise GuestError(
                    f"{self.name}: systemd-nspawn exited with {self.process.returncode}:\n{self.console_tail()}"
                )
            pid = _namespace_init(self.process.pid)
            if pid:
                return pid
            time.sleep(0.1)
        raise GuestError(f"{self.name}: no PID 1 appeared in the guest")

    def stop(self, timeout: float = 30.0) -> None:
        """Power off (SIGRTMIN+4 to the guest's systemd), kill after ``timeout``; always reap nspawn."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.leader or self.process.pid, signal.SIGRTMIN + 4 if self.leader else signal.SIGTERM)
            reap(self.process, timeout)
        self._unmount_disk()

    def reboot(self, timeout: float = 90.0) -> Guest:
        """``systemctl reboot`` in the guest: nspawn exits when the guest asks for a reboot (as
        systemd-nspawn@.service expects, exit status 133), so boot again; with ``disk`` the guest keeps its
        changes. Bounded: a guest that does not go down within ``timeout`` is powered off the hard way."""
        self.run("systemctl reboot", timeout=30.0, check=False)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=timeout)
        self.stop()
        return self.boot(timeout)

    # -- the persistent disk -----------------------------------------------------------------------
    def _mount_disk(self) -> str:
        """Mount the image with ``disk``'s upper layer on ``disk/root``; return nspawn's --directory option."""
        merged = os.path.join(self.disk, "root")
        upper, work = os.path.join(self.disk, "upper"), os.path.join(self.disk, "work")
        for path in (merged, upper, work):
            os.makedirs(path, exist_ok=True)
        if not os.path.ismount(merged):
            options = f"lowerdir={self.rootfs},upperdir={upper},workdir={work}"
            done = subprocess.run(
                ["mount", "-t", "overlay", "overlay", "-o", options, merged],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            if done.returncode != 0:
                raise GuestError(f"{self.name}: cannot mount its disk on {merged}: {done.stderr.strip()}")
        return f"--directory={merged}"

    def _unmount_disk(self) -> None:
        if self.disk is None:
            return
        merged = os.path.join(self.disk, "root")
        if os.path.ismount(merged):
            done = subprocess.run(["umount", merged], capture_output=True, text=True, timeout=30, check=False)
            if done.returncode != 0:  # something still holds it (a shell in the guest's tree): detach it
                subprocess.run(["umount", "--lazy", merged], capture_output=True, timeout=30, check=False)

    def __enter__(self) -> Guest:
        return self.boot()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- using it ----------------------------------------------------------------------------------
    def _enter(self) -> list[str]:
        if not self.leader or self.process is None or self.process.poll() is not None:
            raise GuestError(f"{self.name} is not running:\n{self.console_tail()}")
        return ["nsenter", f"--target={self.leader}", "--mount", "--uts", "--ipc", "--net", "--pid", "--root", "--wd"]

    def run(
        self,
        command: str,
        *,
        timeout: float = 60.0,
        check: bool = True,
        input: str | None = None,
        env: dict | None = None,
    ) -> Result:
        """Run ``command`` with /bin/sh as root in the guest (clean environment, like a service)."""
        argv = [*self._enter(), *root_shell(command, env)]
        try:
            done = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise GuestError(f"{self.name}: `{command}` did not finish in {timeout:.0f}s") from exc
        result = Result(done.returncode, done.stdout, done.stderr)
        if check and done.returncode != 0:
            raise GuestError(f"{self.name}: {failed_command(command, result)}")
        return result

    def connect(self, port: int, timeout: float = 10.0) -> socket.socket:
        """A TCP socket connected to 127.0.0.1:``port`` inside the guest's network namespace."""
        here, there = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with here, there:
            argv = [*self._enter()[:2], "--net", sys.executable, "-c", _CONNECTOR]
            argv += [str(port), str(timeout), str(there.fileno())]
            helper = subprocess.Popen(
                argv, pass_fds=(there.fileno(),), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            there.close()
            try:
                stderr = helper.communicate(timeout=timeout + 5)[1]
            except subprocess.TimeoutExpired as exc:
                helper.kill()
                helper.wait()
                raise GuestError(f"{self.name}: connecting to port {port} took more than {timeout:.0f}s") from exc
            if helper.returncode != 0:
                why = (stderr.strip().splitlines() or ["no error output"])[-1]
                raise ConnectionRefusedError(f"{self.name}: port {port}: {why}")
            here.settimeout(timeout)
            fds = socket.recv_fds(here, 16, 1)[1]
        conn = socket.socket(fileno=fds[0])
        conn.settimeout(timeout)
        return conn

    def main_pid(self, unit: str) -> int:
        """The unit's MainPID in the guest (0 when it is not running)."""
        return int(self.run(f"systemctl show -P MainPID {shlex.quote(unit)}").stdout.strip() or 0)


def _die_with_parent() -> None:
    """In the nspawn child: SIGTERM when the process that booted it dies (nspawn then powers the guest off)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _descendants(pid: int):
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/task/{current}/children", encoding="ascii") as handle:
                children = [int(c) for c in handle.read().split()]
        except OSError:
            continue
        yield from children
        todo.extend(children)


def _namespace_init(nspawn_pid: int) -> int:
    """The descendant of nspawn that is PID 1 of its own PID namespace (the guest's systemd)."""
    for pid in _descendants(nspawn_pid):
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as handle:
                for line in handle:
                    if line.startswith("NSpid:"):
                        ids = line.split()[1:]
                        if len(ids) > 1 and ids[-1] == "1":
                            return pid
        except OSError:
            continue
    return 0
