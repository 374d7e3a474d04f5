# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a user or an AWX admin gets: the galaxy tarball installs, ansible-doc renders every module and
the role from the installed copy, the playbooks resolve by name, and ansible-builder makes an execution
environment build context whose introspection finds the collection's requirements."""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

from ansible_collections.dockerhost.azure.tests.support.ansible import ansible_env

ROOT = pathlib.Path(__file__).resolve().parents[3]
BIN = pathlib.Path(sys.executable).parent
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))


def _run(argv, env=None, cwd=None, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    if check and proc.returncode != 0:
        command = " ".join(map(str, argv))
        pytest.fail(f"{command} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    """Build the tarball from the checkout and install it into a fresh collections path."""
    work = tmp_path_factory.mktemp("galaxy")
    target = work / "collections"
    env = ansible_env(work / "ansible-home", collections_path=target, extra={"ANSIBLE_DEPRECATION_WARNINGS": "true"})
    # Nothing may come from the checkout: `make` exports a collections path and PYTHONPATH that see it,
    # and with them ansible-galaxy would call the collection "already installed" and install nothing.
    env.pop("PYTHONPATH", None)
    _run([BIN / "ansible-galaxy", "collection", "build", "--output-path", work / "dist", str(ROOT)], env=env)
    (tarball,) = (work / "dist").glob("dockerhost-azure-*.tar.gz")
    _run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", target, tarball], env=env)
    return {"tarball": tarball, "path": target, "root": target / "ansible_collections/dockerhost/azure", "env": env}


def test_tarball_installs_with_its_manifest(installed):
    manifest = json.loads((installed["root"] / "MANIFEST.json").read_text())
    galaxy = yaml.safe_load((ROOT / "galaxy.yml").read_text())
    assert manifest["collection_info"]["namespace"] == "dockerhost"
    assert manifest["collection_info"]["version"] == galaxy["version"]
    listed = _run([BIN / "ansible-galaxy", "collection", "list", "-p", installed["path"]], env=installed["env"])
    assert "dockerhost.azure" in listed.stdout
    # Development leftovers stay out of the tarball.
    names = subprocess.run(["tar", "tzf", installed["tarball"]], capture_output=True, text=True, check=True).stdout
    assert not [n for n in names.splitlines() if n.startswith((".venv", ".git/", "tests/output")) or "__pycache__" in n]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in str(text).split("."))


def _module_release(module: str) -> str:
    """The release that brought ``module``: a released one from changelogs/changelog.yaml, or else the next
    minor release (a module added since the last release says so with version_added)."""
    releases = yaml.safe_load((ROOT / "changelogs" / "changelog.yaml").read_text())["releases"]
    for version, release in sorted(releases.items(), key=lambda item: _version(item[0])):
        if module in [m["name"] for m in (release.get("modules") or [])]:
            return str(version)
    major, minor, _patch = _version(max(releases, key=_version))
    return f"{major}.{minor + 1}.0"


def test_ansible_doc_renders_every_module(installed):
    assert {"docker_tls_certs", "docker_host_probe", "azure_docker_vm"} <= set(MODULES)
    names = [f"dockerhost.azure.{m}" for m in MODULES]
    docs = json.loads(_run([BIN / "ansible-doc", "--json", *names], env=installed["env"]).stdout)
    for name in names:
        doc = docs[name]["doc"]
        assert doc["short_description"], name
        assert doc["version_added"] == _module_release(name.rsplit(".", 1)[1]), name
        assert str(installed["root"]) in doc["filename"], f"{name} was not read from the installed copy"
    for name in names:  # the text rendering resolves the semantic markup and cross references
        text = _run([BIN / "ansible-doc", name], env=installed["env"])
        assert text.stdout.startswith(f"> MODULE {name}"), name
        assert "WARNING" not in text.stderr and "ERROR" not in text.stderr, text.stderr


def test_ansible_doc_renders_the_role(installed):
    proc = _run([BIN / "ansible-doc", "-t", "role", "dockerhost.azure.docker_host"], env=installed["env"])
    assert re.search(r"ENTRY POINT: \*?main\b", proc.stdout) and re.search(r"ENTRY POINT: \*?probe\b", proc.stdout)
    assert "docker_host_allowed_cidrs" in proc.stdout
    assert "WARNING" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("playbook", ["create", "destroy", "probe", "demo"])
def test_playbooks_resolve_by_name_from_the_installed_copy(installed, playbook, tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("docker_hosts:\n  hosts:\n    web-1:\n")
    _run(
        [BIN / "ansible-playbook", "-i", inventory, "--syntax-check", f"dockerhost.azure.{playbook}"],
        env=installed["env"],
    )


def test_execution_environment_metadata_is_valid_v3():
    from ansible_builder.ee_schema import validate_schema  # noqa: PLC0415 - a dev requirement

    definition = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
    validate_schema(definition)
    assert definition["version"] == 3
    # ansible-builder resolves a collection's files from the collection root.
    assert (ROOT / definition["dependencies"]["python"]).is_file()
    assert (ROOT / definition["dependencies"]["system"]).is_file()


def test_ansible_builder_introspection_finds_our_requirements(installed):
    proc = _run([BIN / "ansible-builder", "introspect", installed["path"]])
    data = yaml.safe_load(proc.stdout.split("---", 1)[1])
    python = [line.split("#")[0].strip() for line in data["python"]]
    wanted = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#") and not line.startswith("ansible-core")
    ]
    assert sorted(python) == sorted(wanted)
    system = [line.split("#")[0].strip() for line in data["system"]]
    assert "openssl [platform:dpkg]" in system


def test_ansible_builder_create_makes_a_build_context(installed, tmp_path):
    """The EE definition an AWX admin writes (see meta/execution-environment.yml), with our tarball."""
    definition = {
        "version": 3,
        "images": {"base_image": {"name": "quay.io/ansible/awx-ee:latest"}},
        "dependencies": {
            "galaxy": {"collections": [{"name": f"collections/{installed['tarball'].name}", "type": "file"}]}
        },
        "additional_build_files": [{"src": str(installed["tarball"]), "dest": "collections"}],
    }
    (tmp_path / "execution-environment.yml").write_text(yaml.safe_dump(definition))
    context = tmp_path / "context"
    _run(
        [
            BIN / "ansible-builder",
            "create",
            "-f",
            "execution-environment.yml",
            "-c",
            context,
            "--output-filename",
            "Containerfile",
        ],
        cwd=tmp_path,
    )
    containerfile = (context / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile
    # Inside the build, introspection reads meta/execution-environment.yml of the installed collection.
    assert "introspect.py introspect" in containerfile
    assert (context / "_build" / "collections" / installed["tarball"].name).is_file()
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert requirements["collections"][0]["type"] == "file"
