# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scale: the docker_host role for 1, 5 and 20 hosts in one play, forks = hosts, on the emulator.

Each run starts from a fresh emulator state (same latency profile as the provisioning section) and
a fresh certificate directory: total wall time of the play, peak controller memory (PSS summed over
ansible-playbook, its forks and the module processes they start) and the ARM requests per host from
the emulator's request log.
"""

from __future__ import annotations

import os
import shutil

from ansible_collections.dockerhost.azure.benchmarks import harness, provision

__all__ = ["run"]


def _inventory(directory: str, hosts: int) -> str:
    path = os.path.join(directory, f"inventory-{hosts}.ini")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("[docker_hosts]\n")
        for index in range(1, hosts + 1):
            handle.write(f"bench{index:02d} ansible_connection=local\n")
    return path


def _missing() -> str | None:
    needs = []
    if not os.path.isfile(os.path.join(harness.REPO_ROOT, "roles", "docker_host", "tasks", "main.yml")):
        needs.append("role docker_host")
    for module in ("docker_tls_certs", "azure_docker_vm", "docker_host_probe"):
        if not harness.module_present(module):
            needs.append(f"module {module}")
    if not provision.emulator_present():
        needs.append("the Azure emulator")
    return ", ".join(needs) + " not in the tree yet" if needs else None


def run(host_counts: list[int], scale: float, log) -> dict:
    missing = _missing()
    if missing:
        return {"status": "not_measured", "reason": missing}
    ours = harness.ours()
    root = harness.work_dir("scale")
    runs = []
    one_host_tasks: list[list] = []
    emulator = None
    try:
        emulator = provision.start_emulator(os.path.join(root, "emulator"), scale)
        ssh_key = provision.AzureInputs(os.path.join(root, "inputs"), []).ssh_public_key
        for hosts in host_counts:
            emulator.reset()
            cert_dir = os.path.join(root, f"certs-{hosts}")
            result = harness.run_playbook(
                ours,
                "scale_role.yml",
                inventory=_inventory(root, hosts),
                forks=hosts,
                extra_vars={
                    "docker_host_resource_group": f"bench-scale-{hosts}",
                    "docker_host_location": provision.LOCATION,
                    "docker_host_allowed_cidrs": ["203.0.113.0/24"],
                    "docker_host_cert_path": cert_dir,
                    "docker_host_ssh_public_keys": [_read(ssh_key)],
                    "docker_host_docker_context": False,
                },
                extra_env=emulator.env(),
                sample_memory=True,
                timeout=1800,
            )
            if hosts == 1:
                durations: dict[str, float] = {}
                for task in result.tasks:
                    durations[task["task"]] = durations.get(task["task"], 0.0) + task["end"] - task["start"]
                top = sorted(durations.items(), key=lambda item: -item[1])[:8]
                one_host_tasks = [[name, round(seconds, 2)] for name, seconds in top]
            entries = emulator.requests()
            counted = provision.arm_requests(entries)
            methods: dict[str, int] = {}
            for entry in entries:
                if entry["path"].lower().startswith("/subscriptions/"):
                    methods[entry["method"]] = methods.get(entry["method"], 0) + 1
            runs.append(
                {
                    "hosts": hosts,
                    "forks": hosts,
                    "wall": result.wall,
                    "peak_pss_mib": result.peak_pss_kib / 1024,
                    "peak_processes": result.peak_processes,
                    "requests_per_host": counted["total_arm"] / hosts,
                    "by_method": ", ".join(f"{m} {n / hosts:.1f}" for m, n in sorted(methods.items())),
                    "auth_and_metadata_requests": counted["other"],
                }
            )
            log(
                f"scale {hosts} hosts: {result.wall:.1f}s, peak {result.peak_pss_kib / 1024:.0f} MiB PSS, "
                f"{counted['total_arm'] / hosts:.1f} ARM requests per host"
            )
            shutil.rmtree(cert_dir, ignore_errors=True)
    except (harness.BenchError, RuntimeError, OSError) as exc:
        return {"status": "failed", "reason": str(exc), "runs": runs}
    finally:
        if emulator is not None:
            emulator.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "status": "measured",
        "latency_scale": scale,
        "method": (
            "The docker_host role (certificates, azure_docker_vm, docker_host_probe, env file) for N inventory "
            f"hosts in one play with `--forks N`, on a fresh emulator state with the same latencies as section 3 "
            f"(azure profile x {scale}). Total = whole ansible-playbook wall time. Peak controller memory = the "
            "highest sum of PSS over ansible-playbook and all its descendants (forks and module processes), sampled "
            "every 100 ms; the emulator and its dockerds are not counted. ARM requests = every /subscriptions/... "
            "request in the emulator's log, divided by N (token and metadata requests excluded)."
        ),
        "runs": runs,
        "one_host_tasks": one_host_tasks,
    }


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip()
