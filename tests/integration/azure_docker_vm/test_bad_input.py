# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input fails with a message naming the option, before a single request reaches Azure."""

from __future__ import annotations

from pathlib import Path

import pytest

from ansible_collections.dockerhost.azure.azure_emulator.pki import TestCA

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

PASSWORD_CANARY = "Zq-canary-pw-9141"


def test_each_bad_input_fails_before_any_request(host):
    pair = host.server_cert("dh-bad")
    other = host.pki.server("other-host")
    good = host.args("dh-bad", pair)
    # Issue 13 item 1: a foreign CA appended to ca.pem would be trusted by the daemon.
    appended = host.work / "appended-ca.pem"
    stranger = TestCA(str(host.work / "stranger"), name="Appended CA")
    appended.write_bytes(Path(host.pki.cert_path).read_bytes() + Path(stranger.cert_path).read_bytes())
    cases = [
        ({"name": "bad_name"}, "name", "not a valid Linux VM name"),
        ({"name": "x" * 65}, "name", "not a valid Linux VM name"),
        ({"dns_label": "No_Caps"}, "dns_label", "not a valid DNS label"),
        ({"admin_username": "admin"}, "admin_username", "reserved by Azure"),
        ({"admin_username": "a" * 65}, "admin_username", "1-64 characters"),
        ({"admin_password": "Ab1!"}, "admin_password", "6-72 characters"),
        ({"admin_password": "alllowercaseletters"}, "admin_password", "needs 3 of these 4"),
        ({"admin_password": "P@ssw0rd"}, "admin_password", "disallowed"),
        ({"allowed_cidrs": ["0.0.0.0/0"]}, "allowed_cidrs", "allow_from_anywhere"),
        ({"allowed_cidrs": ["Internet"]}, "allowed_cidrs", "allow_from_anywhere"),
        ({"allowed_cidrs": ["*"]}, "allowed_cidrs", "allow_from_anywhere"),
        ({"allowed_cidrs": ["10.1.2.3/8"]}, "allowed_cidrs", "host bits set"),
        ({"docker_port": 2375}, "docker_port", "plain-HTTP port"),
        ({"docker_port": 70000}, "docker_port", "1-65535"),
        ({"ca_cert": str(host.work / "missing-ca.pem")}, "ca_cert", "file not found"),
        ({"server_key": other.key}, "server_key", "is not the key of the certificate"),
        ({"ca_cert": str(appended)}, "ca_cert", "holds 2 PEM blocks"),
        ({"ssh_public_keys": ["ssh-rsa AAAA"]}, "ssh_public_keys", "cannot be parsed"),
    ]
    results = host.run(*(host.task(dict(good, **over)) for over, _option, _message in cases)).results
    for (over, option, message), result in zip(cases, results, strict=True):
        assert result.get("failed"), (over, result)
        assert result["msg"].startswith(f"{option}: "), (over, result["msg"])
        assert message in result["msg"], (over, result["msg"])
        assert result.get("option") == option
        assert PASSWORD_CANARY not in result["msg"]
    # Not even the cloud metadata or a token: nothing was sent.
    assert host.requests() == []


def test_a_refused_password_is_never_repeated(host):
    pair = host.server_cert("dh-pw")
    refused = "zqcanaryonlylowercase"  # one character class of the three needed
    run = host.run(host.task(host.args("dh-pw", pair, admin_password=refused)))
    (result,) = run.results
    assert result["failed"]
    assert result["option"] == "admin_password"
    assert refused not in str(result)
    assert refused not in run.output
    assert host.requests() == []


def test_a_trailing_newline_in_any_string_option_fails_before_any_request(host):
    """Issue 13 item 7: resource_group "rg\n" created a group and a whole VM."""
    pair = host.server_cert("dh-nl")
    good = host.args("dh-nl", pair, dns_label="dh-nl", subnet_id=None)
    env = host.emulator.env()
    options = {
        "resource_group": good["resource_group"],
        "name": good["name"],
        "location": good["location"],
        "dns_label": "dh-nl",
        "admin_username": "azureuser",
        "vm_size": "Standard_B2s",
        "image": "Canonical:ubuntu-24_04-lts:server:latest",
        "subscription_id": env["AZURE_SUBSCRIPTION_ID"],
        "tenant": env["AZURE_TENANT"],
        "client_id": env["AZURE_CLIENT_ID"],
        "cloud_environment": "AzureCloud",
        "ca_cert": good["ca_cert"],
        "allowed_cidrs": ["203.0.113.7/32"],
    }
    tasks = []
    for option, value in options.items():
        broken = [f"{value[0]}\n"] if isinstance(value, list) else f"{value}\n"
        tasks.append(host.task(dict(good, **{option: broken})))
    results = host.run(*tasks).results
    for option, result in zip(options, results, strict=True):
        assert result.get("failed"), (option, result)
        assert result.get("option") == option, (option, result["msg"])
        assert "control character" in result["msg"], (option, result["msg"])
    assert host.requests() == []
