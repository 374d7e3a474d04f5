# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe: docker_host_probe beside community.docker's docker_host_info against one real TLS dockerd.

Three ways, all on localhost: ours on the controller (a local connection, as users probe a remote Docker
host: the action plugin probes inside Ansible's process), ours as on a managed node (the ``elsewhere``
test connection from tests/support: the module is sent and run as over SSH), and community.docker's
docker_host_info (a module, always). Two measurements:
- whole task: the probe task's duration (from the timing callback: task start to result, so module
  transfer, interpreter start, imports and the API calls when a module runs) and the whole
  ansible-playbook wall time;
- readiness lag: the playbook starts waiting before the daemon exists; the harness starts dockerd and
  polls it itself every 10 ms; the lag is from the first answer the harness gets to the end of the
  waiting task. Ours waits with ``wait_timeout``; community.docker has no wait option, so it uses the
  usual ``until``/``retries``/``delay: 1`` loop.
"""

from __future__ import annotations

import http.client
import os
import shutil
import ssl
import threading
import time
from dataclasses import dataclass, field

from ansible_collections.dockerhost.azure.azure_emulator.dockerd import (
    DockerDaemon,
    DockerdError,
    TLSFiles,
    free_loopback_endpoint,
)
from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA
from ansible_collections.dockerhost.azure.benchmarks import harness
from ansible_collections.dockerhost.azure.benchmarks.stats import ratio, summary

__all__ = ["TLS_HOSTNAME", "run"]

TLS_HOSTNAME = "bench-daemon.test"
_TASK = "Probe the daemon over mutual TLS"
_READY_POLL = 0.01
_START_DELAY = 3.0  # long enough for either playbook to be inside its waiting task
_ELSEWHERE_PLUGINS = os.path.join(harness.REPO_ROOT, "tests", "support", "connection_plugins")


class _Pki:
    def __init__(self, directory: str) -> None:
        ca = TestCA(directory, name="Benchmark CA")
        server = ca.server("server", dns_names=(TLS_HOSTNAME,))
        client = ca.client("client")
        self.ca, self.server, self.client = ca.cert_path, server, client
        # requests (community.docker) lets REQUESTS_CA_BUNDLE override its verify setting: give both
        # sides a bundle of the system CAs plus this CA, as the project's tests do.
        system = os.environ.get("REQUESTS_CA_BUNDLE") or "/etc/ssl/certs/ca-certificates.crt"
        self.bundle = os.path.join(directory, "bundle.pem")
        with open(self.bundle, "wb") as out:
            for path in (system, self.ca):
                if os.path.isfile(path):
                    with open(path, "rb") as handle:
                        out.write(handle.read().rstrip(b"\n") + b"\n")

    def tls(self) -> TLSFiles:
        return TLSFiles(self.ca, self.server.cert, self.server.key)

    def env(self) -> dict:
        return {"REQUESTS_CA_BUNDLE": self.bundle, "SSL_CERT_FILE": self.bundle, "CURL_CA_BUNDLE": self.bundle}

    def variables(self, host: str, port: int) -> dict:
        return {
            "docker_host": f"tcp://{host}:{port}",
            "tls_hostname": TLS_HOSTNAME,
            "ca_cert": self.ca,
            "client_cert": self.client.cert,
            "client_key": self.client.key,
        }

    def answers(self, host: str, port: int) -> bool:
        """One GET /_ping over mutual TLS (chain verified; the name is checked by the probes, not here)."""
        context = ssl.create_default_context(cafile=self.ca)
        context.check_hostname = False
        context.load_cert_chain(self.client.cert, self.client.key)
        conn = http.client.HTTPSConnection(host, port, context=context, timeout=1)
        try:
            conn.request("GET", "/_ping")
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()


class _LateDaemon:
    """Starts dockerd a few seconds after the playbook and notes when it first answers."""

    def __init__(self, pki: _Pki, state_dir: str) -> None:
        self.pki = pki
        self.host, self.port = free_loopback_endpoint()
        self.daemon = DockerDaemon(self.host, self.port, tls=pki.tls(), state_dir=state_dir)
        self.ready_at: float | None = None
        self.error: str | None = None
        self._stop = threading.Event()

    def _poll(self) -> None:
        while not self._stop.is_set():
            if self.pki.answers(self.host, self.port):
                self.ready_at = time.time()
                return
            time.sleep(_READY_POLL)

    def start_later(self, started_at: float) -> None:
        time.sleep(max(0.0, started_at + _START_DELAY - time.time()))
        poller = threading.Thread(target=self._poll, daemon=True)
        poller.start()
        try:
            self.daemon.start()
        except (DockerdError, OSError) as exc:  # reported with the run, never swallowed
            self.error = str(exc)
            self._stop.set()
        poller.join(timeout=30)

    def stop(self) -> None:
        self._stop.set()
        self.daemon.stop()


@dataclass(frozen=True)
class _Way:
    """One way of probing: a tool chain, its playbook, and what makes it run where it runs."""

    side: harness.Side
    playbook: str
    extra_vars: dict = field(default_factory=dict)
    extra_env: dict = field(default_factory=dict)


def _ways() -> dict[str, _Way]:
    """Ours on the controller (the action plugin probes in Ansible's process), ours as on a managed node
    (the ``elsewhere`` test connection: the module is sent and run, as over SSH), and community.docker's."""
    return {
        "ours": _Way(harness.ours(), "probe_ours.yml"),
        "ours_module": _Way(
            harness.ours(),
            "probe_ours.yml",
            extra_vars={"ansible_connection": "elsewhere"},
            extra_env={"ANSIBLE_CONNECTION_PLUGINS": _ELSEWHERE_PLUGINS},
        ),
        "reference": _Way(harness.reference(), "probe_reference.yml"),
    }


def _run(way: _Way, pki: _Pki, variables: dict, **kwargs) -> harness.PlaybookRun:
    return harness.run_playbook(
        way.side,
        way.playbook,
        extra_vars={**variables, **way.extra_vars},
        extra_env={**pki.env(), **way.extra_env},
        **kwargs,
    )


def _whole_task(pki: _Pki, ways: dict[str, _Way], reps: int, root: str, log) -> dict:
    host, port = free_loopback_endpoint()
    samples = {name: {"task": [], "playbook": []} for name in ways}
    with DockerDaemon(host, port, tls=pki.tls(), state_dir=os.path.join(root, "daemon")):
        variables = pki.variables(host, port)
        for way in ways.values():  # untimed warm-up per way
            _run(way, pki, variables)
        for rep in range(reps):
            for name, way in ways.items():
                result = _run(way, pki, variables)
                task = result.task(_TASK)
                samples[name]["task"].append(task["end"] - task["start"])
                samples[name]["playbook"].append(result.wall)
            log(
                f"probe rep {rep + 1}/{reps}: "
                + " ".join(f"{name} {values['task'][-1]:.2f}s" for name, values in samples.items())
            )
    return {name: {kind: summary(values) for kind, values in kinds.items()} for name, kinds in samples.items()}


def _readiness(pki: _Pki, ways: dict[str, _Way], reps: int, root: str, log) -> dict:
    ours = {"wait_timeout": 60}
    waits = {"ours": ours, "ours_module": ours, "reference": {"wait_retries": 60, "wait_delay": 1}}
    lags: dict[str, list[float]] = {name: [] for name in ways}
    attempts: dict[str, list] = {name: [] for name in ways}
    for rep in range(reps):
        for name, way in ways.items():
            late = _LateDaemon(pki, os.path.join(root, f"late-{name}-{rep}"))
            try:
                result = _run(
                    way, pki, {**pki.variables(late.host, late.port), **waits[name]}, on_start=late.start_later
                )
            finally:
                late.stop()
            if late.error or late.ready_at is None:
                raise harness.BenchError(f"late daemon for {name} did not answer: {late.error}")
            task = result.task(_TASK)
            lags[name].append(task["end"] - late.ready_at)
            attempts[name].append(task.get("attempts"))
        done = " ".join(f"{name} {values[-1]:.2f}s" for name, values in lags.items())
        log(f"readiness rep {rep + 1}/{reps}: {done}")
    return {
        name: {"lag": summary(values), "attempts": attempts[name], "wait": waits[name]} for name, values in lags.items()
    }


def run(reps: int, ready_reps: int, log) -> dict:
    if not harness.module_present("docker_host_probe"):
        return {"status": "not_measured", "reason": "module docker_host_probe is not in plugins/modules yet"}
    ways = _ways()
    missing = sorted({way.side.name for way in ways.values() if not way.side.available()})
    if missing:
        return {"status": "not_measured", "reason": f"no ansible-playbook for: {', '.join(missing)}"}
    root = harness.work_dir("probe")
    try:
        pki = _Pki(os.path.join(root, "pki"))
        whole = _whole_task(pki, ways, reps, root, log)
        ready = _readiness(pki, ways, ready_reps, root, log)
    except harness.BenchError as exc:
        return {"status": "failed", "reason": str(exc)}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return {
        "status": "measured",
        "reps": reps,
        "ready_reps": ready_reps,
        "whole_task": whole,
        "task_ratio": ratio(whole["reference"]["task"], whole["ours"]["task"]),
        "playbook_ratio": ratio(whole["reference"]["playbook"], whole["ours"]["playbook"]),
        "module_task_ratio": ratio(whole["reference"]["task"], whole["ours_module"]["task"]),
        "module_playbook_ratio": ratio(whole["reference"]["playbook"], whole["ours_module"]["playbook"]),
        "readiness": ready,
        "start_delay": _START_DELAY,
        "poll_interval": _READY_POLL,
    }
