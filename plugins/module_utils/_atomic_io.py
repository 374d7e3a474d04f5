# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the dockerhost.azure collection: no compatibility promise,
# it can change at any time. Do not use it from other collections or standalone plugins.

"""Atomic writes with exact modes, whatever the umask.

A set of files is staged first (each a temp file in its destination's directory, written, synced and
given its final mode through ``fchmod``, which the umask does not touch), then every temp file is
renamed over its destination. When staging fails nothing has been replaced; renames within one
directory are atomic, so a reader sees either the old or the new content of each file, never a part.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import stat
import time

__all__ = [
    "MAX_READ_BYTES",
    "AtomicBatch",
    "FileReadError",
    "JournalError",
    "LockTimeout",
    "file_kind",
    "finish_interrupted",
    "is_own_temp",
    "locked_dir",
    "make_private_dirs",
    "read_regular_file",
    "remove_file",
    "remove_own_temps",
    "temp_name",
    "write_atomic",
]

# PEM files of the set are a few KiB; 1 MiB is far above any real one and far below harm.
MAX_READ_BYTES = 1024 * 1024
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class FileReadError(Exception):
    """A file that must not be read as it is: a symlink, not a regular file, too large, unreadable.

    The message names the file (and what it is for) and the problem; ``path`` and ``reason`` hold them apart.
    """

    def __init__(self, path: str, reason: str, what: str | None = None) -> None:
        super().__init__(f"{what} {path} {reason}" if what else f"{path} {reason}")
        self.path = path
        self.reason = reason
        self.what = what


def file_kind(mode: int) -> str:
    """What ``st_mode`` is, in words: ``a directory``, ``a FIFO``, ``a character device`` ..."""
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISLNK, "a symlink"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISREG, "a regular file"),
    )
    return next((text for test, text in kinds if test(mode)), "not a regular file")


def _not_regular(mode: int) -> str:
    kind = file_kind(mode)
    return "is a directory, not a file" if kind == "a directory" else f"is {kind}, not a regular file"


def _open_error(path: str, exc: OSError, what: str | None) -> Exception:
    if isinstance(exc, FileNotFoundError):
        return exc  # missing is a state callers decide about, not a trust problem
    if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EOPNOTSUPP):
        # ELOOP: O_NOFOLLOW met a symlink; ENXIO/EOPNOTSUPP: a socket. Say what is there.
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            mode = None
        if mode is not None and stat.S_ISLNK(mode):
            return FileReadError(path, "is a symlink; refusing to follow it (give the real file)", what)
        if mode is not None and not stat.S_ISREG(mode):
            return FileReadError(path, _not_regular(mode), what)
    return FileReadError(path, f"cannot be read ({exc.strerror or exc})", what)


def read_regular_file(path: str, *, max_bytes: int = MAX_READ_BYTES, what: str | None = None) -> bytes:
    """The content of the regular file ``path``, at most ``max_bytes`` long.

    Never follows a symlink in the last component (``O_NOFOLLOW``), never blocks on a FIFO
    (``O_NONBLOCK``, then ``fstat`` refuses anything that is not a regular file) and never reads more
    than ``max_bytes + 1`` bytes (``/dev/zero`` or a huge file cannot exhaust memory).
    Raises ``FileNotFoundError`` when ``path`` does not exist and ``FileReadError`` naming ``what``
    and ``path`` for anything else that is wrong.
    """
    try:
        fd = os.open(path, _READ_FLAGS)
    except OSError as exc:
        raise _open_error(path, exc, what) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileReadError(path, _not_regular(info.st_mode), what)
        if info.st_size > max_bytes:
            raise FileReadError(path, f"is larger than {max_bytes} bytes ({info.st_size} bytes)", what)
        chunks, total = [], 0
        while total <= max_bytes:
            try:
                chunk = os.read(fd, max_bytes + 1 - total)
            except OSError as exc:
                raise FileReadError(path, f"cannot be read ({exc.strerror or exc})", what) from None
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise FileReadError(path, f"is larger than {max_bytes} bytes", what)
        return b"".join(chunks)
    finally:
        os.close(fd)


def temp_name(basename: str) -> str:
    """A fresh temp file name for ``basename``: ``.<basename>.<8 random>.tmp``, the pattern
    ``is_own_temp`` recognises."""
    return f".{basename}.{secrets.token_hex(4)}.tmp"


def is_own_temp(name: str, basenames) -> bool:
    """Whether ``name`` is a temp file this module makes for one of ``basenames`` (older versions used
    ``mkstemp``'s 8 characters from ``[a-z0-9_]``; both match)."""
    return any(re.fullmatch(rf"\.{re.escape(base)}\.[a-z0-9_]{{8}}\.tmp", name) for base in basenames)


def _open_dir(directory: str) -> int:
    """A descriptor of ``directory``; its last component must not be a symlink."""
    try:
        return os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(directory):
            raise FileReadError(directory, "is a symlink; refusing to write through it") from None
        raise


class AtomicBatch:
    """Stage several files, then put them all in place; on error before the commit, nothing changes.

    ::

        with AtomicBatch(journal="/dir/.journal") as batch:
            batch.add("/dir/key.pem", key_bytes, 0o600)
            batch.add("/dir/cert.pem", cert_bytes, 0o644)
        # leaving the block without an exception renames every temp file into place

    Temp files are created and renamed through a descriptor of their directory (``O_NOFOLLOW``,
    ``O_EXCL``): a symlink in place of the directory or of a temp name is never written through, and
    ``rename`` replaces a symlink at the destination instead of following it.

    With ``journal``, the list of renames (with each file's SHA-256) is written there before the first
    rename and removed after the last, so that ``finish_interrupted`` can complete a batch that a
    kill cut in the middle: a pair is never left half old, half new.
    """

    def __init__(self, journal: str | None = None) -> None:
        self._staged: list[tuple[int, str, str, str, str]] = []  # (dir fd, directory, temp, dest, sha256)
        self._journal = journal

    def add(self, path: str, data: bytes, mode: int) -> None:
        """Write ``data`` to a temp file next to ``path`` with exactly ``mode``."""
        directory, base = os.path.split(os.path.abspath(path))
        dir_fd = _open_dir(directory)
        tmp = temp_name(base)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
        except BaseException:
            os.close(dir_fd)
            raise
        # Registered first so a failure below still removes the temp file.
        self._staged.append((dir_fd, directory, tmp, base, hashlib.sha256(data).hexdigest()))
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)

    def _close(self) -> None:
        for dir_fd, *_rest in self._staged:
            os.close(dir_fd)
        self._staged.clear()

    def discard(self) -> None:
        """Remove every staged temp file; destinations stay as they were."""
        for dir_fd, _directory, tmp, _dest, _digest in self._staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dir_fd)
        self._close()

    def commit(self) -> list[str]:
        """Rename every staged file over its destination; return the destinations."""
        done: list[str] = []
        if self._journal and self._staged:
            entries = [[directory, tmp, dest, digest] for _fd, directory, tmp, dest, digest in self._staged]
            write_atomic(self._journal, json.dumps({"renames": entries}).encode(), 0o600)
        try:
            for dir_fd, directory, tmp, dest, _digest in self._staged:
                os.replace(tmp, dest, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                done.append(os.path.join(directory, dest))
        finally:
            # Whatever was not renamed (an error mid-way) is removed, not left behind.
            for dir_fd, _directory, tmp, _dest, _digest in self._staged[len(done) :]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp, dir_fd=dir_fd)
            for dir_fd, *_rest in self._staged:
                with contextlib.suppress(OSError):
                    os.fsync(dir_fd)  # the renames are durable; some file systems refuse, not fatal
            self._close()
        if self._journal:
            remove_file(self._journal)
        return done

    def __enter__(self) -> AtomicBatch:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def write_atomic(path: str, data: bytes, mode: int) -> None:
    """Replace ``path`` with ``data`` atomically; the file has exactly ``mode`` from its first byte."""
    with AtomicBatch() as batch:
        batch.add(path, data, mode)


class JournalError(Exception):
    """A journal that this code did not write as it is (damaged, or naming files it does not own)."""


def _journal_entries(journal: str, data: bytes) -> list[tuple[str, str, str, str]]:
    base = os.path.dirname(os.path.abspath(journal))
    try:
        entries = json.loads(data)["renames"]
        checked = []
        for directory, tmp, dest, digest in entries:
            inside = os.path.commonpath([base, os.path.abspath(directory)]) == base
            if not (inside and isinstance(digest, str) and is_own_temp(tmp, [dest]) and "/" not in dest):
                raise ValueError(dest)
            checked.append((os.path.abspath(directory), tmp, dest, digest))
    except (ValueError, TypeError, KeyError) as exc:
        raise JournalError(f"{journal} is not a journal this module wrote ({type(exc).__name__}); look at it") from None
    return checked


def _sha256_of(path: str) -> str | None:
    try:
        return hashlib.sha256(read_regular_file(path)).hexdigest()
    except (FileNotFoundError, FileReadError):
        return None


def finish_interrupted(journal: str) -> list[str]:
    """Complete the renames of a batch that was killed between them; return the files put in place.

    Each temp file named in the journal is renamed over its destination when its content is still the
    one staged (SHA-256); a destination that already has that content was renamed before the kill.
    The journal is removed at the end. No journal: nothing to do.
    """
    try:
        data = read_regular_file(journal)
    except FileNotFoundError:
        return []
    finished = []
    for directory, tmp, dest, digest in _journal_entries(journal, data):
        dir_fd = _open_dir(directory)
        try:
            if _sha256_of(os.path.join(directory, tmp)) == digest:
                os.replace(tmp, dest, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
                finished.append(os.path.join(directory, dest))
                with contextlib.suppress(OSError):
                    os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    remove_file(journal)
    return finished


def remove_own_temps(directory: str, basenames) -> list[str]:
    """Remove the temp files a killed run left in ``directory`` (``is_own_temp`` names, regular files of
    the running user only); return them. Foreign files are never touched."""
    removed = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return removed
    for name in names:
        path = os.path.join(directory, name)
        if not is_own_temp(name, basenames):
            continue
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid():
            remove_file(path)
            removed.append(path)
    return removed


def make_private_dirs(path: str, mode: int = 0o700) -> list[str]:
    """Create ``path`` and any missing parents with exactly ``mode``; return the directories created.

    Existing directories keep their mode: they are not ours to change.
    """
    missing = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    created = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise
            continue  # made concurrently by someone else: theirs, leave its mode
        os.chmod(directory, mode)  # mkdir's mode is filtered by the umask
        created.append(directory)
    return created


def remove_file(path: str) -> bool:
    """Remove ``path`` if it exists; return whether it did."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


class LockTimeout(OSError):
    """Another process held the directory lock for longer than we would wait."""


@contextlib.contextmanager
def locked_dir(path: str, timeout: float = 120.0, poll: float = 0.05):
    """Hold an exclusive ``flock`` on the directory ``path`` itself (no lock file is left behind).

    Runs that read, decide and write in one directory take turns, so that parallel runs (one per host)
    see each other's files instead of each making its own.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"another process kept {path} locked for more than {timeout:.0f}s") from None
                time.sleep(poll)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
