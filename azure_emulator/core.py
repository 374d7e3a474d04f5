# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Request/response values and ARM's error shape, shared by every part of the emulator."""

from __future__ import annotations

import datetime
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ArmError", "Request", "Response", "error_body", "json_response", "new_id", "utc_now"]


def utc_now() -> str:
    """An ISO 8601 UTC timestamp with 7 fractional digits, as ARM writes them."""
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}0+00:00"


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Request:
    """One HTTP request as the dispatcher sees it; ``query`` keys are lower-cased, values are the last given."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    raw_query: str = ""

    @property
    def api_version(self) -> str | None:
        return self.query.get("api-version")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The body parsed as JSON; ARM answers a malformed body with 400 InvalidRequestContent."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ArmError(
                400,
                "InvalidRequestContent",
                f"The request content was invalid and could not be deserialized: '{exc}'.",
            ) from exc


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # a non-JSON body (already encoded)

    def encoded(self) -> bytes:
        if self.raw is not None:
            return self.raw
        if self.body is None:
            return b""
        return json.dumps(self.body).encode()


class ArmError(Exception):
    """An error answered in ARM's shape: ``{"error": {"code", "message", "target"?, "details"?}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: list[dict] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict:
        return error_body(self.code, self.message, target=self.target, details=self.details)

    def response(self) -> Response:
        return Response(self.status, self.body(), dict(self.headers))


def error_body(code: str, message: str, *, target: str | None = None, details: list[dict] | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if target is not None:
        error["target"] = target
    if details is not None:
        error["details"] = details
    return {"error": error}


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, body, dict(headers or {}))
