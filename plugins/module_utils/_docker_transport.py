# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to the dockerhost.azure collection: no compatibility promise, it may change
# in any release. Do not use it from other collections or from your own plugins.

"""One attempt at the Docker Engine API: connect, shake hands, GET /_ping, /version and /info.

``http.client`` speaks HTTP/1.1 over the socket we opened ourselves, so every step has a timeout, and a
watchdog shuts the socket down at the attempt's deadline so that no read (slow answers included) outlasts
it. Failures are classified by ``_docker_tls``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time

from ansible_collections.dockerhost.azure.plugins.module_utils._docker_errors import (
    CLIENT_REJECTED_REASONS,
    classify_connection_error,
    classify_tls_error,
    timeout_message,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import (
    ConnectionSettings,
    DockerAPIError,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_tls import describe_certificate

__all__ = ["INFO_KEYS", "attempt"]

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
_USER_AGENT = "dockerhost.azure-docker_host_probe"


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
        raise DockerAPIError("timeout", timeout_message(settings, step), retryable=True)
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
        if exc.reason in CLIENT_REJECTED_REASONS:
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


def attempt(settings: ConnectionSettings, ctx: ssl.SSLContext | None, deadline: float) -> dict:
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
