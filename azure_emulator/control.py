# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test controls: the request log, fault injection and per-operation latency (``/_emulator/...``)."""

from __future__ import annotations

import fnmatch
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from .core import ArmError, Request, Response, error_body, new_id

__all__ = ["AZURE_PROFILE", "Fault", "FaultTable", "Latency", "RequestLog"]

# Seconds an operation stays InProgress under ``--latency azure``, keyed by Azure's operation names.  Orders of
# magnitude from public reports, not a measurement of ours (README.md, "Latency", lists the sources); ``scale``
# shrinks or stretches them all (0.1 for a demo that should feel like Azure without waiting like it).
AZURE_PROFILE: dict[str, float] = {
    "Microsoft.Resources/subscriptions/resourceGroups/delete": 20.0,
    "Microsoft.Network/virtualNetworks/write": 4.0,
    "Microsoft.Network/virtualNetworks/delete": 10.0,
    "Microsoft.Network/virtualNetworks/subnets/write": 4.0,
    "Microsoft.Network/virtualNetworks/subnets/delete": 10.0,
    "Microsoft.Network/networkSecurityGroups/write": 3.0,
    "Microsoft.Network/networkSecurityGroups/delete": 10.0,
    "Microsoft.Network/networkSecurityGroups/securityRules/write": 3.0,
    "Microsoft.Network/networkSecurityGroups/securityRules/delete": 3.0,
    "Microsoft.Network/publicIPAddresses/write": 3.0,
    "Microsoft.Network/publicIPAddresses/delete": 10.0,
    "Microsoft.Network/networkInterfaces/write": 2.0,
    "Microsoft.Network/networkInterfaces/delete": 10.0,
    "Microsoft.Compute/virtualMachines/write": 60.0,
    "Microsoft.Compute/virtualMachines/delete": 60.0,
    "Microsoft.Compute/virtualMachines/extensions/write": 30.0,
    "Microsoft.Compute/virtualMachines/extensions/delete": 20.0,
}
# Retry-After (seconds, before scaling) with the azure profile: (first answer, first InProgress poll, later
# InProgress polls); None = not sent, and nothing is sent once the operation has ended. From recorded ARM
# sessions (README.md, "Retry-After", lists them); the first entry that matches an operation wins.
AZURE_RETRY_AFTER: tuple[tuple[str, tuple[int | None, int | None, int | None]], ...] = (
    ("Microsoft.Compute/virtualMachines/write", (10, 50, None)),
    ("Microsoft.Compute/virtualMachines/delete", (10, 30, None)),
    ("Microsoft.Compute/*", (10, None, None)),  # extensions, VM actions: no recording; as the other writes
    ("Microsoft.Network/*/write", (3, 10, 10)),
    ("Microsoft.Network/*/delete", (10, 10, 10)),
    ("Microsoft.Resources/subscriptions/resourceGroups/delete", (15, 15, 15)),
)


@dataclass
class LogEntry:
    seq: int
    time: float
    method: str
    path: str
    query: dict[str, str]
    api_version: str | None
    status: int
    body: Any
    fault: str | None = None

    def as_dict(self) -> dict:
        return {
            "seq": self.seq,
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "api_version": self.api_version,
            "status": self.status,
            "body": self.body,
            "fault": self.fault,
        }


def decode_body(request: Request) -> Any:
    """The body as the client sent it: parsed JSON, a form as a dict, or text."""
    if not request.body:
        return None
    ctype = (request.header("content-type") or "").lower()
    text = request.body.decode(errors="replace")
    if "x-www-form-urlencoded" in ctype:
        return {k: v[-1] for k, v in urllib.parse.parse_qs(text, keep_blank_values=True).items()}
    try:
        return json.loads(text)
    except ValueError:
        return text


class RequestLog:
    """Every request except the control API's own, with the body exactly as sent (secrets included)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LogEntry] = []
        self._seq = 0

    def add(self, request: Request, status: int, fault: str | None = None) -> None:
        with self._lock:
            self._seq += 1
            self._entries.append(
                LogEntry(
                    seq=self._seq,
                    time=time.time(),
                    method=request.method,
                    path=request.path,
                    query=dict(request.query),
                    api_version=request.api_version,
                    status=status,
                    body=decode_body(request),
                    fault=fault,
                )
            )

    def entries(self, since: int = 0) -> list[dict]:
        with self._lock:
            return [entry.as_dict() for entry in self._entries if entry.seq > since]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


FAULT_KINDS = ("throttle", "error", "operation", "extension")


@dataclass
class Fault:
    """Fires on the ``nth`` request whose method and path match (and on the ``times - 1`` after it)."""

    kind: str
    method: str | None = None
    path: str = ""
    nth: int = 1
    times: int = 1
    status: int | str | None = None
    code: str | None = None
    message: str | None = None
    retry_after: int = 1
    id: str = field(default_factory=new_id)
    seen: int = 0
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"kind must be one of {', '.join(FAULT_KINDS)}, not {self.kind!r}")
        if self.nth < 1 or self.times < 1:
            raise ValueError("nth and times must be >= 1")
        self._pattern = re.compile(self.path, re.IGNORECASE)

    def matches(self, request: Request) -> bool:
        if self.method and self.method.upper() != request.method:
            return False
        return bool(self._pattern.search(request.path))

    def as_dict(self) -> dict:
        return {
            key: getattr(self, key)
            for key in (
                "id",
                "kind",
                "method",
                "path",
                "nth",
                "times",
                "status",
                "code",
                "message",
                "retry_after",
                "seen",
                "fired",
            )
        }

    # -- what firing does -----------------------------------------------------------------
    def response(self, request: Request, subscription_id: str) -> Response:
        """The answer of a ``throttle`` or ``error`` fault."""
        if self.kind == "throttle":
            kind = "read" if request.method in ("GET", "HEAD") else "write"
            status = int(self.status or 429)
            body = error_body(
                self.code or "SubscriptionRequestsThrottled",
                self.message
                or (
                    f"Number of '{kind}' requests for subscription '{subscription_id}' actor "
                    f"'{new_id()}' exceeded. Please try again after '{self.retry_after}' seconds after "
                    f"additional '{kind}' requests."
                ),
            )
            return Response(status, body, {"Retry-After": str(self.retry_after)})
        status = int(self.status or 500)
        default_code = {500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable"}
        body = error_body(
            self.code or default_code.get(status, "InternalServerError"),
            self.message
            or "Encountered internal server error. Diagnostic information: timestamp "
            f"'{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}', tracking id '{new_id()}'.",
        )
        return Response(status, body)


class FaultTable:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, spec: dict) -> Fault:
        allowed = {"kind", "method", "path", "nth", "times", "status", "code", "message", "retry_after"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(sorted(unknown))}")
        fault = Fault(**spec)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, request: Request, kinds: tuple[str, ...]) -> Fault | None:
        """Count ``request`` against every matching fault of ``kinds``; return the first one that fires."""
        fired = None
        with self._lock:
            for fault in self._faults:
                if fault.kind not in kinds or not fault.matches(request):
                    continue
                fault.seen += 1
                if fired is None and fault.nth <= fault.seen < fault.nth + fault.times:
                    fault.fired += 1
                    fired = fault
        return fired

    def list(self) -> list[dict]:
        with self._lock:
            return [fault.as_dict() for fault in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()


class Latency:
    """How long each kind of operation stays InProgress; Retry-After on polls only when any is set."""

    def __init__(self, profile: str | None = None, scale: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._start = (profile, scale)
        self.set(profile=profile, scale=scale)

    def set(self, *, profile: str | None = None, scale: float = 1.0, operations: dict | None = None) -> None:
        if profile not in (None, "", "none", "azure"):
            raise ValueError(f"unknown latency profile {profile!r} (known: azure, none)")
        if scale < 0:
            raise ValueError("scale must be >= 0")
        table = dict(AZURE_PROFILE) if profile == "azure" else {}
        for name, seconds in (operations or {}).items():
            if float(seconds) < 0:
                raise ValueError(f"latency for {name} must be >= 0")
            table[name.lower()] = float(seconds)
        with self._lock:
            self._profile = profile if profile == "azure" else "none"
            self._scale = scale
            self._table = {k.lower(): v for k, v in table.items()}

    def reset(self) -> None:
        self.set(profile=self._start[0], scale=self._start[1])

    def delay(self, operation: str) -> float:
        with self._lock:
            return self._table.get(operation.lower(), 0.0) * self._scale

    def retry_after(self, operation: str) -> tuple[int | None, int | None, int | None] | None:
        """``operation``'s Retry-After on its first answer, first InProgress poll and later ones (None: none).

        Only while a latency is set; with the azure profile as ARM sends it (scaled, whole seconds, at least
        1), otherwise 1 second throughout.
        """
        with self._lock:
            if not any(v * self._scale > 0 for v in self._table.values()):
                return None
            if self._profile != "azure":
                return (1, 1, 1)
            factor = min(1.0, self._scale)
        values = _azure_retry_after(operation)
        return tuple(None if v is None else max(1, round(v * factor)) for v in values)  # type: ignore[return-value]

    def as_dict(self) -> dict:
        with self._lock:
            state = {"profile": self._profile, "scale": self._scale, "operations": dict(self._table)}
        # Retry-After per operation: first answer, first InProgress poll, later ones (null: not sent).
        state["retry_after"] = {name: self.retry_after(name) for name in state["operations"]}
        return state


def _azure_retry_after(operation: str) -> tuple[int | None, int | None, int | None]:
    name = operation.lower()
    for pattern, values in AZURE_RETRY_AFTER:
        if fnmatch.fnmatchcase(name, pattern.lower()):  # `*` spans slashes
            return values
    return (None, None, None)


def parse_json_body(request: Request) -> dict:
    data = request.json() if request.body else {}
    if not isinstance(data, dict):
        raise ArmError(400, "InvalidRequestContent", "The control API takes a JSON object.")
    return data
