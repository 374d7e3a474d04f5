# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_tls_certs on the oldest Python tests/config.yml claims (3.8), with the oldest cryptography we allow.

The module runs as on a managed node (the ``elsewhere`` connection) with ``ansible_python_interpreter`` set to
a Python 3.8 venv holding the minimum ``cryptography`` of requirements.txt: the runtime features a parser
cannot see (``datetime.UTC``, ``X | Y`` in isinstance, ``str.removeprefix``) fail here. The venv is built once
(a minute, from the package registry) and cached under ``~/.cache/dockerhost-azure``, keyed by both versions;
later runs take a few seconds. Python 3.8 comes from pyenv, where this machine's image also keeps the system
``python3``; where it is missing the test is skipped, saying so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from ansible_collections.dockerhost.azure.tests.integration.docker_host_probe.test_probe_target_python import (
    OLDEST,
    TargetRunner,
    interpreter,
)
from ansible_collections.dockerhost.azure.tests.integration.docker_tls_certs.tls_helpers import (
    certs_task,
    snapshot,
)
from ansible_collections.dockerhost.azure.tests.support.ansible import ELSEWHERE, ROOT

_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dockerhost-azure"


def minimum_cryptography() -> str:
    """The lower bound of requirements.txt's ``cryptography>=X``: what the claim must hold for."""
    text = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    found = re.search(r"^cryptography\s*>=\s*([0-9][0-9.]*)", text, re.MULTILINE)
    if not found:
        pytest.fail("requirements.txt has no 'cryptography>=X' line to take the minimum from")
    return found.group(1)


def oldest_venv() -> Path:
    """A cached venv of the oldest claimed Python with the minimum cryptography; built if missing."""
    python = interpreter(OLDEST)
    if python is None:
        pytest.skip(f"no Python {OLDEST} on this machine (looked on PATH and under pyenv's versions)")
    crypto = minimum_cryptography()
    venv = _CACHE / f"py{OLDEST}-cryptography-{crypto}"
    if (venv / "ok").exists():
        return venv
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
    return venv


def test_the_oldest_claimed_python_issues_and_keeps_a_set(tmp_path):
    venv = oldest_venv()
    on_oldest = {**ELSEWHERE, "ansible_python_interpreter": str(venv / "bin" / "python")}
    certs = tmp_path / "docker"
    args = {"path": str(certs), "server_name": "h1", "hostnames": ["h1.example.test"], "ip_addresses": ["192.0.2.1"]}
    runner = TargetRunner(tmp_path / "ansible-home")
    first = runner.play(
        [
            {"ansible.builtin.setup": {"gather_subset": ["!all"]}, "vars": on_oldest},
            {**certs_task(**args), "vars": on_oldest},
        ]
    ).results
    assert first[0]["ansible_facts"]["ansible_python_version"].startswith(f"{OLDEST}."), first[0]
    issued = first[1]
    assert not issued.get("failed"), issued.get("msg") or issued
    assert issued["changed"]
    assert issued["server_not_after"].endswith("+00:00")
    assert len(issued["ca_fingerprint"]) == 64
    before = snapshot(certs)
    again = runner.play([{**certs_task(**args), "vars": on_oldest}]).results[0]
    assert not again.get("failed"), again.get("msg") or again
    assert not again["changed"]
    assert snapshot(certs) == before

    (certs / "ca.pem").write_bytes((certs / "ca.pem").read_bytes() * 2)  # the refusal path (issue 13 item 1)
    refused = runner.play([{**certs_task(**args), "vars": on_oldest}]).results[0]
    assert refused["failed"]
    assert f"{certs}/ca.pem holds 2 PEM blocks (CERTIFICATE, CERTIFICATE)" in refused["msg"]
