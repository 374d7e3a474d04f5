# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 12 item 2: converge without local leftovers. A control node that holds only the CA and the client
pair (PEM contents, as an AWX credential injects them: no server pair, no address record, no env file) finds
the host's address in Azure, reads the certificate the daemon presents, and - for a host that is already
right - sends Azure no write and leaves the daemon running. It re-issues the server pair and applies the
extension exactly once when something is due: the renewal window, another hostname.

The request log of the emulator is the witness; the daemon's PID says whether it restarted.
"""

from __future__ import annotations

import re

import pytest

from ansible_collections.dockerhost.azure.tests.integration.role.jobs import FQDN, PROBE, assert_nothing_left

pytestmark = [pytest.mark.emulator, pytest.mark.docker, pytest.mark.slow]

WRITES = ("PUT", "PATCH", "POST", "DELETE")


def _arm(requests: list[dict]) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in requests if r["path"].lower().startswith("/subscriptions/")]


def _writes(requests: list[dict]) -> list[tuple[str, str]]:
    return [(method, path) for method, path in _arm(requests) if method in WRITES]


def _reads(requests: list[dict]) -> list[str]:
    return [path for method, path in _arm(requests) if method == "GET"]


def _daemon_pid(emulator) -> int:
    (vm,) = emulator.vms()
    return vm["daemon"]["pid"]


def _since(emulator, mark: int) -> list[dict]:
    return emulator.requests(since=mark)


def _mark(emulator) -> int:
    return max((r["seq"] for r in emulator.requests()), default=0)


def test_a_fresh_node_converges_with_no_write_and_re_issues_only_when_due(node, ssh_public_key, azure_emulator):
    common = (
        "docker_host_resource_group=fresh",
        "docker_host_location=westeurope",
        '{"docker_host_allowed_cidrs": ["127.0.0.1/32"]}',
        f'{{"docker_host_ssh_public_keys": ["{ssh_public_key}"]}}',
        "docker_host_poll_interval=0",
    )
    # A short-lived server certificate, so that a later run can find it inside the renewal window.
    created = node(node.play, *common, "docker_host_cert_valid_days=40")
    assert created.returncode == 0, created.stdout[-4000:] + created.stderr[-2000:]
    assert "answers over mutual TLS" in created.stdout

    # Job 2, a fresh node again: the host is right. One more read than a warm disk (the public IP), no write,
    # the daemon keeps running.
    pid, mark = _daemon_pid(azure_emulator), _mark(azure_emulator)
    again = node(node.play, *common)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    requests = _since(azure_emulator, mark)
    assert _writes(requests) == []
    reads = _reads(requests)
    assert sum(path.endswith("/publicIPAddresses/supplied-1-ip") for path in reads) == 2, reads  # info + the VM module
    assert _daemon_pid(azure_emulator) == pid
    assert "changed=0" in again.stdout.split("PLAY RECAP")[-1], again.stdout[-2000:]
    assert "answers over mutual TLS" in again.stdout and FQDN in again.stdout
    assert_nothing_left(node, again)

    # The certificate in use is within renew_before_days of its end: a new server pair, applied once.
    mark = _mark(azure_emulator)
    renewed = node(node.play, *common, "docker_host_renew_before_days=364")
    assert renewed.returncode == 0, renewed.stdout[-4000:] + renewed.stderr[-2000:]
    writes = _writes(_since(azure_emulator, mark))
    assert [(m, p.rsplit("/", 2)[-2:]) for m, p in writes] == [("PUT", ["extensions", "docker-install"])], writes
    assert "within renew_before_days=364" in renewed.stdout
    # Decided before Azure, by docker_tls_certs: no refused keyless attempt first.
    assert "issuing a new server pair and applying it once" not in renewed.stdout
    assert_nothing_left(node, renewed)

    # Another hostname: re-issued and applied once; then the host is right again and nothing is written.
    mark = _mark(azure_emulator)
    extra = '{"docker_host_extra_hostnames": ["docker.example.test"]}'
    renamed = node(node.play, *common, extra)
    assert renamed.returncode == 0, renamed.stdout[-4000:] + renamed.stderr[-2000:]
    writes = _writes(_since(azure_emulator, mark))
    assert [(m, p.rsplit("/", 2)[-2:]) for m, p in writes] == [("PUT", ["extensions", "docker-install"])], writes
    pid, mark = _daemon_pid(azure_emulator), _mark(azure_emulator)
    settled = node(node.play, *common, extra)
    assert settled.returncode == 0, settled.stdout[-4000:]
    assert _writes(_since(azure_emulator, mark)) == []
    assert _daemon_pid(azure_emulator) == pid
    assert_nothing_left(node, settled)

    # The probe entry point on a fresh node: no record, no address given; Azure knows the address.
    mark = _mark(azure_emulator)
    probed = node(PROBE, "docker_host_resource_group=fresh")
    assert probed.returncode == 0, probed.stdout[-4000:] + probed.stderr[-2000:]
    assert re.search(rf"answers over mutual TLS at tcp://127\.[0-9.]+:2376 as {re.escape(FQDN)}", probed.stdout)
    assert _writes(_since(azure_emulator, mark)) == []
    assert len(_reads(_since(azure_emulator, mark))) == 1
    assert_nothing_left(node, probed)

    # Another setting of the extension (daemon_options) on a fresh node: the kept certificate's key is not
    # here, so a new server pair is issued and the extension applied once.
    mark = _mark(azure_emulator)
    optioned = node(node.play, *common, extra, '{"docker_host_daemon_options": {"debug": true}}')
    assert optioned.returncode == 0, optioned.stdout[-4000:] + optioned.stderr[-2000:]
    writes = _writes(_since(azure_emulator, mark))
    assert [(m, p.rsplit("/", 2)[-2:]) for m, p in writes] == [("PUT", ["extensions", "docker-install"])], writes
    assert "daemon_options changed" in optioned.stdout
    assert "issuing a new server pair and applying it once" in optioned.stdout
    assert_nothing_left(node, optioned)


def test_probe_without_an_address_names_the_azure_way_too(node):
    """No record, no address, no resource group: the message says what to supply, Azure included."""
    proc = node(PROBE, "docker_host_probe_wait_timeout=0")
    assert proc.returncode != 0
    assert "no address known" in proc.stdout and "docker_host_resource_group" in proc.stdout, proc.stdout[-3000:]
    assert_nothing_left(node, proc)


def test_probe_with_a_resource_group_of_no_host_says_what_azure_answered(node):
    """The host is not in Azure: the read answers "no such public IP", and the message says what to supply."""
    proc = node(PROBE, "docker_host_resource_group=nowhere", "docker_host_probe_wait_timeout=0")
    assert proc.returncode != 0
    assert "no address known" in proc.stdout, proc.stdout[-3000:]
    assert_nothing_left(node, proc)
