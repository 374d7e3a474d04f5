# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SDK transport's own logic: errors, retries, deadlines, concurrency, polling."""

from __future__ import annotations

import json
import threading
import time

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ResourceNotFoundError

from ansible_collections.dockerhost.azure.plugins.module_utils._azure_sdk import (
    AzureDockerHostError,
    Deadline,
    DeadlineRetryPolicy,
    FirstPollPolicy,
    RetryBeyondDeadline,
    call,
    delete_and_wait,
    first_poll_times,
    get_or_none,
    pending_state,
    run_concurrently,
    settled,
    wait_for,
)


class FakeResponse:
    """Enough of an azure-core HTTP response for HttpResponseError to parse ARM's error body."""

    def __init__(self, status, code, message, request_id="req-1"):
        self.status_code = status
        self.reason = "reason"
        self.headers = {"x-ms-request-id": request_id}
        self._body = json.dumps({"error": {"code": code, "message": message}})

    def text(self, encoding=None):
        return self._body


def arm_error(status, code, message="msg", cls=HttpResponseError):
    return cls(response=FakeResponse(status, code, message))


def test_http_error_becomes_one_error_type_with_facts():
    def fail():
        raise arm_error(400, "InvalidParameter", "The value of parameter x is invalid.")

    with pytest.raises(AzureDockerHostError) as info:
        call("create thing 'a'", fail, deadline=Deadline(10))
    error = info.value
    assert str(error) == "create thing 'a' failed: InvalidParameter: The value of parameter x is invalid."
    assert error.facts() == {"status": 400, "error_code": "InvalidParameter", "request_id": "req-1"}


def test_forbidden_points_at_the_role():
    def fail():
        raise arm_error(403, "AuthorizationFailed", "no")

    with pytest.raises(AzureDockerHostError, match="role"):
        call("read x", fail, deadline=Deadline(10))


def test_authentication_error_names_the_options():
    def fail():
        raise ClientAuthenticationError("AADSTS7000215: Invalid client secret provided.")

    with pytest.raises(AzureDockerHostError, match="secret, tenant"):
        call("read x", fail, deadline=Deadline(10))


def test_retryable_conflict_is_retried_until_it_succeeds(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    attempts = []

    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise arm_error(409, "AnotherOperationInProgress")
        return "ok"

    assert call("put x", flaky, deadline=Deadline(60)) == "ok"
    assert len(attempts) == 3


def test_retryable_conflict_stops_at_the_deadline(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)

    def always():
        raise arm_error(409, "RetryableError")

    with pytest.raises(AzureDockerHostError, match="RetryableError"):
        call("put x", always, deadline=Deadline(0.5))


def test_get_or_none_maps_not_found_to_none():
    def missing(*args, **kwargs):
        raise arm_error(404, "ResourceNotFound", cls=ResourceNotFoundError)

    assert get_or_none("read x", missing, deadline=Deadline(10)) is None

    def broken(*args, **kwargs):
        raise arm_error(500, "InternalServerError")

    with pytest.raises(AzureDockerHostError):
        get_or_none("read x", broken, deadline=Deadline(10))


class SlowPoller:
    def __init__(self, done_after):
        self.done_after = done_after
        self.start = time.monotonic()

    def result(self, timeout=None):
        time.sleep(min(timeout or 0, 0.2))
        return {"ok": True}

    def done(self):
        return time.monotonic() - self.start >= self.done_after


def test_wait_is_bounded_by_the_deadline():
    deadline = Deadline(0.1)
    with pytest.raises(AzureDockerHostError, match=r"wait_timeout \(0.1s\).*run the task again"):
        wait_for("create vm 'a'", SlowPoller(done_after=60), deadline)
    assert wait_for("create vm 'a'", SlowPoller(done_after=0), Deadline(5)) == {"ok": True}


def test_delete_of_something_already_gone_is_success():
    def begin(*args, **kwargs):
        raise arm_error(404, "NotFound", cls=ResourceNotFoundError)

    delete_and_wait("delete x", begin, deadline=Deadline(5))


def test_run_concurrently_runs_in_parallel_and_reports_the_first_failure_in_order():
    barrier = threading.Barrier(3, timeout=5)

    def meet(value):
        barrier.wait()  # only passes if all three run at the same time
        return value

    assert run_concurrently({k: (lambda k=k: meet(k)) for k in "abc"}) == {"a": "a", "b": "b", "c": "c"}

    finished = []

    def slow_ok():
        time.sleep(0.2)
        finished.append("slow")

    def fail(name):
        raise AzureDockerHostError(name)

    with pytest.raises(AzureDockerHostError, match="first"):
        run_concurrently({"a": slow_ok, "b": lambda: fail("first"), "c": lambda: fail("second")})
    assert finished == ["slow"]  # the others were waited for, not abandoned mid-write


def test_deadline():
    now = [100.0]
    deadline = Deadline(30, clock=lambda: now[0])
    assert deadline.remaining() == 30
    now[0] = 129.5
    assert deadline.remaining() == pytest.approx(0.5)
    now[0] = 131
    assert deadline.remaining() == 0
    assert deadline.expired()


def test_pending_state():
    assert pending_state({"properties": {"provisioningState": "Updating"}}) == "Updating"
    assert pending_state({"properties": {"provisioningState": "Succeeded"}}) is None
    assert pending_state({"properties": {"provisioningState": "Failed"}}) is None
    assert pending_state({"properties": {}}) is None  # no state: finished, says ARM
    assert pending_state(None) is None
    assert (
        pending_state(
            [{"properties": {"provisioningState": "Succeeded"}}, {"properties": {"provisioningState": "Creating"}}]
        )
        == "Creating"
    )


def test_settled_reads_again_while_an_earlier_operation_runs(monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    answers = iter(
        [{"properties": {"provisioningState": "Creating"}}, {"properties": {"provisioningState": "Succeeded"}}]
    )
    assert settled("read vm", lambda: next(answers), Deadline(60)) == {"properties": {"provisioningState": "Succeeded"}}
    with pytest.raises(AzureDockerHostError, match="still Deleting"):
        settled("read vm", lambda: {"properties": {"provisioningState": "Deleting"}}, Deadline(1))


# -- the first poll of a long-running operation waits the answer's Retry-After ----------------------

OPERATION = (
    "https://management.azure.com/subscriptions/s/providers/Microsoft.Network/locations/westeurope/operations/op1"
)
RESULT = (
    "https://management.azure.com/subscriptions/s/providers/Microsoft.Network/locations/westeurope/operationResults/op1"
)


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (201, {"Azure-AsyncOperation": OPERATION + "?api-version=2024-05-01", "Retry-After": "3"}, {OPERATION: 103}),
        (
            202,
            {"Azure-AsyncOperation": OPERATION, "Location": RESULT, "Retry-After": "10"},
            {OPERATION: 110, RESULT: 110},
        ),
        (201, {"Azure-AsyncOperation": OPERATION}, {}),  # no Retry-After: azure-core's own pace
        (201, {"Azure-AsyncOperation": OPERATION, "Retry-After": "0"}, {}),
        (201, {"Azure-AsyncOperation": OPERATION, "Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, {}),
        (429, {"Retry-After": "5"}, {}),  # throttling: the retry policy's business
        (429, {"Azure-AsyncOperation": OPERATION, "Retry-After": "5"}, {}),
        (200, {"Retry-After": "5"}, {}),  # nothing to poll
    ],
)
def test_first_poll_times(status, headers, expected):
    times = first_poll_times(status, headers, now=100.0)
    assert times == {
        url.split("://", 1)[1].split("/", 1)[1].join(("/", "")).lower(): when for url, when in expected.items()
    }


class _Request:
    def __init__(self, method: str, url: str) -> None:
        self.http_request = type("HttpRequest", (), {"method": method, "url": url})()


class _Answers:
    """The next policy: answers each request with the status and headers queued for it, and notes when."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, float]] = []

    def send(self, request):
        self.sent.append((request.http_request.method, time.monotonic()))
        status, headers = self.answers.pop(0)
        return type(
            "PipelineResponse", (), {"http_response": type("R", (), {"status_code": status, "headers": headers})()}
        )()


def test_first_poll_policy_waits_the_answer_retry_after_once():
    policy = FirstPollPolicy()
    policy.next = _Answers(
        (201, {"Azure-AsyncOperation": OPERATION, "Retry-After": "1"}),
        (200, {"Retry-After": "1"}),  # InProgress poll: azure-core waits this one itself
        (200, {}),
    )
    started = time.monotonic()
    policy.send(_Request("PUT", "https://management.azure.com/subscriptions/s/.../virtualNetworks/vnet"))
    policy.send(_Request("GET", OPERATION + "?api-version=2024-05-01"))
    policy.send(_Request("GET", OPERATION + "?api-version=2024-05-01"))
    (_put, _put_at), (_first, first_at), (_second, second_at) = policy.next.sent
    assert first_at - started >= 1.0  # held until the PUT's Retry-After had passed
    assert second_at - first_at < 0.5  # later polls are azure-core's: not held again


# -- no retry waits past the deadline (issue 13 item 5) ---------------------------------------------
class _Transport:
    def __init__(self):
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)


def _throttled(seconds, status=429):
    http_response = type("R", (), {"status_code": status, "headers": {"Retry-After": str(seconds)}})()
    return type("PipelineResponse", (), {"http_response": http_response})()


def test_a_retry_after_longer_than_what_is_left_fails_at_once():
    policy = DeadlineRetryPolicy(Deadline(8), retry_total=6)
    transport = _Transport()
    with pytest.raises(RetryBeyondDeadline) as info:
        policy.sleep(policy.configure_retries({}), transport, _throttled(60))
    assert transport.slept == []  # not one second waited
    message = info.value.during("create network security group 'a-nsg'").message
    assert message.startswith("create network security group 'a-nsg': Azure throttled the request (HTTP 429)")
    assert "retry in 60s" in message
    assert "wait_timeout (8s)" in message
    assert info.value.status == 429


def test_a_retry_after_within_the_deadline_is_waited():
    policy = DeadlineRetryPolicy(Deadline(30), retry_total=6)
    transport = _Transport()
    policy.sleep(policy.configure_retries({}), transport, _throttled(2))
    assert transport.slept == [2]


def test_call_names_the_action_when_azure_throttles_beyond_the_deadline():
    def throttled():
        raise RetryBeyondDeadline(429, 3600, True, Deadline(5))

    with pytest.raises(AzureDockerHostError, match=r"^read x: Azure throttled .* retry in 3600s") as info:
        call("read x", throttled, deadline=Deadline(5))
    assert info.value.status == 429
