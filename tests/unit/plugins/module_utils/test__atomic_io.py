# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic writes: exact modes whatever the umask, all-or-nothing batches, no temp files left."""

from __future__ import annotations

import json
import os
import signal
import stat

import pytest

from ansible_collections.dockerhost.azure.plugins.module_utils._atomic_io import (
    AtomicBatch,
    FileReadError,
    JournalError,
    LockTimeout,
    finish_interrupted,
    locked_dir,
    make_private_dirs,
    read_regular_file,
    remove_file,
    remove_own_temps,
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


# --------------------------------------------------------------------------------------------------
# A batch killed between its renames is finished by the next run (journal); temp files are ours only
# --------------------------------------------------------------------------------------------------
def _killed_during_commit(tmp_path, kill_at: int) -> bool:
    """Commit a four-file batch in a child process that SIGKILLs itself at the ``kill_at``-th os.replace."""
    pid = os.fork()
    if pid == 0:  # the child: no cleanup of any kind runs after the kill, as with kill -9
        try:
            real, calls = os.replace, [0]

            def replace(*args, **kwargs):
                calls[0] += 1
                if calls[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return real(*args, **kwargs)

            os.replace = replace
            with AtomicBatch(journal=str(tmp_path / "journal")) as batch:
                for name in ("a", "b", "c", "d"):
                    batch.add(str(tmp_path / name), b"new " + name.encode(), 0o600)
        finally:
            os._exit(0)
    _pid, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


@pytest.mark.parametrize("kill_at", [1, 2, 3, 4, 5])
def test_a_kill_between_renames_is_finished_by_the_journal(tmp_path, kill_at):
    for name in ("a", "b", "c", "d"):
        (tmp_path / name).write_bytes(b"old")
    assert _killed_during_commit(tmp_path, kill_at)
    finished = finish_interrupted(str(tmp_path / "journal"))
    removed = remove_own_temps(str(tmp_path), ["a", "b", "c", "d", "journal"])
    contents = {name: (tmp_path / name).read_bytes() for name in ("a", "b", "c", "d")}
    if kill_at == 1:  # killed renaming the journal into place: nothing was replaced, all old
        assert finished == [] and len(removed) == 5 and set(contents.values()) == {b"old"}
    else:  # all new: the batch is whole, never half old, half new
        assert len(finished) == 4 - (kill_at - 2) and removed == []
        assert contents == {name: b"new " + name.encode() for name in contents}
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "c", "d"]


def test_a_journal_naming_foreign_files_is_refused(tmp_path):
    journal = tmp_path / "journal"
    journal.write_text(json.dumps({"renames": [["/etc", "passwd.x", "passwd", "0" * 64]]}))
    with pytest.raises(JournalError, match="is not a journal this module wrote"):
        finish_interrupted(str(journal))
    journal.write_text(json.dumps({"renames": [[str(tmp_path), "evil.tmp", "a", "0" * 64]]}))
    with pytest.raises(JournalError):
        finish_interrupted(str(journal))
    assert finish_interrupted(str(tmp_path / "none")) == []


def test_a_journal_temp_whose_content_changed_is_not_renamed(tmp_path):
    (tmp_path / ".a.0123abcd.tmp").write_bytes(b"not what was staged")
    journal = tmp_path / "journal"
    journal.write_text(json.dumps({"renames": [[str(tmp_path), ".a.0123abcd.tmp", "a", "0" * 64]]}))
    assert finish_interrupted(str(journal)) == []
    assert not (tmp_path / "a").exists() and not journal.exists()


def test_only_own_temp_files_are_removed(tmp_path):
    ours = [".key.pem.0123abcd.tmp", ".cert.pem.a_b1c2d3.tmp"]
    foreign = [".key.pem.tmp", ".key.pem.0123abcd.tmp.bak", "key.pem.0123abcd.tmp", ".other.0123abcd.tmp", "x.tmp"]
    for name in ours + foreign:
        (tmp_path / name).write_text("x")
    (tmp_path / ".cert.pem.dirdirdi.tmp").mkdir()  # not a regular file: left alone
    if os.geteuid() == 0:
        (tmp_path / ".key.pem.99999999.tmp").write_text("x")
        os.chown(tmp_path / ".key.pem.99999999.tmp", 65534, -1)  # another user's: left alone
        foreign.append(".key.pem.99999999.tmp")
    removed = remove_own_temps(str(tmp_path), ["key.pem", "cert.pem"])
    assert sorted(removed) == sorted(str(tmp_path / name) for name in ours)
    assert sorted(os.listdir(tmp_path)) == sorted([*foreign, ".cert.pem.dirdirdi.tmp"])


def test_batches_never_write_through_a_symlinked_directory(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "link").symlink_to(elsewhere)
    with pytest.raises(FileReadError, match="link is a symlink; refusing to write through it"), AtomicBatch() as batch:
        batch.add(str(tmp_path / "link" / "key.pem"), b"k", 0o600)
    assert list(elsewhere.iterdir()) == []


def test_rename_replaces_a_symlink_at_the_destination_without_following_it(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep")
    (tmp_path / "key.pem").symlink_to(victim)
    write_atomic(str(tmp_path / "key.pem"), b"new", 0o600)
    assert victim.read_bytes() == b"keep"
    assert not (tmp_path / "key.pem").is_symlink() and (tmp_path / "key.pem").read_bytes() == b"new"
