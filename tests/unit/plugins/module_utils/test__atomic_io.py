# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic writes: exact modes whatever the umask, all-or-nothing batches, no temp files left."""

from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._atomic_io import (
    AtomicBatch,
    FileReadError,
    LockTimeout,
    locked_dir,
    make_private_dirs,
    read_regular_file,
    remove_file,
    write_atomic,
)


@pytest.fixture(params=[0o000, 0o077, 0o022], ids=["umask000", "umask077", "umask022"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def perms(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o644])
def test_exact_mode_whatever_the_umask(tmp_path, umask, mode):
    target = tmp_path / "file.pem"
    write_atomic(str(target), b"data", mode)
    assert perms(target) == mode
    assert target.read_bytes() == b"data"


def test_replacing_keeps_no_temp_files_and_changes_the_inode(tmp_path):
    target = tmp_path / "key.pem"
    write_atomic(str(target), b"old", 0o400)  # read-only: still replaceable, the directory is ours
    inode = os.stat(target).st_ino
    write_atomic(str(target), b"new", 0o600)
    assert target.read_bytes() == b"new"
    assert os.stat(target).st_ino != inode  # renamed over, never rewritten in place
    assert sorted(os.listdir(tmp_path)) == ["key.pem"]


def test_a_failed_batch_changes_nothing(tmp_path):
    first, second = tmp_path / "a.pem", tmp_path / "b.pem"
    first.write_bytes(b"keep a")
    with pytest.raises(RuntimeError), AtomicBatch() as batch:
        batch.add(str(first), b"new a", 0o600)
        batch.add(str(second), b"new b", 0o600)
        raise RuntimeError("boom")
    assert first.read_bytes() == b"keep a"
    assert not second.exists()
    assert sorted(os.listdir(tmp_path)) == ["a.pem"]


def test_staging_into_a_missing_directory_fails_before_anything_is_replaced(tmp_path):
    first = tmp_path / "a.pem"
    first.write_bytes(b"keep")
    with pytest.raises(FileNotFoundError), AtomicBatch() as batch:
        batch.add(str(first), b"new", 0o600)
        batch.add(str(tmp_path / "missing" / "b.pem"), b"new", 0o600)
    assert first.read_bytes() == b"keep"
    assert sorted(os.listdir(tmp_path)) == ["a.pem"]


def test_commit_returns_the_destinations(tmp_path):
    batch = AtomicBatch()
    batch.add(str(tmp_path / "x"), b"1", 0o644)
    batch.add(str(tmp_path / "y"), b"2", 0o600)
    assert batch.commit() == [str(tmp_path / "x"), str(tmp_path / "y")]
    assert batch.commit() == []


def test_private_dirs_whatever_the_umask(tmp_path, umask):
    existing = tmp_path / "home"
    existing.mkdir(mode=0o755)
    os.chmod(existing, 0o755)
    created = make_private_dirs(str(existing / "a" / "b"))
    assert created == [str(existing / "a"), str(existing / "a" / "b")]
    assert perms(existing / "a") == perms(existing / "a" / "b") == 0o700
    assert perms(existing) == 0o755  # not ours: untouched
    assert make_private_dirs(str(existing / "a" / "b")) == []


def test_remove_file(tmp_path):
    target = tmp_path / "f"
    target.write_bytes(b"")
    assert remove_file(str(target)) is True
    assert remove_file(str(target)) is False


def test_directory_lock_makes_runs_take_turns(tmp_path):
    # A second holder (another open file description, as another process would have) must wait.
    waiting = locked_dir(str(tmp_path), timeout=0.2)
    with locked_dir(str(tmp_path)), pytest.raises(LockTimeout, match=r"kept .* locked"), waiting:
        pass
    with locked_dir(str(tmp_path), timeout=0.2):  # released on exit
        pass
    assert os.listdir(tmp_path) == []  # no lock file left behind


# --------------------------------------------------------------------------------------------------
# read_regular_file: regular files only, bounded, never blocking
# --------------------------------------------------------------------------------------------------
def test_read_regular_file_reads_a_regular_file(tmp_path):
    target = tmp_path / "ca.pem"
    target.write_bytes(b"x" * 100)
    assert read_regular_file(str(target), max_bytes=100) == b"x" * 100


def test_read_regular_file_missing_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_regular_file(str(tmp_path / "none"))


def test_read_regular_file_refuses_a_symlink_naming_it(tmp_path):
    real = tmp_path / "real.pem"
    real.write_bytes(b"data")
    (tmp_path / "link.pem").symlink_to(real)
    with pytest.raises(FileReadError, match=r"^ca_cert .*link\.pem is a symlink") as caught:
        read_regular_file(str(tmp_path / "link.pem"), what="ca_cert")
    assert caught.value.path == str(tmp_path / "link.pem")


def test_read_regular_file_does_not_hang_on_a_fifo(tmp_path):
    fifo = tmp_path / "ca-key.pem"
    os.mkfifo(fifo)  # no writer: a blocking open would wait forever
    with pytest.raises(FileReadError, match=r"ca-key\.pem is a FIFO, not a regular file"):
        read_regular_file(str(fifo))


def test_read_regular_file_refuses_devices_and_directories(tmp_path):
    with pytest.raises(FileReadError, match=r"/dev/zero is a character device, not a regular file"):
        read_regular_file("/dev/zero")
    with pytest.raises(FileReadError, match=r"is a directory, not a file"):
        read_regular_file(str(tmp_path))


def test_read_regular_file_refuses_more_than_the_cap(tmp_path):
    target = tmp_path / "big.pem"
    target.write_bytes(b"x" * 101)
    with pytest.raises(FileReadError, match=r"server_key .*big\.pem is larger than 100 bytes"):
        read_regular_file(str(target), max_bytes=100, what="server_key")


def test_read_regular_file_cap_holds_when_the_size_lies(tmp_path, monkeypatch):
    # /proc files and growing files report a size that is not what read() returns: the read is bounded too.
    target = tmp_path / "grows.pem"
    target.write_bytes(b"x" * 200)
    real_fstat = os.fstat

    def small_fstat(fd):
        info = real_fstat(fd)
        return os.stat_result((*info[:6], 0, *info[7:]))

    monkeypatch.setattr(os, "fstat", small_fstat)
    with pytest.raises(FileReadError, match=r"larger than 100 bytes"):
        read_regular_file(str(target), max_bytes=100)


def test_read_regular_file_names_an_unreadable_file(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    target = tmp_path / "key.pem"
    target.write_bytes(b"secret")
    target.chmod(0)
    with pytest.raises(FileReadError, match=r"key\.pem cannot be read \(Permission denied\)"):
        read_regular_file(str(target))
