# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The docker_host role's molecule scenarios (extensions/molecule/), one pytest test each, so that
``make integration`` runs them (and pytest-xdist can run them side by side: each scenario starts its own
emulator in its own ephemeral directory). ``make molecule`` runs them with molecule alone."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from ansible_collections.dockerhost.azure.tests.support.ansible import ansible_env

pytestmark = [pytest.mark.emulator, pytest.mark.docker, pytest.mark.slow]

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "extensions" / "molecule").glob("*/molecule.yml"))


def test_there_are_scenarios_for_each_install_and_for_parallel_hosts():
    assert {"custom_script", "docker_extension", "two_hosts"} <= set(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario, tmp_path):
    bin_dir = pathlib.Path(sys.executable).parent
    env = ansible_env(
        tmp_path / "ansible",
        extra={
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT / ".venv"),
            "NO_COLOR": "1",
        },
    )
    proc = subprocess.run(
        [bin_dir / "molecule", "test", "-s", scenario],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-12000:]
    assert f"{scenario}" in output and "failed=0" in output
