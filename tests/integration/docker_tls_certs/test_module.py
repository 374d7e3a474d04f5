# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_tls_certs run for real by ansible-playbook: check mode, apply, idempotence, refusals, modes, renewal."""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import ssl
import stat
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from ansible_collections.dockerhost.azure.tests.integration.docker_tls_certs.tls_helpers import (
    certs_task,
    snapshot,
)

CA_FILES = ("ca.pem", "ca-key.pem", "cert.pem", "key.pem")


def der_sha256(path: Path) -> str:
    """SHA-256 of a PEM certificate's DER, computed with the standard library only."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(path.read_text())).hexdigest()


def openssl_verify(ca: Path, *leaves: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["openssl", "verify", "-x509_strict", "-CAfile", str(ca), *map(str, leaves)],
        capture_output=True,
        text=True,
        check=False,
    )


def perms(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def key_lines(directory: Path) -> list[str]:
    """The base64 body lines of every private key under ``directory``: none may appear in any output."""
    lines = []
    for path in directory.rglob("*key.pem"):
        lines += [line for line in path.read_text().splitlines() if line and not line.startswith("-----")]
    assert lines
    return lines


# --------------------------------------------------------------------------------------------------
# Check mode -> apply -> idempotence, a second host, state=absent
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lifecycle(ansible_runner, tmp_path_factory):
    base = tmp_path_factory.mktemp("lifecycle")
    certs = base / "home" / "docker"  # neither exists yet
    h1 = {"path": str(certs), "server_name": "h1", "hostnames": ["h1.example.test"], "ip_addresses": ["192.0.2.10"]}
    first = ansible_runner.play(
        [
            certs_task(check_mode=True, diff=True, **h1),
            {"ansible.builtin.stat": {"path": str(base / "home")}},
            certs_task(diff=True, **h1),
        ]
    )
    after_first = snapshot(certs)
    second = ansible_runner.play([certs_task(check_mode=True, diff=True, **h1), certs_task(diff=True, **h1)])
    after_second = snapshot(certs)
    pristine = base / "pristine"
    shutil.copytree(certs, pristine)  # for tests that damage a set
    h2 = {"path": str(certs), "server_name": "h2", "hostnames": ["h2.example.test"]}
    h3 = {"path": str(certs), "server_name": "h3", "ip_addresses": ["2001:db8::3"]}
    gone = {"path": str(certs), "server_name": "h3", "state": "absent"}
    third = ansible_runner.play(
        [
            certs_task(**h2),
            certs_task(**h3),
            certs_task(check_mode=True, diff=True, **gone),
            {"ansible.builtin.stat": {"path": str(certs / "servers" / "h3" / "server-key.pem")}},
            certs_task(**gone),
            certs_task(**gone),
        ]
    )
    return SimpleNamespace(
        certs=certs,
        first=first.results,
        second=second.results,
        third=third.results,
        after_first=after_first,
        after_second=after_second,
        after_third=snapshot(certs),
        pristine=pristine,
        outputs=first.output + second.output + third.output,
    )


def test_check_mode_reports_everything_and_writes_nothing(lifecycle):
    check, parent = lifecycle.first[0], lifecycle.first[1]
    assert not check.get("failed"), check
    assert check["changed"] is True
    assert check["issued"] == ["ca", "client", "server"]
    assert check["reasons"] == {"ca": "missing", "client": "missing", "server": "missing"}
    assert check["ca_fingerprint"] is None and check["server_fingerprint"] is None
    assert check["server_sans"] == ["DNS:h1.example.test", "IP:192.0.2.10"]
    assert parent["stat"]["exists"] is False  # not even the directory


def test_first_run_issues_the_set_with_absolute_paths(lifecycle):
    result, certs = lifecycle.first[2], lifecycle.certs
    assert result["changed"] is True and result["issued"] == ["ca", "client", "server"]
    assert result["cert_path"] == str(certs)
    assert result["ca_cert"] == str(certs / "ca.pem") and result["ca_key"] == str(certs / "ca-key.pem")
    assert result["client_cert"] == str(certs / "cert.pem") and result["client_key"] == str(certs / "key.pem")
    assert result["server_cert"] == str(certs / "servers" / "h1" / "server-cert.pem")
    assert result["server_key"] == str(certs / "servers" / "h1" / "server-key.pem")
    assert result["ca_fingerprint"] == der_sha256(certs / "ca.pem")
    assert result["server_fingerprint"] == der_sha256(certs / "servers" / "h1" / "server-cert.pem")
    not_after = datetime.datetime.fromisoformat(result["server_not_after"])
    assert not_after.utcoffset() == datetime.timedelta(0)
    remaining = not_after - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=364) < remaining <= datetime.timedelta(days=365)
    assert result["server_sans"] == ["DNS:h1.example.test", "IP:192.0.2.10"]
    verified = openssl_verify(certs / "ca.pem", certs / "cert.pem", certs / "servers" / "h1" / "server-cert.pem")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_second_identical_run_rewrites_nothing(lifecycle):
    check, apply = lifecycle.second
    for result in (check, apply):
        assert result["changed"] is False, result
        assert result["issued"] == [] and result["reasons"] == {}
    assert apply["ca_fingerprint"] == lifecycle.first[2]["ca_fingerprint"]
    assert apply["server_not_after"] == lifecycle.first[2]["server_not_after"]
    # Same content, modes, inodes and modification times: not rewritten, not even in place.
    assert lifecycle.after_second == lifecycle.after_first


def test_diff_shows_metadata_and_never_key_material(lifecycle):
    predicted = lifecycle.first[0]["diff"]
    assert predicted["before"] == {"ca": None, "client": None, "server": None}
    assert predicted["after"]["server"]["sans"] == ["DNS:h1.example.test", "IP:192.0.2.10"]
    assert predicted["after"]["client"]["extended_key_usage"] == ["clientAuth"]
    applied = lifecycle.first[2]["diff"]["after"]
    assert applied["ca"]["fingerprint"] == lifecycle.first[2]["ca_fingerprint"]
    assert applied["server"]["subject"] == "CN=h1,O=dockerhost.azure"
    assert applied["server"]["issuer"] == applied["ca"]["subject"]
    assert applied["server"]["key"] == "ecdsa P-256"
    no_change = lifecycle.second[0]["diff"]
    assert no_change["before"] == no_change["after"]
    everything = json.dumps([lifecycle.first, lifecycle.second, lifecycle.third]) + lifecycle.outputs
    assert "PRIVATE KEY" not in everything
    for line in key_lines(lifecycle.pristine):
        assert line not in everything


def test_second_host_reuses_ca_and_client(lifecycle):
    h2 = lifecycle.third[0]
    assert h2["changed"] is True and h2["issued"] == ["server"]
    assert h2["ca_fingerprint"] == lifecycle.first[2]["ca_fingerprint"]
    for name in (*CA_FILES, "servers/h1/server-cert.pem", "servers/h1/server-key.pem"):
        assert lifecycle.after_third[name] == lifecycle.after_second[name], name
    certs = lifecycle.certs
    verified = openssl_verify(certs / "ca.pem", certs / "servers" / "h2" / "server-cert.pem")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_absent_removes_one_server_pair_only(lifecycle):
    check, still_there, removed, again = lifecycle.third[2:6]
    folder = lifecycle.certs / "servers" / "h3"
    assert check["changed"] is True
    assert check["removed"] == [str(folder / "server-key.pem"), str(folder / "server-cert.pem")]
    assert check["diff"]["before"]["server"]["sans"] == ["IP:2001:db8::3"]
    assert check["diff"]["after"]["server"] is None
    assert still_there["stat"]["exists"] is True  # check mode removed nothing
    assert removed["changed"] is True and again["changed"] is False
    assert not folder.exists()
    assert (lifecycle.certs / "servers" / "h2" / "server-key.pem").exists()
    for name in CA_FILES:
        assert lifecycle.after_third[name] == lifecycle.after_second[name]


# --------------------------------------------------------------------------------------------------
# Never destroy what it did not make
# --------------------------------------------------------------------------------------------------
def test_damaged_or_foreign_files_are_refused_and_left_untouched(ansible_runner, lifecycle, test_ca, tmp_path):
    def copy(name):
        target = tmp_path / name
        shutil.copytree(lifecycle.pristine, target)
        return target

    foreign_client = test_ca.client()
    cases = {}
    target = copy("ca-garbage")
    (target / "ca.pem").write_text("this is not a certificate\n")
    cases["ca-garbage"] = (target, f"{target}/ca.pem holds no PEM certificate")
    target = copy("key-truncated")
    lines = (target / "key.pem").read_text().splitlines()
    (target / "key.pem").write_text("\n".join([lines[0], lines[1][:20], lines[-1]]) + "\n")
    cases["key-truncated"] = (target, f"{target}/key.pem holds unparsable PEM: the private key cannot be decoded")
    for name in ("foreign-client", "foreign-client-forced"):
        target = copy(name)
        shutil.copyfile(foreign_client.cert, target / "cert.pem")
        shutil.copyfile(foreign_client.key, target / "key.pem")
    forced_dir = target
    cases["foreign-client"] = (tmp_path / "foreign-client", f"{tmp_path}/foreign-client/cert.pem was not issued by")
    target = copy("ca-key-swapped")
    shutil.copyfile(foreign_client.key, target / "ca-key.pem")
    cases["ca-key-swapped"] = (target, f"{target}/ca.pem: its key is not {target}/ca-key.pem")
    target = copy("server-garbage")
    (target / "servers" / "h1" / "server-cert.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n")
    cases["server-garbage"] = (target, f"{target}/servers/h1/server-cert.pem holds unparsable PEM")
    before = {name: snapshot(target) for name, (target, _msg) in cases.items()}
    forced_before = snapshot(forced_dir)

    h1 = {"server_name": "h1", "hostnames": ["h1.example.test"], "ip_addresses": ["192.0.2.10"]}
    tasks = [certs_task(path=str(target), **h1) for target, _msg in cases.values()]
    tasks.append(certs_task(check_mode=True, path=str(cases["ca-garbage"][0]), **h1))
    tasks.append(certs_task(path=str(forced_dir), force=True, **h1))
    run = ansible_runner.play(tasks)

    for (name, (target, message)), result in zip(cases.items(), run.results, strict=False):
        assert result.get("failed") is True, (name, result)
        assert message in result["msg"], (name, result["msg"])
        assert "Nothing was written" in result["msg"] and "force=true" in result["msg"]
        assert snapshot(target) == before[name], name  # every file untouched
    assert run.results[-2].get("failed") is True  # check mode refuses the same way

    forced = run.results[-1]
    assert forced["changed"] is True and forced["issued"] == ["client"]
    assert forced["reasons"]["client"].startswith("force: replacing")
    assert openssl_verify(forced_dir / "ca.pem", forced_dir / "cert.pem").returncode == 0
    after = snapshot(forced_dir)
    for name in ("ca.pem", "ca-key.pem", "servers/h1/server-cert.pem", "servers/h1/server-key.pem"):
        assert after[name] == forced_before[name]


# --------------------------------------------------------------------------------------------------
# Modes whatever the umask, file arguments
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o000, 0o077], ids=["umask000", "umask077"])
def test_modes_whatever_the_umask(ansible_runner, tmp_path, umask):
    certs = tmp_path / "new" / "docker"
    strict = tmp_path / "strict"
    h1 = {"server_name": "h1", "hostnames": ["h1.example.test"]}
    run = ansible_runner.play(
        [
            certs_task(path=str(certs), **h1),
            {"ansible.builtin.file": {"path": str(certs / "key.pem"), "mode": "0644"}},
            certs_task(path=str(certs), diff=True, **h1),
            certs_task(path=str(certs), **h1),
            certs_task(path=str(strict), key_mode="0400", mode="0640", **h1),
        ],
        umask=umask,
    )
    assert not any(r.get("failed") for r in run.results), run.results
    for directory in (tmp_path / "new", certs, certs / "servers", certs / "servers" / "h1", strict):
        assert perms(directory) == 0o700, directory
    for key in ("ca-key.pem", "key.pem", "servers/h1/server-key.pem"):
        assert perms(certs / key) & 0o077 == 0, key  # nothing for group or others, ever
        assert perms(certs / key) == 0o600, key
        assert perms(strict / key) == 0o400, key
    for cert in ("ca.pem", "cert.pem", "servers/h1/server-cert.pem"):
        assert perms(certs / cert) == 0o644, cert
        assert perms(strict / cert) == 0o640, cert
    # A key opened up by someone else is closed again, and that is a change (with its diff).
    fixed = run.results[2]
    assert fixed["changed"] is True and fixed["issued"] == []
    assert fixed["diff"]["before"]["files"] == {"key.pem": {"mode": "0644"}}
    assert fixed["diff"]["after"]["files"] == {"key.pem": {"mode": "0600"}}
    assert run.results[3]["changed"] is False


# --------------------------------------------------------------------------------------------------
# Renewal and CA rotation (short validity)
# --------------------------------------------------------------------------------------------------
def test_renewal_and_ca_rotation(ansible_runner, tmp_path):
    leaves, ca = str(tmp_path / "leaves"), str(tmp_path / "ca")
    h1 = {"server_name": "h1", "hostnames": ["h1.example.test"]}
    short = {"cert_valid_days": 2, "renew_before_days": 1}
    longer = {"cert_valid_days": 10, "renew_before_days": 5}
    run = ansible_runner.play(
        [
            certs_task(path=leaves, **h1, **short),
            certs_task(path=leaves, **h1, **longer),
            certs_task(path=leaves, **h1, **longer),
            certs_task(path=ca, ca_valid_days=3, **h1, **short),
            certs_task(path=ca, ca_valid_days=20, **h1, **longer),
            certs_task(path=ca, ca_valid_days=20, rotate_ca=True, diff=True, **h1, **longer),
            certs_task(path=ca, ca_valid_days=20, rotate_ca=True, **h1, **longer),
        ]
    )
    first, renewed, kept, ca_first, ca_due, rotated, rotated_again = run.results
    # Leaves with 2 days left are inside a 5-day window: re-issued; the CA is kept.
    assert renewed["issued"] == ["client", "server"]
    assert "within renew_before_days=5" in renewed["reasons"]["server"]
    assert renewed["ca_fingerprint"] == first["ca_fingerprint"]
    assert renewed["server_fingerprint"] != first["server_fingerprint"]
    assert kept["changed"] is False
    # A CA with 3 days left is never replaced silently...
    assert ca_due.get("failed") is True
    assert "rotate_ca=true" in ca_due["msg"] and "the CA expires on" in ca_due["msg"]
    assert "force" not in ca_due["msg"]
    # ...and the failed run left it as it was; rotate_ca replaces it and re-issues both leaves.
    assert rotated["diff"]["before"]["ca"]["fingerprint"] == ca_first["ca_fingerprint"]
    assert rotated["issued"] == ["ca", "client", "server"]
    assert rotated["reasons"]["client"] == "the CA is new"
    assert rotated["ca_fingerprint"] != ca_first["ca_fingerprint"]
    assert rotated_again["changed"] is False  # rotate_ca does not rotate a CA that is not due
    directory = Path(ca)
    assert openssl_verify(directory / "ca.pem", directory / "cert.pem").returncode == 0


# --------------------------------------------------------------------------------------------------
# Bad input: a clear error before anything is written
# --------------------------------------------------------------------------------------------------
def test_bad_input_fails_before_any_write(ansible_runner, tmp_path):
    base = tmp_path / "bad"
    occupied = tmp_path / "a-file"
    occupied.write_text("not a directory")
    h1 = {"server_name": "h1", "hostnames": ["h1.example.test"]}
    cases = [
        ({"hostnames": ["bad_host!.example"]}, "hostnames: 'bad_host!.example' is not a valid DNS name"),
        ({"ip_addresses": ["999.1.1.1"]}, "ip_addresses: '999.1.1.1' is not an IPv4 or IPv6 address"),
        ({"key_type": "rsa", "key_size": 1024}, "key_size must be from 2048 to 8192"),
        ({"key_size": 2048}, "key_size applies to key_type=rsa only"),
        ({"ca_valid_days": 0}, "ca_valid_days must be a whole number of days from 1"),
        ({"cert_valid_days": -5}, "cert_valid_days must be a whole number of days from 1"),
        ({"renew_before_days": 365}, "renew_before_days (365) must be less than cert_valid_days (365)"),
        ({"cert_valid_days": 4000}, "cert_valid_days (4000) must not exceed ca_valid_days (3650)"),
        ({"server_name": "../escape"}, "server_name '../escape' must be"),
        ({"key_mode": "0644"}, "key_mode must be '0600' or '0400'"),
        ({"server_name": None}, "set server_name too"),
        ({"hostnames": []}, "needs at least one of hostnames or ip_addresses"),
        ({"key_type": "dsa"}, "key_type"),
        ({"state": "absent", "server_name": None}, "server_name"),
    ]
    tasks = []
    for index, (override, _message) in enumerate(cases):
        args = {"path": str(base / str(index)), **h1, **override}
        tasks.append(certs_task(**{k: v for k, v in args.items() if v is not None}))
    tasks.append(certs_task(path=str(occupied), **h1))
    results = ansible_runner.play(tasks).results
    for (override, message), result in zip(cases, results, strict=False):
        assert result.get("failed") is True, (override, result)
        assert message in result["msg"], (override, result["msg"])
    assert results[-1]["msg"] == f"path {occupied} exists and is not a directory"
    assert not base.exists()  # not one directory made
    assert occupied.read_text() == "not a directory"


# --------------------------------------------------------------------------------------------------
# Trust: a foreign CA never becomes trusted, no symlink is followed (issue 13 items 1-3)
# --------------------------------------------------------------------------------------------------
def test_untrusted_sets_are_refused_and_left_untouched(ansible_runner, lifecycle, tmp_path):
    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(lifecycle.pristine, target)
        return target

    appended = copy("appended")
    with open(appended / "ca.pem", "ab") as handle:
        handle.write((lifecycle.pristine / "cert.pem").read_bytes())
    open_dir = copy("open-dir")
    open_dir.chmod(0o777)
    linked = copy("linked")
    victim = copy("victim")
    shutil.rmtree(linked / "servers" / "h1")
    (linked / "servers" / "h1").symlink_to(victim / "servers" / "h1")
    cases = {
        appended: f"{appended}/ca.pem holds 2 PEM blocks (CERTIFICATE, CERTIFICATE)",
        open_dir: "mode 0777) is writable by group or other",
        linked: f"{linked}/servers/h1 is a symlink: refusing to follow it",
    }
    before = {target: snapshot(target) for target in [*cases, victim]}
    h1 = {"server_name": "h1", "hostnames": ["h1.example.test"], "ip_addresses": ["192.0.2.10"]}
    # force replaces a damaged file (ca.pem with a second block) but never overrides trust or symlinks.
    tasks = [certs_task(path=str(target), force=target is not appended, **h1) for target in cases]
    tasks += [certs_task(path=str(linked), server_name="h1", state="absent")]
    results = ansible_runner.play(tasks).results
    for (target, message), result in zip([*cases.items(), (linked, cases[linked])], results, strict=True):
        assert result.get("failed") is True, (target, result)
        assert message in result["msg"], (target, result["msg"])
    assert {target: snapshot(target) for target in before} == before


# --------------------------------------------------------------------------------------------------
# Key material never reaches results, diffs or logs
# --------------------------------------------------------------------------------------------------
def test_key_material_never_in_output(ansible_runner, lifecycle, tmp_path):
    certs = tmp_path / "docker"
    damaged = tmp_path / "damaged"
    shutil.copytree(lifecycle.pristine, damaged)
    canary = "Q0FOQVJZLXNlY3JldC1rZXktbWF0ZXJpYWwtNzM1OTE"
    (damaged / "key.pem").write_text(f"-----BEGIN PRIVATE KEY-----\n{canary}\n-----END PRIVATE KEY-----\n")
    h1 = {"server_name": "h1", "hostnames": ["h1.example.test"]}
    run = ansible_runner.play(
        [
            certs_task(path=str(certs), diff=True, **h1),
            certs_task(path=str(certs), diff=True, check_mode=True, **h1),
            certs_task(path=str(certs), diff=True, server_name="h1", hostnames=["other.example.test"]),
            certs_task(path=str(damaged), diff=True, **h1),
        ],
        verbosity=3,
    )
    assert [r.get("failed", False) for r in run.results] == [False, False, False, True]
    assert f"{damaged}/key.pem holds unparsable PEM" in run.results[3]["msg"]
    everything = run.output + json.dumps(run.results)
    assert canary not in everything
    assert "PRIVATE KEY" not in everything
    for line in key_lines(certs):
        assert line not in everything


# --------------------------------------------------------------------------------------------------
# Several hosts at once (a play over many VMs, delegated to the controller)
# --------------------------------------------------------------------------------------------------
def test_parallel_runs_for_several_hosts_share_one_ca(ansible_runner, tmp_path):
    certs = tmp_path / "docker"
    hosts = ("h1", "h2", "h3", "h4")
    task = certs_task(
        path=str(certs), server_name="{{ inventory_hostname }}", hostnames=["{{ inventory_hostname }}.test"]
    )
    run = ansible_runner.play([task], hosts=hosts)
    results = {host: run.results[host][0] for host in hosts}
    assert not any(r.get("failed") for r in results.values()), results
    # Exactly one of them made the CA and the client pair; the others found and reused them.
    assert sorted("ca" in r["issued"] for r in results.values()) == [False, False, False, True]
    assert len({r["ca_fingerprint"] for r in results.values()}) == 1
    leaves = [certs / "cert.pem"] + [certs / "servers" / host / "server-cert.pem" for host in hosts]
    verified = openssl_verify(certs / "ca.pem", *leaves)
    assert verified.returncode == 0, verified.stdout + verified.stderr
