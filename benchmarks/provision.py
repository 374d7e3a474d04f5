# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Provisioning on the Azure emulator with Azure-like per-operation latencies.

Per repetition, on a fresh emulator state: one azure_docker_vm task from nothing (create), the same
task again (no-op: its requests are read back from the emulator's request log), then, on a fresh
state again, the same resources as one task per resource in sequence (``azure_sequential.py``).
The ideal critical path is computed from the latencies the emulator reports it is using (its profile times
its scale, the numbers in force). Polls cannot see an operation end before the Retry-After the emulator sends
(its schedule per operation is in the same report: first answer, first poll, later polls), so the report also
gives the path as a client sees it that honours Retry-After and polls every second when none is sent (as
azure_docker_vm does): context, the target is unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
from urllib.parse import urlsplit

from ansible_collections.dockerhost.azure.benchmarks import harness
from ansible_collections.dockerhost.azure.benchmarks.stats import summary

__all__ = [
    "LOCATION",
    "AzureInputs",
    "arm_requests",
    "critical_path",
    "critical_path_polled",
    "emulator_present",
    "run",
    "seen_done_at",
    "start_emulator",
    "timeline",
]

LOCATION = "westeurope"
DOCKER_PORT = 2376
_CREATE_TASK = "Network, VM and Docker extension"
# The operations on the create path, in order; a tuple is a set that runs concurrently.
_PATH = (
    ("resource group", ("Microsoft.Resources/subscriptions/resourceGroups/write",)),
    (
        "slowest of NSG / public IP / VNet",
        (
            "Microsoft.Network/networkSecurityGroups/write",
            "Microsoft.Network/publicIPAddresses/write",
            "Microsoft.Network/virtualNetworks/write",
        ),
    ),
    ("NIC", ("Microsoft.Network/networkInterfaces/write",)),
    ("VM", ("Microsoft.Compute/virtualMachines/write",)),
    ("extension", ("Microsoft.Compute/virtualMachines/extensions/write",)),
)
_WRITES = {"PUT", "PATCH", "POST", "DELETE"}
# RG, NSG, public IP, VNet (with its subnet), NIC, VM, extension: used when the module returns no resource_ids.
_MANAGED_DEFAULT = 7


def emulator_present() -> bool:
    return os.path.isfile(os.path.join(harness.REPO_ROOT, "azure_emulator", "client.py"))


def start_emulator(state_dir: str, scale: float):
    """An emulator with its ``azure`` latency profile times ``scale`` (imported late: it is another team's)."""
    from ansible_collections.dockerhost.azure.azure_emulator.client import EmulatorClient  # noqa: PLC0415

    return EmulatorClient.start(state_dir, latency="azure", latency_scale=scale)


def _path_latencies(latency: dict) -> list[tuple[str, list[tuple[str, float]]]]:
    """Each step of the create path with its operations' seconds as the emulator reports them (scaled)."""
    table = {name.lower(): seconds for name, seconds in latency["operations"].items()}
    scale = float(latency.get("scale", 1.0))
    return [(label, [(op.lower(), table.get(op.lower(), 0.0) * scale) for op in ops]) for label, ops in _PATH]


def critical_path(latency: dict) -> tuple[float, list[tuple[str, float]]]:
    """Ideal create time from the emulator's latency table: the sum over the path of each step's slowest op."""
    steps = [(label, max(seconds for _op, seconds in ops)) for label, ops in _path_latencies(latency)]
    return sum(seconds for _label, seconds in steps), steps


# What azure_docker_vm waits between two polls when Azure sends no Retry-After (_azure_sdk._POLL_SECONDS).
CLIENT_POLL_SECONDS = 1.0


def seen_done_at(seconds: float, retry_after, interval: float = CLIENT_POLL_SECONDS) -> float:
    """When a client that honours Retry-After sees an operation of ``seconds`` end.

    ``retry_after`` is the emulator's schedule for it, [first answer, first poll, later polls] (None: not
    sent, then the client waits ``interval``); the client polls after each wait until a poll finds it done.
    """
    first, first_poll, later = retry_after or (None, None, None)
    now, polls = (first or interval), 1
    while now < seconds - 1e-9:
        now += (first_poll if polls == 1 else later) or interval
        polls += 1
    return now


def critical_path_polled(latency: dict, interval: float = CLIENT_POLL_SECONDS) -> tuple[float, list[tuple[str, float]]]:
    """The ideal path as a Retry-After-honouring client sees it: each step ends at its slowest operation's first
    poll after it is done (the resource group, answered at once, is not polled)."""
    schedules = {name.lower(): value for name, value in (latency.get("retry_after") or {}).items()}
    steps = [
        (label, max((seen_done_at(sec, schedules.get(op), interval) for op, sec in ops if sec), default=0.0))
        for label, ops in _path_latencies(latency)
    ]
    return sum(seconds for _label, seconds in steps), steps


def arm_requests(entries: list[dict]) -> dict:
    """Classify request-log entries: ARM reads and writes (by resource path), and the rest (token, metadata)."""
    reads: dict[str, int] = {}
    writes: dict[str, int] = {}
    other = 0
    for entry in entries:
        path = urlsplit(entry["path"]).path.lower().rstrip("/")
        if not path.startswith("/subscriptions/"):
            other += 1
            continue
        bucket = writes if entry["method"].upper() in _WRITES else reads
        bucket[path] = bucket.get(path, 0) + 1
    return {
        "reads": sum(reads.values()),
        "writes": sum(writes.values()),
        "read_paths": reads,
        "write_paths": writes,
        "other": other,
        "total_arm": sum(reads.values()) + sum(writes.values()),
    }


_KINDS = (
    ("/extensions/", "extension"),
    ("/virtualmachines/", "VM"),
    ("/networkinterfaces/", "NIC"),
    ("/virtualnetworks/", "VNet"),
    ("/publicipaddresses/", "public IP"),
    ("/networksecuritygroups/", "NSG"),
    ("/resourcegroups/", "resource group"),
)


def _kind(path: str) -> str:
    for marker, kind in _KINDS:
        if marker in path:
            return kind
    return path


def timeline(entries: list[dict], task: dict) -> dict[str, float]:
    """Seconds from the task's start to its first ARM request, to each resource's first write, to the end."""
    start = task["start"]
    events: dict[str, float] = {}
    arm = [e for e in entries if urlsplit(e["path"]).path.lower().startswith("/subscriptions/")]
    if arm:
        events["first ARM request"] = arm[0]["time"] - start
    for entry in arm:
        if entry["method"].upper() in ("PUT", "PATCH"):
            label = f"PUT {_kind(urlsplit(entry['path']).path.lower())}"
            events.setdefault(label, entry["time"] - start)
    if arm:
        events["last ARM request"] = arm[-1]["time"] - start
    events["task end"] = task["end"] - start
    return events


def _median_timeline(runs: list[dict[str, float]]) -> list[list]:
    labels = list(dict.fromkeys(label for run in runs for label in run))
    rows = []
    for label in labels:
        values = [run[label] for run in runs if label in run]
        rows.append([label, round(summary(values)["median"], 2)])
    return sorted(rows, key=lambda row: row[1])


class AzureInputs:
    """Certificates (an independent test CA), an SSH public key and the rendered install script."""

    def __init__(self, directory: str, vm_names: list[str]) -> None:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415 - .venv has it
        from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

        from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA  # noqa: PLC0415

        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        ca = TestCA(os.path.join(directory, "pki"), name="Benchmark CA")
        self.ca_cert = ca.cert_path
        self.servers = {
            name: ca.server(f"{name}-server", dns_names=(f"{name}.{LOCATION}.cloudapp.azure.com",)) for name in vm_names
        }
        self.client = ca.client("client")
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ssh_public_key = os.path.join(directory, "id_rsa.pub")
        with open(self.ssh_public_key, "wb") as handle:
            handle.write(
                key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
                + b" bench@dockerhost\n"
            )

    def module_vars(self, resource_group: str, name: str) -> dict:
        return {
            "resource_group": resource_group,
            "vm_name": name,
            "location": LOCATION,
            "docker_port": DOCKER_PORT,
            "allowed_cidrs": ["203.0.113.0/24"],
            "admin_username": "azureuser",
            "ssh_public_key": self.ssh_public_key,
            "ca_cert": self.ca_cert,
            "server_cert": self.servers[name].cert,
            "server_key": self.servers[name].key,
        }

    def sequential_spec(self, emulator, resource_group: str, name: str) -> str:
        """JSON spec for azure_sequential.py, with the collection's install script rendered for ``name``."""
        script = os.path.join(self.directory, f"{name}-install.sh")
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(_render_install_script(self.ca_cert, self.servers[name].cert, self.servers[name].key))
        spec = {
            "endpoint": emulator.endpoint,
            "audience": emulator.audience,
            "resource_group": resource_group,
            "name": name,
            "location": LOCATION,
            "dns_label": name,
            "docker_port": DOCKER_PORT,
            "allowed_cidrs": ["203.0.113.0/24"],
            "admin_username": "azureuser",
            "ssh_public_key": self.ssh_public_key,
            "install_script": script,
        }
        path = os.path.join(self.directory, f"{name}-spec.json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(spec, handle)
        return path


def _render_install_script(ca_cert: str, server_cert: str, server_key: str) -> str:
    """The collection's Docker install script with these certificates (the payload both flows deliver)."""
    from ansible_collections.dockerhost.azure.plugins.module_utils import _install_script  # noqa: PLC0415

    def read(path: str) -> bytes:
        with open(path, "rb") as handle:
            return handle.read()

    return _install_script.render_install_script(DOCKER_PORT, read(ca_cert), read(server_cert), read(server_key))


def _missing() -> str | None:
    needs = []
    if not harness.module_present("azure_docker_vm"):
        needs.append("module azure_docker_vm")
    if not emulator_present():
        needs.append("the Azure emulator (azure_emulator)")
    if not os.path.isfile(os.path.join(harness.REPO_ROOT, "plugins", "module_utils", "_install_script.py")):
        needs.append("the install script (plugins/module_utils/_install_script.py)")
    return ", ".join(needs) + " not in the tree yet" if needs else None


def _ids_count(value) -> int:
    if isinstance(value, dict):
        return sum(1 for v in value.values() if v)
    if isinstance(value, list):
        return len(value)
    return 0


def run(reps: int, scale: float, log) -> dict:
    missing = _missing()
    if missing:
        return {"status": "not_measured", "reason": missing}
    ours = harness.ours()
    root = harness.work_dir("provision")
    script = os.path.join(harness.BENCH_DIR, "azure_sequential.py")
    create, create_task, noop_wall, noop_task, seq_wall, seq_task = [], [], [], [], [], []
    managed = 0
    worst: dict = {}  # the no-op run with the most ARM requests
    create_timelines, seq_timelines = [], []
    emulator = None
    try:
        emulator = start_emulator(os.path.join(root, "emulator"), scale)
        latency = emulator.latency()
        path_seconds, steps = critical_path(latency)
        inputs = AzureInputs(os.path.join(root, "inputs"), ["benchvm"])
        env = {**emulator.env(), "BENCH_RESULT_KEYS": "resource_ids,changed"}
        for rep in range(reps):
            emulator.reset()
            variables = inputs.module_vars(f"bench-rg-{rep}", "benchvm")
            first = harness.run_playbook(ours, "provision_ours.yml", extra_vars=variables, extra_env=env)
            create.append(first.wall)
            create_task.append(first.task_time(_CREATE_TASK))
            managed = max(managed, _ids_count(first.task(_CREATE_TASK)["result"].get("resource_ids")))
            entries = emulator.requests()
            create_timelines.append(timeline(entries, first.task(_CREATE_TASK)))
            seen = max((e["seq"] for e in entries), default=0)
            again = harness.run_playbook(ours, "provision_ours.yml", extra_vars=variables, extra_env=env)
            noop_wall.append(again.wall)
            noop_task.append(again.task_time(_CREATE_TASK))
            counted = arm_requests(emulator.requests(since=seen))
            if not worst or counted["total_arm"] > worst["total_arm"]:
                worst = counted

            emulator.reset()
            spec = inputs.sequential_spec(emulator, f"bench-seq-{rep}", "benchvm")
            sequential = harness.run_playbook(
                ours, "provision_sequential.yml", extra_vars={"script": script, "spec": spec}, extra_env=env
            )
            seq_wall.append(sequential.wall)
            seq_task.append(sequential.task_time())
            span = {"start": sequential.tasks[0]["start"], "end": sequential.tasks[-1]["end"]}
            seq_timelines.append(timeline(emulator.requests(), span))
            log(
                f"provision rep {rep + 1}/{reps}: create {create[-1]:.1f}s, no-op {noop_wall[-1]:.1f}s "
                f"({counted['reads']} reads, {counted['writes']} writes), one task per resource {seq_wall[-1]:.1f}s"
            )
    except (harness.BenchError, RuntimeError, OSError) as exc:
        return {"status": "failed", "reason": str(exc)}
    finally:
        if emulator is not None:
            emulator.stop()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "status": "measured",
        "reps": reps,
        "latency": {
            "scale": latency.get("scale", scale),
            "profile": latency.get("profile"),
            "operations": {
                op: round(sec * float(latency.get("scale", 1.0)), 3) for op, sec in latency["operations"].items()
            },
            "source": "The profile's numbers and where they come from (public reports of Azure VM, extension "
            "and network operation times; an order of magnitude, not a measurement): azure_emulator/README.md, "
            "section Latency.",
        },
        "critical_path": {"seconds": round(path_seconds, 3), "steps": [[label, round(sec, 3)] for label, sec in steps]},
        "critical_path_polled": _polled(latency),
        "create": summary(create),
        "create_task": summary(create_task),
        "create_timeline": _median_timeline(create_timelines),
        "noop": {
            "wall": summary(noop_wall),
            "task": summary(noop_task),
            "gets": worst["reads"],
            "writes": worst["writes"],
            "managed_resources": managed or _MANAGED_DEFAULT,
            "max_reads_per_resource": max(worst["read_paths"].values(), default=0),
            "by_kind": {_short(p): n for p, n in worst["read_paths"].items()}
            | {f"{_short(p)} (write)": n for p, n in worst["write_paths"].items()},
        },
        "sequential": {
            "label": "one task per resource, in sequence (Azure SDK)",
            "method": "seven ansible.builtin.command tasks, each running benchmarks/azure_sequential.py for one "
            "resource (fresh process: token, GET, PUT if missing, wait), as seven azure.azcollection tasks would, "
            "with the Azure SDK's defaults (its poller waits 30 s between polls when ARM sends no Retry-After).",
            "wall": summary(seq_wall),
            "task": summary(seq_task),
            "timeline": _median_timeline(seq_timelines),
        },
    }


def _short(path: str) -> str:
    """``.../providers/microsoft.network/networksecuritygroups/x`` -> ``networksecuritygroups/x``."""
    parts = path.split("/")
    if "providers" in parts:
        index = len(parts) - 1 - parts[::-1].index("providers")
        return "/".join(parts[index + 2 :])
    return "/".join(parts[3:]) or path


def _polled(latency: dict) -> dict | None:
    if not latency.get("retry_after"):
        return None
    seconds, polled = critical_path_polled(latency)
    schedules = latency["retry_after"]
    return {
        "client_poll_seconds": CLIENT_POLL_SECONDS,
        "retry_after": {op: schedules[op.lower()] for _label, ops in _PATH for op in ops if op.lower() in schedules},
        "seconds": round(seconds, 3),
        "steps": [[label, round(sec, 3)] for label, sec in polled],
    }
