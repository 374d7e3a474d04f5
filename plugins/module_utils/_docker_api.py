# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to the dockerhost.azure collection: no compatibility promise, it may change
# in any release. Do not use it from other collections or from your own plugins.

"""A small Docker Engine API client over mutual TLS that says exactly what is wrong.

Three GETs do not need the Docker SDK or requests: stdlib ``ssl`` gives us the TLS policy we want (TLS 1.2
minimum, hostname checks against another name than the one connected to, no environment variable that
silently swaps the trust store) and ``http.client`` speaks HTTP/1.1 over the socket we opened ourselves,
so every step has a timeout and every failure can be classified from the exception that caused it.

The connection option set shared by the modules (``docker_host``, ``tls_verify``, ``cert_path``, ...) is
defined here once, next to its documentation in ``plugins/doc_fragments/docker.py``.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import json
import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ansible.module_utils.errors import AnsibleFallbackNotFound

__all__ = [
    "DEFAULT_CERT_PATH",
    "DEFAULT_DOCKER_HOST",
    "DEFAULT_TLS_PORT",
    "DOCKER_CONNECTION_ARGUMENT_SPEC",
    "DOCKER_CONNECTION_REQUIRED_TOGETHER",
    "ERROR_KINDS",
    "INFO_KEYS",
    "ConnectionSettings",
    "DockerAPIError",
    "Endpoint",
    "ProbeResult",
    "backoff_delays",
    "build_ssl_context",
    "classify_connection_error",
    "classify_tls_error",
    "describe_certificate",
    "environment_warnings",
    "parse_api_version",
    "parse_docker_host",
    "probe_daemon",
    "resolve_connection",
]

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_CERT_PATH = "~/.docker"
DEFAULT_TLS_PORT = 2376
DEFAULT_TIMEOUT = 10.0

# Every failure carries one of these; the module documents each.
ERROR_KINDS = (
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
)

# The part of GET /info worth returning: what the host is, how big, and what it warns about.
INFO_KEYS = (
    "ID",
    "Name",
    "ServerVersion",
    "OperatingSystem",
    "OSType",
    "OSVersion",
    "Architecture",
    "KernelVersion",
    "NCPU",
    "MemTotal",
    "Containers",
    "ContainersRunning",
    "ContainersPaused",
    "ContainersStopped",
    "Images",
    "Driver",
    "DockerRootDir",
    "LoggingDriver",
    "CgroupDriver",
    "CgroupVersion",
    "SecurityOptions",
    "Warnings",
)

_MAX_BODY = 4 * 1024 * 1024  # /info is a few KiB; anything this large is not a Docker daemon
_BACKOFF_FIRST = 0.05
_BACKOFF_CAP = 0.25  # a daemon that starts answering is seen within about this long
_USER_AGENT = "dockerhost.azure-docker_host_probe"


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


def _invalid(message: str) -> DockerAPIError:
    return DockerAPIError("invalid_option", message)


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
    text = (value or "").strip()
    if not text:
        raise _invalid("docker_host is empty: give tcp://<host>:2376 or unix:///var/run/docker.sock")
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise _invalid(f"docker_host {text!r} has no scheme: write tcp://{text} (TLS) or unix://{text}")
    if scheme == "unix":
        if not rest.startswith("/"):
            raise _invalid(f"docker_host {text!r}: a unix socket needs an absolute path, as in unix:///path")
        return Endpoint("unix", path=rest)
    if scheme == "http":
        raise _invalid(
            f"docker_host {text!r} asks for plain HTTP, which this module never uses: an unauthenticated "
            "Docker API is root on its host. Use tcp://<host>:2376 with TLS."
        )
    if scheme not in ("tcp", "https"):
        raise _invalid(f"docker_host {text!r}: scheme {scheme}:// is not supported; use tcp:// or unix://")
    parts = urlsplit("//" + rest)
    try:
        port = parts.port
    except ValueError:
        raise _invalid(f"docker_host {text!r} has an invalid port") from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise _invalid(f"docker_host {text!r} is not of the form tcp://<host>:<port>")
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
        raise _invalid(f"{option} {path} does not exist")
    if not os.path.isfile(path):
        raise _invalid(f"{option} {path} is not a file")
    if not os.access(path, os.R_OK):
        raise _invalid(f"{option} {path} is not readable by this user")
    return path


def resolve_connection(params: Mapping) -> ConnectionSettings:
    """Turn module parameters into settings, failing on bad input before any connection is made.

    Like the Docker CLI: ``ca.pem``/``cert.pem``/``key.pem`` in ``cert_path`` are used when present;
    ``ca_cert``/``client_cert``/``client_key`` given explicitly must exist. Without a CA file the system
    CA store verifies the daemon; without client files no client certificate is sent.
    """
    endpoint = parse_docker_host(params.get("docker_host"))
    timeout = params.get("timeout")
    timeout = DEFAULT_TIMEOUT if timeout is None else float(timeout)
    if timeout <= 0:
        raise _invalid(f"timeout must be more than 0 seconds, got {timeout:g}")
    tls_verify = params.get("tls_verify")
    tls_verify = True if tls_verify is None else bool(tls_verify)
    if endpoint.scheme == "unix":
        # A local socket is protected by file permissions; the TLS options do not apply.
        return ConnectionSettings(endpoint, tls_verify=tls_verify, timeout=timeout, ca_source="")

    cert_dir = os.path.expanduser(params.get("cert_path") or DEFAULT_CERT_PATH)
    # The default may be missing (then: system CA store, no client certificate); a directory asked for must exist.
    if cert_dir != os.path.expanduser(DEFAULT_CERT_PATH) and not os.path.isdir(cert_dir):
        raise _invalid(f"cert_path {cert_dir} is not a directory (it should hold ca.pem, cert.pem and key.pem)")

    ca_cert, ca_source = _resolve_ca(params.get("ca_cert"), cert_dir)
    client_cert, client_key, client_source = _resolve_client_pair(
        params.get("client_cert"), params.get("client_key"), cert_dir
    )
    return ConnectionSettings(
        endpoint,
        tls_verify=tls_verify,
        ca_cert=ca_cert,
        ca_source=ca_source,
        client_cert=client_cert,
        client_key=client_key,
        client_source=client_source,
        tls_hostname=params.get("tls_hostname") or None,
        timeout=timeout,
    )


def _resolve_ca(ca_cert: str | None, cert_dir: str) -> tuple[str | None, str]:
    """The CA file to trust and how it was chosen; None means the system CA store."""
    if ca_cert:
        ca_cert = _require_file("ca_cert", ca_cert)
        return ca_cert, f"ca_cert {ca_cert}"
    default_ca = os.path.join(cert_dir, "ca.pem")
    if os.path.isfile(default_ca):
        return default_ca, f"{default_ca} (from cert_path)"
    return None, f"the system CA store ({default_ca} does not exist)"


def _resolve_client_pair(cert: str | None, key: str | None, cert_dir: str) -> tuple[str | None, str | None, str]:
    """The client certificate and key to present (or none) and how they were chosen."""
    if bool(cert) != bool(key):
        raise _invalid("client_cert and client_key must be given together")
    if cert and key:
        cert, key = _require_file("client_cert", cert), _require_file("client_key", key)
        return cert, key, f"client_cert {cert}"
    default_cert, default_key = os.path.join(cert_dir, "cert.pem"), os.path.join(cert_dir, "key.pem")
    has_cert, has_key = os.path.isfile(default_cert), os.path.isfile(default_key)
    if has_cert != has_key:
        present, missing = (default_cert, default_key) if has_cert else (default_key, default_cert)
        raise _invalid(f"cert_path {cert_dir} has {os.path.basename(present)} but no {os.path.basename(missing)}")
    if has_cert:
        return default_cert, default_key, f"{default_cert} (from cert_path)"
    return None, None, f"no client certificate was sent: neither client_cert is set nor {default_cert} exists"


def build_ssl_context(settings: ConnectionSettings) -> ssl.SSLContext:
    """TLS 1.2 or later, the daemon verified against ``ca_cert`` unless ``tls_verify`` is false."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.tls_verify:
        if settings.ca_cert:
            try:
                ctx.load_verify_locations(cafile=settings.ca_cert)
            except (ssl.SSLError, OSError) as exc:
                raise _invalid(f"ca_cert {settings.ca_cert} is not a PEM CA certificate ({_reason(exc)})") from None
        else:
            ctx.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if settings.client_cert and settings.client_key:
        _load_client_pair(ctx, settings.client_cert, settings.client_key)
    return ctx


def _load_client_pair(ctx: ssl.SSLContext, cert: str, key: str) -> None:
    try:
        with open(cert, encoding="ascii", errors="replace") as handle:
            is_pem_cert = "-----BEGIN CERTIFICATE-----" in handle.read()
    except OSError as exc:
        raise _invalid(f"client_cert {cert} cannot be read: {exc.strerror}") from None
    if not is_pem_cert:
        raise _invalid(f"client_cert {cert} is not a PEM certificate")
    asked_for_password = []

    def no_password() -> bytes:
        # Never prompt on a terminal: an encrypted key is reported, not unlocked.
        asked_for_password.append(True)
        return b""

    try:
        ctx.load_cert_chain(cert, key, password=no_password)
    except (ssl.SSLError, OSError) as exc:
        if asked_for_password:
            raise _invalid(
                f"client_key {key} is encrypted; give an unencrypted key (as the Docker CLI needs)"
            ) from None
        if getattr(exc, "reason", None) == "KEY_VALUES_MISMATCH":
            raise _invalid(f"client_key {key} is not the private key of client_cert {cert}") from None
        raise _invalid(f"client_key {key} is not a PEM private key for client_cert {cert} ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or exc.strerror or str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


# -- certificates, read without third-party libraries --------------------------------------------------

# Attribute names RFC 4514 gives short names to; any other attribute is written as its dotted OID.
_NAME_OIDS = {
    "2.5.4.3": "CN",
    "2.5.4.6": "C",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.9": "STREET",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "0.9.2342.19200300.100.1.1": "UID",
    "0.9.2342.19200300.100.1.25": "DC",
}
_OID_SAN = "2.5.29.17"
_STRING_TAGS = {
    0x0C: "utf-8",  # UTF8String
    0x12: "ascii",  # NumericString
    0x13: "ascii",  # PrintableString
    0x14: "latin-1",  # TeletexString
    0x16: "ascii",  # IA5String
    0x1A: "ascii",  # VisibleString
    0x1C: "utf-32-be",  # UniversalString
    0x1E: "utf-16-be",  # BMPString
}
# RFC 4514 section 2.4: characters escaped anywhere in an attribute value.
_DN_SPECIALS = {"\\": "\\\\", '"': '\\"', "+": "\\+", ",": "\\,", ";": "\\;", "<": "\\<", ">": "\\>", "\0": "\\00"}


def _der_item(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the DER item at ``pos``; ValueError when malformed."""
    if pos + 2 > end:
        raise ValueError("truncated DER")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos : pos + count], "big")
        pos += count
    if pos + length > end:
        raise ValueError("DER item overruns its container")
    return tag, pos, pos + length


def _der_children(data: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    items, pos = [], start
    while pos < end:
        item = _der_item(data, pos, end)
        items.append(item)
        pos = item[2]
    return items


def _der_oid(raw: bytes) -> str:
    if not raw:
        raise ValueError("empty OID")
    parts = [min(raw[0] // 40, 2), raw[0] - 40 * min(raw[0] // 40, 2)]
    value = 0
    for byte in raw[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def _dn_value(tag: int, raw: bytes) -> str:
    """An attribute value as RFC 4514 writes it: escaped text, or ``#`` and hex for a non-string type."""
    if tag not in _STRING_TAGS:
        return "#" + raw.hex()
    value = "".join(_DN_SPECIALS.get(char, char) for char in raw.decode(_STRING_TAGS[tag], errors="replace"))
    if value.startswith("#") or (value.startswith(" ") and len(value) > 1):
        value = "\\" + value
    if value.endswith(" "):
        value = value[:-1] + "\\ "
    return value


def _der_name(data: bytes, start: int, end: int) -> str:
    """An X.501 Name as an RFC 4514 string, ``CN=...,O=...``: the last RDN of the certificate first."""
    rdns = []
    for _set_tag, set_start, set_end in _der_children(data, start, end):
        attributes = []
        for _seq_tag, seq_start, seq_end in _der_children(data, set_start, set_end):
            (_oid_tag, oid_start, oid_end), (value_tag, value_start, value_end) = _der_children(
                data, seq_start, seq_end
            )[:2]
            oid = _der_oid(data[oid_start:oid_end])
            attributes.append(f"{_NAME_OIDS.get(oid, oid)}={_dn_value(value_tag, data[value_start:value_end])}")
        rdns.append("+".join(attributes))
    return ",".join(reversed(rdns))


def _der_time(tag: int, raw: bytes) -> str:
    text = raw.decode("ascii")
    if tag == 0x17:  # UTCTime, YYMMDDHHMMSSZ; RFC 5280: 50-99 are 19xx
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif tag != 0x18:
        raise ValueError("not a time")
    return f"{text[0:4]}-{text[4:6]}-{text[6:8]}T{text[8:10]}:{text[10:12]}:{text[12:14]}+00:00"


def _der_sans(data: bytes, start: int, end: int) -> list[str]:
    sans = []
    for tag, item_start, item_end in _der_children(data, start, end):
        raw = data[item_start:item_end]
        if tag == 0x82:
            sans.append("DNS:" + raw.decode("ascii", errors="replace"))
        elif tag == 0x87:
            sans.append(f"IP:{ipaddress.ip_address(raw)}")
        elif tag == 0x86:
            sans.append("URI:" + raw.decode("ascii", errors="replace"))
        elif tag == 0x81:
            sans.append("email:" + raw.decode("ascii", errors="replace"))
    return sans


def describe_certificate(der: bytes) -> dict:
    """Subject, issuer, SANs, validity and SHA-256 fingerprint of a DER certificate.

    A few dozen lines of DER reading keep the probe free of third-party libraries; a certificate this
    reader cannot follow still gets its fingerprint. The formats are docker_tls_certs' (which reads
    certificates with cryptography), so results of the two compare as they are: names as RFC 4514
    strings, times in ISO 8601 with ``+00:00``, the fingerprint in lower-case hex without separators.
    A unit test holds this reader to cryptography's reading of the same certificates.
    """
    described: dict = {
        "subject": None,
        "issuer": None,
        "sans": [],
        "not_before": None,
        "not_after": None,
        "sha256_fingerprint": hashlib.sha256(der).hexdigest(),
    }
    try:
        _tag, cert_start, cert_end = _der_item(der, 0, len(der))
        _tag, tbs_start, tbs_end = _der_children(der, cert_start, cert_end)[0]
        fields = _der_children(der, tbs_start, tbs_end)
        if fields and fields[0][0] == 0xA0:  # explicit version
            fields = fields[1:]
        _serial, _sig_alg, issuer, validity, subject = fields[:5]
        described["issuer"] = _der_name(der, issuer[1], issuer[2])
        described["subject"] = _der_name(der, subject[1], subject[2])
        (nb_tag, nb_start, nb_end), (na_tag, na_start, na_end) = _der_children(der, validity[1], validity[2])
        described["not_before"] = _der_time(nb_tag, der[nb_start:nb_end])
        described["not_after"] = _der_time(na_tag, der[na_start:na_end])
        for tag, start, end in fields[6:]:
            if tag != 0xA3:
                continue
            (_seq, ext_start, ext_end) = _der_children(der, start, end)[0]
            for _ext_tag, one_start, one_end in _der_children(der, ext_start, ext_end):
                parts = _der_children(der, one_start, one_end)
                if _der_oid(der[parts[0][1] : parts[0][2]]) == _OID_SAN:
                    _value_tag, value_start, value_end = parts[-1]
                    _names_tag, names_start, names_end = _der_item(der, value_start, value_end)
                    described["sans"] = _der_sans(der, names_start, names_end)
    except (ValueError, IndexError, UnicodeDecodeError):
        pass
    return described


# -- error classification ----------------------------------------------------------------------------

# What OpenSSL reports when the peer answers a ClientHello with something that is not TLS (plain HTTP
# answers "HTTP/1.1 400 Bad Request", which OpenSSL reads as a record with a wrong version).
_NOT_TLS_REASONS = {
    "WRONG_VERSION_NUMBER",
    "RECORD_LAYER_FAILURE",
    "PACKET_LENGTH_TOO_LONG",
    "UNKNOWN_PROTOCOL",
    "HTTP_REQUEST",
    "HTTPS_PROXY_REQUEST",
}
# Alerts a server sends when it refuses the client certificate (or the lack of one).
_CLIENT_REJECTED_REASONS = {
    "SSLV3_ALERT_BAD_CERTIFICATE",
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE",
    "SSLV3_ALERT_CERTIFICATE_REVOKED",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED",
    "TLSV1_ALERT_UNKNOWN_CA",
    "TLSV1_ALERT_ACCESS_DENIED",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED",
}
# X509_V_ERR_* codes from certificate verification on our side.
_VERIFY_EXPIRED = {9, 10}  # not yet valid, expired
_VERIFY_HOSTNAME = {62, 64}  # hostname mismatch, IP address mismatch


def _cert_summary(cert: dict | None) -> str:
    if not cert or not cert.get("subject"):
        return "the daemon's certificate"
    return f"the daemon's certificate ({cert['subject']}, issued by {cert['issuer']})"


def classify_tls_error(
    exc: ssl.SSLError,
    settings: ConnectionSettings,
    *,
    server_cert: dict | None = None,
    handshake_done: bool = False,
) -> DockerAPIError:
    """Map a TLS failure to an error kind and a message a person can act on.

    Verification errors are ours (the daemon's certificate does not check out); alerts are the daemon's
    (it refused our client certificate); a record that is not TLS means the port speaks plain HTTP.
    """
    url = settings.endpoint.url
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _verification_failed(exc, settings, server_cert)
    reason = exc.reason or ""
    if reason in _CLIENT_REJECTED_REASONS:
        return _client_rejected(settings, reason)
    if reason in _NOT_TLS_REASONS:
        return DockerAPIError(
            "not_tls",
            f"{url} answered the TLS handshake with something that is not TLS ({reason}): most likely a "
            "Docker daemon listening with plain HTTP, which lets anyone who reaches the port run commands as "
            "root on that host. Close the port, then configure tls, tlsverify, tlscacert, tlscert and tlskey "
            "in the daemon's daemon.json.",
        )
    if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
        return _closed(settings, handshake_done)
    return DockerAPIError(
        "tls_protocol",
        f"{url}: TLS handshake failed ({reason or exc}). This client requires TLS 1.2 or later; check the "
        "daemon's TLS settings.",
    )


def _verification_failed(
    exc: ssl.SSLCertVerificationError, settings: ConnectionSettings, server_cert: dict | None
) -> DockerAPIError:
    """Our side refused the daemon's certificate: wrong name, outside its validity, or an unknown issuer."""
    url = settings.endpoint.url
    code = exc.verify_code
    if code in _VERIFY_HOSTNAME:
        return _hostname_mismatch(settings, server_cert)
    if code in _VERIFY_EXPIRED:
        cert = server_cert or {}
        if code == 9:
            when = f"is not valid before {cert['not_before']}" if cert.get("not_before") else "is not valid yet"
        else:
            when = f"expired on {cert['not_after']}" if cert.get("not_after") else "has expired"
        return DockerAPIError(
            "tls_expired",
            f"{url}: {_cert_summary(server_cert)} {when}. Renew the server certificate "
            "(dockerhost.azure.docker_tls_certs) and restart the daemon; also check both clocks.",
            server_cert=server_cert,
        )
    return DockerAPIError(
        "tls_unknown_ca",
        f"{url}: {_cert_summary(server_cert)} does not verify against {settings.ca_source}: "
        f"{exc.verify_message}. Trust the CA that issued the daemon's certificate: set ca_cert (or "
        "cert_path) to its ca.pem, the one docker_tls_certs wrote next to your client certificate.",
        server_cert=server_cert,
    )


def _hostname_mismatch(settings: ConnectionSettings, server_cert: dict | None) -> DockerAPIError:
    names = ", ".join((server_cert or {}).get("sans") or []) or "no subject alternative names"
    message = (
        f"{settings.endpoint.url}: the daemon's certificate is not valid for {settings.verify_name!r}; "
        f"it names {names}."
    )
    if settings.tls_hostname:
        message += " Set tls_hostname to a name the certificate lists, or reissue the certificate with this name."
    elif settings.endpoint.is_ip:
        message += (
            " When you connect by IP address, set tls_hostname (or DOCKER_TLS_HOSTNAME) to the name on the "
            "certificate, such as the VM's FQDN, or add the IP to the certificate (docker_tls_certs ip_addresses)."
        )
    else:
        message += " Connect by a name the certificate lists, set tls_hostname, or reissue the certificate."
    return DockerAPIError("tls_hostname_mismatch", message, server_cert=server_cert)


def _client_rejected(settings: ConnectionSettings, reason: str, *, certain: bool = True) -> DockerAPIError:
    url = settings.endpoint.url
    how = f"refused this client ({reason})" if certain else "closed the connection right after the TLS handshake"
    if not settings.client_cert:
        detail = (
            f"{url} {how}: {settings.client_source}. The daemon requires a client certificate signed by the CA "
            "it trusts (its tlscacert): set cert_path or client_cert and client_key."
        )
    elif reason == "SSLV3_ALERT_CERTIFICATE_EXPIRED":
        detail = f"{url} {how}: the client certificate {settings.client_cert} has expired; issue a new one."
    else:
        detail = (
            f"{url} {how}: it does not accept the client certificate {settings.client_cert}. Use a client "
            "certificate issued by the CA the daemon trusts (its tlscacert), the one that issued its own."
        )
    if not certain:
        detail += " (That is how a Docker daemon refuses a client certificate; no TLS alert arrived to confirm it.)"
    return DockerAPIError("tls_client_rejected", detail, retryable=not certain)


def _closed(settings: ConnectionSettings, handshake_done: bool) -> DockerAPIError:
    if handshake_done and settings.uses_tls:
        # TLS 1.3: the daemon checks our certificate after our side of the handshake is done, so a refusal
        # shows up as a closed connection when its alert is lost. Retry: the next attempt usually gets it.
        return _client_rejected(settings, "connection closed", certain=False)
    return DockerAPIError(
        "connection_refused",
        f"{settings.endpoint.url} closed the connection during the TLS handshake: the daemon may be "
        "restarting, or something other than dockerd holds the port.",
        retryable=True,
    )


def classify_connection_error(
    exc: BaseException, settings: ConnectionSettings, step: str, *, handshake_done: bool = False
) -> DockerAPIError:
    """Map a socket-level failure during ``step`` (``lookup``, ``connect``, ``handshake`` or a request)."""
    url = settings.endpoint.url
    if isinstance(exc, TimeoutError):
        kind = "dns" if step == "lookup" else "timeout"
        return DockerAPIError(kind, _timeout_message(settings, step), retryable=True)
    if isinstance(exc, socket.gaierror):
        return DockerAPIError(
            "dns",
            f"{url}: the name {settings.endpoint.host!r} does not resolve ({exc.strerror}). Check the "
            "spelling, or connect by IP address and set tls_hostname to the name on the certificate.",
            retryable=True,
        )
    if isinstance(exc, ssl.SSLError):
        return classify_tls_error(exc, settings, handshake_done=handshake_done)
    if settings.endpoint.scheme == "unix" and step == "connect":
        return _unix_connect_error(exc, settings)
    return _socket_error(exc, settings, step, handshake_done)


def _unix_connect_error(exc: BaseException, settings: ConnectionSettings) -> DockerAPIError:
    path = settings.endpoint.path
    if isinstance(exc, FileNotFoundError):
        detail = f"there is no socket at {path}: dockerd is not running on this machine"
    elif isinstance(exc, PermissionError):
        detail = f"permission denied on {path}: run as root or as a member of the docker group"
    else:
        detail = f"{_reason(exc)} on {path}: dockerd is not running or the socket is stale"
    return DockerAPIError(
        "connection_refused",
        f"{settings.endpoint.url}: {detail}. To reach a remote daemon set docker_host to tcp://<host>:2376.",
        retryable=True,
    )


def _socket_error(exc: BaseException, settings: ConnectionSettings, step: str, handshake_done: bool) -> DockerAPIError:
    url = settings.endpoint.url
    if isinstance(exc, ConnectionRefusedError):
        return DockerAPIError(
            "connection_refused",
            f"{url}: connection refused: nothing listens on port {settings.endpoint.port} there. Is the "
            "daemon running, listening on that address and port (daemon.json hosts), and is the port open?",
            retryable=True,
        )
    if isinstance(exc, ConnectionError | http.client.IncompleteRead | EOFError):
        if step == "handshake" or (handshake_done and step == "GET /_ping"):
            return _closed(settings, handshake_done)
        return DockerAPIError(
            "http_error",
            f"{url}: the daemon dropped the connection during {step} ({_reason(exc)}).",
            retryable=True,
        )
    if isinstance(exc, http.client.HTTPException):
        return DockerAPIError(
            "http_error",
            f"{url}: {step} got an answer that is not HTTP ({type(exc).__name__}): this is not a Docker daemon.",
        )
    return DockerAPIError(
        "connection_refused",
        f"{url}: cannot connect ({_reason(exc)}): check the address, routes and firewalls.",
        retryable=True,
    )


def _timeout_message(settings: ConnectionSettings, step: str) -> str:
    url, wait = settings.endpoint.url, f"{settings.timeout:g}s"
    if step == "lookup":
        return (
            f"{url}: looking up {settings.endpoint.host!r} got no answer within {wait}: the DNS server is unreachable."
        )
    if step == "connect":
        return (
            f"{url}: no answer to the TCP connection within {wait}: a firewall or network security group "
            "drops the traffic, or the host is down."
        )
    if step == "handshake":
        return (
            f"{url}: the port accepts TCP connections but nothing answered the TLS handshake within {wait}: "
            "a daemon still starting, or something other than dockerd (a proxy or a stuck service) holds it."
        )
    return f"{url}: {step} got no answer within {wait}: the daemon is overloaded or stuck."


# -- one attempt -------------------------------------------------------------------------------------


class _Watchdog:
    """Shuts the socket down at the deadline, so no read can outlast it (slow answers included)."""

    def __init__(self, deadline: float) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self.fired = False
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock

    def _fire(self) -> None:
        with self._lock:
            if self._sock is not None:
                self.fired = True
                # The plain socket method: SSLSocket.shutdown would also tear down the TLS state that the
                # reading thread is using.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        with self._lock:
            self._sock = None
        self._timer.cancel()


def _step_timeout(settings: ConnectionSettings, deadline: float, step: str) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DockerAPIError("timeout", _timeout_message(settings, step), retryable=True)
    return min(settings.timeout, remaining)


def _resolve(settings: ConnectionSettings, deadline: float) -> list:
    host, port = settings.endpoint.host, settings.endpoint.port
    if settings.endpoint.is_ip:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    # getaddrinfo has no timeout of its own: run it aside and stop waiting at the deadline.
    outcome: dict = {}

    def lookup() -> None:
        try:
            outcome["addresses"] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=lookup, name="docker-host-lookup", daemon=True)
    worker.start()
    worker.join(_step_timeout(settings, deadline, "lookup"))
    if worker.is_alive():
        raise TimeoutError("lookup")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["addresses"]


def _connect(settings: ConnectionSettings, deadline: float, watchdog: _Watchdog) -> socket.socket:
    if settings.endpoint.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        watchdog.watch(sock)
        try:
            sock.settimeout(_step_timeout(settings, deadline, "connect"))
            sock.connect(settings.endpoint.path)
        except BaseException:
            sock.close()
            raise
        return sock
    try:
        addresses = _resolve(settings, deadline)
    except OSError as exc:
        raise classify_connection_error(exc, settings, "lookup") from None
    first_error: OSError | None = None
    for family, kind, proto, _name, address in addresses:
        sock = socket.socket(family, kind, proto)
        watchdog.watch(sock)
        try:
            sock.settimeout(_step_timeout(settings, deadline, "connect"))
            sock.connect(address)
        except OSError as exc:
            sock.close()
            first_error = first_error or exc
            continue
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise first_error or OSError("no address")


def _fetch_server_certificate(settings: ConnectionSettings, deadline: float) -> dict | None:
    """Read the daemon's certificate without trusting it, only to explain a verification failure.

    Nothing is sent on this connection beyond the handshake (no client certificate, no request).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    watchdog = _Watchdog(min(deadline, time.monotonic() + settings.timeout))
    try:
        raw = _connect(settings, deadline, watchdog)
        with ctx.wrap_socket(raw, server_hostname=settings.verify_name, do_handshake_on_connect=False) as tls:
            watchdog.watch(tls)
            tls.do_handshake()
            der = tls.getpeercert(binary_form=True)
    except (OSError, DockerAPIError, ValueError):
        return None
    finally:
        watchdog.cancel()
    return describe_certificate(der) if der else None


class _APIConnection(http.client.HTTPConnection):
    """HTTP/1.1 over the socket we opened and verified; it never opens another one by itself."""

    def __init__(self, sock: socket.socket, host: str, port: int) -> None:
        super().__init__(host, port)
        self.sock = sock

    def connect(self) -> None:
        raise ConnectionResetError("the daemon closed the connection")


def _pending_alert(sock: ssl.SSLSocket, deadline: float) -> ssl.SSLError | None:
    """After a failed write, read what the daemon sent before closing: usually the TLS alert saying why."""
    try:
        sock.settimeout(max(0.001, min(0.5, deadline - time.monotonic())))
        sock.recv(1)
    except ssl.SSLError as exc:
        if exc.reason in _CLIENT_REJECTED_REASONS:
            return exc
    except OSError:
        pass
    return None


def _get(conn: _APIConnection, path: str, settings: ConnectionSettings, deadline: float, sock) -> tuple:
    step = f"GET {path}"
    sock.settimeout(_step_timeout(settings, deadline, step))
    try:
        conn.request("GET", path, headers={"User-Agent": _USER_AGENT, "Accept": "application/json"})
    except OSError as exc:
        alert = _pending_alert(sock, deadline) if isinstance(sock, ssl.SSLSocket) else None
        raise (alert or exc) from None
    response = conn.getresponse()
    body = response.read(_MAX_BODY + 1)
    if len(body) > _MAX_BODY:
        raise DockerAPIError("http_error", f"{settings.endpoint.url}: {step} answered more than 4 MiB.")
    if response.status != 200:
        raise _http_status_error(settings, step, response.status, body)
    return response, body


def _http_status_error(settings: ConnectionSettings, step: str, status: int, body: bytes) -> DockerAPIError:
    detail = body[:300].decode("utf-8", errors="replace").strip()
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        detail = parsed["message"][:300]
    hint = " Is this a Docker daemon?" if status == 404 else ""
    return DockerAPIError(
        "http_error",
        f"{settings.endpoint.url}: {step} answered HTTP {status}: {detail or 'no details'}.{hint}",
        retryable=status >= 500,
    )


def _get_json(conn: _APIConnection, path: str, settings: ConnectionSettings, deadline: float, sock) -> dict:
    _response, body = _get(conn, path, settings, deadline, sock)
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise DockerAPIError("http_error", f"{settings.endpoint.url}: GET {path} did not answer a JSON object.")
    return parsed


def _attempt(settings: ConnectionSettings, ctx: ssl.SSLContext | None, deadline: float) -> dict:
    """Connect, shake hands, GET /_ping, /version and /info over one connection; raise DockerAPIError."""
    watchdog = _Watchdog(deadline)
    sock: socket.socket | None = None
    step, handshake_done = "connect", False
    try:
        try:
            sock = _connect(settings, deadline, watchdog)
            server_cert = None
            if ctx is not None:
                step = "handshake"
                sock = ctx.wrap_socket(sock, server_hostname=settings.verify_name, do_handshake_on_connect=False)
                watchdog.watch(sock)
                sock.settimeout(_step_timeout(settings, deadline, step))
                sock.do_handshake()
                handshake_done = True
                der = sock.getpeercert(binary_form=True)
                server_cert = dict(describe_certificate(der), verified=settings.tls_verify) if der else None
            host = settings.endpoint.host if ctx is not None else "localhost"
            conn = _APIConnection(sock, host, settings.endpoint.port or None)
            step = "GET /_ping"
            response, body = _get(conn, "/_ping", settings, deadline, sock)
            if not response.getheader("Api-Version"):
                raise DockerAPIError(
                    "http_error",
                    f"{settings.endpoint.url}: /_ping answered without an Api-Version header: not a Docker daemon.",
                )
            step = "GET /version"
            version = _get_json(conn, "/version", settings, deadline, sock)
            step = "GET /info"
            info = _get_json(conn, "/info", settings, deadline, sock)
        except DockerAPIError:
            raise
        except ssl.SSLCertVerificationError as exc:
            cert = _fetch_server_certificate(settings, deadline)
            raise classify_tls_error(exc, settings, server_cert=cert) from None
        except (OSError, http.client.HTTPException, EOFError) as exc:
            cause = TimeoutError(step) if watchdog.fired or time.monotonic() >= deadline else exc
            raise classify_connection_error(cause, settings, step, handshake_done=handshake_done) from None
    finally:
        watchdog.cancel()
        if sock is not None:
            sock.close()
    return {
        "ping": body.decode("utf-8", errors="replace").strip(),
        "version": version,
        "info": {key: info[key] for key in INFO_KEYS if key in info},
        "server_cert": server_cert,
    }


# -- waiting -----------------------------------------------------------------------------------------


def backoff_delays(first: float = _BACKOFF_FIRST, cap: float = _BACKOFF_CAP) -> Iterator[float]:
    """Pauses between attempts: doubling from ``first``, never more than ``cap``."""
    delay = first
    while True:
        yield min(delay, cap)
        delay = min(delay * 2, cap)


_API_VERSION = re.compile(r"^\s*(\d+)\.(\d+)\s*$")


def parse_api_version(value: str | None, option: str = "min_api_version") -> tuple[int, int] | None:
    """``"1.41"`` -> ``(1, 41)``; None stays None; anything else is bad input naming ``option``."""
    if value is None or value == "":
        return None
    match = _API_VERSION.match(str(value))
    if not match:
        raise _invalid(f"{option} {value!r} is not a Docker API version such as 1.41")
    return int(match.group(1)), int(match.group(2))


@dataclass
class ProbeResult:
    """What the module returns on success."""

    docker_host: str
    ping: str
    version: dict
    info: dict
    server_cert: dict | None
    attempts: int
    elapsed: float

    def as_dict(self) -> dict:
        return {
            "docker_host": self.docker_host,
            "ping": self.ping,
            "version": self.version,
            "info": self.info,
            "server_cert": self.server_cert,
            "attempts": self.attempts,
            "elapsed": self.elapsed,
        }


def probe_daemon(
    settings: ConnectionSettings,
    *,
    wait_timeout: float = 0.0,
    min_api_version: tuple[int, int] | None = None,
) -> ProbeResult:
    """Probe the daemon, retrying for ``wait_timeout`` seconds while the failure may be temporary.

    Attempts start only within ``wait_timeout``; each is cut off ``timeout`` seconds after it starts, and
    the whole probe at ``wait_timeout + timeout``, so a failure always arrives by then.
    """
    if wait_timeout < 0:
        raise _invalid(f"wait_timeout must be 0 or more seconds, got {wait_timeout:g}")
    ctx = build_ssl_context(settings) if settings.uses_tls else None
    start = time.monotonic()
    wait_until = start + wait_timeout
    deadline = wait_until + settings.timeout
    delays = backoff_delays()
    attempts = 0
    while True:
        attempts += 1
        try:
            answer = _attempt(settings, ctx, min(deadline, time.monotonic() + settings.timeout))
            break
        except DockerAPIError as exc:
            now = time.monotonic()
            if not exc.retryable or now >= wait_until:
                exc.attempts, exc.elapsed = attempts, round(now - start, 3)
                raise
            time.sleep(max(0.0, min(next(delays), wait_until - now)))
    elapsed = round(time.monotonic() - start, 3)
    if min_api_version is not None:
        _check_api_version(settings, answer["version"], min_api_version, attempts, elapsed)
    return ProbeResult(settings.endpoint.url, attempts=attempts, elapsed=elapsed, **answer)


def _check_api_version(
    settings: ConnectionSettings, version: dict, minimum: tuple[int, int], attempts: int, elapsed: float
) -> None:
    try:
        actual = parse_api_version(version.get("ApiVersion"), "the daemon's ApiVersion")
    except DockerAPIError:
        actual = None
    if actual is None or actual < minimum:
        error = DockerAPIError(
            "api_version_too_old",
            f"{settings.endpoint.url}: the daemon (Docker {version.get('Version', '?')}) speaks API "
            f"{version.get('ApiVersion', '?')}, older than min_api_version {minimum[0]}.{minimum[1]}: "
            "upgrade Docker on that host.",
        )
        error.attempts, error.elapsed = attempts, elapsed
        raise error
