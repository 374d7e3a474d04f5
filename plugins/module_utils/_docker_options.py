# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to the dockerhost.azure collection: no compatibility promise, it may change
# in any release. Do not use it from other collections or from your own plugins.

"""The Docker connection options, once: argument spec, environment fallbacks, and their resolution.

Shared by the modules that talk to a Docker daemon and documented next door in
``plugins/doc_fragments/docker.py``. Nothing here opens a connection: bad input fails here, naming the
option, before anything is contacted. Also home to ``DockerAPIError``, the one exception every layer of the
client raises.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ansible.module_utils.errors import AnsibleFallbackNotFound

__all__ = [
    "DEFAULT_CERT_PATH",
    "DEFAULT_DOCKER_HOST",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TLS_PORT",
    "DOCKER_CONNECTION_ARGUMENT_SPEC",
    "DOCKER_CONNECTION_REQUIRED_TOGETHER",
    "ERROR_KINDS",
    "MAX_TIMEOUT",
    "MAX_WAIT_TIMEOUT",
    "ConnectionSettings",
    "DockerAPIError",
    "Endpoint",
    "check_seconds",
    "check_text",
    "environment_warnings",
    "invalid_option",
    "parse_docker_host",
    "resolve_connection",
]

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_CERT_PATH = "~/.docker"
DEFAULT_TLS_PORT = 2376
DEFAULT_TIMEOUT = 10.0
# Upper bounds: beyond them a value is a typo (and 1e12 overflows the timers), never a wish.
MAX_TIMEOUT = 3600.0
MAX_WAIT_TIMEOUT = 86400.0

# Every failure carries one of these; the module documents each.
ERROR_KINDS = (
    "check_seconds",
    "check_text",
    "invalid_option",
    "dns",
    "connection_refused",
    "timeout",
    "not_tls",
    "tls_unknown_ca",
    "tls_hostname_mismatch",
    "tls_expired",
    "tls_client_rejected",
    "tls_protocol",
    "http_error",
    "api_version_too_old",
    "client_auth_not_required",
    "unsupported_python",  # written by the module itself, before these module_utils can be imported
)


# -- option set ---------------------------------------------------------------------------------------


def _env_nonempty(*names: str) -> str:
    """Ansible fallback: the first of ``names`` set to a non-empty value (an empty one counts as unset)."""
    for name in names:
        value = os.environ.get(name, "")
        if value:
            return value
    raise AnsibleFallbackNotFound


def _env_tls_verify() -> bool:
    """DOCKER_TLS_VERIFY is read as the Docker CLI reads it: any non-empty value, even ``0``, means verify."""
    if os.environ.get("DOCKER_TLS_VERIFY", ""):
        return True
    raise AnsibleFallbackNotFound


DOCKER_CONNECTION_ARGUMENT_SPEC = {
    "docker_host": {
        "type": "str",
        "default": DEFAULT_DOCKER_HOST,
        "fallback": (_env_nonempty, ["DOCKER_HOST"]),
    },
    "tls_verify": {"type": "bool", "default": True, "fallback": (_env_tls_verify,)},
    "cert_path": {"type": "path", "default": DEFAULT_CERT_PATH, "fallback": (_env_nonempty, ["DOCKER_CERT_PATH"])},
    "ca_cert": {"type": "path"},
    "client_cert": {"type": "path"},
    "client_key": {"type": "path"},
    "tls_hostname": {"type": "str", "fallback": (_env_nonempty, ["DOCKER_TLS_HOSTNAME"])},
    "use_system_ca_store": {"type": "bool", "default": False},
    "timeout": {"type": "float", "default": DEFAULT_TIMEOUT},
}
DOCKER_CONNECTION_REQUIRED_TOGETHER = [["client_cert", "client_key"]]

_FALSE_WORDS = {"0", "false", "no", "off", "n", "f"}


def environment_warnings(env: Mapping[str, str]) -> list[str]:
    """Warnings about environment variables that do not mean what their value suggests."""
    value = env.get("DOCKER_TLS_VERIFY", "")
    if value.strip().lower() in _FALSE_WORDS:
        return [
            f"DOCKER_TLS_VERIFY={value} still means 'verify': like the Docker CLI, any non-empty value turns "
            "verification on. To skip verification (not recommended), set tls_verify: false in the task."
        ]
    return []


# -- errors -------------------------------------------------------------------------------------------


class DockerAPIError(Exception):
    """A probe failure: ``kind`` is one of ERROR_KINDS and the message says what to do about it."""

    def __init__(
        self,
        kind: str,
        message: str,
        *,
        retryable: bool = False,
        server_cert: dict | None = None,
    ) -> None:
        super().__init__(message)
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}")
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.server_cert = server_cert
        self.attempts = 0
        self.elapsed = 0.0


def invalid_option(message: str) -> DockerAPIError:
    """Bad input: the message names the option."""
    return DockerAPIError("invalid_option", message)


# -- validating values ----------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A DNS name (labels of letters, digits, ``-`` and ``_``, an optional final dot), checked whole: fullmatch,
# since ``$`` would also match before a trailing newline.
_HOSTNAME = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)


def check_text(option: str, value: str | None) -> str | None:
    """``value`` unchanged, or bad input naming ``option`` when it holds a line break or another control character."""
    if value is not None and _CONTROL.search(str(value)):
        raise invalid_option(f"{option} {value!r} contains a line break or another control character")
    return value


def check_seconds(option: str, value, *, default: float, maximum: float, allow_zero: bool = False) -> float:
    """A number of seconds within (0 or more than 0, ``maximum``]; nan, infinities and text fail naming ``option``."""
    if value is None:
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise invalid_option(f"{option} {value!r} is not a number of seconds") from None
    lowest = "0 or more" if allow_zero else "more than 0"
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero) or seconds > maximum:
        raise invalid_option(f"{option} must be {lowest} and at most {maximum:g} seconds, got {value!r}")
    return seconds


def _check_hostname(option: str, host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOSTNAME.fullmatch(host):
            raise invalid_option(f"{option} {host!r} is not a host name or IP address") from None
    return host


# -- where to connect ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """A parsed ``docker_host``: ``tcp`` (always TLS) or ``unix``."""

    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""

    @property
    def url(self) -> str:
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"

    @property
    def is_ip(self) -> bool:
        try:
            ipaddress.ip_address(self.host)
        except ValueError:
            return False
        return True


def parse_docker_host(value: str | None) -> Endpoint:
    """``tcp://host[:port]`` (port 2376 when left out), ``https://...`` as a synonym, or ``unix:///path``."""
    text = check_text("docker_host", value or "")
    if not text.strip():
        raise invalid_option("docker_host is empty: give tcp://<host>:2376 or unix:///var/run/docker.sock")
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise invalid_option(f"docker_host {text!r} has no scheme: write tcp://{text} (TLS) or unix://{text}")
    if scheme == "unix":
        if not rest.startswith("/"):
            raise invalid_option(f"docker_host {text!r}: a unix socket needs an absolute path, as in unix:///path")
        return Endpoint("unix", path=rest)
    if scheme == "http":
        raise invalid_option(
            f"docker_host {text!r} asks for plain HTTP, which this module never uses: an unauthenticated "
            "Docker API is root on its host. Use tcp://<host>:2376 with TLS."
        )
    if scheme not in ("tcp", "https"):
        raise invalid_option(f"docker_host {text!r}: scheme {scheme}:// is not supported; use tcp:// or unix://")
    parts = urlsplit("//" + rest)
    try:
        port = parts.port
    except ValueError:
        raise invalid_option(f"docker_host {text!r} has an invalid port") from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise invalid_option(f"docker_host {text!r} is not of the form tcp://<host>:<port>")
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise invalid_option(f"docker_host {text!r} has an invalid port: give one from 1 to 65535")
    _check_hostname("docker_host", parts.hostname)
    return Endpoint("tcp", host=parts.hostname, port=port or DEFAULT_TLS_PORT)


@dataclass(frozen=True)
class ConnectionSettings:
    """Resolved connection options: files that exist, and where each came from (for error messages)."""

    endpoint: Endpoint
    tls_verify: bool = True
    ca_cert: str | None = None  # None: the system CA store
    ca_source: str = "the system CA store"
    client_cert: str | None = None
    client_key: str | None = None
    client_source: str = ""
    tls_hostname: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def uses_tls(self) -> bool:
        return self.endpoint.scheme == "tcp"

    @property
    def verify_name(self) -> str:
        return self.tls_hostname or self.endpoint.host


def _require_file(option: str, path: str) -> str:
    path = os.path.expanduser(path)
    if not os.path.exists(path):
        raise invalid_option(f"{option} {path} does not exist")
    if not os.path.isfile(path):
        raise invalid_option(f"{option} {path} is not a file")
    if not os.access(path, os.R_OK):
        raise invalid_option(f"{option} {path} is not readable by this user")
    return path


def resolve_connection(params: Mapping) -> ConnectionSettings:
    """Turn module parameters into settings, failing on bad input before any connection is made.

    Like the Docker CLI: ``ca.pem``/``cert.pem``/``key.pem`` in ``cert_path`` are used when present;
    ``ca_cert``/``client_cert``/``client_key`` given explicitly must exist. Without a CA file the system
    CA store verifies the daemon only with ``use_system_ca_store``; without client files no client
    certificate is sent.
    """
    endpoint = parse_docker_host(params.get("docker_host"))
    timeout = check_seconds("timeout", params.get("timeout"), default=DEFAULT_TIMEOUT, maximum=MAX_TIMEOUT)
    for option in ("cert_path", "ca_cert", "client_cert", "client_key", "tls_hostname"):
        check_text(option, params.get(option))
    tls_hostname = params.get("tls_hostname") or None
    if tls_hostname is not None:
        _check_hostname("tls_hostname", tls_hostname)
    tls_verify = params.get("tls_verify")
    tls_verify = True if tls_verify is None else bool(tls_verify)
    if endpoint.scheme == "unix":
        # A local socket is protected by file permissions; the TLS options do not apply.
        return ConnectionSettings(endpoint, tls_verify=tls_verify, timeout=timeout, ca_source="")

    cert_dir = os.path.expanduser(params.get("cert_path") or DEFAULT_CERT_PATH)
    # The default may be missing (then: no client certificate); a directory asked for must exist.
    if cert_dir != os.path.expanduser(DEFAULT_CERT_PATH) and not os.path.isdir(cert_dir):
        raise invalid_option(f"cert_path {cert_dir} is not a directory (it should hold ca.pem, cert.pem and key.pem)")

    client_cert, client_key, client_source = _resolve_client_pair(
        params.get("client_cert"), params.get("client_key"), cert_dir
    )
    ca_cert, ca_source = _resolve_ca(
        params.get("ca_cert"), cert_dir, use_system_store=bool(params.get("use_system_ca_store")), verify=tls_verify
    )
    return ConnectionSettings(
        endpoint,
        tls_verify=tls_verify,
        ca_cert=ca_cert,
        ca_source=ca_source,
        client_cert=client_cert,
        client_key=client_key,
        client_source=client_source,
        tls_hostname=tls_hostname,
        timeout=timeout,
    )


def _resolve_ca(ca_cert: str | None, cert_dir: str, *, use_system_store: bool, verify: bool) -> tuple[str | None, str]:
    """The CA file to trust and how it was chosen; None means the system CA store (only when asked for).

    Like the Docker CLI, a missing CA file is an error rather than a silent switch to the system store:
    a self-made Docker CA is never in it, and any public CA in it could then vouch for a Docker host.
    """
    if ca_cert:
        ca_cert = _require_file("ca_cert", ca_cert)
        return ca_cert, f"ca_cert {ca_cert}"
    default_ca = os.path.join(cert_dir, "ca.pem")
    if os.path.isfile(default_ca):
        return default_ca, f"{default_ca} (from cert_path)"
    if use_system_store or not verify:
        return None, f"the system CA store ({default_ca} does not exist)"
    raise invalid_option(
        f"no CA to verify the daemon with: ca_cert is not set and {default_ca} does not exist. Set ca_cert (or "
        "cert_path) to the ca.pem of the CA that issued the daemon's certificate, or set use_system_ca_store: "
        "true if a CA in this system's trust store issued it."
    )


def _resolve_client_pair(cert: str | None, key: str | None, cert_dir: str) -> tuple[str | None, str | None, str]:
    """The client certificate and key to present (or none) and how they were chosen."""
    if bool(cert) != bool(key):
        raise invalid_option("client_cert and client_key must be given together")
    if cert and key:
        cert, key = _require_file("client_cert", cert), _require_file("client_key", key)
        return cert, key, f"client_cert {cert}"
    default_cert, default_key = os.path.join(cert_dir, "cert.pem"), os.path.join(cert_dir, "key.pem")
    has_cert, has_key = os.path.isfile(default_cert), os.path.isfile(default_key)
    if has_cert != has_key:
        present, missing = (default_cert, default_key) if has_cert else (default_key, default_cert)
        raise invalid_option(f"cert_path {cert_dir} has {os.path.basename(present)} but no {os.path.basename(missing)}")
    if has_cert:
        return default_cert, default_key, f"{default_cert} (from cert_path)"
    return None, None, f"no client certificate was sent: neither client_cert is set nor {default_cert} exists"
