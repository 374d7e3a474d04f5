# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Describe the machine and the tool versions a benchmark run used, and build the reference venv."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import venv

from ansible_collections.dockerhost.azure.benchmarks import harness

__all__ = ["describe", "ensure_reference_venv", "load_average"]

_REFERENCE_REQUIREMENTS = os.path.join(harness.BENCH_DIR, "requirements-reference.txt")

# Run inside each venv: versions of the packages that matter, and of the collections it can see.
_VERSIONS = """
import json, os, sys
from importlib import metadata
names = sys.argv[1].split(",")
out = {"python": sys.version.split()[0]}
for name in names:
    try:
        out[name] = metadata.version(name)
    except metadata.PackageNotFoundError:
        pass
for coll in sys.argv[2].split(",") if len(sys.argv) > 2 and sys.argv[2] else []:
    for root in sys.path:
        manifest = os.path.join(root, "ansible_collections", *coll.split("."), "MANIFEST.json")
        if os.path.isfile(manifest):
            out[coll] = json.load(open(manifest))["collection_info"]["version"]
            break
print(json.dumps(out))
"""


def _hash(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def ensure_reference_venv(log) -> harness.Side:
    """Create or refresh ``benchmarks/.venv-reference`` when its requirements file changed."""
    side = harness.reference()
    venv_dir = os.path.dirname(side.bin_dir)
    stamp = os.path.join(venv_dir, ".requirements.sha256")
    want = _hash(_REFERENCE_REQUIREMENTS)
    try:
        with open(stamp, encoding="utf-8") as handle:
            have = handle.read().strip()
    except FileNotFoundError:
        have = ""
    if side.available() and have == want:
        return side
    log(f"building reference venv {venv_dir} (ansible package; takes about a minute)")
    if not os.path.exists(side.python):
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    pip = subprocess.run(
        [side.python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", _REFERENCE_REQUIREMENTS],
        capture_output=True,
        text=True,
        check=False,
    )
    if pip.returncode != 0:
        raise harness.BenchError(f"pip could not build the reference venv:\n{pip.stdout}{pip.stderr}")
    with open(stamp, "w", encoding="utf-8") as handle:
        handle.write(want + "\n")
    return side


def _versions(python: str, packages: list[str], collections: list[str]) -> dict:
    try:
        out = subprocess.run(
            [python, "-c", _VERSIONS, ",".join(packages), ",".join(collections)],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)
    except (OSError, subprocess.CalledProcessError, ValueError) as exc:
        return {"error": str(exc)}


def _first_line(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "not available"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr).strip() else "?"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float:
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def _os_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _galaxy_version() -> str:
    with open(os.path.join(harness.REPO_ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("version:"):
                return line.split(":", 1)[1].strip().strip("'\"")
    return "?"


def describe() -> dict:
    """Machine, OS and tool versions for the report header."""
    ours, ref = harness.ours(), harness.reference()
    azure = ["azure-core", "azure-identity", "azure-mgmt-compute", "azure-mgmt-network", "azure-mgmt-resource"]
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "memory_gib": round(_mem_total_gib(), 1),
        "os": _os_name(),
        "kernel": platform.release(),
        "harness_python": sys.version.split()[0],
        "ours": {
            "collection": f"dockerhost.azure {_galaxy_version()} (this checkout)",
            **_versions(ours.python, ["ansible-core", "cryptography", *azure], []),
        },
        "reference": _versions(
            ref.python,
            ["ansible", "ansible-core", "cryptography", "requests"],
            ["community.crypto", "community.docker"],
        )
        if ref.available()
        else {"error": "reference venv missing"},
        "dockerd": _first_line(["dockerd", "--version"]),
        "docker_cli": _first_line(["docker", "--version"]),
    }
