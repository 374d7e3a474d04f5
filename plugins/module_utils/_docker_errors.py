# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to the dockerhost.azure collection: no compatibility promise, it may change
# in any release. Do not use it from other collections or from your own plugins.
"""Every failure of the Docker client classified: an error kind naming the problem, a message saying what to do.

Verification errors are ours (the daemon's certificate does not check out); alerts are the daemon's (it
refused our client certificate); a record that is not TLS means the port speaks plain HTTP; socket errors
are told apart by the step they happened in.
"""

from __future__ import annotations

import http.client
import socket
import ssl

from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import (
    ConnectionSettings,
    DockerAPIError,
)

__all__ = [
    "CLIENT_REJECTED_REASONS",
    "classify_connection_error",
    "classify_tls_error",
    "error_reason",
    "timeout_message",
]


def error_reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or exc.strerror or str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


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
CLIENT_REJECTED_REASONS = {
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
    if reason in CLIENT_REJECTED_REASONS:
        return _client_rejected(settings, reason)
    if reason in _NOT_TLS_REASONS:
        return DockerAPIError(
            "not_tls",
            f"{url} answered the TLS handshake with something that is not TLS ({reason}): most likely a "
            "Docker daemon listening with plain HTTP, which lets anyone who reaches the port run commands as "
            "root on that host. Close the port, then configure tls, tlsverify, tlscacert, tlscert and tlskey "
            "in the daemon's daemon.json.",
        )
    if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
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
        return DockerAPIError(kind, timeout_message(settings, step), retryable=True)
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
        detail = f"{error_reason(exc)} on {path}: dockerd is not running or the socket is stale"
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
    if isinstance(exc, (ConnectionError, http.client.IncompleteRead, EOFError)):
        if step == "handshake" or (handshake_done and step == "GET /_ping"):
            return _closed(settings, handshake_done)
        return DockerAPIError(
            "http_error",
            f"{url}: the daemon dropped the connection during {step} ({error_reason(exc)}).",
            retryable=True,
        )
    if isinstance(exc, http.client.HTTPException):
        return DockerAPIError(
            "http_error",
            f"{url}: {step} got an answer that is not HTTP ({type(exc).__name__}): this is not a Docker daemon.",
        )
    return DockerAPIError(
        "connection_refused",
        f"{url}: cannot connect ({error_reason(exc)}): check the address, routes and firewalls.",
        retryable=True,
    )


def timeout_message(settings: ConnectionSettings, step: str) -> str:
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
