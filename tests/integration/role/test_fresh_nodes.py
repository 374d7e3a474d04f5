# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 12 on throw-away control nodes: every job is an ansible-runner process with a new private data
directory, HOME, TMPDIR and ANSIBLE_HOME (``fresh_node``); all a job carries over is what AWX would inject,
the Azure credential's environment and, where the test says so, the CA and client pair as the collection's
credential type injects them (extra vars ``docker_host_{ca_cert,ca_key,client_cert,client_key}_pem``).
The emulator's request log is the witness of what each job sent Azure, the VM agent's dockerd PIDs of
whether a daemon was restarted, and real mutual-TLS requests of who the daemon lets in.

Cases: a job without the CA is refused with no write and job 1's client keeps working; a job with the
supplied pair converges with no write and no restart; a deliberate CA rotation; a server certificate due
for renewal re-issued and applied once; three sliced jobs at once over six hosts, then a second round with
no write; the probe playbook on a fresh node."""

from __future__ import annotations

import concurrent.futures
import datetime

import pytest
from cryptography import x509

from ansible_collections.dockerhost.azure.tests.integration.role.jobs import (
    daemons,
    docker_api_version,
    extension_puts,
    pem_sha256,
    stats,
    writes,
    writes_by_vm,
)

pytestmark = [pytest.mark.emulator, pytest.mark.docker, pytest.mark.slow]

GROUP = "fresh-nodes"
LOCATION = "westeurope"
PORT = 2376


def fqdn(host: str) -> str:
    return f"{host}.{LOCATION}.cloudapp.azure.com"


def _job(fresh_node, label: str, hosts: list[str], ssh_public_key: str, forks: int = 1, **variables):
    """A new job on a new node with the inventory AWX would hold (the job template's hosts and variables)."""
    job = fresh_node(label)
    job.inventory(
        hosts,
        docker_host_resource_group=GROUP,
        docker_host_location=LOCATION,
        docker_host_allowed_cidrs=["127.0.0.1/32"],
        docker_host_ssh_public_keys=[ssh_public_key],
        docker_host_poll_interval=0,  # synchronous: the module waits, polling as Azure's Retry-After says
        docker_host_wait_timeout=300,
        docker_host_probe_wait_timeout=120,
        **variables,
    )
    job.envvars["ANSIBLE_FORKS"] = str(forks)
    return job


def _mark(emulator) -> int:
    return max((r["seq"] for r in emulator.requests()), default=0)


def _ok(result) -> None:
    assert (result.status, result.rc) == ("successful", 0), result.stdout[-6000:]


def _failures(result) -> list[str]:
    return [
        str(e["event_data"]["res"].get("msg", ""))
        for e in result.events
        if e.get("event") == "runner_on_failed" and not e["event_data"].get("ignore_errors")
    ]


def _public_ip(emulator, host: str) -> str:
    return emulator.network_client().public_ip_addresses.get(GROUP, f"{host}-ip").ip_address


def _served(ip: str) -> x509.Certificate:
    """The certificate the daemon presents (the handshake needs no client certificate to show it)."""
    import ssl  # noqa: PLC0415

    return x509.load_pem_x509_certificate(ssl.get_server_certificate((ip, PORT), timeout=20).encode())


def _client(pair, host: str, ip: str, ca_pem: str | None = None):
    """GET /version with ``pair``'s client certificate, trusting ``ca_pem`` (default: the pair's CA)."""
    pems = pair.pems
    return docker_api_version(
        ip, fqdn(host), ca_pem=ca_pem or pems["ca.pem"], cert_pem=pems["cert.pem"], key_pem=pems["key.pem"]
    )


def _left_nothing(job) -> None:
    """A job with the supplied pair keeps nothing in its HOME (no ~/.docker) and no private directory."""
    assert not (job.base / "home" / ".docker").exists()
    assert list((job.base / "tmp").glob("dockerhost-azure-*")) == []


def _create(fresh_node, pair, host: str, ssh_public_key: str, azure_emulator, **variables) -> str:
    """Job 1: create the host with the supplied pair; its public IP."""
    job = _job(fresh_node, "create", [host], ssh_public_key, **variables)
    created = job.run("create.yml", extravars=pair.extravars)
    _ok(created)
    _left_nothing(job)
    ip = _public_ip(azure_emulator, host)
    assert isinstance(_client(pair, host, ip), str)
    return ip


def test_a_job_without_the_ca_is_refused_before_any_write_and_job_1s_client_still_works(
    fresh_node, supplied_pair, azure_emulator, ssh_public_key
):
    pair, host = supplied_pair("ca1"), "fresh-lockout"
    ip = _create(fresh_node, pair, host, ssh_public_key, azure_emulator)
    daemon = daemons(azure_emulator)[host]
    mark = _mark(azure_emulator)

    # Job 2 of the same template on a new node, the credential forgotten: the role mints a CA in ~/.docker.
    job = _job(fresh_node, "no-ca", [host], ssh_public_key)
    refused = job.run("create.yml")
    assert (refused.status, refused.rc) == ("failed", 2), refused.stdout[-4000:]
    minted = (job.base / "home" / ".docker" / "ca.pem").read_text()
    assert pem_sha256(minted) != pair.ca_sha256
    (message,) = _failures(refused)
    for needed in (host, pair.ca_sha256, pem_sha256(minted), "rotate_ca"):
        assert needed in message, message
    assert writes(azure_emulator.requests(since=mark)) == []

    # Nothing moved: the same daemon, and job 1's client still gets in over mutual TLS.
    assert daemons(azure_emulator)[host] == daemon
    assert isinstance(_client(pair, host, ip), str)


def test_b_a_job_with_the_supplied_pair_on_a_fresh_node_sends_no_write_and_keeps_the_daemon(
    fresh_node, supplied_pair, azure_emulator, ssh_public_key
):
    pair, host = supplied_pair("ca1"), "fresh-noop"
    _create(fresh_node, pair, host, ssh_public_key, azure_emulator)
    daemon = daemons(azure_emulator)[host]
    mark = _mark(azure_emulator)

    job = _job(fresh_node, "again", [host], ssh_public_key)
    again = job.run("create.yml", extravars=pair.extravars)
    _ok(again)
    assert writes(azure_emulator.requests(since=mark)) == []
    assert daemons(azure_emulator)[host] == daemon, "dockerd was restarted"
    assert stats(again)["changed"] == {}
    (shown,) = again.task_results("Show how to use the Docker host")
    assert "answers over mutual TLS" in shown["msg"][0]
    _left_nothing(job)


def test_c_a_deliberate_ca_rotation_from_a_fresh_node_applies_and_locks_out_the_old_client(
    fresh_node, supplied_pair, azure_emulator, ssh_public_key
):
    old, new, host = supplied_pair("ca1"), supplied_pair("ca2"), "fresh-rotate"
    ip = _create(fresh_node, old, host, ssh_public_key, azure_emulator)
    daemon = daemons(azure_emulator)[host]
    mark = _mark(azure_emulator)

    job = _job(fresh_node, "rotate", [host], ssh_public_key, docker_host_rotate_ca=True)
    rotated = job.run("create.yml", extravars=new.extravars)
    _ok(rotated)
    assert len(extension_puts(azure_emulator.requests(since=mark))) == 1
    assert daemons(azure_emulator)[host] != daemon
    served = _served(ip)
    assert served.issuer == x509.load_pem_x509_certificate(new.pems["ca.pem"].encode()).subject
    assert isinstance(_client(new, host, ip), str)
    # The old client, whatever it trusts, is out: the daemon wants a certificate of the new CA.
    assert isinstance(_client(old, host, ip, ca_pem=new.pems["ca.pem"]), Exception)
    assert isinstance(_client(old, host, ip), Exception)
    _left_nothing(job)


def test_d_a_server_certificate_due_for_renewal_is_reissued_and_applied_once_from_a_fresh_node(
    fresh_node, supplied_pair, azure_emulator, ssh_public_key
):
    pair, host = supplied_pair("ca1"), "fresh-renew"
    ip = _create(fresh_node, pair, host, ssh_public_key, azure_emulator)
    first = _served(ip)
    daemon = daemons(azure_emulator)[host]

    # The first certificate has 365 days left; asking for 400 days of notice makes it due.
    due = {"docker_host_cert_valid_days": 500, "docker_host_renew_before_days": 400}
    mark = _mark(azure_emulator)
    job = _job(fresh_node, "renew", [host], ssh_public_key, **due)
    renewed = job.run("create.yml", extravars=pair.extravars)
    _ok(renewed)
    assert len(extension_puts(azure_emulator.requests(since=mark))) == 1
    second = _served(ip)
    assert second.fingerprint(second.signature_hash_algorithm) != first.fingerprint(first.signature_hash_algorithm)
    assert second.not_valid_after_utc - first.not_valid_after_utc > datetime.timedelta(days=100)
    assert daemons(azure_emulator)[host] != daemon
    assert isinstance(_client(pair, host, ip), str)
    _left_nothing(job)

    # Renewed is not due: the next fresh job changes nothing.
    daemon = daemons(azure_emulator)[host]
    mark = _mark(azure_emulator)
    again = _job(fresh_node, "renewed", [host], ssh_public_key, **due).run("create.yml", extravars=pair.extravars)
    _ok(again)
    assert writes(azure_emulator.requests(since=mark)) == []
    assert daemons(azure_emulator)[host] == daemon


SLICED = [f"slice-{n}" for n in range(1, 7)]
# AWX slices an inventory round-robin: host i goes to slice i mod N.
SLICES = [SLICED[k::3] for k in range(3)]


def _run_slices(fresh_node, pair, ssh_public_key, label: str) -> list:
    """Three jobs at once, one per slice: separate ansible-runner processes, nodes and HOMEs, one pair."""
    jobs = [_job(fresh_node, f"{label}{k}", hosts, ssh_public_key, forks=2) for k, hosts in enumerate(SLICES)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda job: job.run("create.yml", extravars=pair.extravars), jobs))
    for job, result in zip(jobs, results, strict=True):
        _ok(result)
        _left_nothing(job)
    # They really ran at once: every job started before any of them ended.
    starts = [min(e["created"] for e in r.events) for r in results]
    ends = [max(e["created"] for e in r.events) for r in results]
    assert max(starts) < min(ends), (starts, ends)
    return results


def test_e_three_sliced_jobs_at_once_converge_and_a_second_round_sends_no_write(
    fresh_node, supplied_pair, azure_emulator, ssh_public_key
):
    pair = supplied_pair("ca1")
    first = _run_slices(fresh_node, pair, ssh_public_key, "round1-")
    log = azure_emulator.requests()
    by_vm = writes_by_vm(log, SLICED)
    # Each slice's job wrote its own hosts only (per-VM paths), each host once; the resource group is shared.
    for hosts, result in zip(SLICES, first, strict=True):
        assert sorted(stats(result)["changed"]) == sorted(hosts)
        for host in hosts:
            vm_puts = [p for m, p in by_vm[host] if m == "PUT" and p.lower().endswith(f"/virtualmachines/{host}")]
            assert len(vm_puts) == 1, by_vm[host]
            assert len([p for m, p in by_vm[host] if "/extensions/" in p.lower()]) == 1, by_vm[host]
    assert {(m, p.lower().rsplit("/", 2)[-2]) for m, p in by_vm.get(None, [])} <= {("PUT", "resourcegroups")}
    for host in SLICED:
        assert isinstance(_client(pair, host, _public_ip(azure_emulator, host)), str), host
    running = daemons(azure_emulator)
    assert sorted(running) == sorted(SLICED)

    mark = _mark(azure_emulator)
    second = _run_slices(fresh_node, pair, ssh_public_key, "round2-")
    assert writes(azure_emulator.requests(since=mark)) == []
    assert daemons(azure_emulator) == running, "a dockerd was restarted"
    assert [stats(result)["changed"] for result in second] == [{}, {}, {}]


def test_f_the_probe_playbook_on_a_fresh_node_answers_with_the_pair_and_azure_credentials(
    fresh_node, supplied_pair, azure_emulator, ssh_public_key
):
    pair, host = supplied_pair("ca1"), "fresh-probe"
    ip = _create(fresh_node, pair, host, ssh_public_key, azure_emulator)
    mark = _mark(azure_emulator)

    # No address record, no docker_host_probe_address, no resolvable FQDN: the address comes from Azure.
    job = fresh_node("probe")
    job.inventory([host], docker_host_resource_group=GROUP, docker_host_probe_wait_timeout=30)
    probed = job.run("probe.yml", extravars=pair.extravars)
    _ok(probed)
    (answer,) = probed.task_results("Show what answered")
    assert "answers over mutual TLS" in answer["msg"] and fqdn(host) in answer["msg"] and ip in answer["msg"]
    assert writes(azure_emulator.requests(since=mark)) == []
    _left_nothing(job)


def test_f_the_probe_playbook_without_credentials_or_address_says_what_to_supply(fresh_node, supplied_pair):
    job = fresh_node("probe-bare")
    for name in [n for n in job.envvars if n.startswith("AZURE_")]:
        del job.envvars[name]
    job.inventory(["fresh-nowhere"], docker_host_resource_group=GROUP, docker_host_probe_wait_timeout=0)
    probed = job.run("probe.yml", extravars=supplied_pair("ca1").extravars)
    assert (probed.status, probed.rc) == ("failed", 2), probed.stdout[-4000:]
    (message,) = _failures(probed)
    # Either of the two ways in: an address (or the FQDN's location), or Azure credentials to look it up.
    for needed in ("fresh-nowhere", "docker_host_probe_address", "docker_host_location", "Azure credentials"):
        assert needed in message, message
    _left_nothing(job)
