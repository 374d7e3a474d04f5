# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils is PRIVATE to the dockerhost.azure collection: no compatibility promise, it may change
# in any release. Do not use it from other collections or from your own plugins.

"""The probe's retry loop: attempts until the daemon answers, a failure is final, or the time is up."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ansible_collections.dockerhost.azure.plugins.module_utils._docker_options import (
    MAX_WAIT_TIMEOUT,
    ConnectionSettings,
    DockerAPIError,
    check_seconds,
    invalid_option,
)
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_tls import build_ssl_context
from ansible_collections.dockerhost.azure.plugins.module_utils._docker_transport import attempt

__all__ = ["ProbeResult", "backoff_delays", "parse_api_version", "probe_daemon"]

_BACKOFF_FIRST = 0.05
_BACKOFF_CAP = 0.25  # a daemon that starts answering is seen within about this long


def backoff_delays(first: float = _BACKOFF_FIRST, cap: float = _BACKOFF_CAP) -> Iterator[float]:
    """Pauses between attempts: doubling from ``first``, never more than ``cap``."""
    delay = first
    while True:
        yield min(delay, cap)
        delay = min(delay * 2, cap)


# Checked whole (fullmatch): ``$`` would also match before a trailing newline. Spaces around are fine.
_API_VERSION = re.compile(r" *(\d+)\.(\d+) *")


def parse_api_version(value: str | None, option: str = "min_api_version") -> tuple[int, int] | None:
    """``"1.41"`` -> ``(1, 41)``; None stays None; anything else is bad input naming ``option``."""
    if value is None or value == "":
        return None
    match = _API_VERSION.fullmatch(str(value))
    if not match:
        raise invalid_option(f"{option} {value!r} is not a Docker API version such as 1.41")
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
    wait_timeout = check_seconds("wait_timeout", wait_timeout, default=0.0, maximum=MAX_WAIT_TIMEOUT, allow_zero=True)
    ctx = build_ssl_context(settings) if settings.uses_tls else None
    start = time.monotonic()
    wait_until = start + wait_timeout
    deadline = wait_until + settings.timeout
    delays = backoff_delays()
    attempts = 0
    while True:
        attempts += 1
        try:
            answer = attempt(settings, ctx, min(deadline, time.monotonic() + settings.timeout))
            break
        except DockerAPIError as exc:
            now = time.monotonic()
            if not exc.retryable or now >= wait_until:
                exc.attempts, exc.elapsed = attempts, round(now - start, 3)
                raise
            time.sleep(max(0.0, min(next(delays), wait_until - now)))
    if settings.uses_tls:
        try:
            _require_client_certificates(settings, answer, deadline)
        except DockerAPIError as exc:
            exc.attempts, exc.elapsed = attempts, round(time.monotonic() - start, 3)
            raise
    elapsed = round(time.monotonic() - start, 3)
    if min_api_version is not None:
        _check_api_version(settings, answer["version"], min_api_version, attempts, elapsed)
    return ProbeResult(settings.endpoint.url, attempts=attempts, elapsed=elapsed, **answer)


def _require_client_certificates(settings: ConnectionSettings, answer: dict, deadline: float) -> None:
    """Fail unless the daemon refuses a client without a certificate: one more handshake, in the same budget.

    A daemon with ``tls`` but not ``tlsverify`` answers anyone who reaches the port, and its API is root on
    that host. When the probe itself sent no client certificate, its own success already proves it.
    """
    url = settings.endpoint.url
    if settings.client_cert:
        anonymous = replace(settings, client_cert=None, client_key=None, client_source="no client certificate sent")
        try:
            attempt(anonymous, build_ssl_context(anonymous), min(deadline, time.monotonic() + settings.timeout))
        except DockerAPIError as exc:
            if exc.kind == "tls_client_rejected":
                return  # refused, as it should be
            exc.message = (
                f"{url} answered this client, but checking that it refuses a client without a certificate "
                f"failed: {exc.message}"
            )
            exc.args = (exc.message,)
            raise
    raise DockerAPIError(
        "client_auth_not_required",
        f"{url} answered a client that sent no certificate: the daemon does not require client certificates "
        "(its daemon.json has tls but not tlsverify), so anyone who can reach port "
        f"{settings.endpoint.port} there can run containers as root on that host. Set tlsverify: true and "
        "tlscacert in its daemon.json and restart dockerd; until then, close the port.",
        server_cert=answer.get("server_cert"),
    )


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
