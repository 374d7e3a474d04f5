# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Never re-key a host by accident (issue 12 item 1): another CA is refused before any write, unless rotate_ca.

One scenario per test, each step one ansible-playbook run against the emulator; the request log is the witness.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import subprocess

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA
from ansible_collections.dockerhost.azure.tests.integration.azure_docker_vm.conftest import fqdn

pytestmark = [pytest.mark.emulator, pytest.mark.docker, pytest.mark.slow]


def sha256_of(path: str) -> str:
    with open(path, encoding="ascii") as handle:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(handle.read())).hexdigest()


def served_sha256(ip: str, port: int = 2376) -> str:
    """The certificate the daemon presents (no client certificate: the handshake is all we need)."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate((ip, port), timeout=20))).hexdigest()


def extension_tag(host, name: str) -> str:
    ext = host.emulator.compute_client().virtual_machine_extensions.get(f"rg-{name}", name, "docker-install")
    return ext.force_update_tag


def docker_version(host, ip: str, ca: str, client) -> subprocess.CompletedProcess:
    """The docker CLI over mutual TLS with any CA and client pair."""
    env = {**os.environ, "DOCKER_CONFIG": str(host.work / "docker-config")}
    env.pop("DOCKER_HOST", None)
    command = ["docker", "--tlsverify", f"--tlscacert={ca}", f"--tlscert={client.cert}", f"--tlskey={client.key}"]
    command += ["-H", f"tcp://{ip}:2376", "version", "--format", "{{.Server.APIVersion}}"]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


def new_ca(host, name: str, ip: str):
    """Another CA (as a control node that lost ~/.docker would mint), with a server pair and a client pair."""
    ca = TestCA(str(host.work / "pki2"), name="Second CA")
    server = ca.server(f"{name}-2", dns_names=(fqdn(name),), ip_addresses=(ip,))
    return ca, server, ca.client("client2")


def create(host, name: str):
    first = host.server_cert(name)
    (created,) = host.run(host.task(host.args(name, first))).results
    assert created["changed"] is True and not created.get("failed"), created
    ip = created["public_ip"]
    # A server pair that also names the IP, so the docker CLI can verify the daemon by address.
    pair = host.server_cert(name, ip)
    args = host.args(name, pair)
    (rotated,) = host.run(host.task(args)).results
    assert not rotated.get("failed"), rotated
    return args, ip


def test_another_ca_is_refused_with_no_write_and_old_clients_keep_working(host):
    name = "dh-rekey"
    args, ip = create(host, name)
    ca1 = sha256_of(host.pki.cert_path)
    tag_before = extension_tag(host, name)
    assert f"ca={ca1}" in tag_before
    ca2, server2, _client2 = new_ca(host, name, ip)
    ca2_print = sha256_of(ca2.cert_path)
    args2 = dict(args, ca_cert=ca2.cert_path, server_cert=server2.cert, server_key=server2.key)

    for check_mode in (True, False):
        host.emulator.clear_requests()
        (refused,) = host.run(host.task(args2, check_mode=check_mode, diff=True)).results
        assert refused.get("failed"), refused
        assert refused["changed"] is False
        assert refused["option"] == "rotate_ca"
        assert (refused["deployed_ca_sha256"], refused["ca_sha256"]) == (ca1, ca2_print)
        for needed in (repr(name), ca1, ca2_print, "rotate_ca=true"):
            assert needed in refused["msg"], refused["msg"]
        with open(server2.key, encoding="ascii") as handle:
            assert handle.read().strip() not in refused["msg"]
        assert host.writes() == [], [(w["method"], w["path"]) for w in host.writes()]

    # The extension still holds CA1, the daemon still presents the first pair and job 1's client still works.
    assert extension_tag(host, name) == tag_before
    assert served_sha256(ip) == sha256_of(args["server_cert"])
    works = docker_version(host, ip, host.pki.cert_path, host.client)
    assert works.returncode == 0, works.stderr


def test_rotate_ca_applies_once_then_converges_and_locks_out_old_clients(host):
    name = "dh-rotate"
    args, ip = create(host, name)
    ca1 = sha256_of(host.pki.cert_path)
    ca2, server2, client2 = new_ca(host, name, ip)
    ca2_print = sha256_of(ca2.cert_path)
    args2 = dict(args, ca_cert=ca2.cert_path, server_cert=server2.cert, server_key=server2.key, rotate_ca=True)

    # Check mode with diff: reports the rotation (the CA print before and after) and writes nothing.
    host.emulator.clear_requests()
    (checked,) = host.run(host.task(args2, check_mode=True, diff=True)).results
    assert not checked.get("failed"), checked
    assert checked["changed"] is True
    assert [(c["resource"], c["action"], c["properties"]) for c in checked["changes"]] == [
        ("extension", "update", ["fingerprints"])
    ]
    fingerprints = {
        side: checked["diff"][side]["extension docker-install"]["fingerprints"]["ca"] for side in ("before", "after")
    }
    assert fingerprints == {"before": ca1, "after": ca2_print}
    assert host.writes() == []

    # Applied: one PUT of the extension, the daemon now presents the new pair and trusts only the new CA.
    host.emulator.clear_requests()
    (rotation,) = host.run(host.task(args2)).results
    assert not rotation.get("failed"), rotation
    assert rotation["changed"] is True
    assert [(w["method"], w["path"].rsplit("/", 1)[-1]) for w in host.writes()] == [("PUT", "docker-install")]
    assert f"ca={ca2_print}" in extension_tag(host, name)
    assert served_sha256(ip) == sha256_of(server2.cert)
    works = docker_version(host, ip, ca2.cert_path, client2)
    assert works.returncode == 0, works.stderr
    locked_out = docker_version(host, ip, ca2.cert_path, host.client)  # job 1's client, from CA1
    assert locked_out.returncode != 0

    # A re-run (rotate_ca still true, or back to false) changes nothing and writes nothing.
    for again_args in (args2, dict(args2, rotate_ca=False)):
        host.emulator.clear_requests()
        (again,) = host.run(host.task(again_args)).results
        assert not again.get("failed"), again
        assert again["changed"] is False, again["changes"]
        assert host.writes() == []
    # And now the old CA is the foreign one.
    (back,) = host.run(host.task(args, check_mode=True)).results
    assert back.get("failed") and back["option"] == "rotate_ca", back
