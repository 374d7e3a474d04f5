# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run ansible-playbook (and ansible-runner, ansible-galaxy, molecule...) against this checkout, for tests.

Every run sees this checkout's collection only (``ANSIBLE_COLLECTIONS_PATH`` = the venv, no ``sys.path``
scan), the venv's Python as interpreter, no colour, and a private ``ANSIBLE_HOME`` that also holds the
remote, local and async temporary directories. Ansible's own defaults put those under ``~/.ansible/tmp``
and ``~/.ansible_async``, where an interrupted module run leaves its ``AnsiballZ_*.py`` with the module
arguments (secrets included) behind; with these settings nothing is written under the user's home.

Environment only (for ansible-runner's ``env/envvars``, molecule, ansible-galaxy)::

    env = ansible_env(tmp_path / "ansible")                 # os.environ + the settings
    envvars = ansible_settings(tmp_path / "ansible")        # the settings alone

Plays of tasks on localhost, every task's registered result read back as JSON::

    runner = AnsibleRunner(tmp_path / "ansible")
    run = runner.play([{"dockerhost.azure.docker_tls_certs": {...}}], verbosity=4, log_path=...)
    run.results, run.output
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ELSEWHERE", "ROOT", "VENV", "AnsibleRunner", "PlaybookRun", "ansible_env", "ansible_settings"]

ROOT = Path(__file__).resolve().parents[2]
# The virtual environment whose ansible-playbook and Python the tests run (`make min-deps` points it at one
# with the oldest versions requirements.txt allows).
VENV = Path(os.environ.get("DOCKERHOST_TEST_VENV") or ROOT / ".venv")
PYTHON = VENV / "bin" / "python"
CONNECTION_PLUGINS = Path(__file__).resolve().parent / "connection_plugins"
ELSEWHERE = {"ansible_connection": "elsewhere"}  # task vars: run a module as on a managed node


def ansible_settings(
    home: Path,
    *,
    collections_path: Path = VENV,
    verbosity: int = 0,
    log_path: Path | None = None,
) -> dict[str, str]:
    """The ``ANSIBLE_*`` variables every test run needs, all state under ``home`` (nothing else of os.environ).

    ``collections_path`` replaces the checkout for tests of an installed copy; ``verbosity`` and
    ``log_path`` are Ansible's ``-v`` count and ``log_path`` setting.
    """
    home = Path(home)
    settings = {
        "ANSIBLE_COLLECTIONS_PATH": str(collections_path),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_REMOTE_TEMP": str(home / "tmp"),
        "ANSIBLE_LOCAL_TEMP": str(home / "local"),
        "ANSIBLE_ASYNC_DIR": str(home / "async"),
        "ANSIBLE_PYTHON_INTERPRETER": str(PYTHON),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        # `ansible_connection: elsewhere` runs a task on this machine as on a managed node (see the plugin).
        "ANSIBLE_CONNECTION_PLUGINS": str(CONNECTION_PLUGINS),
    }
    if verbosity:
        settings["ANSIBLE_VERBOSITY"] = str(verbosity)
    if log_path is not None:
        settings["ANSIBLE_LOG_PATH"] = str(log_path)
    return settings


def ansible_env(
    home: Path, *, drop_prefixes: tuple[str, ...] = (), extra: dict[str, str] | None = None, **settings
) -> dict[str, str]:
    """``os.environ`` without the variables starting with ``drop_prefixes``, plus :func:`ansible_settings`
    (``settings`` are its keyword arguments) and ``extra`` last."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(drop_prefixes)}
    env.update(ansible_settings(home, **settings))
    env.update(extra or {})
    return env


@dataclass
class PlaybookRun:
    results: list[dict] | dict[str, list[dict]]
    output: str  # stdout + stderr of ansible-playbook


class AnsibleRunner:
    """Runs plays against localhost with this checkout's collection and the venv's Python.

    ``home`` is the private ANSIBLE_HOME (temporary directories included) and holds each play's files;
    ``drop_prefixes`` and ``extra`` shape the environment of every run (see :func:`ansible_env`).
    """

    def __init__(self, home: Path, *, drop_prefixes: tuple[str, ...] = (), extra: dict[str, str] | None = None):
        self.home = Path(home)
        self.drop_prefixes = drop_prefixes
        self.extra = dict(extra or {})
        self.count = 0

    def env(self, *, verbosity: int = 0, log_path: Path | None = None, extra: dict | None = None) -> dict[str, str]:
        return ansible_env(
            self.home,
            drop_prefixes=self.drop_prefixes,
            extra={**self.extra, **(extra or {})},
            verbosity=verbosity,
            log_path=log_path,
        )

    def command(self, playbook: Path) -> list[str]:
        """The ansible-playbook command line for ``playbook``, the venv's Python as interpreter."""
        return [str(VENV / "bin" / "ansible-playbook"), str(playbook), "-e", f"ansible_python_interpreter={PYTHON}"]

    def workdir(self) -> Path:
        """A new directory under ``home`` for one run's files."""
        self.count += 1
        work = self.home / f"play{self.count}"
        work.mkdir(parents=True)
        return work

    @staticmethod
    def write_playbook(work: Path, tasks: list[dict], hosts: str = "localhost") -> Path:
        """``work/play.yml``: one play of ``tasks`` without gathering facts (JSON is YAML)."""
        playbook = work / "play.yml"
        playbook.write_text(json.dumps([{"hosts": hosts, "gather_facts": False, "tasks": tasks}]))
        return playbook

    def start(self, tasks: list[dict]) -> subprocess.Popen:
        """ansible-playbook in the background, output discarded, in its own process group (to be killed)."""
        return subprocess.Popen(
            self.command(self.write_playbook(self.workdir(), tasks)),
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def play(
        self,
        tasks: list[dict],
        *,
        umask: int | None = None,
        verbosity: int = 0,
        log_path: Path | None = None,
        hosts: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> PlaybookRun:
        """Run ``tasks`` (full task dicts) in one play; every task's registered result, in order.

        Tasks never stop the play (``ignore_errors``): tests assert ``failed`` themselves; a last task
        writes the registered results to a file (ansible-core has no JSON stdout callback of its own).
        With ``hosts``, the play runs on those inventory hosts at once (all local connections, one fork
        each), and ``results`` maps each host to its list. ``umask`` is the umask of ansible-playbook;
        ``verbosity``, ``log_path`` and ``env`` (extra variables) shape this run's environment.
        """
        work = self.workdir()
        registered = [{**task, "register": f"r{index}", "ignore_errors": True} for index, task in enumerate(tasks)]
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
        command = self.command(self.write_playbook(work, registered, "all" if hosts else "localhost"))
        if hosts:
            inventory = work / "inventory.ini"
            inventory.write_text("".join(f"{host} ansible_connection=local\n" for host in hosts))
            command += ["-i", str(inventory), "--forks", str(len(hosts))]
        run_env = self.env(verbosity=verbosity, log_path=log_path, extra=env)
        extra = {} if umask is None else {"umask": umask}
        proc = subprocess.run(command, capture_output=True, text=True, env=run_env, timeout=300, check=False, **extra)
        output = proc.stdout + proc.stderr
        by_host = {}
        for host in hosts or ("localhost",):
            results_file = work / f"{host}.json"
            assert results_file.exists(), f"ansible-playbook failed ({proc.returncode}):\n{output[-4000:]}"
            by_host[host] = json.loads(results_file.read_text())
        return PlaybookRun(by_host if hosts else by_host["localhost"], output)
