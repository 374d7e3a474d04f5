# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m ansible_collections.dockerhost.azure.azure_emulator start|stop|serve --state-dir DIR``."""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import logging
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

__all__ = ["import_root", "main", "read_state", "start_background", "stop_background"]

STATE_FILE = "emulator.json"
LOG_FILE = "emulator.log"
OWNED_MARKER = ".made-by-azure-emulator"
START_TIMEOUT = 20.0


def import_root() -> str:
    """The directory holding ``ansible_collections`` (this file: .../dockerhost/azure/azure_emulator/cli.py)."""
    path = os.path.abspath(__file__)
    for _level in range(5):
        path = os.path.dirname(path)
    return path


def read_state(state_dir: str) -> dict | None:
    try:
        with open(os.path.join(state_dir, STATE_FILE), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _answers(state: dict, timeout: float = 2.0) -> bool:
    ctx = ssl.create_default_context(cafile=state["ca_cert"])
    try:
        with urllib.request.urlopen(f"{state['endpoint']}/_emulator/health", context=ctx, timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


def _log_tail(state_dir: str, lines: int = 30) -> str:
    try:
        with open(os.path.join(state_dir, LOG_FILE), encoding="utf-8", errors="replace") as handle:
            return "\n".join(handle.read().splitlines()[-lines:])
    except OSError:
        return ""


def start_background(
    state_dir: str,
    latency: str | None = None,
    latency_scale: float = 1.0,
    *,
    enforce_nsg: bool = False,
    vm_backend: str = "fast",
    guest_kind: str = "nspawn",
    guest_suite: str = "bookworm",
) -> dict:
    """Start ``serve`` as a detached process and return its state once it answers over HTTPS.

    With ``vm_backend="guest"`` the guest image is built (or found in the cache) first, here: a first build
    takes minutes, and the server must answer within seconds of starting.
    """
    state_dir = os.path.abspath(state_dir)
    if vm_backend == "guest":
        from .guest import GuestError  # noqa: PLC0415 - keep the fast backend's start light
        from .guest_agent import guest_factory  # noqa: PLC0415

        try:
            guest_factory(guest_kind, guest_suite)
        except GuestError as exc:
            raise RuntimeError(f"--vm-backend guest: {exc}") from exc
    existing = read_state(state_dir)
    if existing and _alive(existing.get("pid", -1)):
        raise RuntimeError(f"an emulator already runs with state dir {state_dir} (pid {existing['pid']})")
    if not os.path.isdir(state_dir):
        os.makedirs(state_dir)
        open(os.path.join(state_dir, OWNED_MARKER), "w").close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(state_dir, STATE_FILE))
    argv = [sys.executable, "-m", __package__, "serve", "--state-dir", state_dir]
    if latency:
        argv += ["--latency", latency, "--latency-scale", str(latency_scale)]
    if enforce_nsg:
        argv.append("--enforce-nsg")
    if vm_backend != "fast":
        argv += ["--vm-backend", vm_backend, "--guest-kind", guest_kind, "--guest-suite", guest_suite]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (import_root(), env.get("PYTHONPATH", "")) if p)
    with open(os.path.join(state_dir, LOG_FILE), "ab") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the emulator exited with {proc.returncode}:\n{_log_tail(state_dir)}")
        state = read_state(state_dir)
        if state and state.get("pid") == proc.pid and _answers(state):
            return state
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"the emulator did not answer within {START_TIMEOUT}s:\n{_log_tail(state_dir)}")


def _stop_daemons(state_dir: str) -> None:
    """Stop any dockerd still recorded under the state dir (after a crash of the server); unmount the disks of
    guests (their nspawn died with the server) so that removing the state dir removes only the emulator's files."""
    from .dockerd import DockerDaemon  # noqa: PLC0415

    for state_file in glob.glob(os.path.join(state_dir, "vms", "**", "state.json"), recursive=True):
        with contextlib.suppress(Exception):
            DockerDaemon.from_state_dir(os.path.dirname(state_file)).stop()
    vms = os.path.join(os.path.realpath(state_dir), "vms") + os.sep
    with contextlib.suppress(OSError), open("/proc/self/mounts", encoding="utf-8") as handle:
        mounts = [line.split()[1] for line in handle]
    for mount in sorted((m for m in mounts if m.startswith(vms)), reverse=True):
        subprocess.run(["umount", "--lazy", mount], capture_output=True, timeout=30, check=False)


def stop_background(state_dir: str, timeout: float = 60.0) -> None:
    """Stop the emulator (SIGTERM, then SIGKILL) and every dockerd it started; remove all it made."""
    state_dir = os.path.abspath(state_dir)
    state = read_state(state_dir)
    if state is not None:
        pid = int(state["pid"])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
    if os.path.isdir(state_dir):
        _stop_daemons(state_dir)
    remove_made(state_dir, keep_log=False)


def remove_made(state_dir: str, *, keep_log: bool) -> None:
    for name in ("tls", "vms"):
        shutil.rmtree(os.path.join(state_dir, name), ignore_errors=True)
    names = [STATE_FILE] + ([] if keep_log else [LOG_FILE])
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(state_dir, name))
    if not keep_log and os.path.exists(os.path.join(state_dir, OWNED_MARKER)):
        shutil.rmtree(state_dir, ignore_errors=True)


def serve(
    state_dir: str, latency: str | None, latency_scale: float, port: int, *, enforce_nsg: bool = False, **backend
) -> int:
    from .server import Emulator, write_state  # noqa: PLC0415 - keep `stop` light

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    state_dir = os.path.abspath(state_dir)
    emulator = Emulator(
        state_dir, port=port, latency=latency, latency_scale=latency_scale, enforce_nsg=enforce_nsg, **backend
    )
    stopping = threading.Event()

    def on_signal(_signum, _frame) -> None:
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=emulator.httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    write_state(os.path.join(state_dir, STATE_FILE), emulator.state())
    logging.getLogger("azure_emulator").info("serving on %s", emulator.endpoint)
    try:
        emulator.serve_forever()
    finally:
        emulator.shutdown()
        remove_made(state_dir, keep_log=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ansible_collections.dockerhost.azure.azure_emulator",
        description="A local Azure (ARM + Azure AD + metadata) whose VMs run real Docker daemons.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("start", "start in the background and print the state JSON"),
        ("serve", "run in the foreground"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--state-dir", required=True)
        cmd.add_argument("--latency", choices=("azure", "none"), default=None, help="per-operation latency profile")
        cmd.add_argument("--latency-scale", type=float, default=1.0, help="multiply the profile's latencies")
        cmd.add_argument("--enforce-nsg", action="store_true", help="NSG rules decide who reaches a VM's daemon")
        cmd.add_argument(
            "--vm-backend",
            choices=("fast", "guest"),
            default="fast",
            help="fast: the install script under a private root, dockerd on this machine (default); "
            "guest: every VM is a booted Linux guest that runs it as root (README.md, Backends)",
        )
        cmd.add_argument("--guest-kind", choices=("nspawn", "vm"), default="nspawn", help="what a guest is")
        cmd.add_argument(
            "--guest-suite", choices=("bookworm", "trixie", "sid"), default="bookworm", help="the guests' Debian"
        )
        if name == "serve":
            cmd.add_argument("--port", type=int, default=0)
    stop = sub.add_parser("stop", help="stop it and every dockerd it started; remove all it made")
    stop.add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)
    latency = None if getattr(args, "latency", None) in (None, "none") else args.latency
    if args.command in ("serve", "start"):
        backend = {"vm_backend": args.vm_backend, "guest_kind": args.guest_kind, "guest_suite": args.guest_suite}
    if args.command == "serve":
        return serve(args.state_dir, latency, args.latency_scale, args.port, enforce_nsg=args.enforce_nsg, **backend)
    if args.command == "start":
        try:
            state = start_background(
                args.state_dir, latency, args.latency_scale, enforce_nsg=args.enforce_nsg, **backend
            )
        except RuntimeError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        print(json.dumps(state, indent=2))
        return 0
    stop_background(args.state_dir)
    return 0
