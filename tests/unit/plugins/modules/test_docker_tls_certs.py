# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docker_tls_certs in-process: the manager around the plan, file arguments, documented results."""

from __future__ import annotations

import grp
import json
import os
import stat

import pytest
import yaml

from ansible_collections.dockerhost.azure.plugins.module_utils._atomic_io import locked_dir
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
