# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run whole ``ansible-playbook`` processes for the benchmarks and time them.

Two sides, each with its own Python environment so neither's dependencies touch the other's:
``ours`` runs from the repository's ``.venv`` with this collection; ``reference`` runs from
``benchmarks/.venv-reference`` with the ``ansible`` package (community.crypto, community.docker).
Both get the same ansible-core settings, a private ``ANSIBLE_HOME`` and the benchmark timing
callback; the wall time is taken around the whole process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field

__all__ = [
    "BENCH_DIR",
    "REPO_ROOT",
    "BenchError",
    "PlaybookRun",
    "Side",
    "TreeMemorySampler",
    "module_present",
    "ours",
    "reference",
    "run_playbook",
    "work_dir",
]

BENCH_DIR = os.path.dirname(os.path.realpath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
PLAYBOOK_DIR = os.path.join(BENCH_DIR, "playbooks")
CALLBACK_DIR = os.path.join(BENCH_DIR, "callback_plugins")
WORK_ROOT = os.path.join(BENCH_DIR, ".work")

# Settings that would make one side's run differ from a plain run, or read the user's configuration.
_DROP_ENV = ("PYTHONPATH", "ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS")


class BenchError(RuntimeError):
    """A measured run failed: its result would be meaningless, so the section reports the failure."""


@dataclass(frozen=True)
class Side:
    """One tool chain: where its ansible-playbook and Python live and how it finds collections."""

    name: str
    bin_dir: str
    collections_path: str
    scan_sys_path: bool

    @property
    def python(self) -> str:
        return os.path.join(self.bin_dir, "python")

    @property
    def ansible_playbook(self) -> str:
        return os.path.join(self.bin_dir, "ansible-playbook")

    def available(self) -> bool:
        return os.access(self.ansible_playbook, os.X_OK)


def ours() -> Side:
    venv = os.path.join(REPO_ROOT, ".venv")
    return Side("ours", os.path.join(venv, "bin"), venv, scan_sys_path=False)


def reference() -> Side:
    venv = os.path.join(BENCH_DIR, ".venv-reference")
    # The `ansible` package installs its collections in site-packages: found by scanning sys.path.
    empty = os.path.join(WORK_ROOT, "no-collections")
    os.makedirs(empty, exist_ok=True)
    return Side("reference", os.path.join(venv, "bin"), empty, scan_sys_path=True)


def module_present(name: str) -> bool:
    """Whether this collection ships module ``name`` yet (parts of the benchmark wait for it)."""
    return os.path.isfile(os.path.join(REPO_ROOT, "plugins", "modules", f"{name}.py"))


def work_dir(prefix: str) -> str:
    """A fresh directory under ``benchmarks/.work`` (git-ignored), removed by the caller."""
    return tempfile.mkdtemp(prefix=prefix + "-", dir=_work_root())


@dataclass
class PlaybookRun:
    """One finished ansible-playbook process."""

    wall: float
    rc: int
    output: str
    tasks: list[dict] = field(default_factory=list)
    peak_pss_kib: int = 0
    peak_processes: int = 0
    started_at: float = 0.0

    def task_time(self, name: str | None = None) -> float:
        """Sum of task durations (all hosts), optionally only tasks called ``name``."""
        return sum(t["end"] - t["start"] for t in self.tasks if name is None or t["task"] == name)

    def task(self, name: str) -> dict:
        for record in self.tasks:
            if record["task"] == name:
                return record
        raise BenchError(f"task {name!r} did not report; output tail:\n{self.tail()}")

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def _base_env(side: Side, home: str, timing_file: str, extra_env: dict | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV and not k.startswith("ANSIBLE_")}
    env.update(
        {
            "ANSIBLE_HOME": home,
            "ANSIBLE_LOCAL_TEMP": os.path.join(home, "tmp"),
            "ANSIBLE_REMOTE_TEMP": os.path.join(home, "remote-tmp"),
            "ANSIBLE_COLLECTIONS_PATH": side.collections_path,
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "true" if side.scan_sys_path else "false",
            "ANSIBLE_CALLBACK_PLUGINS": CALLBACK_DIR,
            "ANSIBLE_CALLBACKS_ENABLED": "bench_timing",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_HOST_KEY_CHECKING": "false",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "BENCH_TIMING_FILE": timing_file,
            "PATH": side.bin_dir + os.pathsep + os.environ.get("PATH", ""),
        }
    )
    env.update(extra_env or {})
    return env


def _read_timing(path: str) -> list[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            return [r for r in (json.loads(line) for line in handle if line.strip()) if r.get("event") == "task"]
    except FileNotFoundError:
        return []


def run_playbook(
    side: Side,
    playbook: str,
    *,
    extra_vars: dict | None = None,
    vars_files: list[str] | None = None,
    inventory: str | None = None,
    forks: int | None = None,
    extra_env: dict | None = None,
    sample_memory: bool = False,
    timeout: float = 900.0,
    check: bool = True,
    on_start=None,
) -> PlaybookRun:
    """Run ``playbooks/<playbook>`` with ``side``'s ansible-playbook; the wall time spans the whole process.

    ``vars_files`` are passed as ``-e @FILE`` (secrets stay off the command line).
    ``on_start(started_at)`` is called in a thread right after the process starts (readiness tests use
    it to start a daemon while the playbook waits). With ``check`` a non-zero exit raises BenchError.
    """
    home = work_dir("ansible-home")
    timing_file = os.path.join(home, "timing.jsonl")
    variables = {"ansible_python_interpreter": side.python}
    variables.update(extra_vars or {})
    cmd = [
        side.ansible_playbook,
        os.path.join(PLAYBOOK_DIR, playbook),
        "-i",
        inventory or "localhost,",
        "-c",
        "local",
        "-e",
        json.dumps(variables),
    ]
    for path in vars_files or ():
        cmd += ["-e", f"@{path}"]
    if forks:
        cmd += ["--forks", str(forks)]
    env = _base_env(side, home, timing_file, extra_env)
    sampler = None
    helper = None
    try:
        started_at = time.time()
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=home, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        if sample_memory:
            sampler = TreeMemorySampler(proc.pid)
            sampler.start()
        if on_start is not None:
            helper = threading.Thread(target=on_start, args=(started_at,), daemon=True)
            helper.start()
        try:
            out, _unused = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            proc.kill()
            out, _unused = proc.communicate()
            tail = out.decode(errors="replace")[-3000:]
            raise BenchError(f"{playbook} ({side.name}) ran over {timeout:.0f}s:\n{tail}") from exc
        wall = time.perf_counter() - start
        if helper is not None:
            helper.join(timeout=120)
        if sampler is not None:
            sampler.stop()
        run = PlaybookRun(
            wall=wall,
            rc=proc.returncode,
            output=out.decode(errors="replace"),
            tasks=_read_timing(timing_file),
            peak_pss_kib=sampler.peak_pss_kib if sampler else 0,
            peak_processes=sampler.peak_processes if sampler else 0,
            started_at=started_at,
        )
    finally:
        if sampler is not None:
            sampler.stop()
        shutil.rmtree(home, ignore_errors=True)
    if check and run.rc != 0:
        raise BenchError(f"{playbook} ({side.name}) exited {run.rc}:\n{run.tail()}")
    return run


def _work_root() -> str:
    os.makedirs(WORK_ROOT, exist_ok=True)
    return WORK_ROOT


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name may contain spaces and parentheses: the fields after the last ')' are fixed.
        fields = stat[stat.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(entry))
    return children


def _pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class TreeMemorySampler:
    """Samples the proportional set size (PSS) summed over a process and all its descendants.

    PSS divides pages shared between forked workers among them, so the sum is the memory the whole
    controller really holds (RSS would count Ansible's shared pages once per fork).
    """

    def __init__(self, root_pid: int, interval: float = 0.1) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.peak_pss_kib = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(RuntimeError):
            self._thread.join(timeout=5)

    def sample(self) -> tuple[int, int]:
        children = _children_map()
        pids, todo = [], [self.root_pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            todo.extend(children.get(pid, ()))
        return sum(_pss_kib(pid) for pid in pids), len(pids)

    def _loop(self) -> None:
        while not self._stop.is_set():
            pss, count = self.sample()
            self.peak_pss_kib = max(self.peak_pss_kib, pss)
            self.peak_processes = max(self.peak_processes, count)
            self._stop.wait(self.interval)
