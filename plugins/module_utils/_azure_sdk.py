# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The narrow layer between the collection and the Azure management SDKs.

This file is private to the dockerhost.azure collection; it has no compatibility promise.

Everything that talks to Azure goes through here: clients built for one cloud, one deadline for every
wait, throttling (429 + Retry-After, honoured by azure-core's retry policy), a retry for ARM's
"try again" conflicts, and one exception type, :class:`AzureDockerHostError`, carrying an actionable
message and the request id. Bodies and results are plain REST-shaped dicts (camelCase, as in
Microsoft's API reference), so the planning code is pure and reads like the API documentation.
It also holds what every resource shares: resource ids, locations, tags, and the plan record.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import random
import re
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
# so bad input fails at once. Their presence is checked up front (missing_required_lib).
MGMT_PACKAGES = {
    "azure.mgmt.compute": "azure-mgmt-compute",
    "azure.mgmt.network": "azure-mgmt-network",
    "azure.mgmt.resource": "azure-mgmt-resource",
}


def missing_mgmt_packages() -> list[str]:
    """Distribution names of the management SDKs that are not installed."""
    missing = []
    for module, distribution in MGMT_PACKAGES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:  # a parent package (azure, azure.mgmt) is missing
            found = False
        if not found:
            missing.append(distribution)
    return missing


__all__ = [
    "AZURE_SDK_IMPORT_ERROR",
    "MGMT_PACKAGES",
    "OWNER_TAG",
    "RETRYABLE_CODES",
    "AzureDockerHostError",
    "Clients",
    "Deadline",
    "FirstPollPolicy",
    "InvalidOption",
    "Step",
    "arm_id",
    "build_clients",
    "call",
    "delete_and_wait",
    "describe_http_error",
    "first_poll_times",
    "get_or_none",
    "location_key",
    "missing_mgmt_packages",
    "owned_by",
    "pending_state",
    "plan_resource_group",
    "put_and_wait",
    "run_concurrently",
    "same_id",
    "settled",
    "validate_location",
    "validate_resource_group",
    "validate_tags",
    "wait_for",
    "wanted_tags",
]

# What this collection writes on every resource it creates, so that state=absent removes exactly that.
OWNER_TAG = "dockerhost-azure-vm"

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


@dataclass
class Step:
    """One resource in a plan: what exists, what is wanted, and what to send.

    ``action`` is ``none``, ``create``, ``update`` or ``delete``; ``before``/``after`` hold only the managed
    properties (what diff mode shows); ``body`` is the REST body to PUT (never shown: it may carry secrets).
    """

    kind: str
    name: str
    action: str
    before: dict | None = None
    after: dict | None = None
    body: dict | None = field(default=None, repr=False)
    reasons: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.action != "none"


# -- names, ids, locations, tags -----------------------------------------------------------------------
_RG_RE = re.compile(r"^[-\w.()]{1,90}$")
_LOCATION_RE = re.compile(r"^[a-z0-9]+$")


def arm_id(subscription: str, resource_group: str, provider: str, *parts: str) -> str:
    """``/subscriptions/S/resourceGroups/G/providers/P/type/name[/type/name]``."""
    return f"/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/{provider}/" + "/".join(parts)


def same_id(left: str | None, right: str | None) -> bool:
    """ARM ids are case-insensitive."""
    return (left or "").rstrip("/").lower() == (right or "").rstrip("/").lower()


def location_key(location: str | None) -> str:
    """``West Europe`` and ``westeurope`` are the same region."""
    return (location or "").replace(" ", "").lower()


def validate_location(location: str | None) -> str | None:
    if location is None:
        return None
    key = location_key(location)
    if not _LOCATION_RE.match(key):
        raise InvalidOption("location", f"{location!r} is not an Azure region name such as 'westeurope'")
    return key


def validate_resource_group(name: str) -> str:
    if not _RG_RE.match(name) or name.endswith("."):
        raise InvalidOption(
            "resource_group",
            f"{name!r} is not a valid resource group name: 1-90 letters, digits, '_', '-', '.', '(' or ')', "
            "not ending with '.'",
        )
    return name


_TAG_NAME_FORBIDDEN = re.compile(r"[<>%&\\?/]")


def validate_tags(tags: dict | None) -> dict[str, str] | None:
    """Azure's tag limits, checked before any request: 50 tags, names 1-512, values up to 256."""
    if tags is None:
        return None
    if len(tags) > 50:
        raise InvalidOption("tags", f"Azure allows at most 50 tags per resource, got {len(tags)}")
    clean: dict[str, str] = {}
    for key, value in tags.items():
        name = str(key)
        text = "" if value is None else str(value)
        if not name or len(name) > 512 or _TAG_NAME_FORBIDDEN.search(name):
            raise InvalidOption("tags", f"tag name {name!r} must be 1-512 characters without < > % & \\ ? /")
        if len(text) > 256:
            raise InvalidOption("tags", f"the value of tag {name!r} is longer than 256 characters")
        if name.lower() == OWNER_TAG:
            raise InvalidOption("tags", f"{OWNER_TAG!r} is reserved: the module marks what it created with it")
        clean[name] = text
    return clean


def owned_by(resource: dict | None, vm_name: str) -> bool:
    """True when the resource carries this module's ownership tag for this VM."""
    if not resource:
        return False
    for key, value in (resource.get("tags") or {}).items():
        if key.lower() == OWNER_TAG and str(value).lower() == vm_name.lower():
            return True
    return False


def wanted_tags(actual: dict | None, tags: dict[str, str] | None, vm_name: str) -> dict[str, str]:
    """The tags a resource should carry.

    ``tags`` unset leaves existing tags alone; set, it is the exact user set. The ownership tag is added on
    creation and kept on resources that have it; it is never added to a resource the module did not create.
    """
    current = dict((actual or {}).get("tags") or {})
    if actual is not None and tags is None:
        return current
    result = dict(tags or {})
    if actual is None or owned_by(actual, vm_name):
        result[OWNER_TAG] = vm_name
    return result


# -- resource group ------------------------------------------------------------------------------------
def plan_resource_group(
    actual: dict | None, name: str, location: str | None, tags: dict[str, str] | None, vm_name: str
) -> Step:
    """Create the group when missing; an existing group is only read (it may hold other things)."""
    if actual is not None:
        state = {"location": location_key(actual.get("location"))}
        return Step("resource_group", name, "none", before=state, after=state)
    if location is None:
        raise InvalidOption("location", f"resource group {name!r} does not exist; set location to create it")
    body = {"location": location, "tags": wanted_tags(None, tags, vm_name)}
    return Step("resource_group", name, "create", before=None, after={"location": location}, body=body)


# -- SDK plumbing ----------------------------------------------------------------------------------------
@dataclass
class Clients:
    """The three management clients for one subscription in one cloud."""

    resource: Any
    network: Any
    compute: Any
    subscription_id: str


def build_clients(
    credential: Any, subscription_id: str, resource_manager: str, scopes: list[str], wait_timeout: float
) -> Clients:
    """Management clients aimed at ``resource_manager`` with our retry and polling settings.

    The token is requested in a thread while the management SDKs import (about a second of CPU): the
    credential caches it, so the first ARM request does not wait for the login endpoint. A failure there is
    left to that first request, which reports it with the usual message.
    """
    warm = threading.Thread(target=_warm_token, args=(credential, scopes), daemon=True)
    warm.start()
    from azure.mgmt.compute import ComputeManagementClient  # noqa: PLC0415 - slow import, see MGMT_PACKAGES
    from azure.mgmt.network import NetworkManagementClient  # noqa: PLC0415
    from azure.mgmt.resource.resources import ResourceManagementClient  # noqa: PLC0415

    def options() -> dict[str, Any]:
        # A fresh policy per client; its timeout bounds retries (and Retry-After sleeps) of one request.
        policy = RetryPolicy(retry_total=_RETRY_TOTAL, retry_backoff_max=_RETRY_BACKOFF_MAX, timeout=wait_timeout)
        return {
            "base_url": resource_manager,
            "credential_scopes": scopes,
            "polling_interval": _POLL_SECONDS,
            "retry_policy": policy,
            "per_call_policies": [FirstPollPolicy()],
            "user_agent": "dockerhost.azure",
        }

    clients = Clients(
        resource=ResourceManagementClient(credential, subscription_id, **options()),
        network=NetworkManagementClient(credential, subscription_id, **options()),
        compute=ComputeManagementClient(credential, subscription_id, **options()),
        subscription_id=subscription_id,
    )
    warm.join(timeout=wait_timeout)  # one token request, not one per concurrent first call
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
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}
    lock = threading.Lock()

    def run(name: str, task: Callable[[], Any]) -> None:
        try:
            value = task()
        except BaseException as exc:  # re-raised below, after the others finished
            with lock:
                errors[name] = exc
        else:
            with lock:
                results[name] = value

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        for name, task in tasks.items():
            pool.submit(run, name, task)
    for name in tasks:
        if name in errors:
            raise errors[name]
    return results
