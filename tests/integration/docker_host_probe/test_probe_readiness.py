# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting: a daemon that starts after the probe began is found within 1 s of it answering (the issue's bound)."""

from __future__ import annotations

import datetime
import re
import threading
import time

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.dockerd import DockerDaemon, TLSFiles, free_loopback_endpoint
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import DockerAPIError, resolve_connection
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_retry import probe_daemon

pytestmark = pytest.mark.docker

START_DELAY = 3.0
# dockerd logs this line right before it starts serving its API (api/server: serveAPI).
_ANSWERING = re.compile(r'time="(?P<when>[^"]+)" level=info msg="API listen on (?P<address>[^"]+)"')


def answering_since(daemon: DockerDaemon) -> float:
    """When the daemon began to serve, by its own log (wall clock, seconds since the epoch)."""
    with open(daemon.log_path, encoding="utf-8") as handle:
        match = _ANSWERING.search(handle.read())
    assert match, f"no 'API listen on' line in the daemon's log:\n{daemon.log_tail()}"
    when = match.group("when").replace("Z", "+00:00")
    # Go logs nanoseconds; Python keeps microseconds.
    when = re.sub(r"\.(\d{6})\d*", r".\1", when)
    return datetime.datetime.fromisoformat(when).timestamp()


def test_daemon_started_later_is_found_within_a_second_of_answering(docker_daemon, test_ca):
    host, port = free_loopback_endpoint()
    server = test_ca.server(ip_addresses=(host,))
    client = test_ca.client()
    settings = resolve_connection(
        {
            "docker_host": f"tcp://{host}:{port}",
            "ca_cert": test_ca.cert_path,
            "client_cert": client.cert,
            "client_key": client.key,
            "timeout": 10,
        }
    )
    outcome: dict = {}

    def run_probe() -> None:
        try:
            outcome["result"] = probe_daemon(settings, wait_timeout=60)
        except DockerAPIError as exc:
            outcome["error"] = exc
        outcome["found_at"] = time.time()

    began = time.time()
    prober = threading.Thread(target=run_probe, daemon=True)
    prober.start()
    time.sleep(START_DELAY)
    daemon = docker_daemon(tls=TLSFiles(test_ca.cert_path, server.cert, server.key), host=host, port=port)
    prober.join(75)
    assert not prober.is_alive()
    assert "error" not in outcome, outcome.get("error")
    answering = answering_since(daemon)
    assert answering - began >= START_DELAY  # the probe really was waiting for it
    assert outcome["result"].attempts > 1
    assert outcome["found_at"] - answering < 1.0
