# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Trust in the certificate directory: owner and mode as ssh checks ~/.ssh, no symlink followed."""

from __future__ import annotations

import os
import pwd

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._cert_dir import (
    JOURNAL,
    UntrustedPathError,
    check_cert_dir,
    own_basenames,
    trusted_uids,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._tls_request import Layout

NOBODY = 65534
ME = f"{pwd.getpwuid(os.geteuid()).pw_name} (uid {os.geteuid()})"


@pytest.fixture
def certs(tmp_path):
    top = tmp_path / "certs"
    (top / "servers" / "h1").mkdir(parents=True)
    for path in (top, top / "servers", top / "servers" / "h1"):
        path.chmod(0o700)
    for name in ("ca.pem", "ca-key.pem", "cert.pem", "key.pem"):
        (top / name).write_text("x")
        (top / name).chmod(0o600)
    return top


def check(top, server_name="h1", owner_uid=None):
    check_cert_dir(Layout(str(top), server_name), trusted_uids(owner_uid))


def test_a_private_directory_of_ours_passes(certs, tmp_path):
    check(certs)
    check(tmp_path / "missing")  # nothing yet: the module makes it, 0700


@pytest.mark.parametrize("where", ["", "servers", "servers/h1"])
def test_a_directory_writable_by_others_is_refused(certs, where):
    target = certs / where if where else certs
    target.chmod(0o777)
    with pytest.raises(UntrustedPathError) as caught:
        check(certs)
    assert str(caught.value).startswith(f"{target} (owner {ME}, mode 0777) is writable by group or other")


@pytest.mark.parametrize("name", ["ca.pem", "ca-key.pem"])
def test_ca_files_writable_by_group_are_refused(certs, name):
    (certs / name).chmod(0o620)
    with pytest.raises(UntrustedPathError, match=rf"{name} \(owner .*, mode 0620\) is writable by group or other"):
        check(certs)


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
@pytest.mark.parametrize("where", ["", "servers/h1", "ca-key.pem", "ca.pem"])
def test_paths_of_another_user_are_refused_unless_owner_names_them(certs, where):
    target = certs / where if where else certs
    os.chown(target, NOBODY, -1)
    with pytest.raises(UntrustedPathError) as caught:
        check(certs)
    assert f"{target} (owner nobody (uid {NOBODY}), mode 0" in str(caught.value)
    assert "belongs to another user than root (uid 0) who runs this task" in str(caught.value)
    check(certs, owner_uid=NOBODY)  # owner=nobody: the task itself made it theirs


def test_client_files_of_other_modes_are_not_trust_anchors(certs):
    (certs / "key.pem").chmod(0o666)  # fixed by key_mode, not a reason to refuse
    check(certs)


@pytest.mark.parametrize(
    "where", ["servers", "servers/h1", "ca.pem", "ca-key.pem", "cert.pem", "key.pem", "servers/h1/server-key.pem"]
)
def test_a_symlink_in_the_way_is_refused_naming_it(certs, tmp_path, where):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = certs / where
    if target.is_dir():
        os.rename(target, elsewhere / "moved")
        target.symlink_to(elsewhere / "moved")
    else:
        target.unlink(missing_ok=True)
        target.symlink_to(elsewhere / "file")
    with pytest.raises(UntrustedPathError, match=rf"^{target} is a symlink: refusing to follow it"):
        check(certs)


def test_the_top_path_may_be_a_symlink_and_is_judged_by_its_target(certs, tmp_path):
    link = tmp_path / "link"
    link.symlink_to(certs)
    check(link)
    certs.chmod(0o757)
    with pytest.raises(UntrustedPathError, match=r"mode 0757\) is writable by group or other"):
        check(link)
    (tmp_path / "dangling").symlink_to(tmp_path / "none")
    with pytest.raises(UntrustedPathError, match="is a symlink to nothing"):
        check(tmp_path / "dangling")


def test_a_file_in_place_of_a_directory(certs, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UntrustedPathError, match=r"^path .*/file exists and is not a directory$"):
        check(tmp_path / "file")
    (certs / "servers" / "h1" / "server-cert.pem").write_text("x")
    os.rename(certs / "servers" / "h1", certs / "old")
    (certs / "servers" / "h1").write_text("x")
    with pytest.raises(UntrustedPathError, match=r"servers/h1 is not a directory"):
        check(certs)


def test_own_basenames_cover_every_file_written(certs):
    names = own_basenames(Layout(str(certs), "h1"))
    assert names == {
        str(certs): ("ca.pem", "ca-key.pem", "cert.pem", "key.pem", JOURNAL),
        str(certs / "servers" / "h1"): ("server-cert.pem", "server-key.pem"),
    }
