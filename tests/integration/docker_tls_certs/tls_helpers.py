# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers for the docker_tls_certs tests: task builder and file snapshots.

Plays run through ``tests/support/ansible.py`` (``AnsibleRunner``): one ansible-playbook run (about two
seconds) covers a whole scenario: check mode, apply, idempotence...
"""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

MODULE = "dockerhost.azure.docker_tls_certs"


def certs_task(check_mode: bool = False, diff: bool = False, **args) -> dict:
    """A docker_tls_certs task."""
    return {MODULE: args, "check_mode": check_mode, "diff": diff}


def snapshot(directory) -> dict[str, tuple]:
    """Every file under ``directory``: content hash, mode, inode, mtime. Equal snapshots: nothing touched."""
    out = {}
    for path in sorted(Path(directory).rglob("*")):
        info = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        out[str(path.relative_to(directory))] = (digest, stat.S_IMODE(info.st_mode), info.st_ino, info.st_mtime_ns)
    return out
