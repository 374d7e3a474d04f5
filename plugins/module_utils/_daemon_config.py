# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the install script puts in the VM's /etc/docker/daemon.json, and how it merges it with what is there.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

Three kinds of keys:

* :data:`OWNED_KEYS` (the listeners and TLS): always ours. A daemon.json that sets one of them to another value
  than ours (and than the value we wrote last time) is refused, naming the keys: nothing is written.
* :data:`DEFAULT_DAEMON_OPTIONS`, the hardened defaults (CIS Docker Benchmark, daemon section): set when the
  existing file does not decide them itself. A value the host's administrator wrote wins over a default.
* ``daemon_options``, given by the user (:func:`validate_daemon_options`): set, overriding a default; refused
  like an owned key when the existing file sets the key to another value.

Every other key of the existing file (``data-root`` among them) is kept as it is. The values we wrote are
recorded next to daemon.json (``dockerhost.json``), so a later run can tell its own values from the
administrator's, change them, or remove those it no longer manages.

:data:`MERGE_HELPER` is the merge itself, a Python 3.6+ program the install script runs with the VM's
``python3``: every Debian/Ubuntu image on Azure has it (the Azure Linux agent that runs the CustomScript
extension is a Python 3 program), and the script installs the ``python3`` package when it is missing.
"""

from __future__ import annotations

import hashlib
import json
import math

__all__ = [
    "DEFAULT_DAEMON_OPTIONS",
    "MERGE_HELPER",
    "OWNED_KEYS",
    "DaemonOptionsError",
    "daemon_options_fingerprint",
    "split_daemon_options",
    "validate_daemon_options",
]

OWNED_KEYS = ("hosts", "tls", "tlsverify", "tlscacert", "tlscert", "tlskey")

# The hardened daemon, each key overridable through daemon_options (a value of None: leave the key alone).
DEFAULT_DAEMON_OPTIONS = {
    "live-restore": True,  # containers keep running while dockerd restarts (certificate rotation, upgrades)
    "no-new-privileges": True,  # setuid binaries in containers cannot gain privileges
    "log-driver": "json-file",  # `docker logs` keeps working; rotated so logs cannot fill the disk
    "log-opts": {"max-size": "10m", "max-file": "3"},
    "userland-proxy": False,  # published ports through iptables, no docker-proxy process per port
    "icc": False,  # containers on the default bridge cannot talk to each other unless linked
}

_MAX_OPTIONS_BYTES = 64 * 1024
_MAX_DEPTH = 8


class DaemonOptionsError(ValueError):
    """``daemon_options`` cannot be used; the message names the key."""


def _check_value(key: str, value: object, depth: int = 0) -> None:
    if depth > _MAX_DEPTH:
        raise DaemonOptionsError(f"daemon_options.{key} is nested deeper than {_MAX_DEPTH} levels")
    if value is None or isinstance(value, (bool, str, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DaemonOptionsError(f"daemon_options.{key} is not a finite number (JSON has no NaN or Infinity)")
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            _check_value(key, item, depth + 1)
        return
    if isinstance(value, dict):
        for sub_key, sub_value in value.items():
            if not isinstance(sub_key, str):
                raise DaemonOptionsError(f"daemon_options.{key} has a key that is not a string: {sub_key!r}")
            _check_value(f"{key}.{sub_key}", sub_value, depth + 1)
        return
    raise DaemonOptionsError(
        f"daemon_options.{key} is a {type(value).__name__}; use strings, numbers, booleans, lists and dicts"
    )


def validate_daemon_options(options: object) -> dict:
    """``daemon_options`` checked: a dict of daemon.json keys to JSON values; None means "leave the key alone".

    Raises :class:`DaemonOptionsError` naming the key: the listeners and TLS keys (:data:`OWNED_KEYS`) cannot be
    overridden, keys are non-empty strings without whitespace, values are JSON (finite numbers), sizes capped.
    Returns a new dict with the same content.
    """
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise DaemonOptionsError(f"daemon_options must be a dict of daemon.json keys, not a {type(options).__name__}")
    for key, value in options.items():
        if not isinstance(key, str) or not key or key != key.strip() or any(c.isspace() for c in key):
            raise DaemonOptionsError(f"daemon_options has an invalid key {key!r}")
        if key in OWNED_KEYS:
            raise DaemonOptionsError(
                f"daemon_options.{key} cannot be set: dockerhost.azure owns the listeners and TLS keys "
                f"({', '.join(OWNED_KEYS)}); the port is the module's docker_port option"
            )
        _check_value(key, value)
        if key in DEFAULT_DAEMON_OPTIONS and value is not None:
            wanted = type(DEFAULT_DAEMON_OPTIONS[key])
            if isinstance(value, bool) != (wanted is bool) or not isinstance(value, wanted):
                raise DaemonOptionsError(
                    f"daemon_options.{key} must be a {wanted.__name__} (or null to leave it alone), "
                    f"not {type(value).__name__}"
                )
    if len(json.dumps(options, sort_keys=True)) > _MAX_OPTIONS_BYTES:
        raise DaemonOptionsError(f"daemon_options is larger than {_MAX_OPTIONS_BYTES} bytes as JSON")
    return json.loads(json.dumps(options))


def split_daemon_options(options: object) -> tuple[dict, dict]:
    """``(explicit, defaults)``: the user's values (None dropped) and the hardened defaults they leave in place."""
    checked = validate_daemon_options(options)
    explicit = {key: value for key, value in checked.items() if value is not None}
    defaults = {key: value for key, value in DEFAULT_DAEMON_OPTIONS.items() if key not in checked}
    return explicit, defaults


def daemon_options_fingerprint(options: object) -> str:
    """SHA-256 of the checked options (canonical JSON): a public value whose change must re-run the extension."""
    return hashlib.sha256(json.dumps(validate_daemon_options(options), sort_keys=True).encode()).hexdigest()


# Run on the VM as `python3 - <<'PY'`; input in the environment, see the docstring. Python 3.6+, stdlib only.
MERGE_HELPER = r'''
import json, os, sys

# A default is not applied when the administrator's file decides the key or one of these related keys:
# dockerd refuses log-opts its log driver does not know, and icc=false without iptables.
RELATED = {"log-driver": ("log-opts",), "log-opts": ("log-driver",), "icc": ("iptables",),
           "userland-proxy": ("iptables",)}


def load(path, what):
    if not os.path.lexists(path):
        return None
    try:
        with open(path) as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        sys.exit("cannot read %s %s: %s" % (what, path, exc))
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        sys.exit("%s %s is not valid JSON (%s); fix or move it, nothing was changed" % (what, path, exc))
    if not isinstance(data, dict):
        sys.exit("%s %s is not a JSON object; fix or move it, nothing was changed" % (what, path))
    return data


def merge(existing, record, owned, options, defaults):
    """(merged, new record, notes); raises ValueError naming the conflicting keys."""
    merged = dict(existing)
    conflicts = []
    notes = []
    for key, value in list(owned.items()) + list(options.items()):
        if key in existing and existing[key] != value and (key not in record or existing[key] != record[key]):
            conflicts.append(key)
        merged[key] = value
    if conflicts:
        raise ValueError(
            "daemon.json already sets %s to other values than dockerhost.azure needs; remove %s from "
            "daemon.json (or from daemon_options) and re-run" % (", ".join(sorted(conflicts)),
                                                                 "it" if len(conflicts) == 1 else "them"))
    written = dict(owned)
    written.update(options)
    for key, value in defaults.items():
        theirs = [k for k in (key,) + RELATED.get(key, ())
                  if k in existing and (k not in record or existing[k] != record[k])]
        if theirs:
            notes.append("keeping the administrator's %s instead of the default %s=%s"
                         % (", ".join(theirs), key, json.dumps(value)))
            continue
        merged[key] = value
        written[key] = value
    for key, value in record.items():
        if key not in written and merged.get(key) == value:
            del merged[key]  # ours last time, no longer wanted: back to dockerd's default
            notes.append("removed %s (set by an earlier run, no longer wanted)" % key)
    return merged, written, notes


def main():
    env = os.environ
    config = env["DH_CONFIG"]
    existing = load(config, "daemon.json")
    record = load(env["DH_RECORD"], "the record of dockerhost.azure's keys") or {}
    record = record.get("managed", {}) if isinstance(record.get("managed"), dict) else {}
    owned = json.loads(env["DH_OWNED"])
    if existing is not None and not record and existing.get("tlscert") == owned.get("tlscert"):
        # Written by a release that kept no record: its listeners and TLS keys are ours.
        record = {key: existing[key] for key in owned if key in existing}
    try:
        merged, written, notes = merge(existing or {}, record, owned, json.loads(env["DH_OPTIONS"]),
                                       json.loads(env["DH_DEFAULTS"]))
    except ValueError as exc:
        sys.exit(str(exc))
    with open(env["DH_OUT"], "w") as handle:
        json.dump(merged, handle, indent=2)
        handle.write("\n")
    with open(env["DH_RECORD_OUT"], "w") as handle:
        json.dump({"managed": written}, handle, indent=2, sort_keys=True)
        handle.write("\n")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
'''
