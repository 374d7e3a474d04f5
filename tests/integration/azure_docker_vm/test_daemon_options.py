# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""daemon_options (issue 14 item 3) and validate_only (issue 13 item 9) through the emulator.

Azure never returns protected settings, so only the options' fingerprint in forceUpdateTag can tell a change:
a change re-applies the extension exactly once, the same options change nothing, and bad options (or any
input with validate_only) are refused before a single request is sent.
"""

from __future__ import annotations

import json
import os

import pytest

pytestmark = [pytest.mark.emulator, pytest.mark.docker, pytest.mark.slow]


def daemon_json(host, name: str) -> dict:
    (vm,) = [v for v in host.emulator.vms() if v["vm"].lower().endswith(f"/{name}".lower())]
    with open(os.path.join(vm["root"], "etc", "docker", "daemon.json"), encoding="utf-8") as handle:
        return json.load(handle)


def test_changing_daemon_options_reapplies_the_extension_once(host):
    name = "dh-opts"
    args = host.args(name, host.server_cert(name), daemon_options={"max-concurrent-downloads": 5})
    (created,) = host.run(host.task(args)).results
    assert not created.get("failed"), created
    merged = daemon_json(host, name)
    assert merged["max-concurrent-downloads"] == 5
    assert merged["live-restore"] is True and merged["tlsverify"] is True  # the defaults and TLS stay

    host.emulator.clear_requests()
    (same,) = host.run(host.task(args)).results
    assert same["changed"] is False, same["changes"]
    assert host.writes() == []

    changed_args = dict(args, daemon_options={"max-concurrent-downloads": 7, "live-restore": None})
    host.emulator.clear_requests()
    (changed,) = host.run(host.task(changed_args, diff=True)).results
    assert changed["changed"] is True
    assert [(c["resource"], c["action"], c["properties"]) for c in changed["changes"]] == [
        ("extension", "update", ["fingerprints"])
    ]
    assert [(w["method"], w["path"].rsplit("/", 1)[-1]) for w in host.writes()] == [("PUT", "docker-install")]
    assert changed["extension"]["provisioning_state"] == "Succeeded"
    merged = daemon_json(host, name)
    assert merged["max-concurrent-downloads"] == 7
    assert "live-restore" not in merged  # null: the default is left out

    host.emulator.clear_requests()
    (again,) = host.run(host.task(changed_args)).results
    assert again["changed"] is False, again["changes"]
    assert host.writes() == []


@pytest.mark.parametrize(
    ("over", "option"),
    [
        ({"daemon_options": {"hosts": ["tcp://0.0.0.0:2375"]}}, "daemon_options"),
        ({"daemon_options": {"tlsverify": False}}, "daemon_options"),
        ({"daemon_options": {"icc": True}, "docker_install": "docker_extension"}, "daemon_options"),
    ],
)
def test_refused_daemon_options_send_no_request(host, over, option):
    name = "dh-refused"
    host.emulator.clear_requests()
    (refused,) = host.run(host.task(host.args(name, host.server_cert(name), **over))).results
    assert refused.get("failed") is True
    assert refused["option"] == option
    assert refused["msg"].startswith(f"{option}: ")
    assert host.requests() == []


def test_validate_only_needs_no_certificates_and_sends_nothing(host):
    name = "dh-validate"
    args = host.args(name, host.server_cert(name), validate_only=True)
    for option in ("ca_cert", "server_cert", "server_key"):
        args.pop(option)
    host.emulator.clear_requests()
    ok, bad = host.run(host.task(args), host.task(dict(args, name="web.example.com"))).results
    assert ok["changed"] is False and not ok.get("failed"), ok
    assert bad.get("failed") is True and bad["option"] == "name"
    assert host.requests() == []
