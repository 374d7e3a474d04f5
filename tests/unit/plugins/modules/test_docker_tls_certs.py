# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_tls_certs in-process: the manager around the plan, file arguments, documented results."""

from __future__ import annotations

import contextlib
import grp
import json
import os
import pathlib
import shutil
import signal
import stat

import pytest
import yaml

from ansible_collections.dockerhost.azure.plugins.module_utils._atomic_io import locked_dir
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_x509 import (
    issued_by,
    key_matches,
    load_one_certificate,
    load_one_private_key,
)
from ansible_collections.dockerhost.azure.plugins.modules import docker_tls_certs
from ansible_collections.dockerhost.azure.tests.support.module_args import patch_module_args


@pytest.fixture
def run(capsys):
    def invoke(check_mode: bool = False, diff: bool = False, **args) -> dict:
        args.update(_ansible_check_mode=check_mode, _ansible_diff=diff)
        with patch_module_args(args), pytest.raises(SystemExit):
            docker_tls_certs.main()
        return json.loads(capsys.readouterr().out)

    return invoke


def h1(path, **extra):
    return {"path": str(path), "server_name": "h1", "hostnames": ["h1.example.test"], **extra}


def test_documented_python_is_the_range_of_tests_config():
    """The module's requirements name the oldest Python tests/config.yml claims (tested on it for real)."""
    config_file = pathlib.Path(docker_tls_certs.__file__).resolve().parents[2] / "tests" / "config.yml"
    claimed = yaml.safe_load(config_file.read_text(encoding="utf-8"))["modules"]["python_requires"]
    documented = yaml.safe_load(docker_tls_certs.DOCUMENTATION)["requirements"]
    assert claimed == ">=3.8"
    assert any(line.startswith("Python 3.8 or later") for line in documented)


def test_missing_cryptography_is_reported(run, monkeypatch, tmp_path):
    monkeypatch.setattr(docker_tls_certs, "HAS_CRYPTOGRAPHY", False)
    monkeypatch.setattr(docker_tls_certs, "CRYPTOGRAPHY_IMPORT_ERROR", "ImportError: no cryptography")
    result = run(**h1(tmp_path / "certs"))
    assert result["failed"] is True
    assert "Failed to import the required Python library (cryptography >= 41.0)" in result["msg"]
    assert not (tmp_path / "certs").exists()


def test_results_match_the_documentation(run, tmp_path):
    documented = yaml.safe_load(docker_tls_certs.RETURN)
    present = run(**h1(tmp_path / "certs"))
    absent = run(**h1(tmp_path / "certs", state="absent"))
    for result, state in ((present, "present"), (absent, "absent")):
        keys = set(result) - {"changed", "invocation", "warnings", "diff", "failed"}
        expected = {
            name
            for name, doc in documented.items()
            if doc["returned"] == "always" or doc["returned"] == f"when O(state={state})"
        }
        assert keys == expected, state


def test_group_and_owner_apply_to_every_file_and_new_directory(run, tmp_path):
    group = grp.getgrnam("daemon")
    certs = tmp_path / "new" / "certs"
    result = run(**h1(certs, group="daemon"))
    assert result["changed"] is True
    paths = [tmp_path / "new", certs, certs / "servers", certs / "servers" / "h1"]
    paths += [p for p in certs.rglob("*") if p.is_file()]
    assert len(paths) == 10
    for path in paths:
        assert path.stat().st_gid == group.gr_gid, path
    again = run(**h1(certs, group="daemon"))
    assert again["changed"] is False
    os.chown(certs / "ca.pem", -1, 0)  # someone else's group: put back, and that is a change
    fixed = run(**h1(certs, group="daemon"), diff=True)
    assert fixed["changed"] is True and fixed["issued"] == []
    assert fixed["diff"]["after"]["files"] == {"ca.pem": {"group": group.gr_gid}}
    assert (certs / "ca.pem").stat().st_gid == group.gr_gid


def test_check_mode_does_not_fix_attributes(run, tmp_path):
    certs = tmp_path / "certs"
    run(**h1(certs))
    os.chmod(certs / "key.pem", 0o640)
    check = run(**h1(certs), check_mode=True, diff=True)
    assert check["changed"] is True and check["issued"] == []
    assert check["diff"]["before"]["files"] == {"key.pem": {"mode": "0640"}}
    assert stat.S_IMODE((certs / "key.pem").stat().st_mode) == 0o640


def test_absent_keeps_a_folder_holding_other_files(run, tmp_path):
    certs = tmp_path / "certs"
    run(**h1(certs))
    extra = certs / "servers" / "h1" / "notes.txt"
    extra.write_text("mine")
    result = run(**h1(certs, state="absent"))
    assert result["changed"] is True
    assert sorted(p.name for p in (certs / "servers" / "h1").iterdir()) == ["notes.txt"]
    assert (certs / "ca.pem").exists() and (certs / "key.pem").exists()


def test_absent_refuses_a_directory_in_place_of_a_file(run, tmp_path):
    certs = tmp_path / "certs"
    (certs / "servers" / "h1" / "server-cert.pem").mkdir(parents=True)
    result = run(**h1(certs, state="absent"))
    assert result["failed"] is True
    assert result["msg"] == f"{certs}/servers/h1/server-cert.pem is a directory, not a file: refusing to remove it"


def test_without_server_name_only_ca_and_client(run, tmp_path):
    certs = tmp_path / "certs"
    result = run(path=str(certs))
    assert result["issued"] == ["ca", "client"]
    assert result["server_cert"] is None and result["server_fingerprint"] is None and result["server_sans"] == []
    assert sorted(p.name for p in certs.iterdir()) == ["ca-key.pem", "ca.pem", "cert.pem", "key.pem"]


def test_rsa_keys(run, tmp_path):
    certs = tmp_path / "certs"
    result = run(**h1(certs, key_type="rsa", key_size=2048), diff=True)
    assert result["diff"]["after"]["server"]["key"] == "rsa 2048"
    assert run(**h1(certs, key_type="rsa", key_size=2048))["changed"] is False
    switched = run(**h1(certs))  # back to ecdsa: leaves follow, the CA keeps its key (with a warning)
    assert switched["issued"] == ["client", "server"]
    assert "key_type/key_size apply to new keys" in json.dumps(switched["warnings"])


def test_a_held_lock_fails_clearly(run, tmp_path, monkeypatch):
    certs = tmp_path / "certs"
    certs.mkdir()
    monkeypatch.setattr(docker_tls_certs, "locked_dir", lambda path: locked_dir(path, timeout=0.2))
    with locked_dir(str(certs)):
        result = run(**h1(certs))
    assert result["failed"] is True
    assert (
        result["msg"]
        == f"Cannot write the certificate set to {certs}: another process kept {certs} locked for more than 0s"
    )
    assert list(certs.iterdir()) == []


# --------------------------------------------------------------------------------------------------
# Issue 13: trust, paths, refused input, crash self-heal
# --------------------------------------------------------------------------------------------------
STRING_OPTIONS = {
    "path": None,  # filled in by the test
    "server_name": "h1",
    "hostnames": ["h1.example.test"],
    "ip_addresses": ["192.0.2.10"],
    "key_type": "ecdsa",
    "state": "present",
    "key_mode": "0600",
    "mode": "0644",
    "owner": "root",
    "group": "daemon",
    "seuser": "system_u",
    "serole": "object_r",
    "setype": "cert_t",
    "selevel": "s0",
    "attributes": "e",
}


@pytest.mark.parametrize("option", sorted(STRING_OPTIONS))
def test_every_string_option_refuses_a_trailing_newline(run, tmp_path, option):
    certs = tmp_path / "base" / "certs"
    args = {**STRING_OPTIONS, "path": str(certs)}
    value = args[option]
    args[option] = [value[0] + "\n"] if isinstance(value, list) else value + "\n"
    result = run(**args)
    assert result.get("failed") is True, result
    assert "\\n" in result["msg"] or "value of" in result["msg"], result["msg"]  # names the bad value
    assert not (tmp_path / "base").exists()  # nothing written, not even a directory


def test_bad_owner_fails_before_the_ca_and_client_are_written(run, tmp_path):
    for bad in ({"owner": "no-such-user-here"}, {"group": "no-such-group-here"}, {"mode": "u+rwz"}):
        result = run(**h1(tmp_path / "certs", **bad))
        assert result["failed"] is True and next(iter(bad)) in result["msg"], result
        assert not (tmp_path / "certs").exists()


def test_a_ca_appended_to_ca_pem_is_refused_naming_the_file(run, tmp_path):
    certs, other = tmp_path / "certs", tmp_path / "other"
    run(**h1(certs))
    run(path=str(other))
    before = (certs / "ca.pem").read_bytes()
    with open(certs / "ca.pem", "ab") as handle:
        handle.write((other / "ca.pem").read_bytes())
    result = run(**h1(certs))
    assert result["failed"] is True
    assert f"{certs}/ca.pem holds 2 PEM blocks (CERTIFICATE, CERTIFICATE)" in result["msg"]
    assert (certs / "ca.pem").read_bytes() == before + (other / "ca.pem").read_bytes()  # untouched


@pytest.mark.parametrize("state", ["present", "absent"])
@pytest.mark.parametrize("link", ["servers", "servers/h1"])
def test_symlinked_server_folders_are_never_followed(run, tmp_path, state, link):
    certs, victim = tmp_path / "certs", tmp_path / "victim"
    run(**h1(certs))
    run(**h1(victim))  # another set whose server pair must survive
    before = {p: p.read_bytes() for p in victim.rglob("*") if p.is_file()}
    target = victim / link
    shutil.rmtree(certs / link)
    (certs / link).symlink_to(target)
    result = run(**h1(certs, state=state, server_name="h1"))
    assert result["failed"] is True
    assert result["msg"].startswith(f"{certs / link} is a symlink: refusing to follow it")
    assert {p: p.read_bytes() for p in victim.rglob("*") if p.is_file()} == before


def test_a_symlinked_key_is_refused_and_not_chmodded(run, tmp_path):
    certs = tmp_path / "certs"
    run(**h1(certs))
    real = tmp_path / "real-key.pem"
    os.rename(certs / "key.pem", real)
    real.chmod(0o644)
    (certs / "key.pem").symlink_to(real)
    result = run(**h1(certs), diff=True)
    assert result["failed"] is True
    assert result["msg"].startswith(f"{certs}/key.pem is a symlink: refusing to follow it")
    assert stat.S_IMODE(real.stat().st_mode) == 0o644


def test_a_directory_open_to_others_is_refused(run, tmp_path):
    certs = tmp_path / "certs"
    run(**h1(certs))
    certs.chmod(0o777)
    result = run(**h1(certs, server_name="h2", hostnames=["h2.example.test"]))
    assert result["failed"] is True
    assert f"{certs} (owner " in result["msg"] and "mode 0777) is writable by group or other" in result["msg"]
    assert not (certs / "servers" / "h2").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_ca_key_of_another_user_is_refused(run, tmp_path):
    certs = tmp_path / "certs"
    run(**h1(certs))
    os.chown(certs / "ca-key.pem", 65534, -1)
    result = run(**h1(certs, server_name="h2", hostnames=["h2.example.test"]))
    assert result["failed"] is True
    assert f"{certs}/ca-key.pem (owner nobody (uid 65534), mode 0600) belongs to another user" in result["msg"]


def test_ipv6_addresses_converge_and_zones_are_refused(run, tmp_path):
    certs = tmp_path / "certs"
    refused = run(**h1(certs, ip_addresses=["fe80::1%eth0"]))
    assert refused["failed"] is True and "has a zone (%eth0)" in refused["msg"]
    assert not certs.exists()
    assert run(**h1(certs, ip_addresses=["FE80:0::1"]))["changed"] is True
    assert run(**h1(certs, ip_addresses=["fe80::1"]))["changed"] is False


def _killed_run(args: dict, call: str, kill_at: int) -> bool:
    """Run the module in a child process that SIGKILLs itself at the ``kill_at``-th ``os.<call>``."""
    pid = os.fork()
    if pid == 0:  # as with kill -9, no cleanup runs in the child after the kill
        try:
            real, calls = getattr(os, call), [0]

            def killing(*a, **kw):
                calls[0] += 1
                if calls[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*a, **kw)

            setattr(os, call, killing)
            with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
                args = {**args, "_ansible_check_mode": False, "_ansible_diff": False}
                with patch_module_args(args), contextlib.suppress(SystemExit):
                    docker_tls_certs.main()
        finally:
            os._exit(0)
    _pid, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


def _assert_whole_set(certs):
    ca = load_one_certificate((certs / "ca.pem").read_bytes(), what="ca.pem")
    assert key_matches(load_one_private_key((certs / "ca-key.pem").read_bytes(), what="k"), ca)
    for cert, key in (("cert.pem", "key.pem"), ("servers/h1/server-cert.pem", "servers/h1/server-key.pem")):
        leaf = load_one_certificate((certs / cert).read_bytes(), what=cert)
        assert issued_by(leaf, ca)
        assert key_matches(load_one_private_key((certs / key).read_bytes(), what=key), leaf)
    names = sorted(str(p.relative_to(certs)) for p in certs.rglob("*"))
    assert names == [
        "ca-key.pem", "ca.pem", "cert.pem", "key.pem", "servers", "servers/h1",
        "servers/h1/server-cert.pem", "servers/h1/server-key.pem",
    ]  # fmt: skip


# First run: 7 renames (the journal, then ca-key, ca, key, cert, server-key, server-cert); 6 fsyncs while staging.
@pytest.mark.parametrize(("call", "kill_at"), [("replace", n) for n in range(1, 8)] + [("fsync", 1), ("fsync", 4)])
def test_a_run_killed_mid_way_is_finished_by_the_next(run, tmp_path, call, kill_at):
    certs = tmp_path / "certs"
    assert _killed_run(h1(certs), call, kill_at)
    healed = run(**h1(certs))
    assert not healed.get("failed"), healed
    assert healed["changed"] is True
    _assert_whole_set(certs)  # no half pair, no temp file, no journal left
    assert run(**h1(certs))["changed"] is False


def test_a_killed_rotation_does_not_need_force(run, tmp_path):
    certs = tmp_path / "certs"
    run(**h1(certs))
    before = (certs / "ca.pem").read_bytes()
    os.rename(certs / "servers" / "h1", tmp_path / "h1-old")  # a new server pair: renames of one pair
    assert _killed_run(h1(certs), "replace", 3)  # server-key renamed, server-cert not
    healed = run(**h1(certs))
    assert not healed.get("failed"), healed
    assert healed["issued"] == [] and healed["changed"] is True
    assert "finished the renames of an interrupted run" in json.dumps(healed["warnings"])
    _assert_whole_set(certs)
    assert (certs / "ca.pem").read_bytes() == before


def test_check_mode_after_a_kill_writes_nothing_and_warns(run, tmp_path):
    certs = tmp_path / "certs"
    assert _killed_run(h1(certs), "replace", 4)
    before = sorted(p.name for p in certs.rglob("*"))
    check = run(**h1(certs), check_mode=True)
    assert check["changed"] is True
    assert "a run was interrupted" in json.dumps(check["warnings"])
    assert sorted(p.name for p in certs.rglob("*")) == before


def test_check_mode_over_a_half_pair_of_ours_says_a_real_run_finishes_it(run, tmp_path):
    certs = tmp_path / "certs"
    assert _killed_run(h1(certs), "replace", 3)  # ca-key.pem renamed, ca.pem not
    check = run(**h1(certs), check_mode=True)
    assert check["failed"] is True
    assert "run without check mode to finish it (no force needed)" in check["msg"]
    assert "force=true" not in check["msg"]
    assert not run(**h1(certs)).get("failed")
    _assert_whole_set(certs)


def test_a_fifo_or_a_device_in_the_set_fails_at_once(run, tmp_path):
    # A FIFO at ca-key.pem used to hang the run forever, holding the directory lock.
    certs = tmp_path / "certs"
    run(**h1(certs))
    (certs / "ca-key.pem").unlink()
    os.mkfifo(certs / "ca-key.pem", 0o600)
    result = run(**h1(certs))
    assert result["failed"] is True
    assert f"{certs}/ca-key.pem is a FIFO, not a regular file" in result["msg"]
    if os.geteuid() == 0:
        os.unlink(certs / "ca-key.pem")
        os.rename(tmp_path / "certs", tmp_path / "gone")
        run(**h1(certs))
        (certs / "key.pem").unlink()
        os.mknod(certs / "key.pem", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero's device
        result = run(**h1(certs))
        assert result["failed"] is True
        assert f"{certs}/key.pem is a character device, not a regular file" in result["msg"]


# -- a control node without the server pair keeps the certificate the daemon presents (issue 12 item 2) ------
def test_the_certificate_in_use_is_kept_and_nothing_is_written(run, tmp_path):
    made = run(**h1(tmp_path / "first"))
    in_use = pathlib.Path(made["server_cert"]).read_text()
    # A fresh node: the same CA and client pair, no server pair.
    fresh = tmp_path / "fresh"
    fresh.mkdir(mode=0o700)
    for name in ("ca.pem", "ca-key.pem", "cert.pem", "key.pem"):
        shutil.copy2(tmp_path / "first" / name, fresh / name)
    for check_mode in (True, False):
        kept = run(check_mode=check_mode, diff=True, **h1(fresh, server_cert_in_use=in_use))
        assert kept["changed"] is False and kept["server_kept"] is True, kept
        assert kept["issued"] == [] and kept["server_key"] is None
        assert kept["server_cert"] == in_use and kept["server_fingerprint"] == made["server_fingerprint"]
        assert kept["diff"]["before"]["server"] == kept["diff"]["after"]["server"]
        assert not (fresh / "servers").exists()
    # Another name asked: a new pair, and why the one in use did not do.
    renamed = run(**h1(fresh, hostnames=["h1.example.test", "h2.example.test"], server_cert_in_use=in_use))
    assert renamed["changed"] is True and renamed["server_kept"] is False and renamed["issued"] == ["server"]
    assert renamed["reasons"]["server"].startswith("missing, and the certificate in use does not do: SANs are")
    assert pathlib.Path(renamed["server_key"]).is_file()


def test_a_certificate_in_use_that_is_no_pem_fails_before_any_write(run, tmp_path):
    result = run(**h1(tmp_path / "certs", server_cert_in_use="not a certificate"))
    assert result.get("failed") is True and result["msg"].startswith("server_cert_in_use: "), result
    assert not (tmp_path / "certs").exists()
