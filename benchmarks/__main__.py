# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``make bench``: measure, side by side, then write benchmarks/REPORT.md and its chart.

    python -m ansible_collections.dockerhost.azure.benchmarks [--reps N] [--only certs,probe,...]
    python -m ansible_collections.dockerhost.azure.benchmarks --report-only

Results go to benchmarks/results.json first (the report is generated from it, so ``--report-only``
redraws without measuring). ``--only`` re-measures some sections and keeps the others' last results.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from ansible_collections.dockerhost.azure.benchmarks import (
    certs,
    freshnode,
    guest_vm,
    guests,
    harness,
    machine,
    probe,
    provision,
    report,
    scale,
)

SECTIONS = ("certs", "probe", "provision", "scale", "guests", "guest_vm", "freshnode")
# Sections that never run the reference tool chain: --only with just these does not build its venv.
_NO_REFERENCE = {"guests", "guest_vm", "freshnode"}
RESULTS = os.path.join(harness.BENCH_DIR, "results.json")


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--reps",
        type=int,
        default=int(os.environ.get("BENCH_REPS", "4")),
        help="repetitions of each certificate measurement (env BENCH_REPS, default 4)",
    )
    parser.add_argument(
        "--probe-reps",
        type=int,
        default=int(os.environ.get("BENCH_PROBE_REPS", "10")),
        help="whole-task probe repetitions (env BENCH_PROBE_REPS, default 10; a run takes about 4 s)",
    )
    parser.add_argument("--ready-reps", type=int, default=4, help="readiness-lag repetitions per side (default 4)")
    parser.add_argument(
        "--prov-reps",
        type=int,
        default=int(os.environ.get("BENCH_PROV_REPS", "3")),
        help="provisioning repetitions (env BENCH_PROV_REPS, default 3)",
    )
    parser.add_argument(
        "--scale-hosts",
        default=os.environ.get("BENCH_SCALE_HOSTS", "1,5,20"),
        help="host counts for the scale runs (env BENCH_SCALE_HOSTS, default 1,5,20)",
    )
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=float(os.environ.get("BENCH_LATENCY_SCALE", "0.25")),
        help="multiplier on the emulator's Azure latency profile (env BENCH_LATENCY_SCALE, default 0.25)",
    )
    parser.add_argument(
        "--guest-reps",
        type=int,
        default=int(os.environ["BENCH_GUEST_REPS"]) if os.environ.get("BENCH_GUEST_REPS") else None,
        help="real-guest repetitions per suite (env BENCH_GUEST_REPS; default: --reps). Needs root, nspawn",
    )
    parser.add_argument(
        "--fresh-hosts",
        default=os.environ.get("BENCH_FRESH_HOSTS", "1,20"),
        help="host counts for the fresh-node no-op runs (env BENCH_FRESH_HOSTS, default 1,20)",
    )
    parser.add_argument(
        "--fresh-reps",
        type=int,
        default=int(os.environ.get("BENCH_FRESH_REPS", "2")),
        help="no-op runs per side and host count (env BENCH_FRESH_REPS, default 2: a 20-host run takes ~30 s)",
    )
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--report-only", action="store_true", help="regenerate REPORT.md and chart from results.json")
    args = parser.parse_args(argv)
    args.sections = [s for s in args.only.split(",") if s] or list(SECTIONS)
    unknown = sorted(set(args.sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.guest_reps is None:
        args.guest_reps = args.reps
    if min(args.reps, args.guest_reps, args.fresh_reps, args.probe_reps, args.ready_reps, args.prov_reps) < 1:
        parser.error("repetitions must be at least 1")
    if args.latency_scale <= 0:
        parser.error("--latency-scale must be positive")
    args.hosts = [int(h) for h in args.scale_hosts.split(",") if h]
    args.fresh_hosts = [int(h) for h in args.fresh_hosts.split(",") if h]
    return args


def _load_previous() -> dict:
    try:
        with open(RESULTS, encoding="utf-8") as handle:
            return json.load(handle)
    except (FileNotFoundError, ValueError):
        return {}


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.report_only:
        report.write(_load_previous())
        _log(f"wrote {report.REPORT_MD}")
        return 0

    results = _load_previous() if args.only else {}
    if set(args.sections) - _NO_REFERENCE:
        try:
            machine.ensure_reference_venv(_log)
        except (harness.BenchError, OSError, subprocess.CalledProcessError) as exc:
            # Sections that need the reference tools then report "not measured" with this reason.
            _log(f"reference venv unavailable: {exc}")
    previous_reference = results.get("meta", {}).get("reference")
    results["meta"] = machine.describe()
    if previous_reference and "error" in results["meta"]["reference"] and not set(args.sections) - _NO_REFERENCE:
        # The kept sections were measured with that reference venv; this run did not need one.
        results["meta"]["reference"] = previous_reference
    results["meta"]["load_before"] = machine.load_average()
    started = time.monotonic()
    runners = {
        "certs": lambda: certs.run(args.reps, _log),
        "probe": lambda: probe.run(args.probe_reps, args.ready_reps, _log),
        "provision": lambda: provision.run(args.prov_reps, args.latency_scale, _log),
        "scale": lambda: scale.run(args.hosts, args.latency_scale, _log),
        "guests": lambda: guests.run(args.guest_reps, _log),
        "guest_vm": lambda: guest_vm.run(_log),
        "freshnode": lambda: freshnode.run(args.fresh_hosts, args.fresh_reps, args.latency_scale, _log),
    }
    for name in args.sections:
        _log(f"section {name}")
        section_start = time.monotonic()
        outcome = runners[name]()
        outcome["seconds"] = round(time.monotonic() - section_start, 1)
        outcome["measured_at"] = results["meta"]["date"]
        results[name] = outcome
        _log(f"section {name}: {outcome['status']} in {outcome['seconds']}s")
        # Save after each section: a later failure or interruption keeps what was measured.
        with open(RESULTS, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=1, sort_keys=True)
    results["meta"]["load_after"] = machine.load_average()
    results["meta"]["total_seconds"] = round(time.monotonic() - started, 1)
    with open(RESULTS, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=1, sort_keys=True)
    report.write(results)
    _log(f"wrote {report.REPORT_MD} and {report.CHART_PNG} in {results['meta']['total_seconds']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
