# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tarball a user installs: only what a user runs (galaxy.yml's build_ignore), and it works on its own.

The demo runs from the installed copy in a clean virtualenv that holds only the collection's
requirements.txt, with ANSIBLE_COLLECTIONS_PATH naming only the install directory: nothing from this
checkout or its .venv is importable. HOME is a fresh directory (not the passwd home), as in CI and
containers. The clean venv is cached in ~/.cache/dockerhost-azure/ (outside the checkout), keyed by
requirements.txt and the Python version.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

import pytest

from ansible_collections.dockerhost.azure.tests.support.ansible import VENV

ROOT = pathlib.Path(__file__).resolve().parents[3]
# Top-level entries of the tarball; tests/ holds only config.yml (the Python range ansible-test reads).
TOP_LEVEL = {
    "MANIFEST.json",
    "FILES.json",
    "README.md",
    "LICENSE",
    "CHANGELOG.rst",
    "requirements.txt",
    "bindep.txt",
    "azure_emulator",
    "changelogs",
    "docs",
    "meta",
    "playbooks",
    "plugins",
    "roles",
    "tests",
}
MUST_HAVE = {
    "playbooks/demo.yml",
    "azure_emulator/__main__.py",
    "meta/runtime.yml",
    "meta/execution-environment.yml",
    "roles/docker_host/README.md",
    "docs/awx/credential_type.yml",
    "roles/docker_host/meta/main.yml",
    "roles/docker_host/meta/argument_specs.yml",
    "changelogs/changelog.yaml",
    "tests/config.yml",
}


def _run(argv, env, timeout=300, cwd=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, argv))} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def _clean_env(home: pathlib.Path, path_first: pathlib.Path | None = None) -> dict[str, str]:
    """os.environ without anything that points at this checkout or configures Ansible."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ANSIBLE_", "PYTHON", "VIRTUAL_ENV", "DOCKERHOST_", "MOLECULE_", "AZURE_"))
    }
    dirs = [d for d in env.get("PATH", "").split(os.pathsep) if d and not d.startswith(str(ROOT))]
    env["PATH"] = os.pathsep.join(([str(path_first)] if path_first else []) + dirs)
    env["HOME"] = str(home)
    return env


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> pathlib.Path:
    work = tmp_path_factory.mktemp("tarball")
    env = _clean_env(work)
    env["ANSIBLE_HOME"] = str(work / "ansible")
    _run([VENV / "bin" / "ansible-galaxy", "collection", "build", "--output-path", work / "dist", ROOT], env)
    (built,) = (work / "dist").glob("dockerhost-azure-*.tar.gz")
    return built


def test_tarball_holds_only_what_users_run(tarball):
    with tarfile.open(tarball) as tar:
        names = {m.name.removeprefix("./") for m in tar.getmembers() if not m.isdir()}
    top = {n.split("/", 1)[0] for n in names}
    assert top <= TOP_LEVEL, f"unexpected in the tarball: {sorted(top - TOP_LEVEL)}"
    assert names >= MUST_HAVE, f"missing from the tarball: {sorted(MUST_HAVE - names)}"
    assert [n for n in names if n.startswith("tests/")] == ["tests/config.yml"]
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".tar.gz"))]
    # The whole developer tree stays home (490 KB with it); what remains is small.
    assert tarball.stat().st_size < 300_000, tarball.stat().st_size


@pytest.fixture(scope="module")
def clean_venv(tarball, tmp_path_factory) -> pathlib.Path:
    """python -m venv + pip install -r requirements.txt (from the tarball), cached by content."""
    with tarfile.open(tarball) as tar:
        requirements = tar.extractfile("requirements.txt").read()
    key = hashlib.sha256(requirements + sys.version.encode()).hexdigest()[:16]
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache")
    venv = cache / "dockerhost-azure" / "tarball-venv" / key
    if (venv / ".complete").exists():
        return venv
    work = tmp_path_factory.mktemp("venv")
    (work / "requirements.txt").write_bytes(requirements)
    # venvs are not relocatable: build at the final path; .complete, written last, marks it usable.
    shutil.rmtree(venv, ignore_errors=True)
    env = _clean_env(work)
    python = pathlib.Path(getattr(sys, "_base_executable", sys.executable))
    _run([python, "-m", "venv", venv], env)
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", "-r", work / "requirements.txt"], env, timeout=900)
    (venv / ".complete").write_text(requirements.decode())
    return venv


@pytest.mark.slow
@pytest.mark.docker
@pytest.mark.emulator
def test_demo_runs_from_the_installed_tarball(tarball, clean_venv, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    target = tmp_path / "collections"
    env = _clean_env(home, path_first=clean_venv / "bin")
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(target),
        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
    )
    _run([clean_venv / "bin" / "ansible-galaxy", "collection", "install", "--offline", "-p", target, tarball], env)
    installed = target / "ansible_collections" / "dockerhost" / "azure"
    assert (installed / "playbooks" / "demo.yml").is_file()

    # The emulator's documented entry point for an installed collection.
    help_env = {**env, "PYTHONPATH": str(target)}
    emulator = [clean_venv / "bin" / "python", "-m", "ansible_collections.dockerhost.azure.azure_emulator"]
    assert "start" in _run([*emulator, "--help"], help_env).stdout

    demo_dir = tmp_path / "demo"
    try:
        proc = _run(
            [clean_venv / "bin" / "ansible-playbook", "dockerhost.azure.demo", "-e", f"demo_dir={demo_dir}"],
            env,
            timeout=900,
            cwd=tmp_path,
        )
    finally:
        # The playbook stops the emulator itself; this is for a failure half-way.
        subprocess.run(
            [*emulator, "stop", "--state-dir", demo_dir / "emulator"], env=help_env, capture_output=True, check=False
        )
    assert "docker --tlsverify -H tcp://" in proc.stdout
    assert "failed=0" in proc.stdout
    assert str(ROOT) not in proc.stdout
