# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Modules run on another Python than the controller's, as on a managed node, for the target-Python tests.

``interpreter("3.8")`` finds a working interpreter under pyenv (where this machine's image keeps the system
``python3`` too) or on PATH; ``oldest_venv()`` is a venv of the oldest claimed Python with the minimum
``cryptography`` of requirements.txt, built once from the package registry and cached under
``~/.cache/dockerhost-azure`` keyed by both versions. A test whose interpreter is missing is skipped, saying so.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ansible_collections.dockerhost.azure.tests.support.ansible import ELSEWHERE, ROOT, VENV, AnsibleRunner

__all__ = ["OLDEST", "TargetRunner", "interpreter", "needs", "oldest_venv", "on_python", "run_on"]

OLDEST = "3.8"  # the modules' requirements and tests/config.yml say the same
_PYENV = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dockerhost-azure"


def interpreter(version: str) -> str | None:
    """A working ``pythonX.Y`` under pyenv or on PATH, or None (a pyenv shim of a version not selected fails)."""
    candidates = sorted(glob.glob(os.path.join(_PYENV, "versions", f"{version}.*", "bin", f"python{version}")))
    candidates.append(shutil.which(f"python{version}"))
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", "pass"], capture_output=True, timeout=30, check=False).returncode == 0:
            return candidate
    return None


def needs(version: str) -> str:
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine (looked on PATH and under {_PYENV}/versions)")
    return python


def minimum_cryptography() -> str:
    """The lower bound of requirements.txt's ``cryptography>=X``: what the claim must hold for."""
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    found = re.search(r"^cryptography\s*>=\s*([0-9][0-9.]*)", text, re.MULTILINE)
    if not found:
        pytest.fail("requirements.txt has no 'cryptography>=X' line to take the minimum from")
    return found.group(1)


def oldest_venv() -> str:
    """The Python of a cached venv of the oldest claimed Python with the minimum cryptography; built if missing."""
    python = needs(OLDEST)
    crypto = minimum_cryptography()
    venv = _CACHE / f"py{OLDEST}-cryptography-{crypto}"
    if not (venv / "ok").exists():
        _CACHE.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(prefix=f".{venv.name}.", dir=_CACHE))
        try:
            subprocess.run([python, "-m", "venv", str(build)], check=True, capture_output=True, timeout=300)
            pip = [str(build / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            done = subprocess.run(
                [*pip, f"cryptography=={crypto}"], check=False, capture_output=True, text=True, timeout=600
            )
            if done.returncode:
                pytest.fail(f"cannot install cryptography=={crypto} for Python {OLDEST}:\n{done.stderr[-2000:]}")
            (build / "ok").touch()
            os.rename(build, venv)  # another run may have won: then ours is discarded
        except OSError:
            pass
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return str(venv / "bin" / "python")


class TargetRunner(AnsibleRunner):
    """Without the command line's ``-e ansible_python_interpreter``, so a task's own ``vars`` can choose one."""

    def command(self, playbook: Path) -> list[str]:
        return [str(VENV / "bin" / "ansible-playbook"), str(playbook)]


def on_python(python: str) -> dict:
    """Task vars: run the task's module as on a managed node, with ``python``."""
    return {**ELSEWHERE, "ansible_python_interpreter": python}


def run_on(python: str, module: str, params: dict, home: Path) -> dict:
    """One task of ``module`` run by ``python``; the environment's ``DOCKER_*`` variables left out."""
    runner = TargetRunner(home / "ansible-home", drop_prefixes=("DOCKER_",), extra={"HOME": str(home)})
    return runner.play([{module: params, "vars": on_python(python)}]).results[0]
