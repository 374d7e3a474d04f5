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
import os
import stat
import tempfile
import time

__all__ = [
    "MAX_READ_BYTES",
    "AtomicBatch",
    "FileReadError",
    "LockTimeout",
    "file_kind",
    "locked_dir",
    "make_private_dirs",
    "read_regular_file",
    "remove_file",
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


def _fsync_dir(directory: str) -> None:
    # Makes the renames durable; some file systems refuse fsync on a directory, which is not fatal.
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


class AtomicBatch:
    """Stage several files, then put them all in place; on error before the commit, nothing changes.

    ::

        with AtomicBatch() as batch:
            batch.add("/dir/key.pem", key_bytes, 0o600)
            batch.add("/dir/cert.pem", cert_bytes, 0o644)
        # leaving the block without an exception renames every temp file into place
    """

    def __init__(self) -> None:
        self._staged: list[tuple[str, str]] = []  # (temp path, destination)

    def add(self, path: str, data: bytes, mode: int) -> None:
        """Write ``data`` to a temp file next to ``path`` with exactly ``mode``."""
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
        # Registered first so a failure below still removes the temp file.
        self._staged.append((tmp, path))
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)

    def discard(self) -> None:
        """Remove every staged temp file; destinations stay as they were."""
        for tmp, _dest in self._staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        self._staged.clear()

    def commit(self) -> list[str]:
        """Rename every staged file over its destination; return the destinations."""
        done = []
        try:
            for tmp, dest in self._staged:
                os.replace(tmp, dest)
                done.append(dest)
        finally:
            # Whatever was not renamed (an error mid-way) is removed, not left behind.
            for tmp, _dest in self._staged[len(done) :]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            self._staged.clear()
        for directory in sorted({os.path.dirname(os.path.abspath(d)) for d in done}):
            _fsync_dir(directory)
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
