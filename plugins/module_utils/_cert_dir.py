# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module util is PRIVATE to the dockerhost.azure collection: no compatibility promise,
# it can change at any time. Do not use it from other collections or standalone plugins.

"""May the certificate directory be trusted? The rules ssh applies to ``~/.ssh``, for a CA.

A CA that someone else could have written is a CA trusted by accident: every daemon set up from it
accepts whatever client that person signs. So, before anything is read or written:

* the directory ``path``, ``servers`` and ``servers/<server_name>`` (those that exist), ``ca.pem`` and
  ``ca-key.pem`` must be owned by the user running the task, by root, or by the user named in the
  ``owner`` option, and not be writable by group or other;
* nothing the module reads, writes, chmods or removes below ``path`` may be a symlink (``path`` itself
  may be one: it is the name the user gave);
* each must be what it should be: a directory or a regular file.

Once the directory is ours and closed to others, nobody else can swap what is in it between these
checks and the writes (the temp files and renames of ``_atomic_io`` go through directory descriptors).
"""

from __future__ import annotations

import os
import pwd
import stat

from ansible_collections.dockerhost.azure.plugins.module_utils._tls_request import (
    ROLES,
    CertsError,
    Layout,
)

__all__ = ["JOURNAL", "UntrustedPathError", "check_cert_dir", "own_basenames", "trusted_uids"]

# The renames of an interrupted run (see _atomic_io.finish_interrupted), in the top directory.
JOURNAL = ".docker_tls_certs.journal"


class UntrustedPathError(CertsError):
    """A path of the set someone else could have written, or a symlink in the way."""


def trusted_uids(owner_uid: int | None = None) -> frozenset[int]:
    """The running user, root, and the user the ``owner`` option names."""
    return frozenset(uid for uid in (os.geteuid(), 0, owner_uid) if uid is not None)


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def _check_trust(path: str, info: os.stat_result, uids: frozenset[int]) -> None:
    mode = stat.S_IMODE(info.st_mode)
    where = f"{path} (owner {_user(info.st_uid)}, mode {mode:04o})"
    if info.st_uid not in uids:
        me = _user(os.geteuid())
        raise UntrustedPathError(
            f"{where} belongs to another user than {me} who runs this task (or root): refusing to trust a CA "
            "someone else could have written, as ssh refuses such a ~/.ssh. Give the path to its owner, or "
            "use a directory of your own"
        )
    if mode & 0o022:
        raise UntrustedPathError(
            f"{where} is writable by group or other: anyone who can write there can choose whom the daemons "
            f"trust. Refusing; remove the write permission (chmod go-w {path}) after checking what is in it"
        )


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _check_dir(path: str, uids: frozenset[int], *, top: bool = False) -> bool:
    """Whether ``path`` exists; raise when it is a symlink (below the top), not a directory, or untrusted."""
    info = _lstat(path)
    if info is None:
        return False
    if top and stat.S_ISLNK(info.st_mode):
        try:
            info = os.stat(path)  # path itself is the user's word: judge what it points to
        except FileNotFoundError:
            raise UntrustedPathError(f"path {path} is a symlink to nothing") from None
    if stat.S_ISLNK(info.st_mode):
        raise UntrustedPathError(f"{path} is a symlink: refusing to follow it (the module writes and removes there)")
    if not stat.S_ISDIR(info.st_mode):
        raise UntrustedPathError(f"path {path} exists and is not a directory" if top else f"{path} is not a directory")
    _check_trust(path, info, uids)
    return True


def _check_file(path: str, uids: frozenset[int] | None) -> None:
    """No symlink in place of ``path``; with ``uids``, a file that exists must also be trusted."""
    info = _lstat(path)
    if info is None:
        return
    if stat.S_ISLNK(info.st_mode):
        raise UntrustedPathError(f"{path} is a symlink: refusing to follow it; put the file itself there")
    if uids is not None and stat.S_ISREG(info.st_mode):
        _check_trust(path, info, uids)


def check_cert_dir(layout: Layout, uids: frozenset[int]) -> None:
    """Refuse an untrusted directory chain, an untrusted CA, or any symlink the module would go through.

    Only what exists is checked; what is missing is created by the module itself (0700, no symlink).
    """
    if not _check_dir(layout.directory, uids, top=True):
        return
    _check_file(os.path.join(layout.directory, JOURNAL), uids)
    roles = list(ROLES[:2])
    if layout.server_name and _check_dir(layout.servers_dir, uids) and _check_dir(layout.server_dir, uids):
        roles.append("server")
    for role in roles:
        cert_path, key_path = layout.pair_paths(role)
        trust = uids if role == "ca" else None  # the CA is what the daemons trust: its files too
        _check_file(cert_path, trust)
        _check_file(key_path, trust)


def own_basenames(layout: Layout) -> dict[str, tuple[str, ...]]:
    """Directory -> the file names the module writes there (whose temp files it may clean up)."""
    names = {layout.directory: tuple(os.path.basename(p) for role in ROLES[:2] for p in layout.pair_paths(role))}
    names[layout.directory] += (JOURNAL,)
    if layout.server_name:
        names[layout.server_dir] = tuple(os.path.basename(p) for p in layout.pair_paths("server"))
    return names
