# Copyright (c) dockerhost.azure contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Long-running operations as ARM runs them.

A PUT or DELETE that Azure runs asynchronously answers 201/202 at once with ``Azure-AsyncOperation`` (and
``Location``) headers; the work then runs on a thread after the configured latency. Polling the
``Azure-AsyncOperation`` URL answers 200 ``{"status": "InProgress" | "Succeeded" | "Failed" | "Canceled", ...}``
(plus ``error{code,message}`` when it did not succeed); polling ``Location`` answers 202 while it runs, then
the final result. ``Retry-After`` is only sent when a latency is configured (``Latency.retry_after`` in
control.py says which value on the first answer, the first InProgress poll and later ones), never once the
operation has ended.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .core import ArmError, error_body, new_id, utc_now

__all__ = ["Operation", "OperationEngine", "OperationFailed"]

IN_PROGRESS, SUCCEEDED, FAILED, CANCELED = "InProgress", "Succeeded", "Failed", "Canceled"


class OperationFailed(Exception):
    """Raised by an operation's work: the operation ends Failed (or Canceled) with this error."""

    def __init__(self, code: str, message: str, *, status: str = FAILED, http_status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.http_status = http_status


@dataclass
class Operation:
    id: str
    kind: str  # Azure's operation name, e.g. Microsoft.Compute/virtualMachines/write
    resource_id: str
    method: str
    status: str = IN_PROGRESS
    start_time: str = field(default_factory=utc_now)
    end_time: str | None = None
    error: dict | None = None
    http_status: int = 400
    retry_after: tuple[int | None, int | None, int | None] | None = None  # first answer, first poll, later
    polls: int = 0
    generation: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    forced: OperationFailed | None = None  # a fault: the operation will end this way

    @property
    def finished(self) -> bool:
        return self.status != IN_PROGRESS

    def first_retry_after(self) -> int | None:
        """Retry-After on the answer that started the operation."""
        return self.retry_after[0] if self.retry_after and not self.finished else None

    def poll_retry_after(self) -> int | None:
        """Retry-After on this poll (counted); none once the operation has ended."""
        self.polls += 1
        if self.finished or not self.retry_after:
            return None
        return self.retry_after[1] if self.polls == 1 else self.retry_after[2]

    def status_body(self) -> dict:
        """The Azure-AsyncOperation body (OperationStatusResult: name, status, startTime, endTime, error)."""
        body: dict = {"name": self.id, "status": self.status, "startTime": self.start_time}
        if self.end_time:
            body["endTime"] = self.end_time
        if self.error is not None:
            body["error"] = self.error
        return body

    def error_response_body(self) -> dict:
        err = self.error or {"code": "InternalServerError", "message": "The operation failed."}
        return error_body(err["code"], err["message"])


class OperationEngine:
    """Runs operations on threads; ``reset()`` abandons every running one."""

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._ops: dict[str, Operation] = {}
        self.generation = 0
        self._stop = threading.Event()

    def get(self, op_id: str) -> Operation | None:
        with self._lock:
            return self._ops.get(op_id.lower())

    def start(
        self,
        kind: str,
        resource_id: str,
        method: str,
        work: Callable[[Operation], None],
        *,
        delay: float = 0.0,
        retry_after: tuple[int | None, int | None, int | None] | None = None,
        forced: OperationFailed | None = None,
        on_end: Callable[[Operation], None] | None = None,
    ) -> Operation:
        """Start ``work(op)`` after ``delay`` seconds; ``on_end(op)`` runs (under the lock) once it ended."""
        with self._lock:
            op = Operation(
                id=new_id(),
                kind=kind,
                resource_id=resource_id,
                method=method,
                retry_after=retry_after,
                generation=self.generation,
                forced=forced,
            )
            self._ops[op.id] = op
        thread = threading.Thread(target=self._run, args=(op, work, delay, on_end), daemon=True, name=f"op-{kind}")
        thread.start()
        return op

    def _run(self, op: Operation, work, delay: float, on_end) -> None:
        if delay > 0 and self._stop.wait(delay):
            return
        result: OperationFailed | None = None
        if op.finished:  # canceled (preempted) while waiting
            op.done.set()
            return
        try:
            if op.forced is not None:
                raise op.forced
            work(op)
        except OperationFailed as exc:
            result = exc
        except ArmError as exc:
            result = OperationFailed(exc.code, exc.message, http_status=exc.status)
        except Exception as exc:
            result = OperationFailed("InternalServerError", f"The emulator failed: {exc!r}", http_status=500)
        with self._lock:
            if op.generation != self.generation or op.finished:
                op.done.set()
                return
            if result is None:
                op.status = SUCCEEDED
            else:
                op.status = result.status
                op.error = {"code": result.code, "message": result.message}
                op.http_status = result.http_status
            op.end_time = utc_now()
            if on_end is not None:
                on_end(op)
        op.done.set()

    def cancel(self, op: Operation, code: str, message: str) -> None:
        """End a running operation as Canceled (ARM's preemption)."""
        with self._lock:
            if op.finished:
                return
            op.status = CANCELED
            op.error = {"code": code, "message": message}
            op.end_time = utc_now()
        op.done.set()

    def reset(self) -> None:
        with self._lock:
            self.generation += 1
            for op in self._ops.values():
                if not op.finished:
                    op.status = CANCELED
                    op.error = {"code": "OperationCanceled", "message": "The emulator was reset."}
                    op.end_time = utc_now()
                    op.done.set()
            self._ops.clear()

    def shutdown(self) -> None:
        self._stop.set()
        self.reset()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no operation is running (for tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                running = [op for op in self._ops.values() if not op.finished]
            if not running:
                return True
            running[0].done.wait(max(0.0, deadline - time.monotonic()))
        return False
