# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The install script in a full Debian 12 VM under QEMU software emulation (issue 14, Performance).

The fresh-machine costs of the VM path and the script's first-create time with its apt part apart. It runs
``tests/guests/test_vm.py`` itself (one VM: boot, first run, checks, re-run, reboot) with
``DOCKERHOST_VM_TIMINGS`` and reads the timings that file records, so every number comes from a run whose
checks passed (a failing run fails the section instead of giving a number), and the bench measures exactly
what ``make guests`` runs. One repetition per ``make bench`` (a run takes 8-25 min on a shared 2-core
machine): the numbers are single samples.

- image build: from the image's ``build.json`` (``hack/guest-vm-image.sh`` records it when it builds; the
  image may have been built earlier, by the tests);
- boot to the first SSH login as the admin user (cloud-init's user and key in place);
- first run of the script, started at that login as the extension may be: the cloud-init wait, the apt part
  (``apt-get update`` + ``apt-get install docker.io apparmor``, from the end of cloud-init to the script's
  next line after the install, on the guest's clock) and the rest (configure, start dockerd, wait for it);
- re-run (no change, same dockerd); reboot until the daemon answers mutual TLS again; power-off.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from ansible_collections.dockerhost.azure.benchmarks import harness

__all__ = ["run"]

_TEST = os.path.join(os.path.dirname(harness.BENCH_DIR), "tests", "guests", "test_vm.py")


def run(log, timeout: float = 3600.0) -> dict:
    from ansible_collections.dockerhost.azure.azure_emulator.guest_vm import missing_vm_requirements  # noqa: PLC0415

    reason = missing_vm_requirements()
    if reason:
        return {"status": "not_measured", "reason": reason}
    load_before = [round(x, 2) for x in os.getloadavg()]
    work = harness.work_dir("guest-vm")
    timings = os.path.join(work, "timings.json")
    argv = [sys.executable, "-m", "pytest", _TEST, "-q", "-p", "no:cacheprovider", f"--basetemp={work}/pytest"]
    log("guest_vm: running tests/guests/test_vm.py (one QEMU VM, 8-25 min)")
    try:
        return _measure(argv, timings, timeout, log, load_before)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(argv: list[str], timings: str, timeout: float, log, load_before: list[float]) -> dict:
    try:
        done = subprocess.run(
            argv,
            env=dict(os.environ, DOCKERHOST_VM_TIMINGS=timings),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "reason": f"tests/guests/test_vm.py took more than {timeout:.0f}s"}
    if done.returncode != 0 or not os.path.exists(timings):
        return {
            "status": "failed",
            "reason": f"tests/guests/test_vm.py exited {done.returncode}:\n{done.stdout[-3000:]}",
        }
    with open(timings, encoding="utf-8") as handle:
        measured = json.load(handle)
    log("guest_vm: " + ", ".join(f"{k} {v}" for k, v in measured.items()))
    return {
        "status": "measured",
        "reps": 1,
        "timings": measured,
        "load_before": load_before,
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
