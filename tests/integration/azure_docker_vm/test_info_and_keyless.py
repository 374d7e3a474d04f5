# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A control node without the host's server pair (issue 12 item 2), module by module: azure_docker_vm_info
finds the address with one read; azure_docker_vm given the certificate in use (PEM text, no key) writes
nothing when the extension carries it, and fails before any write when the extension must be applied.

Each step is one ansible-playbook run against the emulator; the request log is the witness.
"""

from __future__ import annotations

import pathlib

import pytest

from ansible_collections.dockerhost.azure.tests.integration.azure_docker_vm.conftest import fqdn, is_write
from ansible_collections.dockerhost.azure.tests.integration.azure_docker_vm.test_ca_rotation import served_sha256

pytestmark = [pytest.mark.emulator, pytest.mark.docker, pytest.mark.slow]

INFO = "dockerhost.azure.azure_docker_vm_info"


def _arm(requests: list[dict]) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in requests if r["path"].lower().startswith("/subscriptions/")]


def test_info_module_and_keyless_runs(host):
    name = "dh-fresh"
    # A missing VM (and group): no error, one read.
    host.emulator.clear_requests()
    (missing,) = host.run({INFO: {"resource_group": f"rg-{name}", "name": name}}).results
    assert not missing.get("failed"), missing
    assert (missing["exists"], missing["fqdn"], missing["public_ip"], missing["changed"]) == (False, None, None, False)
    assert missing["resource_id"].endswith(
        f"/resourceGroups/rg-{name}/providers/Microsoft.Network/publicIPAddresses/{name}-ip"
    )
    assert [m for m, _p in _arm(host.requests())] == ["GET"]

    pair = host.server_cert(name)
    args = host.args(name, pair)
    (created,) = host.run(host.task(args)).results
    assert created["changed"] is True and not created.get("failed"), created

    # An existing one, in check mode too: one GET of the public IP each, the same answer as azure_docker_vm's.
    for check_mode in (False, True):
        host.emulator.clear_requests()
        (found,) = host.run({INFO: {"resource_group": f"rg-{name}", "name": name}, "check_mode": check_mode}).results
        assert not found.get("failed"), found
        assert (found["exists"], found["fqdn"], found["public_ip"]) == (True, fqdn(name), created["public_ip"])
        assert (found["attached"], found["managed"], found["location"]) == (True, True, "westeurope")
        assert _arm(host.requests()) == [
            (
                "GET",
                f"/subscriptions/{host.emulator.subscription_id}/resourceGroups/rg-{name}/providers/Microsoft.Network/publicIPAddresses/{name}-ip",
            )
        ]

    # The certificate in use as PEM text, without its key: the extension carries it, nothing is written.
    in_use = pathlib.Path(pair.cert).read_text()
    keyless = dict(args, server_cert=in_use)
    keyless.pop("server_key")
    for check_mode in (True, False):
        host.emulator.clear_requests()
        (kept,) = host.run(host.task(keyless, check_mode=check_mode, diff=True)).results
        assert not kept.get("failed"), kept
        assert kept["changed"] is False and kept["changes"] == []
        assert [w for w in host.requests() if is_write(w)] == []

    # The extension must be applied (another port): without the key it fails before any write, naming why.
    ip = created["public_ip"]
    served = served_sha256(ip)
    for check_mode in (True, False):
        host.emulator.clear_requests()
        (refused,) = host.run(host.task(dict(keyless, docker_port=2377), check_mode=check_mode)).results
        assert refused.get("failed") and refused["changed"] is False, refused
        assert refused["error_kind"] == "server_key_required" and refused["option"] == "server_key"
        assert refused["reasons"] == ["docker_port changed"]
        assert "docker_port changed" in refused["msg"] and "Nothing was changed" in refused["msg"]
        assert [w for w in host.requests() if is_write(w)] == [], _arm(host.requests())
    assert served_sha256(ip) == served  # the daemon was not touched
    with open(pair.key, encoding="ascii") as handle:
        key_lines = [line for line in handle.read().splitlines() if line and not line.startswith("-----")]
    assert not any(line in refused["msg"] for line in key_lines)
