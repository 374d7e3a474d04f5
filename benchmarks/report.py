# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn results.json into benchmarks/REPORT.md and benchmarks/chart.png.

Every verdict is computed here from the measured numbers; a section that was not measured says so
and its targets read "not measured", never a guess.
"""

from __future__ import annotations

import os

from ansible_collections.dockerhost.azure.benchmarks import harness
from ansible_collections.dockerhost.azure.benchmarks.stats import fmt_range, fmt_seconds

__all__ = ["CHART_PNG", "REPORT_MD", "targets", "write"]

REPORT_MD = os.path.join(harness.BENCH_DIR, "REPORT.md")
CHART_PNG = os.path.join(harness.BENCH_DIR, "chart.png")

HOLDS, FAILS, UNMEASURED = "holds", "**does not hold**", "not measured"

_OURS_COLOR, _REF_COLOR, _IDEAL_COLOR = "#1f6feb", "#9a9a9a", "#2da44e"
_OURS_MODULE_COLOR = "#8cb4f5"


def _measured(section: dict | None) -> bool:
    return bool(section) and section.get("status") == "measured"


def _why_not(section: dict | None) -> str:
    if not section:
        return "not run"
    return f"{section.get('status', 'not run').replace('_', ' ')}: {section.get('reason', '')}".strip()


# -- targets -------------------------------------------------------------------------------------


def _cert_targets(section: dict | None) -> list[tuple[str, str, str]]:
    name = "#3 docker_tls_certs >= 3x faster than the community.crypto chain, same key type"
    if not _measured(section):
        return [(f"{name}, cold and warm", _why_not(section), UNMEASURED)]
    rows = []
    for comp in section["comparisons"]:
        if not comp["counts_for_target"]:
            continue
        key = comp["title"].split(": ", 1)[-1]
        for phase in ("cold", "warm"):
            value = comp[f"{phase}_ratio"]
            rows.append((f"{name}: {key}, {phase}", f"{value:.2f}x", HOLDS if value >= 3 else FAILS))
    return rows


def _probe_targets(section: dict | None) -> list[tuple[str, str, str]]:
    name = "#4 docker_host_probe >= 1.5x faster than docker_host_info (whole task)"
    if not _measured(section):
        return [(name, _why_not(section), UNMEASURED)]
    value = section["task_ratio"]
    text = f"{value:.2f}x by task time ({section['playbook_ratio']:.2f}x by whole playbook wall time) on the controller"
    module = section["module_task_ratio"]
    return [
        (name, text, HOLDS if value >= 1.5 else FAILS),
        (
            f"{name}, run as a module on a managed node",
            f"{module:.2f}x by task time ({section['module_playbook_ratio']:.2f}x by whole playbook wall time)",
            HOLDS if module >= 1.5 else FAILS,
        ),
    ]


def _provision_targets(section: dict | None) -> list[tuple[str, str, str]]:
    create = "#6 create within 10% + 2 s of the critical path"
    noop_gets = "#6 no-op re-run: at most one GET per managed resource, no write"
    noop_time = "#6 no-op re-run under 3 s"
    if not _measured(section):
        why = _why_not(section)
        return [(create, why, UNMEASURED), (noop_gets, why, UNMEASURED), (noop_time, why, UNMEASURED)]
    path = section["critical_path"]["seconds"]
    bound = path * 1.1 + 2
    task = section["create_task"]["median"]
    wall = section["create"]["median"]
    noop = section["noop"]
    gets, writes, managed = noop["gets"], noop["writes"], noop["managed_resources"]
    return [
        (
            create,
            f"task {fmt_seconds(task)}, whole playbook {fmt_seconds(wall)}; bound {fmt_seconds(bound)} "
            f"(critical path {fmt_seconds(path)}"
            + (
                f"; {fmt_seconds(section['critical_path_polled']['seconds'])} for a client that honours the "
                "emulator's Retry-After"
                if section.get("critical_path_polled")
                else ""
            )
            + ")",
            HOLDS if task <= bound else FAILS,
        ),
        (
            noop_gets,
            f"{gets} reads for {managed} managed resources, at most {noop['max_reads_per_resource']} on one; "
            f"{writes} writes (worst run)",
            HOLDS if gets <= managed and noop["max_reads_per_resource"] <= 1 and writes == 0 else FAILS,
        ),
        (
            noop_time,
            f"task {fmt_seconds(noop['task']['median'])}, whole playbook {fmt_seconds(noop['wall']['median'])}",
            HOLDS if noop["wall"]["median"] < 3 else FAILS,
        ),
    ]


def _freshnode_targets(section: dict | None) -> list[tuple[str, str, str]]:
    name = "#12 fresh-node no-op: the warm-disk no-op's writes (zero) and at most one extra read per host"
    if not _measured(section):
        return [(name, _why_not(section), UNMEASURED)]
    rows = []
    for run in section["runs"]:
        warm, fresh = run["warm"], run["fresh"]
        writes = fresh["writes_per_host"]["max"]
        extra = run["extra_reads_per_host"]
        rows.append(
            (
                f"{name}: {run['hosts']} host{'s' if run['hosts'] != 1 else ''}",
                f"writes per host {writes:g} (warm {warm['writes_per_host']['max']:g}), worst run; reads per host "
                f"{fresh['reads_per_host']['median']:.1f} vs {warm['reads_per_host']['median']:.1f} ({extra:+.1f})",
                HOLDS if writes == 0 and warm["writes_per_host"]["max"] == 0 and extra <= 1 else FAILS,
            )
        )
    return rows


def targets(results: dict) -> list[tuple[str, str, str]]:
    """``(target, measured, verdict)`` rows for every performance target the issues set."""
    return (
        _cert_targets(results.get("certs"))
        + _probe_targets(results.get("probe"))
        + _provision_targets(results.get("provision"))
        + _freshnode_targets(results.get("freshnode"))
    )


# -- markdown ------------------------------------------------------------------------------------


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _h in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _machine(meta: dict, results: dict | None = None) -> list[str]:
    ours, ref = meta.get("ours", {}), meta.get("reference", {})
    when = {
        name: section["measured_at"]
        for name in ("certs", "probe", "provision", "scale", "guests", "guest_vm", "freshnode")
        if isinstance(section := (results or {}).get(name), dict) and section.get("measured_at")
    }

    def versions(info: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in info.items() if k != "error") or info.get("error", "?")

    lines = [
        "## Machine and versions",
        "",
        f"- Run: {meta.get('date', '?')}, {meta.get('total_seconds', '?')} s in all; "
        f"load average (1/5/15 min) before {meta.get('load_before', '?')}, after {meta.get('load_after', '?')}.",
        f"- CPU: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores available; "
        f"memory {meta.get('memory_gib', '?')} GiB; {meta.get('os', '?')}, kernel {meta.get('kernel', '?')}. "
        "A shared machine: expect noise, read the ranges.",
        f"- Ours (`.venv`): {versions(ours)}.",
        f"- Reference (`benchmarks/.venv-reference`): {versions(ref)}.",
        f"- Docker: {meta.get('dockerd', '?')} (the daemon under test); CLI {meta.get('docker_cli', '?')}.",
    ]
    if len(set(when.values())) > 1:
        # --only re-measured some sections: the run above is the latest, the others kept their results.
        lines.append(
            "- Sections measured (`--only` keeps earlier ones): " + ", ".join(f"{k} {v}" for k, v in when.items()) + "."
        )
    return [*lines, ""]


def _certs(section: dict | None) -> list[str]:
    lines = ["## 1. Certificates: docker_tls_certs vs the community.crypto chain", ""]
    if not _measured(section):
        return [*lines, f"Not measured ({_why_not(section)}).", ""]
    lines += [
        "Whole `ansible-playbook` wall time (process start to exit) for the complete Docker TLS set: CA, client "
        "pair and one server pair (SANs: one DNS name, one IP). Ours is one `docker_tls_certs` task; the reference is "
        "the community.crypto way (`openssl_privatekey` + `openssl_csr` + `x509_certificate` for CA, server and "
        "client, plus the directory: 10 tasks), CA valid 3650 days and leaves 365 days on both sides. Cold: empty "
        "directory. Warm: the same playbook again on the files the cold run wrote (a no-op). "
        f"Median (min-max) of {section['reps']} repetitions, configurations interleaved.",
        "",
    ]
    rows = []
    for cfg in section["configs"].values():
        rows.append(
            [
                cfg["label"],
                cfg["key_type"],
                cfg["tasks_in_playbook"],
                fmt_range(cfg["cold"]),
                fmt_range(cfg["warm"]),
                cfg["warm_changed_tasks"],
            ]
        )
    lines += _table(
        ["Configuration", "Key type (read back)", "Tasks", "Cold", "Warm", "Tasks changed on warm runs"], rows
    )
    rows = [
        [
            c["title"],
            section["configs"][c["ours"]]["label"],
            section["configs"][c["reference"]]["label"],
            f"{c['cold_ratio']:.2f}x",
            f"{c['warm_ratio']:.2f}x",
        ]
        for c in section["comparisons"]
    ]
    lines += ["Speed-up (reference median / ours median):", ""]
    lines += _table(["Comparison", "Ours", "Reference", "Cold", "Warm"], rows)
    task_rows = [
        [cfg["label"], fmt_range(cfg["cold_tasks"]), fmt_range(cfg["warm_tasks"])]
        for cfg in section["configs"].values()
    ]
    lines += ["Time inside the tasks only (sum of task durations from the timing callback), for reference:", ""]
    lines += _table(["Configuration", "Cold, tasks", "Warm, tasks"], task_rows)
    return lines


def _probe(section: dict | None) -> list[str]:
    lines = ["## 2. Probe: docker_host_probe vs community.docker's docker_host_info", ""]
    if not _measured(section):
        return [*lines, f"Not measured ({_why_not(section)}).", ""]
    whole = section["whole_task"]
    lines += [
        "All against the same real dockerd (Debian's, from `azure_emulator/dockerd.py`) with mutual TLS, connecting "
        "by IP and verifying the server name with `tls_hostname`, all on localhost. docker_host_probe runs two "
        "ways: on the controller (local connection, how a remote Docker host is probed: its action plugin probes "
        "inside Ansible's own process, no module is started) and as on a managed node (the `elsewhere` test "
        "connection, `tests/support/connection_plugins/`: the module is sent, started and cleaned up as over "
        "SSH). docker_host_info is always a module. Task time = the probe task's duration from the timing "
        "callback (task start to result: for a module, its transfer, interpreter start, imports and the API "
        "calls); playbook = whole `ansible-playbook` wall time. "
        f"Median (min-max) of {section['reps']} repetitions.",
        "",
    ]
    lines += _table(
        ["Tool", "Task time", "Whole playbook"],
        [
            [
                "dockerhost.azure.docker_host_probe, on the controller",
                fmt_range(whole["ours"]["task"]),
                fmt_range(whole["ours"]["playbook"]),
            ],
            [
                "dockerhost.azure.docker_host_probe, as a module on a managed node",
                fmt_range(whole["ours_module"]["task"]),
                fmt_range(whole["ours_module"]["playbook"]),
            ],
            [
                "community.docker.docker_host_info",
                fmt_range(whole["reference"]["task"]),
                fmt_range(whole["reference"]["playbook"]),
            ],
        ],
    )
    lines += [
        f"Speed-up on the controller: {section['task_ratio']:.2f}x by task time, {section['playbook_ratio']:.2f}x "
        f"by whole playbook. As a module on a managed node: {section['module_task_ratio']:.2f}x by task time, "
        f"{section['module_playbook_ratio']:.2f}x by whole playbook (most of a module's task time is Ansible "
        "starting it, the same for any module).",
        "",
        "Readiness lag: the playbook starts while nothing listens; "
        f"{section['start_delay']:.0f} s later the harness starts dockerd and polls it itself every "
        f"{section['poll_interval'] * 1000:.0f} ms (TLS `GET /_ping`). Lag = end of the waiting task minus the "
        f"harness's first answer. Median (min-max) of {section['ready_reps']} repetitions.",
        "",
    ]
    ready = section["readiness"]
    lines += _table(
        ["Tool", "How it waits", "Lag", "Attempts"],
        [
            [
                "docker_host_probe, on the controller",
                f"`wait_timeout: {ready['ours']['wait']['wait_timeout']}` (retries inside the probe)",
                fmt_range(ready["ours"]["lag"]),
                ", ".join(str(a) for a in ready["ours"]["attempts"]) + " (the probe's own)",
            ],
            [
                "docker_host_probe, as a module",
                f"`wait_timeout: {ready['ours_module']['wait']['wait_timeout']}` (retries inside the module)",
                fmt_range(ready["ours_module"]["lag"]),
                ", ".join(str(a) for a in ready["ours_module"]["attempts"]) + " (the module's own)",
            ],
            [
                "docker_host_info",
                f"`until` / `retries: {ready['reference']['wait']['wait_retries']}` / "
                f"`delay: {ready['reference']['wait']['wait_delay']}` (no wait option of its own)",
                fmt_range(ready["reference"]["lag"]),
                ", ".join(str(a) for a in ready["reference"]["attempts"]) + " (module runs)",
            ],
        ],
    )
    return lines


def _provision(section: dict | None) -> list[str]:
    lines = ["## 3. Provisioning on the emulator with Azure-like latencies", ""]
    if not _measured(section):
        return [*lines, f"Not measured ({_why_not(section)}).", ""]
    lat = section["latency"]
    lines += [
        f"The emulator (`azure_emulator`) ran with its `azure` latency profile scaled by {lat['scale']} "
        "(to keep `make bench` near 15 minutes; `--latency-scale 1` runs the profile as is): "
        "each long-running operation stays InProgress this long (seconds, after scaling), and polls carry the "
        f"`Retry-After` the emulator sends under that profile. {lat.get('source', '')}",
        "",
    ]
    writes = sorted((op, sec) for op, sec in lat["operations"].items() if op.lower().endswith("/write"))
    lines += _table(["Operation (create path)", "Seconds"], [[op, f"{sec:g}"] for op, sec in writes])
    steps = " + ".join(f"{name} {sec:g}" for name, sec in section["critical_path"]["steps"])
    lines += [
        f"Ideal critical path: {steps} = **{section['critical_path']['seconds']:g} s** (the latencies above, "
        "which are the profile's numbers times the scale: the ones in force during the run).",
        "",
    ]
    polled = section.get("critical_path_polled")
    if polled:
        polled_steps = " + ".join(f"{name} {sec:g}" for name, sec in polled["steps"])
        schedule = "; ".join(
            f"{op.split('/', 1)[1].lower()} {'/'.join('-' if v is None else f'{v:g}' for v in values)}"
            for op, values in polled["retry_after"].items()
            if values
        )
        lines += [
            "Polls cannot see an operation end before the `Retry-After` the emulator sends, which follows recorded "
            "ARM sessions (azure_emulator/README.md, section Retry-After) and is scaled too. Seconds on the "
            f"first answer / first InProgress poll / later polls (- = none sent): {schedule}. A client that honours "
            f"it, and polls every {polled['client_poll_seconds']:g} s when none is sent (as azure_docker_vm does), "
            f"sees each step end at the first poll after it: {polled_steps} = **{polled['seconds']:g} s**. "
            "Context only: the issue's target stays stated against the ideal path.",
            "",
        ]
    noop = section["noop"]
    rows = [
        ["azure_docker_vm, create (one task)", fmt_range(section["create_task"]), fmt_range(section["create"])],
        ["azure_docker_vm, no-op re-run", fmt_range(noop["task"]), fmt_range(noop["wall"])],
        [
            section["sequential"]["label"],
            fmt_range(section["sequential"]["task"]),
            fmt_range(section["sequential"]["wall"]),
        ],
    ]
    lines += [f"Median (min-max) of {section['reps']} repetitions, a fresh emulator state each time.", ""]
    lines += _table(["Flow", "Task time", "Whole playbook"], rows)
    lines += [
        f"No-op re-run requests (worst run): {noop['gets']} reads, {noop['writes']} writes, for "
        f"{noop['managed_resources']} managed resources (the module's `resource_ids`); by path: "
        + ", ".join(f"`{path}` {count}" for path, count in noop.get("by_kind", {}).items())
        + ".",
        "",
        "Where the time goes (median seconds from the start of the task, or of the first of the seven tasks, "
        "to each event in the emulator's request log):",
        "",
    ]
    lines += _timeline_table(section)
    lines += [
        f"Sequential comparison: {section['sequential']['method']} Speed-up of one azure_docker_vm task: "
        f"{section['sequential']['wall']['median'] / section['create']['median']:.2f}x by whole playbook.",
        "",
    ]
    return lines


def _timeline_table(section: dict) -> list[str]:
    ideal: dict[str, float] = {}
    elapsed = 0.0
    for label, seconds in section["critical_path"]["steps"]:
        elapsed += seconds
        ideal[label] = elapsed
    ours = dict(section.get("create_timeline", []))
    theirs = dict(section["sequential"].get("timeline", []))
    labels = list(dict.fromkeys([*ours, *theirs]))
    rows = [[label, _opt(ours.get(label)), _opt(theirs.get(label))] for label in labels]
    notes = ", ".join(f"{label} done at {value:g} s" for label, value in ideal.items())
    return [*_table(["Event", "azure_docker_vm", "one task per resource"], rows), f"Ideal: {notes}.", ""]


def _opt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _scale(section: dict | None) -> list[str]:
    lines = ["## 4. Scale: many hosts in one play", ""]
    if not _measured(section):
        return [*lines, f"Not measured ({_why_not(section)}).", ""]
    lines += [section.get("method", ""), ""]
    rows = [
        [
            run["hosts"],
            run["forks"],
            fmt_seconds(run["wall"]),
            fmt_seconds(run["wall"] / run["hosts"]),
            f"{run['peak_pss_mib']:.0f} MiB",
            run["peak_processes"],
            f"{run['requests_per_host']:.1f}",
            run.get("by_method", ""),
        ]
        for run in section["runs"]
    ]
    lines += _table(
        [
            "Hosts",
            "Forks",
            "Total time",
            "Time per host",
            "Peak controller memory (PSS)",
            "Peak processes",
            "ARM requests / host",
            "By method",
        ],
        rows,
    )
    breakdown = section.get("one_host_tasks")
    if breakdown:
        lines += ["Where the 1-host run's time goes (task durations from the timing callback, longest first):", ""]
        lines += _table(["Task", "Seconds"], [[name, f"{seconds:.1f}"] for name, seconds in breakdown])
    return lines


def _suite_order(suites: dict) -> list[str]:
    """Oldest Docker first (results.json sorts its keys)."""
    known = ("bookworm", "trixie", "sid")
    return [n for n in known if n in suites] + sorted(n for n in suites if n not in known)


def _guests(section: dict | None) -> list[str]:
    lines = ["## 5. Real guests: the install script on booted Debian (issue 14)", ""]
    if not _measured(section):
        return [*lines, f"Not measured ({_why_not(section)}).", ""]
    suites = section["suites"]
    names = _suite_order(suites)
    lines += [
        "Each repetition boots a fresh guest per suite (`systemd-nspawn -b` of the cached image from "
        "`hack/guest-image.sh`, systemd as PID 1, the suite's own docker.io; `azure_emulator/guest.py`) and runs the "
        "script from `render_install_script` as the CustomScript handler does (a file, `/bin/sh`, root), timed "
        "from the host around the whole process: **first run** (configure, restart dockerd and wait for it: "
        "docker.io is pre-installed in the image, so the script's apt part does not run; it needs an uplink and "
        "runs only in a VM, not measured here: issue 14 measured `apt-get update` 20-50 s and "
        "`apt-get install docker.io` ~150 s in a QEMU VM), **re-run** with the "
        "same settings (checked: configuration changed 0, same dockerd PID), **rotation** with a new server pair "
        "from the same CA (checked: one restart, a new dockerd PID). Suites interleaved in each repetition. "
        f"Median (min-max) of {section['reps']} repetitions. Load average (1/5/15 min) before "
        f"{section.get('load_before', '?')}, after {section.get('load_after', '?')}: a shared 2-core machine "
        "(other work may run beside it), read the ranges.",
        "",
    ]
    rows = [
        ["docker.io in the image", *(suites[n]["image"]["package"].split()[-1] for n in names)],
        ["first run (configure + restart)", *(fmt_range(suites[n]["first"]) for n in names)],
        ["re-run (no-op)", *(fmt_range(suites[n]["rerun"]) for n in names)],
        ["server-certificate rotation", *(fmt_range(suites[n]["rotation"]) for n in names)],
        ["ratio re-run / first run (medians)", *(f"{suites[n]['rerun_ratio']:.2f}" for n in names)],
        ["ratio rotation / first run (medians)", *(f"{suites[n]['rotation_ratio']:.2f}" for n in names)],
        ["nsenter `true` (included in each run above)", *(fmt_range(suites[n]["nsenter"]) for n in names)],
    ]
    lines += _table(["Install script", *names], rows)

    def build(image: dict) -> str:
        if image.get("build_seconds") is None:
            return "not recorded (an image built before hack/guest-image.sh kept a record)"
        when = (image.get("built_at") or "")[:10]
        return f"{image['build_seconds']:.0f} s ({image.get('size') or '?'}, built {when})"

    def fresh(suite: dict) -> str:
        if suite["image"].get("build_seconds") is None:
            return "?"
        return f"{suite['image']['build_seconds'] + suite['boot']['median']:.0f} s"

    rows = [
        ["image build (hack/guest-image.sh, as recorded)", *(build(suites[n]["image"]) for n in names)],
        ["boot to `running`", *(fmt_range(suites[n]["boot"]) for n in names)],
        ["**fresh machine: image build + one boot**", *(fresh(suites[n]) for n in names)],
        ["power-off (for context)", *(fmt_range(suites[n]["stop"]) for n in names)],
    ]
    lines += ["Fixed costs of the real-guest tests:", ""]
    lines += _table(["Fixed cost", *names], rows)
    lines += [
        "An image build happens once per machine and build-script version (the cache is keyed by the scripts' "
        "hash); the build ran on whatever the machine was doing then (`make test` builds the three side by side "
        "with other tests). Section 6 has the QEMU VM's.",
        "",
    ]
    return lines


def _guest_vm(section: dict | None) -> list[str]:
    lines = ["## 6. A full VM: the install script with its own apt path (QEMU, software emulation)", ""]
    if not _measured(section):
        return [*lines, f"Not measured ({_why_not(section)}).", ""]
    t = section["timings"]

    def s(key: str) -> str:
        return f"{t[key]:.0f} s" if key in t else "?"

    lines += [
        "One Debian 12 VM (`tests/guests/test_vm.py`, run by the bench; `azure_emulator/guest_vm.py`: QEMU "
        "`-accel tcg -cpu max -smp 2 -m 2048`, cloud-init NoCloud, no Docker in the image), its checks passed. "
        "The script starts at the admin user's first SSH login, as an extension may; its phases are timed on the "
        "guest's clock. A single sample; load average before "
        f"{section.get('load_before', '?')}, after {section.get('load_after', '?')} (a shared 2-core machine).",
        "",
    ]
    rows = [
        ["image build (hack/guest-vm-image.sh, `build.json`; once per machine and script version)", s("image_build_s")],
        ["boot to the first SSH login", s("boot_to_ssh_s")],
        ["first run, total", s("first_run_s")],
        ["- waiting for cloud-init", s("first_run_cloud_init_wait_s")],
        ["- apt (`apt-get update`, `install docker.io apparmor`)", s("first_run_apt_s")],
        ["- the rest (configure, start dockerd, wait for it)", s("first_run_rest_s")],
        ["re-run (no change, same dockerd)", s("rerun_s")],
        ["`systemctl reboot` until mutual TLS answers", s("reboot_to_tls_s")],
        ["power-off", s("power_off_s")],
    ]
    return [*lines, *_table(["Full VM", "seconds"], rows)]


def _freshnode(section: dict | None) -> list[str]:
    lines = ["## 7. Fresh node: a throw-away control node's no-op run beside the warm disk (issue 12)", ""]
    if not _measured(section):
        return [*lines, f"Not measured ({_why_not(section)}).", ""]
    lines += [section.get("method", ""), ""]
    rows = []
    for run in section["runs"]:
        for label, side in (("warm disk", run["warm"]), ("fresh node", run["fresh"])):
            rows.append(
                [
                    run["hosts"],
                    label,
                    fmt_range(side["wall"]),
                    _fmt_count(side["reads_per_host"]),
                    _fmt_count(side["writes_per_host"]),
                    ", ".join(side["write_kinds"]) or "-",
                ]
            )
        rows.append(
            [
                run["hosts"],
                "**fresh / warm**",
                f"{run['wall_ratio']:.2f}x",
                f"{run['extra_reads_per_host']:+.1f} per host",
                f"{run['fresh']['writes_per_host']['median'] - run['warm']['writes_per_host']['median']:+.1f} per host",
                "",
            ]
        )
    lines += _table(["Hosts", "Control node", "Wall time", "ARM reads / host", "ARM writes / host", "Writes to"], rows)
    return lines


def _fmt_count(stat: dict) -> str:
    """A count's median with min-max: ``9.0 (9.0-10.0)``."""
    return f"{stat['median']:.1f} ({stat['min']:.1f}-{stat['max']:.1f})"


def markdown(results: dict) -> str:
    meta = results.get("meta", {})
    lines = [
        "# Benchmarks: dockerhost.azure beside the tools people use today",
        "",
        "Generated by `make bench` from `benchmarks/results.json` (never edited by hand; "
        "`python -m ansible_collections.dockerhost.azure.benchmarks --report-only` redraws it). "
        "How it measures: `benchmarks/README.md`.",
        "",
        "![Benchmark chart](chart.png)",
        "",
        "## Targets",
        "",
    ]
    lines += _table(["Target (issue)", "Measured (medians)", "Verdict"], [list(row) for row in targets(results)])
    lines += _machine(meta, results)
    lines += _certs(results.get("certs"))
    lines += _probe(results.get("probe"))
    lines += _provision(results.get("provision"))
    lines += _scale(results.get("scale"))
    lines += _guests(results.get("guests"))
    lines += _guest_vm(results.get("guest_vm"))
    lines += _freshnode(results.get("freshnode"))
    return "\n".join(lines).rstrip() + "\n"


# -- chart ---------------------------------------------------------------------------------------


def _bars(ax, groups: list[str], series: list[tuple[str, str, list[dict]]], notes: list[str] | None = None) -> None:
    """Grouped bars of medians with min-max whiskers; ``series`` = (label, color, stats per group).

    ``notes`` (one per group, e.g. a speed-up) are written in bold above each group.
    """
    width = 0.8 / max(1, len(series))
    for index, (label, color, stats) in enumerate(series):
        xs = [g + (index - (len(series) - 1) / 2) * width for g in range(len(groups))]
        medians = [s["median"] for s in stats]
        errors = [[s["median"] - s["min"] for s in stats], [s["max"] - s["median"] for s in stats]]
        ax.bar(xs, medians, width, yerr=errors, capsize=3, label=label, color=color)
        for x, value, stat in zip(xs, medians, stats, strict=True):
            ax.annotate(
                f"{value:.2f}",
                (x, stat["max"]),
                ha="center",
                va="bottom",
                fontsize=7,
                xytext=(0, 2),
                textcoords="offset points",
            )
    top = max(stat["max"] for _label, _color, stats in series for stat in stats)
    for index, note in enumerate(notes or ()):
        highest = max(stats[index]["max"] for _label, _color, stats in series)
        ax.annotate(note, (index, highest + top * 0.07), ha="center", fontsize=8, fontweight="bold")
    ax.set_ylim(0, top * 1.22)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_ylabel("s")
    ax.legend(fontsize=7, loc="upper left")


def _unmeasured(ax, title: str, section: dict | None) -> None:
    ax.set_title(title, fontsize=10)
    ax.text(0.5, 0.5, "not measured\n" + _why_not(section)[:80], ha="center", va="center", wrap=True, fontsize=8)
    ax.set_axis_off()


def _chart_certs(ax, section: dict | None) -> None:
    title = "Certificates: whole ansible-playbook time (bold: speed-up)"
    if not _measured(section):
        _unmeasured(ax, title, section)
        return
    configs = section["configs"]
    groups, ours, theirs, notes = [], [], [], []
    for comp in section["comparisons"]:
        short = comp["title"].replace("Same key type: ", "").replace("Each with its own defaults", "own defaults")
        for phase in ("cold", "warm"):
            groups.append(f"{short}\n{phase}")
            ours.append(configs[comp["ours"]][phase])
            theirs.append(configs[comp["reference"]][phase])
            notes.append(f"{comp[f'{phase}_ratio']:.1f}x")
    _bars(ax, groups, [("docker_tls_certs", _OURS_COLOR, ours), ("community.crypto chain", _REF_COLOR, theirs)], notes)
    ax.set_title(title, fontsize=10)


def _chart_probe(ax, section: dict | None) -> None:
    title = "Probe: task time and readiness lag (bold: speed-up)"
    if not _measured(section):
        _unmeasured(ax, title, section)
        return
    whole, ready = section["whole_task"], section["readiness"]
    lag_ratio = ready["reference"]["lag"]["median"] / max(ready["ours"]["lag"]["median"], 1e-3)
    series = [
        (label, color, [whole[way]["task"], whole[way]["playbook"], ready[way]["lag"]])
        for label, color, way in (
            ("docker_host_probe, on the controller", _OURS_COLOR, "ours"),
            ("docker_host_probe, as a module", _OURS_MODULE_COLOR, "ours_module"),
            ("docker_host_info", _REF_COLOR, "reference"),
        )
    ]
    _bars(
        ax,
        ["task time", "whole playbook", "readiness lag"],
        series,
        [f"{section['task_ratio']:.1f}x", f"{section['playbook_ratio']:.1f}x", f"{lag_ratio:.1f}x"],
    )
    ax.set_title(title, fontsize=10)


def _chart_provision(ax, section: dict | None) -> None:
    title = "Provisioning on the emulator (Azure-like latencies)"
    if not _measured(section):
        _unmeasured(ax, title, section)
        return
    path = section["critical_path"]["seconds"]
    point = {"median": path, "min": path, "max": path}
    noop = section["noop"]
    groups = ["ideal critical path", "azure_docker_vm\ncreate", "one task per\nresource", "no-op re-run"]
    stats = [point, section["create"], section["sequential"]["wall"], noop["wall"]]
    colors = [_IDEAL_COLOR, _OURS_COLOR, _REF_COLOR, _OURS_COLOR]
    for x, (stat, color) in enumerate(zip(stats, colors, strict=True)):
        ax.bar(
            x,
            stat["median"],
            0.6,
            color=color,
            yerr=[[stat["median"] - stat["min"]], [stat["max"] - stat["median"]]],
            capsize=3,
        )
        ax.annotate(
            f"{stat['median']:.1f}",
            (x, stat["median"]),
            ha="center",
            va="bottom",
            fontsize=7,
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.axhline(path * 1.1 + 2, color=_IDEAL_COLOR, linestyle="--", linewidth=1, label="target: path + 10% + 2 s")
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_ylabel("s (whole playbook)")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)


def _chart_scale(ax, section: dict | None) -> None:
    title = "Scale: hosts in one play"
    if not _measured(section):
        _unmeasured(ax, title, section)
        return
    runs = section["runs"]
    hosts = [r["hosts"] for r in runs]
    walls = [r["wall"] for r in runs]
    memory = [r["peak_pss_mib"] for r in runs]
    ax.plot(hosts, walls, "o-", color=_OURS_COLOR, label="total time (s)")
    ax.set_xlabel("hosts (forks = hosts)")
    ax.set_ylabel("s")
    ax.set_ylim(0, max(walls) * 1.25)
    twin = ax.twinx()
    twin.plot(hosts, memory, "s--", color="#bf3989", label="peak controller PSS (MiB)")
    twin.set_ylabel("MiB")
    twin.set_ylim(0, max(memory) * 1.25)
    for x, wall, mib, run in zip(hosts, walls, memory, runs, strict=True):
        ax.annotate(
            f"{wall:.0f} s, {run['requests_per_host']:.0f} req/host",
            (x, wall),
            fontsize=7,
            xytext=(4, 6),
            textcoords="offset points",
            color=_OURS_COLOR,
        )
        twin.annotate(
            f"{mib:.0f} MiB", (x, mib), fontsize=7, xytext=(4, -12), textcoords="offset points", color="#bf3989"
        )
    lines = ax.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=7, loc="upper left")
    ax.set_xticks(hosts)
    ax.set_xlim(0, max(hosts) * 1.3)
    ax.set_title(title, fontsize=10)


def _chart_guests(ax, section: dict | None, legend_ax=None) -> None:
    title = "Real guests: the install script per Debian suite (bold: re-run / first run)"
    if not _measured(section):
        _unmeasured(ax, title, section)
        return
    suites = section["suites"]
    names = _suite_order(suites)
    series = [
        (label, color, [suites[n][key] for n in names])
        for label, color, key in (
            ("boot to running", "#bf8700", "boot"),
            ("first run (configure + restart)", _OURS_COLOR, "first"),
            ("re-run (no-op)", _OURS_MODULE_COLOR, "rerun"),
            ("server-certificate rotation", "#8250df", "rotation"),
        )
    ]
    groups = [f"{n}\ndocker.io {suites[n]['image']['package'].split()[-1].split('+')[0]}" for n in names]
    _bars(ax, groups, series, [f"{suites[n]['rerun_ratio']:.2f}" for n in names])
    if legend_ax is not None:  # the empty panel beside it, so the legend hides no bar
        ax.get_legend().remove()
        legend_ax.legend(*ax.get_legend_handles_labels(), fontsize=9, loc="upper left", title="Real guests")
    ax.set_title(title, fontsize=10)


def chart(results: dict, path: str) -> None:
    import matplotlib  # noqa: PLC0415 - bench-only dependency, loaded when drawing

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(3, 2, figsize=(13, 12.5))
    _chart_certs(axes[0][0], results.get("certs"))
    _chart_probe(axes[0][1], results.get("probe"))
    _chart_provision(axes[1][0], results.get("provision"))
    _chart_scale(axes[1][1], results.get("scale"))
    axes[2][1].set_axis_off()
    _chart_guests(axes[2][0], results.get("guests"), legend_ax=axes[2][1])
    meta = results.get("meta", {})
    fig.suptitle(
        f"dockerhost.azure benchmarks - {meta.get('date', '?')} - {meta.get('cores', '?')} cores, "
        f"{meta.get('memory_gib', '?')} GiB - medians, whiskers min-max",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: dict) -> None:
    chart(results, CHART_PNG)
    with open(REPORT_MD, "w", encoding="utf-8") as handle:
        handle.write(markdown(results))
