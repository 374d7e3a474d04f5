# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Docker install script that the CustomScript extension runs on the VM, and how it is packed.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

Modules cannot ship ``.sh`` files, so the script is a Python string (in _install_script_sh.py, with the
daemon.json merge of _daemon_config.py inside it). :data:`INSTALL_SCRIPT` is the program: it never changes
with the host, and its SHA-256 (:func:`script_sha256`) is what the extension's forceUpdateTag carries.
:func:`render_install_script` puts the settings (port, certificates with the key among them, daemon options)
in front of it; that rendered text only ever travels in the extension's protectedSettings.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json

from ansible_collections.dockerhost.azure.plugins.module_utils._daemon_config import split_daemon_options
from ansible_collections.dockerhost.azure.plugins.module_utils._install_script_sh import (
    INSTALL_SCRIPT,
    SETTINGS_MARKER,
)

__all__ = [
    "INSTALL_SCRIPT",
    "SETTINGS_MARKER",
    "packed_script",
    "render_install_script",
    "script_sha256",
]


def script_sha256() -> str:
    """SHA-256 of the program (no settings, no key): what forceUpdateTag carries."""
    return hashlib.sha256(INSTALL_SCRIPT.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def render_install_script(
    port: int, ca_pem: bytes, cert_pem: bytes, key_pem: bytes, daemon_options: dict | None = None
) -> str:
    """The program with its settings in front; secret (it holds the key): protectedSettings only.

    ``daemon_options``: daemon.json keys merged over the hardened defaults (``_daemon_config``); None as a value
    leaves that default out. Raises ``DaemonOptionsError`` naming a key that cannot be used.
    """
    explicit, defaults = split_daemon_options(daemon_options)

    def b64json(value: dict) -> str:
        return _b64(json.dumps(value, sort_keys=True).encode())

    settings = "\n".join(
        (
            f"DOCKERHOST_PORT='{int(port)}'",
            f"DOCKERHOST_CA_B64='{_b64(ca_pem)}'",
            f"DOCKERHOST_CERT_B64='{_b64(cert_pem)}'",
            f"DOCKERHOST_KEY_B64='{_b64(key_pem)}'",
            f"DOCKERHOST_OPTIONS_B64='{b64json(explicit)}'",
            f"DOCKERHOST_DEFAULTS_B64='{b64json(defaults)}'",
        )
    )
    return INSTALL_SCRIPT.replace(SETTINGS_MARKER, settings, 1)


def packed_script(rendered: str) -> str:
    """CustomScript's ``script`` setting: base64 of the gzipped script (deterministic bytes)."""
    return base64.b64encode(gzip.compress(rendered.encode(), mtime=0)).decode("ascii")
