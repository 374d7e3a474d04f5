# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_host_probe as a module on the target Pythons it claims (3.8 and later), and on older ones.

The module runs as on a managed node (the ``elsewhere`` connection) with ``ansible_python_interpreter`` set to
another Python than the controller's: the oldest claimed one must probe a real daemon (without
``cryptography``, which that Python does not have here: the certificate is then shown by its fingerprint);
an older one must fail with a message, never a traceback (issue 15). The interpreters are looked up under
pyenv and on PATH; a test whose interpreter is missing is skipped, saying so.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ansible_collections.dockerhost.azure.tests.integration.docker_host_probe.probe_helpers import FQDN
from ansible_collections.dockerhost.azure.tests.support.ansible import ELSEWHERE, VENV, AnsibleRunner

pytestmark = pytest.mark.docker

MODULE = "dockerhost.azure.docker_host_probe"
OLDEST = "3.8"  # the module's requirements and tests/config.yml say the same
_PYENV = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")


def interpreter(version: str) -> str | None:
    """A working ``pythonX.Y`` under pyenv or on PATH, or None (a pyenv shim of a version not selected fails)."""
    candidates = sorted(glob.glob(os.path.join(_PYENV, "versions", f"{version}.*", "bin", f"python{version}")))
    candidates.append(shutil.which(f"python{version}"))
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", "pass"], capture_output=True, timeout=30, check=False).returncode == 0:
            return candidate
    return None


class TargetRunner(AnsibleRunner):
    """Without the command line's ``-e ansible_python_interpreter``, so a task's own ``vars`` can choose one."""

    def command(self, playbook: Path) -> list[str]:
        return [str(VENV / "bin" / "ansible-playbook"), str(playbook)]


def run_on(python: str, params: dict, home: Path) -> dict:
    task = {MODULE: params, "vars": {**ELSEWHERE, "ansible_python_interpreter": python}}
    runner = TargetRunner(home / "ansible-home", drop_prefixes=("DOCKER_",), extra={"HOME": str(home)})
    return runner.play([task]).results[0]


def needs(version: str) -> str:
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} on this machine (looked on PATH and under {_PYENV}/versions)")
    return python


def test_the_oldest_claimed_python_probes_a_real_daemon(probe_world, tmp_path):
    python = needs(OLDEST)
    result = run_on(python, probe_world.tls_params(), tmp_path)
    assert not result.get("failed"), result
    assert result["ping"] == "OK"
    assert len(result["server_cert"]["sha256_fingerprint"]) == 64
    if result["server_cert"]["subject"] is None:
        assert "cryptography is not installed" in result["server_cert"]["details_missing"]
    else:
        assert result["server_cert"]["sans"] == [f"DNS:{FQDN}"]


@pytest.mark.parametrize(
    ("daemon", "overrides", "kind"),
    [
        ("open", {}, "client_auth_not_required"),
        ("tls", {"client": "foreign_client"}, "tls_client_rejected"),
        ("expired", {}, "tls_expired"),
        ("tls", {"tls_hostname": None}, "tls_hostname_mismatch"),
    ],
)
def test_the_oldest_claimed_python_classifies_failures(probe_world, tmp_path, daemon, overrides, kind):
    """The classification paths, run by the oldest claimed Python (runtime features a parser cannot see)."""
    python = needs(OLDEST)
    client = getattr(probe_world, overrides.pop("client", "client"))
    params = probe_world.tls_params(
        getattr(probe_world, daemon), client_cert=client.cert, client_key=client.key, **overrides
    )
    result = run_on(python, params, tmp_path)
    assert result["failed"]
    assert result["error_kind"] == kind, result["msg"]


def ansible_core_version() -> tuple[int, ...]:
    out = subprocess.run(
        [str(VENV / "bin" / "python"), "-c", "import ansible.release; print(ansible.release.__version__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return tuple(int(part) for part in out.stdout.split(".")[:2])


@pytest.mark.parametrize("version", ["3.7", "3.6", "2.7"])
def test_older_pythons_fail_with_a_message_not_a_traceback(probe_world, tmp_path, version):
    """Meaningful where ansible-core still runs modules on these Pythons (2.16, 2.17: `make min-deps`)."""
    core = ansible_core_version()
    if core >= (2, 18):
        pytest.skip(f"ansible-core {core[0]}.{core[1]} stops Python {version} targets in its own wrapper first")
    python = needs(version)
    result = run_on(python, probe_world.tls_params(), tmp_path)
    assert result["failed"]
    text = str(result.get("msg", "")) + str(result.get("module_stderr", "")) + str(result.get("module_stdout", ""))
    assert "SyntaxError" not in text, result
    assert "Traceback" not in text, result
    assert result["error_kind"] == "unsupported_python"
    assert f"needs Python {OLDEST} or later" in result["msg"]
    assert "ansible_python_interpreter" in result["msg"]
