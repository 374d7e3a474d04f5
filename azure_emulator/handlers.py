# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the Linux extension handlers decide, whichever backend runs the VM (vmagent.py, guest_agent.py).

* ``Microsoft.Azure.Extensions/CustomScript`` 2.x (github.com/Azure/custom-script-extension-linux): the
  settings checks of handlersettings.go ``validate()``, ``script`` base64-decoded and gunzipped when it is gzip,
  run as ``/bin/sh script.sh`` in the download directory, or ``commandToExecute`` with ``/bin/sh -c``; the status
  ``Enable succeeded: \\n[stdout]\\n<4 KiB tail>\\n[stderr]\\n<4 KiB tail>``, or on a non-zero exit
  ``Enable failed: failed to execute command: command terminated with exit status=N`` and the same tails.
* ``Microsoft.Azure.Extensions/DockerExtension`` 1.x: public ``docker.port`` / ``docker.options``, protected
  ``certs.ca/cert/key`` (PEM, or base64 of the PEM).

A backend only says where the script runs (:class:`CustomScriptPayload` gives it what to run) and what
systemd then does.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CSE",
    "DOCKER_EXTENSION",
    "FULL_VERSIONS",
    "HANDLER_VERSIONS",
    "SCRIPT_TIMEOUT",
    "TAIL_BYTES",
    "CustomScriptPayload",
    "DockerExtensionConfig",
    "ExtensionFailed",
    "ExtensionOutcome",
    "custom_script_payload",
    "custom_script_status",
    "docker_extension_config",
    "extension_kind",
    "record_run",
    "run_handler",
    "tail",
]

SCRIPT_TIMEOUT = float(os.environ.get("AZURE_EMULATOR_SCRIPT_TIMEOUT", "600"))
CSE = ("microsoft.azure.extensions", "customscript")
DOCKER_EXTENSION = ("microsoft.azure.extensions", "dockerextension")
HANDLER_VERSIONS = {CSE: ("2.0", "2.1"), DOCKER_EXTENSION: ("1.0", "1.1", "1.2")}
FULL_VERSIONS = {CSE: "2.1.10", DOCKER_EXTENSION: "1.2.2"}
TAIL_BYTES = 4096  # the handler's status carries the last 4 KiB of each stream
RUNS_KEPT = 10  # the runs of one extension that GET /_emulator/vms shows, newest last


@dataclass
class ExtensionOutcome:
    """What the handler reported: success or the failure text for instanceView and the operation error."""

    ok: bool
    message: str
    started_daemon: bool = False


class ExtensionFailed(Exception):
    """The handler failed; the message is what the real handler would put in its status."""


def extension_kind(ext: dict) -> tuple[str, str]:
    """``(publisher, type)`` lower-cased, for a handler the emulator knows; else the agent's failure text."""
    kind = (str(ext.get("publisher", "")).lower(), str(ext.get("type", "")).lower())
    if kind not in HANDLER_VERSIONS:
        raise ExtensionFailed(
            f"Extension '{ext.get('publisher')}.{ext.get('type')}' version '{ext.get('typeHandlerVersion')}' "
            "is not available in the extension repository"
        )
    return kind


def tail(text: str, limit: int = TAIL_BYTES) -> str:
    return text[-limit:]


def run_handler(
    ext: dict,
    protected: dict,
    custom_script: Callable[[dict, dict], ExtensionOutcome],
    docker_extension: Callable[[dict, dict], ExtensionOutcome],
) -> ExtensionOutcome:
    """Run the backend's handler for the extension's kind with (settings, protected settings); a handler
    failure is the outcome, never an exception."""
    try:
        kind = extension_kind(ext)
        handler = custom_script if kind == CSE else docker_extension
        return handler(ext.get("settings") or {}, protected)
    except ExtensionFailed as exc:
        return ExtensionOutcome(False, str(exc))


def record_run(extensions: dict, ext_key: str, outcome: ExtensionOutcome) -> None:
    """Keep what ``GET /_emulator/vms`` shows of an extension: the last outcome and the last
    :data:`RUNS_KEPT` runs, oldest first (a first create's install output stays visible after a re-apply)."""
    runs = [*extensions.get(ext_key, {}).get("runs", []), {"ok": outcome.ok, "message": outcome.message}]
    extensions[ext_key] = {"ok": outcome.ok, "message": outcome.message, "runs": runs[-RUNS_KEPT:]}


# CustomScript ---------------------------------------------------------------------------------------------
@dataclass
class CustomScriptPayload:
    """What the handler runs: ``script`` (decoded bytes, written to ``script.sh``) or ``command``."""

    command: str
    script: bytes | None

    def argv(self, workdir: str) -> list[str]:
        """The process the handler starts, in ``workdir`` (the download directory of this sequence number)."""
        if self.script is not None:
            return ["/bin/sh", os.path.join(workdir, "script.sh")]
        return ["/bin/sh", "-c", self.command]


def _cse_config(settings: dict, protected: dict) -> tuple[str, str]:
    """``(command, script)`` after the real handler's checks (handlersettings.go validate())."""
    pub_cmd, prot_cmd = settings.get("commandToExecute") or "", protected.get("commandToExecute") or ""
    pub_script, prot_script = settings.get("script") or "", protected.get("script") or ""
    command, script = pub_cmd or prot_cmd, pub_script or prot_script
    prefix = "Enable failed: failed to get configuration: invalid configuration: "
    if not command and not script:
        raise ExtensionFailed(prefix + "'commandToExecute' is not specified")
    for key, verb in (("commandToExecute", "was"), ("script", "was"), ("fileUris", "were")):
        if settings.get(key) and protected.get(key):
            raise ExtensionFailed(
                f"{prefix}'{key}' {verb} specified both in public and protected settings; it must be specified "
                "only once"
            )
    if command and script:
        raise ExtensionFailed(
            prefix + "'commandToExecute' and 'script' were both specified, but only one is validate at a time"
        )
    if settings.get("fileUris") or protected.get("fileUris"):
        raise ExtensionFailed(
            "Enable failed: failed to download files: the emulator has no internet; send the script inline"
        )
    return command, script


def custom_script_payload(settings: dict, protected: dict) -> CustomScriptPayload:
    """Check the settings and decode ``script``; raise :class:`ExtensionFailed` with the handler's text."""
    command, script = _cse_config(settings, protected)
    if not script:
        return CustomScriptPayload(command, None)
    try:
        body = base64.b64decode(script, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ExtensionFailed(f"Enable failed: failed to decode script: {exc}") from exc
    if body[:2] == b"\x1f\x8b":
        # decodeScript(): gunzip when it reads as gzip, else the decoded bytes as they are.
        with contextlib.suppress(OSError, EOFError):
            body = gzip.decompress(body)
    return CustomScriptPayload("", body)


def custom_script_status(stdout: str, stderr: str, code: int) -> str:
    """The status message of a finished run; :class:`ExtensionFailed` with the failure text when ``code != 0``."""
    output = f"\n[stdout]\n{tail(stdout)}\n[stderr]\n{tail(stderr)}"
    if code != 0:
        raise ExtensionFailed(
            f"Enable failed: failed to execute command: command terminated with exit status={code}{output}"
        )
    return f"Enable succeeded: {output}"


# DockerExtension ------------------------------------------------------------------------------------------
@dataclass
class DockerExtensionConfig:
    port: int
    options: list[str]
    certs: dict[str, bytes] | None  # ca, cert, key (PEM); None: no TLS


def _decode_pem(value: object, what: str) -> bytes:
    """DockerExtension certs: PEM as is, or base64 of the PEM."""
    if not isinstance(value, str) or not value.strip():
        raise ExtensionFailed(f"certs.{what} is missing or empty")
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ExtensionFailed(f"certs.{what} is neither PEM nor base64: {exc}") from exc
    if b"-----BEGIN" not in decoded:
        raise ExtensionFailed(f"certs.{what} does not decode to a PEM document")
    return decoded


def docker_extension_config(settings: dict, protected: dict) -> DockerExtensionConfig:
    docker = settings.get("docker") or {}
    port = str(docker.get("port", "2376"))
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ExtensionFailed(f"Enable failed: invalid docker.port {port!r}")
    options = docker.get("options") or []
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        raise ExtensionFailed("Enable failed: docker.options must be a list of strings")
    certs = protected.get("certs")
    pems = {what: _decode_pem(certs.get(what), what) for what in ("ca", "cert", "key")} if certs else None
    return DockerExtensionConfig(int(port), options, pems)
