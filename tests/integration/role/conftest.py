# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the collection's playbooks the way AWX / Automation Controller does: ansible-runner with a private
data directory (project, inventory, env/envvars holding what a credential injects), the JSON job events
of its callback as the record of what was shown."""

from __future__ import annotations

import itertools
import json
import os
import pathlib
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
import yaml

from ansible_collections.dockerhost.azure.tests.integration.role.jobs import FIELDS, HOST, PLAY, inject, pem_sha256
from ansible_collections.dockerhost.azure.tests.support.ansible import VENV, ansible_env, ansible_settings

ROOT = pathlib.Path(__file__).resolve().parents[3]
BIN = pathlib.Path(sys.executable).parent


@dataclass
class RunnerResult:
    status: str
    rc: int
    stdout: str
    events: list[dict] = field(repr=False)
    artifacts: pathlib.Path = field(repr=False)

    def task_results(self, task_name: str) -> list[dict]:
        return [
            e["event_data"]["res"]
            for e in self.events
            if e.get("event") == "runner_on_ok" and e["event_data"].get("task") == task_name
        ]


@dataclass
class RunnerProject:
    """A private data directory for ``ansible-runner run``; every run gets its own artifacts."""

    base: pathlib.Path
    work: pathlib.Path
    envvars: dict
    runs: int = 0
    # Environment of the ansible-runner process itself (a fresh node's HOME, TMPDIR), over os.environ.
    process_env: dict = field(default_factory=dict)

    @property
    def private(self) -> pathlib.Path:
        return self.base / "runner"

    def inventory(self, hosts: list[str], **variables) -> None:
        """Group docker_hosts, as the playbooks expect, with the role's variables."""
        inventory = {"docker_hosts": {"hosts": dict.fromkeys(hosts), "vars": variables}}
        (self.private / "inventory" / "hosts.yml").write_text(yaml.safe_dump(inventory))

    def run(
        self, playbook: str, verbosity: int = 0, extra_env: dict | None = None, extravars: dict | None = None
    ) -> RunnerResult:
        self.runs += 1
        ident = f"{self.runs}-{pathlib.Path(playbook).stem}"
        env_dir = self.private / "env"
        (env_dir / "envvars").write_text(yaml.safe_dump({**self.envvars, **(extra_env or {})}))
        (env_dir / "extravars").write_text(yaml.safe_dump(extravars or {}))
        cmdline = env_dir / "cmdline"
        if verbosity:
            cmdline.write_text("-" + "v" * verbosity)
        elif cmdline.exists():
            cmdline.unlink()
        proc = subprocess.run(
            [BIN / "ansible-runner", "run", self.private, "-p", playbook, "--ident", ident],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **self.process_env},
        )
        artifacts = self.private / "artifacts" / ident
        events = [
            json.loads(p.read_text())
            for p in sorted((artifacts / "job_events").glob("*.json"), key=lambda p: int(p.name.split("-")[0]))
        ]
        status = (artifacts / "status").read_text().strip() if (artifacts / "status").exists() else "missing"
        return RunnerResult(status=status, rc=proc.returncode, stdout=proc.stdout, events=events, artifacts=artifacts)


def new_runner_project(base: pathlib.Path, emulator) -> RunnerProject:
    """A runner project under ``base`` with the collection's playbooks copied unchanged.

    ``envvars`` starts as exactly what AWX's Azure credential injects, plus the emulator's CA bundle
    (Azure Stack Hub style) and this checkout as the collection path; tests add inventory variables.
    """
    private = base / "runner"
    (private / "project").mkdir(parents=True)
    (private / "env").mkdir()
    (private / "inventory").mkdir()
    for name in ("create.yml", "destroy.yml", "probe.yml"):
        shutil.copy(ROOT / "playbooks" / name, private / "project" / name)
    work = base / "work"
    (work / "docker").mkdir(parents=True)
    envvars = {
        **emulator.env(),
        **ansible_settings(work / "ansible"),
        "DOCKER_CONFIG": str(work / "docker"),
    }
    envvars.pop("CURL_CA_BUNDLE", None)
    return RunnerProject(base=base, work=work, envvars=envvars)


@pytest.fixture
def runner_project(tmp_path, azure_emulator):
    """A runner project with the collection's playbooks copied unchanged, against a fresh emulator."""
    return new_runner_project(tmp_path, azure_emulator)


@pytest.fixture
def fresh_node(tmp_path, azure_emulator):
    """Factory: every call is a new AWX job on a new execution node: its own private data directory, HOME
    (no ~/.docker), TMPDIR and ANSIBLE_HOME; nothing of an earlier job is there. What a job may carry over
    is what the test passes it (the supplied pair as extra vars, as the credential type injects them)."""
    made = itertools.count(1)

    def make(label: str = "job") -> RunnerProject:
        project = new_runner_project(tmp_path / f"node{next(made)}-{label}", azure_emulator)
        home, scratch = project.base / "home", project.base / "tmp"
        home.mkdir()
        scratch.mkdir()
        project.process_env = {"HOME": str(home), "TMPDIR": str(scratch)}
        project.envvars.update(project.process_env)
        return project

    return make


@dataclass(frozen=True)
class SuppliedPair:
    """A CA and client pair made once, elsewhere (what the AWX credential holds), read back as PEM texts."""

    directory: pathlib.Path
    pems: dict  # file name -> PEM text
    extravars: dict  # what the credential type injects

    @property
    def ca_sha256(self) -> str:
        return pem_sha256(self.pems["ca.pem"])


@pytest.fixture(scope="session")
def supplied_pair(tmp_path_factory):
    """Factory: ``supplied_pair("ca1")`` is the same pair every time it is asked for by that name (one per
    session), made by docker_tls_certs on no node of any job."""
    made: dict[str, SuppliedPair] = {}

    def pair(name: str = "ca1") -> SuppliedPair:
        if name not in made:
            base = tmp_path_factory.mktemp(f"pair-{name}")
            directory = base / "pki"
            proc = subprocess.run(
                [BIN / "ansible", "localhost", "-m", "dockerhost.azure.docker_tls_certs", "-a", f"path={directory}"],
                env=ansible_env(base / "ansible", extra={"HOME": str(base)}),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
            pems = {file: (directory / file).read_text() for file in FIELDS.values()}
            extravars = inject({field: pems[file] for field, file in FIELDS.items()})
            made[name] = SuppliedPair(directory=directory, pems=pems, extravars=extravars)
        return made[name]

    return pair


@pytest.fixture
def ssh_public_key() -> str:
    """An OpenSSH public key for the VMs' admin user; its private key is thrown away."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.fixture
def node(tmp_path, azure_emulator):
    """A fresh control node: HOME without .docker, its own TMPDIR; the pair made elsewhere, then read into
    a vars file (what the credential or the vault holds)."""
    home = tmp_path / "home"
    home.mkdir()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = ansible_env(tmp_path / "ansible", extra={**azure_emulator.env(), "HOME": str(home), "TMPDIR": str(scratch)})
    env["DOCKER_CONFIG"] = str(tmp_path / "docker-config")
    vault = tmp_path / "vault"
    made = subprocess.run(
        [VENV / "bin" / "ansible", "localhost", "-m", "dockerhost.azure.docker_tls_certs", "-a", f"path={vault}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    pems = tmp_path / "pems.yml"
    pems.write_text(yaml.safe_dump(inject({field: (vault / name).read_text() for field, name in FIELDS.items()})))
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"docker_hosts": {"hosts": {HOST: None}}}))

    def run(playbook, *extra_vars: str, pair: bool = True) -> subprocess.CompletedProcess:
        argv = [VENV / "bin" / "ansible-playbook", "-vvv", "-i", tmp_path / "inventory.yml", playbook]
        argv += ["-e", f"@{pems}"] if pair else []
        for item in extra_vars:
            argv += ["-e", item]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)

    run.home, run.scratch, run.vault, run.play = home, scratch, vault, tmp_path / "play.yml"
    run.ansible_home = tmp_path / "ansible"
    return run
