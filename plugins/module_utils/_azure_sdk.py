# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The transport between the collection and the Azure management SDKs.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

Everything that talks to Azure goes through here: clients built for one cloud, one deadline for every
wait, throttling (429 + Retry-After, honoured by azure-core's retry policy), a retry for ARM's
"try again" conflicts, and one exception type, :class:`AzureDockerHostError`, carrying an actionable
message and the request id. Bodies and results are plain REST-shaped dicts (camelCase, as in
Microsoft's API reference), so the planning code is pure and reads like the API documentation.
What resources share (ids, tags, the plan record) is in ``_azure_resources``.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

try:
    from azure.core.exceptions import (
        AzureError,
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )
    from azure.core.pipeline.policies import HTTPPolicy, RetryPolicy
except ImportError:
    AZURE_SDK_IMPORT_ERROR: str | None = traceback.format_exc()

    class _SdkMissingError(Exception):
        """Placeholder: nothing here runs without the SDK (the module fails first with missing_required_lib)."""

    AzureError = ClientAuthenticationError = HttpResponseError = ResourceNotFoundError = _SdkMissingError
    ServiceRequestError = ServiceResponseError = _SdkMissingError
    RetryPolicy = None
    HTTPPolicy = object
else:
    AZURE_SDK_IMPORT_ERROR = None

# The management clients take about a second to import: they are loaded when the first client is built,
# so bad input fails at once. Their versions are checked up front (_azure_requirements).


__all__ = [
    "ALL_SERVICES",
    "AZURE_SDK_IMPORT_ERROR",
    "RETRYABLE_CODES",
    "AzureDockerHostError",
    "Clients",
    "Deadline",
    "DeadlineRetryPolicy",
    "FirstPollPolicy",
    "InvalidOption",
    "RetryBeyondDeadline",
    "build_clients",
    "call",
    "delete_and_wait",
    "describe_http_error",
    "first_poll_times",
    "get_or_none",
    "pending_state",
    "put_and_wait",
    "run_concurrently",
    "settled",
    "wait_for",
]


# ARM answers these with "try again later" semantics (409/400 with these codes); 429 and 5xx are
# retried by azure-core's RetryPolicy, which honours Retry-After.
RETRYABLE_CODES = frozenset(
    {
        "AnotherOperationInProgress",
        "RetryableError",
        "ReferencedResourceNotProvisioned",
        "OperationNotAllowed.RetryLater",
        "Conflict.RetryLater",
    }
)

_POLL_SECONDS = 1  # Azure's Retry-After on polls wins when it is sent


def first_poll_times(status: int, headers: Any, now: float) -> dict[str, float]:
    """When each operation URL of an answer that started a long-running operation may first be polled.

    ARM's answer says where to check the operation (``Azure-AsyncOperation``, ``Location``) and how long
    to wait before checking (``Retry-After``, whole seconds). Only answers that start an operation count
    (200, 201, 202 with an operation URL): a throttled answer's Retry-After is the retry policy's business.
    Keys are URL paths (a poller may reorder or add query parameters).
    """
    if status not in (200, 201, 202):
        return {}
    try:
        seconds = int(str(headers.get("Retry-After", "")).strip())
    except ValueError:
        return {}
    if seconds <= 0:
        return {}
    urls = [headers.get(name) for name in ("Azure-AsyncOperation", "Location")]
    return {urlsplit(url).path.lower(): now + seconds for url in urls if url}


class FirstPollPolicy(HTTPPolicy):
    """Holds the first status check of a long-running operation until the answer's Retry-After has passed.

    ARM asks clients to wait ``Retry-After`` seconds before checking an operation; azure-core's poller
    checks once at once, then waits the Retry-After of that check. For an operation shorter than the first
    poll's Retry-After, the immediate check costs a whole extra interval. Later polls are azure-core's.
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._not_before: dict[str, float] = {}

    def send(self, request: Any) -> Any:
        http_request = request.http_request
        if http_request.method == "GET":
            with self._lock:
                when = self._not_before.pop(urlsplit(http_request.url).path.lower(), None)
            if when is not None:
                time.sleep(max(0.0, when - time.monotonic()))
        response = self.next.send(request)
        http_response = response.http_response
        times = first_poll_times(http_response.status_code, http_response.headers, time.monotonic())
        if times:
            with self._lock:
                self._not_before.update(times)
        return response


_RETRY_TOTAL = 6
_RETRY_BACKOFF_MAX = 30


class AzureDockerHostError(Exception):
    """The one error the collection's Azure code raises: a message a user can act on, plus facts."""

    def __init__(
        self, message: str, *, status: int | None = None, code: str | None = None, request_id: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id

    def facts(self) -> dict[str, Any]:
        """Extra keys for fail_json (never secret: codes and ids only)."""
        return {
            k: v for k, v in (("status", self.status), ("error_code", self.code), ("request_id", self.request_id)) if v
        }


class InvalidOption(AzureDockerHostError):
    """Bad input, found before any request is sent; the message names the option."""

    def __init__(self, option: str, problem: str):
        super().__init__(f"{option}: {problem}")
        self.option = option


class Deadline:
    """One budget (wait_timeout) shared by every wait of a run."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.seconds = seconds
        self._clock = clock
        self._end = clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0


class RetryBeyondDeadline(AzureDockerHostError):
    """Azure asks to wait longer before the next try than the task has left (``call`` adds the action)."""

    def __init__(self, status: int | None, wait: float, retry_after: bool, deadline: Deadline):
        left = deadline.remaining()
        if retry_after:
            why = f"Azure throttled the request (HTTP {status}) and asks to retry in {wait:g}s"
        else:
            why = f"Azure answered HTTP {status}; the next retry would come in {wait:g}s"
        super().__init__(
            f"{why}, but only {left:.0f}s of wait_timeout ({deadline.seconds:g}s) are left; run the task again later",
            status=status,
        )

    def during(self, action: str) -> AzureDockerHostError:
        return AzureDockerHostError(f"{action}: {self.message}", status=self.status)


class DeadlineRetryPolicy(RetryPolicy or object):
    """azure-core's retry policy (429 and 5xx, honouring Retry-After), never sleeping past the deadline.

    azure-core sleeps whatever Retry-After says (60 s, an hour) and only then checks its own timeout; here
    a wait longer than what is left of wait_timeout fails at once, saying Azure throttled and for how long.
    """

    def __init__(self, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._deadline = deadline

    def sleep(self, settings: Any, transport: Any, response: Any = None) -> None:
        wait = self.get_retry_after(response) if response is not None else None
        retry_after = wait is not None
        if wait is None:
            wait = self.get_backoff_time(settings)
        if wait > self._deadline.remaining():
            status = response.http_response.status_code if response is not None else None
            raise RetryBeyondDeadline(status, wait, retry_after, self._deadline)
        super().sleep(settings, transport, response)


# -- SDK plumbing ----------------------------------------------------------------------------------------
@dataclass
class Clients:
    """The three management clients for one subscription in one cloud."""

    resource: Any
    network: Any
    compute: Any
    subscription_id: str


ALL_SERVICES = ("resource", "network", "compute")


def build_clients(
    credential: Any,
    subscription_id: str,
    resource_manager: str,
    scopes: list[str],
    deadline: Deadline,
    *,
    services: tuple[str, ...] = ALL_SERVICES,
) -> Clients:
    """Management clients aimed at ``resource_manager`` with our retry and polling settings.

    The token is requested in a thread while the management SDKs import (about a second of CPU): the
    credential caches it, so the first ARM request does not wait for the login endpoint. A failure there is
    left to that first request, which reports it with the usual message.
    """
    warm = threading.Thread(target=_warm_token, args=(credential, scopes), daemon=True)
    warm.start()
    # Only the clients asked for (``services``; the others are None): a read-only module needs one.
    if "compute" in services:
        from azure.mgmt.compute import ComputeManagementClient  # noqa: PLC0415 - slow import, see above
    if "network" in services:
        from azure.mgmt.network import NetworkManagementClient  # noqa: PLC0415
    if "resource" in services:
        from azure.mgmt.resource.resources import ResourceManagementClient  # noqa: PLC0415

    def options() -> dict[str, Any]:
        # A fresh policy per client; no retry sleeps past the deadline (nor its timeout: one request's bound).
        policy = DeadlineRetryPolicy(
            deadline, retry_total=_RETRY_TOTAL, retry_backoff_max=_RETRY_BACKOFF_MAX, timeout=deadline.seconds
        )
        return {
            "base_url": resource_manager,
            "credential_scopes": scopes,
            "polling_interval": _POLL_SECONDS,
            "retry_policy": policy,
            "per_call_policies": [FirstPollPolicy()],
            "user_agent": "dockerhost.azure",
        }

    clients = Clients(
        resource=ResourceManagementClient(credential, subscription_id, **options()) if "resource" in services else None,
        network=NetworkManagementClient(credential, subscription_id, **options()) if "network" in services else None,
        compute=ComputeManagementClient(credential, subscription_id, **options()) if "compute" in services else None,
        subscription_id=subscription_id,
    )
    warm.join(timeout=deadline.remaining())  # one token request, not one per concurrent first call
    return clients


def _warm_token(credential: Any, scopes: list[str]) -> None:
    """Fill the credential's token cache; errors are left to the first real request (see build_clients)."""
    # The first ARM request raises the same failure again, translated into an actionable message.
    with contextlib.suppress(Exception):
        credential.get_token(*scopes)


def _raw_json(pipeline_response: Any, _deserialized: Any, _headers: Any) -> dict:
    """``cls=`` hook: the response body as the REST dict, whatever model style the SDK version uses."""
    # .text() exists on both azure-core response types (.json() only on the newer one, azure-core >= 1.31).
    return json.loads(pipeline_response.http_response.text())


def describe_http_error(exc: Exception) -> tuple[str, int | None, str | None, str | None]:
    """(message, status, code, request id) of an azure-core exception, without the request body."""
    status = getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None) if error is not None else None
    message = getattr(error, "message", None) if error is not None else None
    response = getattr(exc, "response", None)
    request_id = None
    if response is not None:
        headers = getattr(response, "headers", None) or {}
        request_id = headers.get("x-ms-request-id") or headers.get("x-ms-correlation-request-id")
    if not message:
        message = getattr(exc, "message", None) or str(exc)
    text = f"{code}: {message}" if code else str(message)
    return text.strip(), status, code, request_id


def _translate(exc: Exception, action: str) -> AzureDockerHostError:
    if isinstance(exc, ClientAuthenticationError):
        text, status, code, request_id = describe_http_error(exc)
        return AzureDockerHostError(
            f"{action}: authentication failed ({text}). Check subscription_id, client_id, secret, tenant, "
            "auth_source and cloud_environment",
            status=status,
            code=code,
            request_id=request_id,
        )
    if isinstance(exc, HttpResponseError):
        text, status, code, request_id = describe_http_error(exc)
        hint = ""
        if status == 403:
            hint = " (the identity lacks a role on this scope; see the module documentation for the role it needs)"
        return AzureDockerHostError(f"{action} failed: {text}{hint}", status=status, code=code, request_id=request_id)
    if isinstance(exc, (ServiceRequestError, ServiceResponseError)):
        text = str(exc)
        hint = ""
        if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text:
            hint = " (TLS verification failed: for a private CA set REQUESTS_CA_BUNDLE to a bundle that includes it)"
        return AzureDockerHostError(f"{action}: cannot reach Azure Resource Manager: {text}{hint}")
    return AzureDockerHostError(f"{action}: {type(exc).__name__}: {exc}")


def _retryable(exc: Exception) -> bool:
    error = getattr(exc, "error", None)
    return getattr(error, "code", None) in RETRYABLE_CODES


def call(action: str, func: Callable[..., Any], *args: Any, deadline: Deadline, **kwargs: Any) -> Any:
    """Run one SDK call; retry ARM's retryable conflicts with jittered backoff until ``deadline``.

    Throttling (429 with Retry-After) and 5xx are retried inside azure-core's pipeline already.
    Every failure becomes :class:`AzureDockerHostError` naming ``action``.
    """
    delay = 1.0
    while True:
        try:
            return func(*args, **kwargs)
        except RetryBeyondDeadline as exc:
            raise exc.during(action) from exc
        except AzureDockerHostError:
            raise
        except AzureError as exc:
            if _retryable(exc) and deadline.remaining() > delay:
                time.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not cryptography
                delay = min(delay * 2, 15.0)
                continue
            raise _translate(exc, action) from exc
        except (ValueError, TypeError, OSError) as exc:
            # Credentials raise ValueError for incomplete settings, OSError for a missing az CLI.
            raise _translate(exc, action) from exc


def get_or_none(action: str, func: Callable[..., Any], *args: Any, deadline: Deadline, **kwargs: Any) -> Any:
    """A GET that returns the REST dict, or ``None`` when the resource (or its parent) does not exist."""
    try:
        return call(action, func, *args, deadline=deadline, cls=_raw_json, **kwargs)
    except AzureDockerHostError as exc:
        if isinstance(exc.__cause__, ResourceNotFoundError) or exc.status == 404:
            return None
        raise


def wait_for(action: str, poller: Any, deadline: Deadline) -> Any:
    """Wait for a long-running operation, never past the deadline."""
    try:
        result = poller.result(timeout=deadline.remaining())
    except RetryBeyondDeadline as exc:  # a throttled status check
        raise exc.during(action) from exc
    except AzureError as exc:
        raise _translate(exc, action) from exc
    if not poller.done():
        raise AzureDockerHostError(
            f"{action}: not finished within wait_timeout ({deadline.seconds:g}s); the operation continues in Azure, "
            "run the task again to converge"
        )
    return result


def put_and_wait(action: str, begin: Callable[..., Any], *args: Any, deadline: Deadline) -> dict:
    """PUT (begin_create_or_update) and wait; returns the final resource as a REST dict."""
    poller = call(action, begin, *args, deadline=deadline, cls=_raw_json)
    return wait_for(action, poller, deadline)


def delete_and_wait(action: str, begin: Callable[..., Any], *args: Any, deadline: Deadline) -> None:
    """DELETE and wait; a resource already gone is success."""
    try:
        poller = call(action, begin, *args, deadline=deadline)
        wait_for(action, poller, deadline)
    except AzureDockerHostError as exc:
        if isinstance(exc.__cause__, ResourceNotFoundError) or exc.status == 404:
            return
        raise


def pending_state(resource: dict | list | None) -> str | None:
    """The provisioning state of an operation still running on the resource (any item of a list), else None.

    ARM: Succeeded, Failed and Canceled are final, and no provisioningState at all means finished.
    """
    items = resource if isinstance(resource, list) else [resource]
    for item in items:
        state = ((item or {}).get("properties") or {}).get("provisioningState")
        if state and state.lower() not in ("succeeded", "failed", "canceled"):
            return state
    return None


def settled(action: str, getter: Callable[[], Any], deadline: Deadline, interval: float = 2.0) -> Any:
    """GET, and while another operation (an interrupted earlier run) is still busy on it, GET again.

    A run that plans against a resource half-way through an update would send a conflicting write.
    """
    resource = getter()
    while (state := pending_state(resource)) is not None:
        if deadline.remaining() <= interval:
            raise AzureDockerHostError(
                f"{action}: still {state} after wait_timeout ({deadline.seconds:g}s); run the task again later"
            )
        time.sleep(interval)
        resource = getter()
    return resource


def run_concurrently(tasks: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run independent calls in threads; wait for all, then raise the first failure (in task order)."""
    if len(tasks) <= 1:
        return {name: task() for name, task in tasks.items()}
    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        futures = {name: pool.submit(task) for name, task in tasks.items()}
    # Leaving the pool waited for every call: no write is abandoned half-way when another fails.
    return {name: future.result() for name, future in futures.items()}
