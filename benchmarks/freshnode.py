# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fresh node (issue 12, Performance): the docker_host role's no-op run on a throw-away control node beside
today's warm-disk no-op, for the same hosts, on the emulator with the provisioning section's latencies.

Per host count: the hosts are created once (untimed) with a certificate directory. Then ``reps`` warm-disk
no-op runs (that directory: CA, client pair, server pairs, address records), then ``reps`` fresh-node no-op
runs: a new HOME, TMPDIR and ANSIBLE_HOME each, and only the CA and client pair as PEM contents in extra vars
(what the AWX credential type injects, passed as ``-e @file``). The warm runs go first because a fresh-node
run that re-issues the server certificate (what issue 12 item 2 removes) would make the next warm run a real
update. Each run: whole ansible-playbook wall time and ARM reads / writes per host from the request log.
"""

from __future__ import annotations

import json
import os
import shutil

from ansible_collections.dockerhost.azure.benchmarks import harness, provision
from ansible_collections.dockerhost.azure.benchmarks.stats import summary

__all__ = ["run"]

# The credential type's extra vars (docs/awx/credential_type.yml) and the files of a certificate path.
_PAIR = {
    "docker_host_ca_cert_pem": "ca.pem",
    "docker_host_ca_key_pem": "ca-key.pem",
    "docker_host_client_cert_pem": "cert.pem",
    "docker_host_client_key_pem": "key.pem",
}


def _missing() -> str | None:
    needs = []
    if not os.path.isfile(os.path.join(harness.REPO_ROOT, "roles", "docker_host", "tasks", "supplied.yml")):
        needs.append("the role's supplied CA and client pair (roles/docker_host/tasks/supplied.yml)")
    if not provision.emulator_present():
        needs.append("the Azure emulator")
    return ", ".join(needs) + " not in the tree yet" if needs else None


def _inventory(directory: str, hosts: int) -> str:
    path = os.path.join(directory, f"inventory-{hosts}.ini")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("[docker_hosts]\n")
        for index in range(1, hosts + 1):
            handle.write(f"fresh{index:02d} ansible_connection=local\n")
    return path


def _ssh_public_key() -> str:
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - .venv has it
    from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: PLC0415

    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _pair_file(cert_dir: str, directory: str) -> str:
    """The supplied pair as a vars file (0600), read from the certificate directory the hosts were made with."""
    pems = {}
    for variable, name in _PAIR.items():
        with open(os.path.join(cert_dir, name), encoding="ascii") as handle:
            pems[variable] = handle.read()
    path = os.path.join(directory, "pair.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(pems, handle)
    return path


def _measure(emulator, ours, hosts: int, inventory: str, variables: dict, **kwargs) -> dict:
    """One no-op run: wall time and ARM requests per host (reads, writes), from a cleared request log."""
    emulator.clear_requests()
    result = harness.run_playbook(
        ours, "scale_role.yml", inventory=inventory, forks=hosts, extra_vars=variables, timeout=1800, **kwargs
    )
    counted = provision.arm_requests(emulator.requests())
    return {
        "wall": result.wall,
        "reads_per_host": counted["reads"] / hosts,
        "writes_per_host": counted["writes"] / hosts,
        # The resource types written (path segment before the name), e.g. extensions, virtualmachines.
        "write_kinds": sorted({path.rstrip("/").split("/")[-2] for path in counted["write_paths"]}),
    }


def _side(measured: list[dict]) -> dict:
    return {
        "wall": summary([m["wall"] for m in measured]),
        "reads_per_host": summary([m["reads_per_host"] for m in measured]),
        "writes_per_host": summary([m["writes_per_host"] for m in measured]),
        "write_kinds": sorted({kind for m in measured for kind in m["write_kinds"]}),
    }


def run(host_counts: list[int], reps: int, scale: float, log) -> dict:
    missing = _missing()
    if missing:
        return {"status": "not_measured", "reason": missing}
    ours = harness.ours()
    root = harness.work_dir("freshnode")
    runs = []
    emulator = None
    try:
        emulator = provision.start_emulator(os.path.join(root, "emulator"), scale)
        ssh_key = _ssh_public_key()
        for hosts in host_counts:
            emulator.reset()
            cert_dir = os.path.join(root, f"certs-{hosts}")
            inventory = _inventory(root, hosts)
            common = {
                "docker_host_resource_group": f"bench-fresh-{hosts}",
                "docker_host_location": provision.LOCATION,
                "docker_host_allowed_cidrs": ["203.0.113.0/24"],
                "docker_host_ssh_public_keys": [ssh_key],
                "docker_host_docker_context": False,
            }
            warm_vars = {**common, "docker_host_cert_path": cert_dir}
            env = emulator.env()
            created = _measure(emulator, ours, hosts, inventory, warm_vars, extra_env=env)
            log(f"freshnode {hosts} hosts: created in {created['wall']:.1f}s (setup, not reported)")
            pair = _pair_file(cert_dir, root)
            warm, fresh = [], []
            for rep in range(reps):
                warm.append(_measure(emulator, ours, hosts, inventory, warm_vars, extra_env=env))
                log(f"freshnode {hosts} hosts, warm-disk no-op {rep + 1}/{reps}: {_line(warm[-1])}")
            for rep in range(reps):
                node = harness.work_dir("node")
                os.makedirs(os.path.join(node, "tmp"))
                node_env = {**env, "HOME": node, "TMPDIR": os.path.join(node, "tmp")}
                try:
                    fresh.append(
                        _measure(emulator, ours, hosts, inventory, common, vars_files=[pair], extra_env=node_env)
                    )
                finally:
                    shutil.rmtree(node, ignore_errors=True)
                log(f"freshnode {hosts} hosts, fresh-node no-op {rep + 1}/{reps}: {_line(fresh[-1])}")
            warm_side, fresh_side = _side(warm), _side(fresh)
            runs.append(
                {
                    "hosts": hosts,
                    "forks": hosts,
                    "warm": warm_side,
                    "fresh": fresh_side,
                    "wall_ratio": fresh_side["wall"]["median"] / warm_side["wall"]["median"],
                    "extra_reads_per_host": fresh_side["reads_per_host"]["median"]
                    - warm_side["reads_per_host"]["median"],
                }
            )
            os.unlink(pair)
    except (harness.BenchError, RuntimeError, OSError) as exc:
        return {"status": "failed", "reason": str(exc), "runs": runs}
    finally:
        if emulator is not None:
            emulator.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "status": "measured",
        "latency_scale": scale,
        "reps": reps,
        "method": (
            "The docker_host role's no-op run (`scale_role.yml`, N inventory hosts, `--forks N`) on hosts it made "
            f"before, on the emulator with the latencies of section 3 (azure profile x {scale}). Warm disk: the "
            "certificate directory of the run that made them (CA, client pair, server pairs, address records). "
            "Fresh node: a new HOME, TMPDIR and ANSIBLE_HOME per run and only the CA and client pair, as PEM "
            "contents in extra vars (what the AWX credential type injects). The warm runs go first (a fresh run "
            "that re-issues would turn the next warm run into a real update). Wall = whole ansible-playbook time; "
            "reads / writes = /subscriptions/... requests in the emulator's log per host (token and metadata "
            f"requests excluded). Median (min-max) of {reps} runs each."
        ),
        "runs": runs,
    }


def _line(measured: dict) -> str:
    return (
        f"{measured['wall']:.1f}s, {measured['reads_per_host']:.1f} reads and {measured['writes_per_host']:.1f} "
        "writes per host"
    )
