# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers to run docker_tls_certs for real: ansible-playbook in a subprocess, results read back as JSON.

Every task of a play is registered; a last task writes all registered results to a file, so one
ansible-playbook run (about two seconds) covers a whole scenario: check mode, apply, idempotence...
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
VENV = ROOT / ".venv"
MODULE = "dockerhost.azure.docker_tls_certs"


@dataclass
class PlaybookRun:
    results: list[dict] | dict[str, list[dict]]
    output: str  # stdout + stderr of ansible-playbook


class AnsibleRunner:
    """Runs plays against localhost with this checkout's collection and the venv's Python."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.count = 0

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(VENV),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
            "ANSIBLE_HOME": str(self.home),
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
        }

    def play(
        self, tasks: list[dict], *, umask: int | None = None, verbose: bool = False, hosts: tuple[str, ...] = ()
    ) -> PlaybookRun:
        """Run ``tasks`` (full task dicts) in one play; every task's registered result, in order.

        Tasks never stop the play (``ignore_errors``): tests assert ``failed`` themselves. With ``hosts``,
        the play runs on those inventory hosts at once (all local connections), and ``results`` maps each
        host to its list.
        """
        self.count += 1
        work = self.home / f"play{self.count}"
        work.mkdir(parents=True)
        registered = []
        for index, task in enumerate(tasks):
            registered.append({**task, "register": f"r{index}", "ignore_errors": True})
        names = ", ".join(f"r{index}" for index in range(len(tasks)))
        registered.append(
            {
                "ansible.builtin.copy": {
                    "content": f"{{{{ [{names}] | to_json }}}}",
                    "dest": f"{work}/{{{{ inventory_hostname }}}}.json",
                },
                "check_mode": False,
                "diff": False,
            }
        )
        playbook = work / "play.yml"
        pattern = "all" if hosts else "localhost"
        playbook.write_text(json.dumps([{"hosts": pattern, "gather_facts": False, "tasks": registered}]))
        command = [str(VENV / "bin" / "ansible-playbook"), str(playbook)]
        command += ["-e", f"ansible_python_interpreter={VENV / 'bin' / 'python'}"]
        if hosts:
            inventory = work / "inventory.ini"
            inventory.write_text("".join(f"{host} ansible_connection=local\n" for host in hosts))
            command += ["-i", str(inventory), "--forks", str(len(hosts))]
        if verbose:
            command.append("-vvv")
        extra = {} if umask is None else {"umask": umask}
        proc = subprocess.run(
            command, capture_output=True, text=True, env=self.env(), timeout=300, check=False, **extra
        )
        output = proc.stdout + proc.stderr
        by_host = {}
        for host in hosts or ("localhost",):
            results_file = work / f"{host}.json"
            assert results_file.exists(), f"ansible-playbook failed ({proc.returncode}):\n{output[-4000:]}"
            by_host[host] = json.loads(results_file.read_text())
        return PlaybookRun(by_host if hosts else by_host["localhost"], output)


def certs_task(check_mode: bool = False, diff: bool = False, **args) -> dict:
    """A docker_tls_certs task."""
    return {MODULE: args, "check_mode": check_mode, "diff": diff}


def snapshot(directory) -> dict[str, tuple]:
    """Every file under ``directory``: content hash, mode, inode, mtime. Equal snapshots: nothing touched."""
    out = {}
    for path in sorted(Path(directory).rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[str(path.relative_to(directory))] = (digest, stat.S_IMODE(info.st_mode), info.st_ino, info.st_mtime_ns)
    return out
