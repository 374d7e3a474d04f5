# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""daemon.json: the options validator, the hardened defaults and the merge the install script runs on the VM."""

from __future__ import annotations

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._daemon_config import (
    DEFAULT_DAEMON_OPTIONS,
    MERGE_HELPER,
    OWNED_KEYS,
    DaemonOptionsError,
    daemon_options_fingerprint,
    split_daemon_options,
    validate_daemon_options,
)

OWNED = {
    "hosts": ["fd://", "tcp://0.0.0.0:2376"],
    "tls": True,
    "tlsverify": True,
    "tlscacert": "/etc/docker/ca.pem",
    "tlscert": "/etc/docker/server-cert.pem",
    "tlskey": "/etc/docker/server-key.pem",
}


@pytest.fixture(scope="module")
def merge():
    namespace: dict = {"__name__": "merge_helper"}
    exec(compile(MERGE_HELPER, "MERGE_HELPER", "exec"), namespace)  # our own constant, run as the VM runs it
    return namespace["merge"]


def test_defaults_are_the_hardened_daemon():
    assert DEFAULT_DAEMON_OPTIONS["live-restore"] is True
    assert DEFAULT_DAEMON_OPTIONS["no-new-privileges"] is True
    assert DEFAULT_DAEMON_OPTIONS["userland-proxy"] is False
    assert DEFAULT_DAEMON_OPTIONS["icc"] is False
    assert DEFAULT_DAEMON_OPTIONS["log-opts"]["max-size"] and DEFAULT_DAEMON_OPTIONS["log-opts"]["max-file"]
    assert not set(DEFAULT_DAEMON_OPTIONS) & set(OWNED_KEYS)


@pytest.mark.parametrize("key", OWNED_KEYS)
def test_listeners_and_tls_cannot_be_overridden(key):
    with pytest.raises(DaemonOptionsError, match=f"daemon_options.{key} cannot be set"):
        validate_daemon_options({key: True})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "must be a dict"),
        ({"": 1}, "invalid key"),
        ({"debug\n": True}, "invalid key"),
        ({"mtu": float("nan")}, "daemon_options.mtu is not a finite number"),
        ({"labels": {"a": object()}}, "daemon_options.labels.a is a object"),
        ({"labels": {1: "x"}}, "daemon_options.labels has a key that is not a string"),
        ({"icc": "false"}, "daemon_options.icc must be a bool"),
        ({"log-opts": "max-size=1m"}, "daemon_options.log-opts must be a dict"),
        ({"log-driver": 3}, "daemon_options.log-driver must be a str"),
        ({"big": "x" * 70000}, "larger than"),
    ],
)
def test_bad_options_are_refused_naming_the_key(options, message):
    with pytest.raises(DaemonOptionsError, match=message.replace(".", r"\.")):
        validate_daemon_options(options)


def test_options_split_into_explicit_values_and_remaining_defaults():
    explicit, defaults = split_daemon_options({"icc": True, "userland-proxy": None, "data-root": "/mnt/docker"})
    assert explicit == {"icc": True, "data-root": "/mnt/docker"}
    assert "icc" not in defaults and "userland-proxy" not in defaults
    assert defaults["live-restore"] is True
    assert split_daemon_options(None) == ({}, DEFAULT_DAEMON_OPTIONS)
    assert daemon_options_fingerprint({"a": 1, "b": 2}) == daemon_options_fingerprint({"b": 2, "a": 1})
    assert daemon_options_fingerprint({}) != daemon_options_fingerprint({"icc": True})


def test_merge_keeps_every_foreign_key_and_lets_the_administrator_decide_defaults(merge):
    existing = {"data-root": "/mnt/docker", "log-driver": "journald", "icc": True, "debug": True}
    merged, written, notes = merge(existing, {}, OWNED, {}, DEFAULT_DAEMON_OPTIONS)
    assert merged["data-root"] == "/mnt/docker" and merged["debug"] is True
    # The administrator's log driver and icc win over the defaults; no log-opts journald would refuse.
    assert merged["log-driver"] == "journald" and "log-opts" not in merged and merged["icc"] is True
    assert merged["live-restore"] is True and merged["no-new-privileges"] is True
    assert {k: merged[k] for k in OWNED} == OWNED
    assert "log-driver" not in written and "icc" not in written and written["live-restore"] is True
    assert any("log-driver" in note for note in notes)


def test_merge_refuses_keys_that_conflict_with_ours_naming_them(merge):
    existing = {"hosts": ["unix:///var/run/docker.sock"], "tlscert": "/srv/mine.pem", "tls": True}
    with pytest.raises(ValueError, match="already sets hosts, tlscert to other values"):
        merge(existing, {}, OWNED, {}, {})
    # A user option against a value the administrator wrote is refused too.
    with pytest.raises(ValueError, match="already sets log-driver"):
        merge({"log-driver": "journald"}, {}, OWNED, {"log-driver": "local"}, {})


def test_merge_changes_and_removes_only_its_own_earlier_values(merge):
    record = dict(OWNED, hosts=["fd://", "tcp://0.0.0.0:4243"], icc=False, **{"live-restore": True})
    existing = dict(record, **{"live-restore": False, "data-root": "/d"})  # live-restore edited by the admin
    merged, written, _notes = merge(existing, record, OWNED, {}, {"live-restore": True})
    assert merged["hosts"] == OWNED["hosts"]  # our port changed: ours to change
    assert "icc" not in merged  # ours last time, no longer wanted
    assert merged["live-restore"] is False  # the administrator's edit stays
    assert merged["data-root"] == "/d"
    assert "live-restore" not in written
