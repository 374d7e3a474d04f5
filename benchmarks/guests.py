# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The install script on real Linux guests (issue 14, Performance): per Debian suite, how long it takes.

Each repetition boots a fresh guest of each suite (``azure_emulator/guest.py``: ``systemd-nspawn -b`` of the
cached image from ``hack/guest-image.sh``, systemd as PID 1, the suite's own docker.io pre-installed) and
runs the script rendered by ``render_install_script`` the way the CustomScript handler does (written to a
file, ``/bin/sh`` as root) three times: the first run (configure + restart dockerd: the image already has
docker.io, so the script's apt path does not run; it needs an uplink, which only the QEMU VM path has), a
re-run with the same settings (must change nothing) and a run with a rotated server pair from the same CA
(must restart dockerd once). Each run is timed from the host around the whole ``/bin/sh`` process
(``nsenter`` into the guest included: the baseline row measures that alone) and checked: a run that did not
do what the tests expect fails the section instead of giving a number.

Fixed costs: building the image (the build time hack/guest-image.sh recorded when it built the cached image,
with its date) and booting a guest until systemd reports running; power-off for context. Their sum is what the
real-guest tests pay on a fresh machine before their first check.
Suites are interleaved within each repetition, so machine noise spreads over all three.
"""

from __future__ import annotations

import json
import os
import shutil
import time

from ansible_collections.dockerhost.azure.benchmarks import harness
from ansible_collections.dockerhost.azure.benchmarks.stats import summary

__all__ = ["SUITES", "run"]

SUITES = ("bookworm", "trixie", "sid")
SCRIPT = "/var/lib/waagent/custom-script/script.sh"  # where the CustomScript handler puts it, roughly
PORT = 2376
PHASES = ("first", "rerun", "rotation")


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _script(ca, server) -> str:
    from ansible_collections.dockerhost.azure.plugins.module_utils._install_script import (  # noqa: PLC0415
        render_install_script,
    )

    return render_install_script(PORT, _read(ca.cert_path), _read(server.cert), _read(server.key))


def _image(suite: str, log) -> dict:
    """The suite's image path, its docker.io, and how long its build took (hack/guest-image.sh records it in
    ``.dockerhost-build.json``, whoever built it: this run, the tests, or an earlier bench)."""
    from ansible_collections.dockerhost.azure.azure_emulator.guest import guest_image  # noqa: PLC0415

    start = time.perf_counter()
    path = guest_image(suite)
    seconds = time.perf_counter() - start
    if seconds > 10:
        log(f"guests: built (or waited for) the {suite} image in {seconds:.0f}s")
    with open(os.path.join(path, ".dockerhost-guest"), encoding="utf-8") as handle:
        package = handle.read().strip()
    try:
        with open(os.path.join(path, ".dockerhost-build.json"), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        record = {}  # an image built before the script kept a record
    return {
        "path": path,
        "package": package,
        "build_seconds": record.get("build_seconds"),
        "built_at": record.get("built"),
        "size": record.get("size"),
    }


def _timed_install(guest, script: str, phase: str) -> tuple[float, str]:
    """Write the script (untimed), then time ``/bin/sh script.sh`` as root in the guest."""
    directory = SCRIPT.rsplit("/", 1)[0]
    guest.run(f"mkdir -p {directory} && cat > {SCRIPT}", input=script)
    start = time.perf_counter()
    done = guest.run(f"cd {directory} && /bin/sh {SCRIPT}", timeout=300, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise harness.BenchError(
            f"{guest.name}: {phase} run exited {done.returncode}\nstdout: {done.stdout[-2000:]}\n"
            f"stderr: {done.stderr[-2000:]}"
        )
    return seconds, done.stdout


def _check(condition: bool, guest, phase: str, what: str, stdout: str) -> None:
    if not condition:
        raise harness.BenchError(f"{guest.name}: {phase} run: {what}\nstdout: {stdout[-2000:]}")


def _one(suite: str, rootfs: str, work: str, rep: int) -> dict:
    """Boot one guest, time first run / re-run / rotation, power it off; always stopped."""
    from ansible_collections.dockerhost.azure.azure_emulator.guest import Guest  # noqa: PLC0415
    from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA  # noqa: PLC0415

    pki = os.path.join(work, f"{suite}-{rep}")
    ca = TestCA(pki)
    names = {"dns_names": ("localhost",), "ip_addresses": ("127.0.0.1",)}
    first_script = _script(ca, ca.server(**names))
    rotated_script = _script(ca, ca.server(name="server-rotated", **names))

    out: dict[str, float] = {}
    guest = Guest(rootfs, os.path.join(work, "logs"))
    try:
        start = time.perf_counter()
        guest.boot()
        out["boot"] = time.perf_counter() - start

        start = time.perf_counter()
        guest.run("true")
        out["nsenter"] = time.perf_counter() - start

        out["first"], stdout = _timed_install(guest, first_script, "first")
        _check("configuration changed: 1" in stdout, guest, "first", "configuration did not change", stdout)
        pid = guest.main_pid("docker.service")
        _check(pid != 0, guest, "first", "docker.service is not running", stdout)

        out["rerun"], stdout = _timed_install(guest, first_script, "re-run")
        _check("configuration changed: 0" in stdout, guest, "re-run", "changed the configuration", stdout)
        _check(guest.main_pid("docker.service") == pid, guest, "re-run", "restarted dockerd", stdout)

        out["rotation"], stdout = _timed_install(guest, rotated_script, "rotation")
        _check(stdout.count("restarting Docker") == 1, guest, "rotation", "did not restart Docker once", stdout)
        _check(guest.main_pid("docker.service") not in (0, pid), guest, "rotation", "same dockerd PID", stdout)
    finally:
        start = time.perf_counter()
        guest.stop()
        out["stop"] = time.perf_counter() - start
    return out


def run(reps: int, log) -> dict:
    from ansible_collections.dockerhost.azure.azure_emulator.guest import (  # noqa: PLC0415
        GuestError,
        missing_requirements,
    )

    reason = missing_requirements()
    if reason:
        return {"status": "not_measured", "reason": reason}
    load_before = [round(x, 2) for x in os.getloadavg()]
    work = harness.work_dir("guests")
    try:
        images = {suite: _image(suite, log) for suite in SUITES}
        samples: dict[str, dict[str, list[float]]] = {suite: {} for suite in SUITES}
        for rep in range(reps):
            for suite in SUITES:
                one = _one(suite, images[suite]["path"], work, rep)
                log(f"guests: {suite} #{rep + 1}: " + ", ".join(f"{k} {v:.2f}s" for k, v in one.items()))
                for key, value in one.items():
                    samples[suite].setdefault(key, []).append(value)
    except (GuestError, harness.BenchError, OSError) as exc:
        return {"status": "failed", "reason": str(exc)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    suites = {}
    for suite in SUITES:
        stats = {key: summary(values) for key, values in samples[suite].items()}
        suites[suite] = {
            "image": {k: v for k, v in images[suite].items() if k != "path"},
            **stats,
            "rerun_ratio": stats["rerun"]["median"] / stats["first"]["median"],
            "rotation_ratio": stats["rotation"]["median"] / stats["first"]["median"],
        }
    return {
        "status": "measured",
        "reps": reps,
        "suites": suites,
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
