# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a real Debian ``dockerd`` on a loopback address, for tests, playbooks and the Azure emulator.

Each daemon gets private state (data root, exec root, pid file, its own containerd) and is configured
entirely through its own ``daemon.json`` (``--config-file``), so no machine-wide file such as
``/etc/docker/daemon.json`` leaks in and a caller's configuration never conflicts with CLI flags.
The sandbox settings (``vfs`` storage, no iptables, no bridge) suit a machine without privileges for
networking; containers are not the point, the TLS-protected API is.

As a library::

    with DockerDaemon("127.0.0.9", 2376, tls=TLSFiles(ca, cert, key)) as daemon:
        ...

As a command (for playbooks and molecule)::

    python azure_emulator/dockerd.py start --state-dir DIR --host 127.0.0.9 --port 2376 \\
        --tlscacert ca.pem --tlscert server-cert.pem --tlskey server-key.pem
    python azure_emulator/dockerd.py stop --state-dir DIR
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

__all__ = ["DockerDaemon", "DockerdError", "TLSFiles", "free_loopback_endpoint", "leftover_processes"]

DOCKERD = os.environ.get("DOCKERHOST_TEST_DOCKERD", "dockerd")
# Keys the sandbox always decides; everything else in a caller's daemon.json is kept as written.
_SANDBOX = {"storage-driver": "vfs", "iptables": False, "bridge": "none"}
_STATE_FILE = "state.json"


class DockerdError(RuntimeError):
    """dockerd did not start or stop as asked; the message carries the tail of its log."""


@dataclass(frozen=True)
class TLSFiles:
    """The server side of mutual TLS: CA that client certificates must chain to, and the server pair."""

    ca: str
    cert: str
    key: str
    # False: tls without tlsverify, a daemon that answers clients without a certificate (negative tests only).
    verify_clients: bool = True


def free_loopback_endpoint(port: int = 2376) -> tuple[str, int]:
    """A 127.x.y.z address on which ``port`` can be bound right now (distinct per call, very likely)."""
    rng = random.SystemRandom()
    for _attempt in range(200):
        host = f"127.{rng.randint(20, 250)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                continue
        return host, port
    raise DockerdError(f"no free loopback address for port {port}")


def _proc_cmdlines():
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                raw = handle.read()
        except OSError:
            continue
        if raw:
            yield int(entry), raw.replace(b"\0", b" ").decode(errors="replace")


def leftover_processes(marker: str) -> list[int]:
    """Pids of processes whose command line mentions ``marker`` (a daemon's state path)."""
    return [pid for pid, cmd in _proc_cmdlines() if marker in cmd and pid != os.getpid()]


def _unmount_below(path: str) -> None:
    """dockerd may leave mounts (netns, shm) under its roots; unmount them before removing files."""
    with contextlib.suppress(OSError), open("/proc/self/mounts", encoding="utf-8") as handle:
        points = [line.split()[1] for line in handle]
    for point in sorted((p for p in points if p == path or p.startswith(path + "/")), reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


class DockerDaemon:
    """One dockerd bound to ``host:port``; ``tls=None`` serves plain HTTP (for negative tests only)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        tls: TLSFiles | None = None,
        state_dir: str | None = None,
        config: dict | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self._owns_state_dir = state_dir is None
        self.state_dir = state_dir or tempfile.mkdtemp(prefix="dhd-")
        os.makedirs(self.state_dir, exist_ok=True)
        # containerd's socket path must stay under the 108-byte unix socket limit: keep exec root short.
        self.exec_root = tempfile.mkdtemp(prefix="dhx-", dir="/tmp")
        self.data_root = os.path.join(self.state_dir, "data")
        self.pidfile = os.path.join(self.state_dir, "dockerd.pid")
        self.log_path = os.path.join(self.state_dir, "dockerd.log")
        self.config_path = os.path.join(self.state_dir, "daemon.json")
        self.config = dict(config or {})
        self.process: subprocess.Popen | None = None
        self.pid: int | None = None

    # -- configuration -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def daemon_config(self) -> dict:
        """The daemon.json written for this daemon: the caller's settings with the sandbox's on top."""
        cfg = dict(self.config)
        cfg.update(_SANDBOX)
        cfg.update(
            {
                "hosts": [self.url],
                "data-root": self.data_root,
                "exec-root": self.exec_root,
                "pidfile": self.pidfile,
            }
        )
        if self.tls is not None:
            cfg.update(
                {
                    "tls": True,
                    "tlsverify": self.tls.verify_clients,
                    "tlscacert": self.tls.ca,
                    "tlscert": self.tls.cert,
                    "tlskey": self.tls.key,
                }
            )
        else:
            for key in ("tls", "tlsverify", "tlscacert", "tlscert", "tlskey"):
                cfg.pop(key, None)
        return cfg

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> DockerDaemon:
        """Start dockerd and return once its API socket accepts connections.

        A second start would launch another dockerd on the same pidfile and port, lose the first one's pid
        and leak it: refused.
        """
        if self.running():
            raise RuntimeError(f"dockerd {self.pid} for {self.url} is already running")
        with open(self.config_path, "w", encoding="utf-8") as handle:
            json.dump(self.daemon_config(), handle, indent=2)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            self.process = subprocess.Popen(
                [DOCKERD, "--config-file", self.config_path],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self.pid = self.process.pid
        self._save_state()
        try:
            self._wait_listening(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        banner = f"API listen on {self.host}:{self.port}"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise DockerdError(f"dockerd exited with {self.process.returncode}:\n{self.log_tail()}")
            if banner in self._read_log() and self._accepts_tcp():
                return
            time.sleep(0.05)
        raise DockerdError(f"dockerd did not listen on {self.host}:{self.port} within {timeout}s:\n{self.log_tail()}")

    def _accepts_tcp(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def _read_log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except OSError:
            return ""

    def log_tail(self, lines: int = 20) -> str:
        return "\n".join(self._read_log().splitlines()[-lines:])

    def running(self) -> bool:
        if self.pid is None:
            return False
        if self.process is not None:
            return self.process.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout: float = 20.0) -> None:
        """Stop dockerd (and its containerd) by pid, then remove every directory it used."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.05)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)
            if self.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=5)
        # containerd is dockerd's child in the same session; anything still naming our roots goes too.
        for marker in (self.exec_root, self.data_root):
            for pid in leftover_processes(marker):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for path in (self.exec_root, self.data_root):
            _unmount_below(path)
            shutil.rmtree(path, ignore_errors=True)
        if self._owns_state_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)
        else:
            for name in (self.config_path, self.pidfile, os.path.join(self.state_dir, _STATE_FILE)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
        self.pid = None
        self.process = None

    def __enter__(self) -> DockerDaemon:
        # ``with DockerDaemon(...).start() as daemon`` and ``with DockerDaemon(...) as daemon`` both work.
        return self if self.running() else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- command-line hand-over ----------------------------------------------------------------
    def _save_state(self) -> None:
        state = {
            "pid": self.pid,
            "host": self.host,
            "port": self.port,
            "exec_root": self.exec_root,
            "data_root": self.data_root,
            "owns_state_dir": self._owns_state_dir,
        }
        with open(os.path.join(self.state_dir, _STATE_FILE), "w", encoding="utf-8") as handle:
            json.dump(state, handle)

    @classmethod
    def from_state_dir(cls, state_dir: str) -> DockerDaemon:
        """Re-attach to a daemon started by another process (the ``stop`` command)."""
        with open(os.path.join(state_dir, _STATE_FILE), encoding="utf-8") as handle:
            state = json.load(handle)
        daemon = cls.__new__(cls)
        daemon.host, daemon.port = state["host"], state["port"]
        daemon.tls = None
        daemon.config = {}
        daemon.state_dir = state_dir
        daemon._owns_state_dir = state["owns_state_dir"]
        daemon.exec_root, daemon.data_root = state["exec_root"], state["data_root"]
        daemon.pidfile = os.path.join(state_dir, "dockerd.pid")
        daemon.log_path = os.path.join(state_dir, "dockerd.log")
        daemon.config_path = os.path.join(state_dir, "daemon.json")
        daemon.process = None
        daemon.pid = state["pid"]
        return daemon


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a real dockerd on loopback with mutual TLS.")
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a daemon and print its state as JSON")
    start.add_argument("--state-dir", required=True)
    start.add_argument("--host", required=True, help="a 127.x.y.z address")
    start.add_argument("--port", type=int, default=2376)
    start.add_argument("--tlscacert")
    start.add_argument("--tlscert")
    start.add_argument("--tlskey")
    start.add_argument("--plain-http", action="store_true", help="no TLS at all (negative tests only)")
    start.add_argument("--config-json", help="daemon.json to start from (listen address and roots are replaced)")
    start.add_argument("--timeout", type=float, default=60.0)
    stop = sub.add_parser("stop", help="stop the daemon started with this state dir and remove its state")
    stop.add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)

    try:
        if args.command == "stop":
            if not os.path.exists(os.path.join(args.state_dir, _STATE_FILE)):
                return 0
            DockerDaemon.from_state_dir(args.state_dir).stop()
            return 0
        tls = None
        if not args.plain_http:
            if not (args.tlscacert and args.tlscert and args.tlskey):
                parser.error("--tlscacert, --tlscert and --tlskey are required unless --plain-http")
            tls = TLSFiles(os.path.abspath(args.tlscacert), os.path.abspath(args.tlscert), os.path.abspath(args.tlskey))
        config = None
        if args.config_json:
            with open(args.config_json, encoding="utf-8") as handle:
                config = json.load(handle)
        daemon = DockerDaemon(args.host, args.port, tls=tls, state_dir=os.path.abspath(args.state_dir), config=config)
        daemon.start(timeout=args.timeout)
        print(json.dumps({"pid": daemon.pid, "docker_host": daemon.url, "state_dir": daemon.state_dir}))
        return 0
    except DockerdError as exc:
        print(str(exc), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(_main())
